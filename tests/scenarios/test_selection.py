"""Choosing scenarios with ``-k`` and ``--tag`` (scenarios/selection.py), as pytest -k and
robot --include choose tests, and the commands that use it."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pytest

from scenarios.catalog import load_catalog
from scenarios.cli.main import main
from scenarios.format import Scenario
from scenarios.selection import KeywordExpression, SelectionError, select


@dataclass
class Named:
    name: str
    tags: list[str] = field(default_factory=list)


SCENARIOS = [Named("starttls", ["feature", "tls"]), Named("implicit-tls", ["tls"]),
             Named("blank-line-truncation", ["changelog", "content"]),
             Named("auth-plain", ["feature", "auth"]), Named("date-header", ["changelog"])]


def _names(keyword: str | None = None, tags: tuple[str, ...] = ()) -> list[str]:
    return [s.name for s in select(SCENARIOS, keyword, tags)]


@pytest.mark.parametrize(("expression", "chosen"), [
    ("tls", ["starttls", "implicit-tls"]),
    ("TLS", ["starttls", "implicit-tls"]),  # case ignored, as pytest -k
    ("tls and not starttls", ["implicit-tls"]),
    ("auth or date", ["auth-plain", "date-header"]),
    ("not (tls or auth)", ["blank-line-truncation", "date-header"]),
    ("changelog and not content", ["date-header"]),  # a tag is a word too
    ("feat", ["starttls", "auth-plain"]),  # a substring of a tag
    ("blank-line", ["blank-line-truncation"]),
    ("not not tls", ["starttls", "implicit-tls"]),
    ("", [s.name for s in SCENARIOS]),
])
def test_keyword_expressions_choose_by_name_and_tag(expression: str, chosen: list[str]) -> None:
    assert _names(expression) == chosen


def test_and_binds_tighter_than_or() -> None:
    assert _names("auth or tls and implicit") == ["implicit-tls", "auth-plain"]


def test_tags_match_exactly_and_any_of_them_chooses() -> None:
    assert _names(tags=("tls",)) == ["starttls", "implicit-tls"]
    assert _names(tags=("auth", "content")) == ["blank-line-truncation", "auth-plain"]
    with pytest.raises(SelectionError, match="no scenario has the tag feat"):
        _names(tags=("feat",))


def test_a_keyword_and_tags_together_need_both() -> None:
    assert _names("start", ("tls",)) == ["starttls"]


@pytest.mark.parametrize(("expression", "message"), [
    ("tls and", "-k 'tls and': expected a word, 'not' or '(' at column 8, found the end"),
    ("(tls", "-k '(tls': expected ')' at column 5, found the end"),
    ("tls auth", "-k 'tls auth': expected 'and', 'or' or the end at column 5, found 'auth'"),
    ("tls & auth", "-k 'tls & auth': unexpected character '&' at column 5"),
    ("or", "-k 'or': expected a word, 'not' or '(' at column 1, found 'or'"),
])
def test_a_malformed_expression_says_where(expression: str, message: str) -> None:
    with pytest.raises(SelectionError) as caught:
        KeywordExpression(expression)
    assert caught.value.problems == [message]


def test_a_selection_of_nothing_is_bad_input_listing_the_tags() -> None:
    with pytest.raises(SelectionError) as caught:
        select(SCENARIOS, "nothing-like-this")
    assert caught.value.problems == ["-k 'nothing-like-this' selects none of the 5 scenarios"]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_run_chooses_from_the_catalog_with_k_and_tag() -> None:
    code, out, err = _cli("run", "-k", "auth and not hostile and not outlook", "--tag",
                          "feature", "--json")
    assert (code, err) == (0, "")
    ran = [json.loads(line)["scenario"] for line in out.splitlines()]

    def has(scenario: Scenario, word: str) -> bool:  # a substring of the name or a tag
        return any(word in text for text in [scenario.name, *scenario.tags])

    expected = [s.name for s in load_catalog()
                if "feature" in s.tags and has(s, "auth") and not has(s, "hostile")
                and not has(s, "outlook")]
    assert ran == expected
    assert {"auth-plain", "auth-login", "starttls"} <= set(ran)  # starttls: by its tag


def test_run_narrows_the_scenarios_it_is_given() -> None:
    code, out, _ = _cli("run", "starttls", "auth-plain", "blank-line-truncation", "-k",
                        "plain or blank")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == ["auth-plain",
                                                              "blank-line-truncation"]


def test_run_without_scenarios_or_a_selection_is_bad_input() -> None:
    assert _cli("run") == (2, "", "smtp-hil: name scenarios (catalog names or .toml files), "
                                  "or choose from the catalog with -k EXPR or --tag TAG\n")


def test_a_bad_selection_exits_2_before_anything_runs() -> None:
    code, out, err = _cli("matrix", "-k", "tls and")
    assert (code, out) == (2, "")
    assert err == ("smtp-hil: -k 'tls and': expected a word, 'not' or '(' at column 8, "
                   "found the end\n")


def test_the_matrix_checks_the_catalog_for_the_chosen_scenarios() -> None:
    code, out, _ = _cli("matrix", "-k", "blank-line or date-month", "--json")
    assert code == 0
    data = json.loads(out)
    assert [row["scenario"] for row in data["rows"]] == ["blank-line-truncation",
                                                         "date-month-day"]
    assert data["selection"] == "-k 'blank-line or date-month'"
    assert data["surprises"] == [] and data["runs"] == 2 * len(data["profiles"])
    code, out, _ = _cli("matrix", "--tag", "changelog")
    assert code == 0
    chosen = [s for s in load_catalog() if "changelog" in s.tags]
    assert (f"matrix matches the catalog for the {len(chosen)} scenarios --tag changelog "
            f"chooses") in out


def test_golden_hashes_are_never_written_for_a_selection(tmp_path: object) -> None:
    code, out, err = _cli("matrix", "-k", "tls", "--write-golden", "golden.toml")
    assert (code, out) == (2, "")
    assert err == ("smtp-hil: --write-golden needs the whole catalog: it rewrites every "
                   "scenario's hashes (-k 'tls' chooses some)\n")


def test_list_takes_the_same_selection() -> None:
    code, out, _ = _cli("list", "--tag", "etrn", "--json")
    assert code == 0
    assert [entry["name"] for entry in json.loads(out)] == ["etrn"]
