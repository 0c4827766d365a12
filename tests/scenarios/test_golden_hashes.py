"""Golden trace hashes: every run of the matrix against tests/scenarios/golden_hashes.toml.

An unintended change of behaviour, or a new source of nondeterminism, changes a trace
hash and fails here, naming the scenario and the release; a deliberate one is a one-line
diff per run after ``make golden``. A run that cannot be compared here (the file was made
with another Python, or with another OpenSSL and the run carries TLS records, or the
scenario is listed as not reproducible) is skipped with that reason, never passed.

The runs are the session's one run of the matrix (``catalog_matrix`` in conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.catalog import load_catalog, load_named
from scenarios.golden import (
    DEFAULT_PATH,
    Entry,
    Golden,
    GoldenFileError,
    format_golden,
    golden_of,
    judge_entry,
    load_golden,
    parse_golden,
    stale_entries,
    write_golden,
)
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import run
from smtp.profiles import PROFILE_NAMES
from tests.scenarios.conftest import MATRIX_SEED, MatrixRun

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = load_golden(ROOT / DEFAULT_PATH)
CATALOG = {s.name: s for s in load_catalog()}
RUNS = [(name, profile) for name in sorted(CATALOG) for profile in PROFILE_NAMES]
SHA_A, SHA_B = "a" * 64, "b" * 64


# ---- the repository's golden file against this session's matrix ---------------------------

def test_the_golden_file_was_made_with_the_seed_the_matrix_runs() -> None:
    assert GOLDEN.seed == MATRIX_SEED


@pytest.mark.parametrize(("name", "profile"), RUNS)
def test_trace_hash_matches_the_golden_file(
        name: str, profile: str, catalog_matrix: dict[tuple[str, str], MatrixRun]) -> None:
    judgement = judge_entry(GOLDEN, name, profile, catalog_matrix[(name, profile)].entry)
    if judgement.status == "not comparable":
        pytest.skip(judgement.detail)
    assert judgement.status == "match", judgement.detail


def test_the_golden_file_has_no_runs_the_catalog_no_longer_has() -> None:
    assert stale_entries(GOLDEN, RUNS) == []


def test_every_scenario_that_cannot_be_reproduced_is_listed_with_its_reason() -> None:
    for name, scenario in CATALOG.items():
        assert GOLDEN.not_reproducible.get(name) == why_not_reproducible(scenario), name


def test_the_file_reads_back_as_it_was_written() -> None:
    assert format_golden(GOLDEN) == (ROOT / DEFAULT_PATH).read_text(encoding="utf-8")


# ---- writing --------------------------------------------------------------------------------

def test_write_golden_records_each_run_and_where_it_was_made(tmp_path: Path) -> None:
    runs = [run(load_named("starttls"), "current"), run(load_named("vrfy"), "1.0")]
    path = tmp_path / "golden.toml"
    written = write_golden(path, runs, seed=0)
    golden = load_golden(path)
    assert golden == written
    assert golden.hashes == {
        ("starttls", "current"): Entry(runs[0].trace_sha256, tls=True),
        ("vrfy", "1.0"): Entry(runs[1].trace_sha256, tls=False)}
    assert golden.python.count(".") == 1 and golden.openssl.startswith("OpenSSL")
    text = path.read_text(encoding="utf-8")
    assert f'"current" = {{ sha256 = "{runs[0].trace_sha256}", tls = true }}\n' in text
    assert "make golden" in text


def test_a_scenario_with_an_ecdsa_certificate_is_recorded_as_not_reproducible() -> None:
    ecdsa = load_named("starttls")
    ecdsa = ecdsa.model_copy(update={
        "server": ecdsa.server.model_copy(update={"tls_cert": "ecdsa"})})
    golden = golden_of([(ecdsa, "current", Entry(SHA_A, tls=True))], seed=0)
    assert golden.hashes == {}
    assert "signature is 70 to 72 bytes long at random" in golden.not_reproducible["starttls"]
    again = parse_golden(format_golden(golden), source="g.toml")
    assert again == golden
    judgement = judge_entry(again, "starttls", "current", Entry(SHA_B, tls=True))
    assert judgement.status == "not comparable"
    assert "its trace is not reproducible: tls_cert = \"ecdsa\"" in judgement.detail


# ---- what a comparison means ------------------------------------------------------------

def _golden(tls: bool) -> Golden:
    return Golden(openssl="OpenSSL 3.0.1", python="3.11", seed=0,
                  hashes={("starttls", "current"): Entry(SHA_A, tls)})


def test_the_same_hash_matches_and_another_fails_naming_the_run() -> None:
    golden = _golden(tls=True)
    same = judge_entry(golden, "starttls", "current", Entry(SHA_A, tls=True),
                       openssl="OpenSSL 3.0.1", python="3.11")
    assert same.status == "match"
    other = judge_entry(golden, "starttls", "current", Entry(SHA_B, tls=True),
                        openssl="OpenSSL 3.0.1", python="3.11")
    assert other.status == "mismatch"
    assert other.detail.startswith(f"starttls on current (seed 0): trace hash {SHA_B}, the "
                                   f"golden file has {SHA_A}. Either the behaviour changed")
    assert "make golden" in other.detail and "not deterministic" in other.detail


def test_another_openssl_makes_only_runs_with_tls_not_comparable() -> None:
    tls = judge_entry(_golden(tls=True), "starttls", "current", Entry(SHA_B, tls=True),
                      openssl="OpenSSL 3.2.0", python="3.11")
    assert tls.status == "not comparable"
    assert "made with OpenSSL 3.0.1, this is OpenSSL 3.2.0: TLS record lengths may differ" \
        in tls.detail
    plain = judge_entry(_golden(tls=False), "starttls", "current", Entry(SHA_B, tls=False),
                        openssl="OpenSSL 3.2.0", python="3.11")
    assert plain.status == "mismatch"  # no TLS: OpenSSL is no excuse
    appeared = judge_entry(_golden(tls=False), "starttls", "current", Entry(SHA_B, tls=True),
                           openssl="OpenSSL 3.2.0", python="3.11")
    assert appeared.status == "mismatch" and "now carries TLS records" in appeared.detail


def test_another_python_makes_every_run_not_comparable_and_says_so() -> None:
    judgement = judge_entry(_golden(tls=False), "starttls", "current", Entry(SHA_A, False),
                            openssl="OpenSSL 3.0.1", python="3.12")
    assert judgement.status == "not comparable"
    assert "made with Python 3.11, this is Python 3.12" in judgement.detail


def test_a_run_missing_from_the_file_and_stale_entries_are_named() -> None:
    golden = _golden(tls=False)
    missing = judge_entry(golden, "vrfy", "2.0", Entry(SHA_A, False),
                          openssl="OpenSSL 3.0.1", python="3.11")
    assert missing.status == "missing" and "no golden hash; run `make golden`" in missing.detail
    assert stale_entries(golden, [("vrfy", "2.0")]) == ["starttls on current"]


@pytest.mark.parametrize(("text", "problem"), [
    ("[made_with]\nopenssl = \"x\"\npython = \"3.11\"\nseed = -1\n",
     "g.toml: made_with.seed: expected an integer >= 0, got -1"),
    ("[hashes.x]\n", "g.toml: [made_with]: missing table"),
    ("[made_with]\nopenssl = \"x\"\npython = \"3.11\"\nseed = 0\n[hashes.x]\n"
     "\"2.0\" = { sha256 = \"abc\", tls = false }\n",
     "g.toml: hashes.x.2.0.sha256: expected 64 lower-case hex digits, got 'abc'"),
    ("[made_with]\nopenssl = \"x\"\npython = \"3.11\"\nseed = 0\n[hashes.x]\n"
     "\"2.0\" = \"abc\"\n",
     "g.toml: hashes.x.2.0: expected { sha256 = \"<64 hex digits>\", tls = true|false }, "
     "got 'abc'"),
    ("[made_with\n", "g.toml: line 1, column 11: TOML syntax error: "),
    ("x = " + "[" * 100_000 + "]" * 100_000, "g.toml: nested too deeply"),
])
def test_a_bad_golden_file_is_named_with_its_key(text: str, problem: str) -> None:
    with pytest.raises(GoldenFileError) as info:
        parse_golden(text, source="g.toml")
    assert str(info.value).startswith(problem)
