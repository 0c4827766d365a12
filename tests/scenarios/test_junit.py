"""JUnit XML (scenarios/junit.py): valid against the schema pytest validates its own output
against, with a reproduced bug told apart from a pass.

The schema is ``testing/example_scripts/junit-10.xsd`` of pytest's source distribution
(the Jenkins xUnit plugin's JUnit schema, MIT licence), fetched once with pip for the
pytest version installed and kept in pytest's cache folder; where it cannot be fetched
(no network), the tests that need it skip and say so.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema

import scenarios.cli.matrix
from scenarios.artifacts import transcript_lines
from scenarios.cli.main import main
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import load_scenario
from scenarios.junit import junit_xml
from scenarios.runner import RunResult, resolve_scenario, run
from smtp.profiles import PROFILE_NAMES

SCHEMA_MEMBER = "testing/example_scripts/junit-10.xsd"


@pytest.fixture(scope="session")
def junit_schema(request: pytest.FixtureRequest) -> xmlschema.XMLSchema:
    cached = Path(request.config.cache.mkdir("junit-schema")) / f"junit-10-{pytest.__version__}.xsd"
    if not cached.is_file():
        with tempfile.TemporaryDirectory() as folder:
            fetched = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", f"pytest=={pytest.__version__}", "-d", folder],
                capture_output=True, text=True, timeout=300, check=False)
            archives = list(Path(folder).glob("pytest-*.tar.gz"))
            if fetched.returncode != 0 or not archives:
                pytest.skip(f"could not fetch pytest {pytest.__version__}'s source "
                            f"distribution for its JUnit schema: {fetched.stderr[-300:]}")
            with tarfile.open(archives[0]) as archive:
                member = next(m for m in archive.getmembers()
                              if m.name.endswith("/" + SCHEMA_MEMBER))
                data = archive.extractfile(member)
                assert data is not None
                cached.write_bytes(data.read())
    return xmlschema.XMLSchema(str(cached))


def _cases(text: str) -> dict[tuple[str, str], ElementTree.Element]:
    root = ElementTree.fromstring(text)
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_the_matrix_is_valid_and_every_expected_failure_is_an_xfail(
        junit_schema: xmlschema.XMLSchema, matrix_results: list[RunResult]) -> None:
    text = junit_xml(matrix_results, suite="smtp-hil-matrix", expected_failures=True)
    junit_schema.validate(text)
    suite = ElementTree.fromstring(text).find("testsuite")
    assert suite is not None
    cases = _cases(text)
    assert len(cases) == len(matrix_results) == int(suite.get("tests", ""))
    reproduced = 0
    for result in matrix_results:
        case = cases[(f"smtp-hil-matrix.release_{result.profile.replace('.', '_')}",
                      result.scenario.name)]
        assert re.fullmatch(r"[0-9]+\.[0-9]{3}", case.get("time", ""))
        out = case.findtext("system-out", "")
        expected = result.profile != "current" and result.scenario.reproduced_by(result.profile)
        if expected:  # the catalog holds: every one of them reproduces
            reproduced += 1
            skipped = case.find("skipped")
            assert skipped is not None and skipped.get("type") == "xfail"
            assert skipped.get("message", "").startswith("reproduces: ")
            assert result.verdict.reasons[0][:40] in skipped.get("message", "")
            assert "outcome: reproduces" in out and "\nreproduces: " in out
        else:
            assert [child.tag for child in case] == ["system-out"]  # a plain pass
            assert "outcome: pass" in out
        assert f"trace_sha256: {result.trace_sha256}" in out
    assert suite.get("skipped") == str(reproduced) and reproduced > 50
    assert suite.get("failures") == "0"


def _variant(tmp_path: Path, name: str, extra: str) -> Path:
    """A catalog scenario with more TOML appended, as a file of its own."""
    source = resolve_scenario(name).source
    assert source is not None
    path = tmp_path / f"{name}-variant.toml"
    path.write_text(Path(source).read_text() + extra)
    return path


def test_surprises_fail_and_say_which_way(junit_schema: xmlschema.XMLSchema,
                                          tmp_path: Path) -> None:
    # the catalog saying 2.5 cuts bodies at blank lines (it does not): an unexpected pass
    claims = _variant(tmp_path, "blank-line-truncation", "")
    text = claims.read_text().replace('profiles = ["1.0"', 'profiles = ["2.5", "1.0"', 1)
    claims.write_text(text)
    unexpected_pass = run(load_scenario(claims), "2.5")
    assert unexpected_pass.passed
    # two mails expected where one is sent: an unexpected failure on current
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(Path(resolve_scenario("starttls").source or "").read_text()
                     .replace("mailbox_count = 1", "mailbox_count = 2"))
    unexpected_fail = run(load_scenario(wrong), "current")
    assert not unexpected_fail.passed
    text = junit_xml([unexpected_pass, unexpected_fail], expected_failures=True)
    junit_schema.validate(text)
    (xpass,), (fail,) = (list(case.iter("failure")) for case in _cases(text).values())
    assert xpass.get("type") == "xpass" and "catalog says 2.5 fails it" in (xpass.get("message")
                                                                             or "")
    assert fail.get("type") == "fail" and "found 1" in (fail.get("message") or "")


def test_run_reports_a_reproduced_bug_as_a_failure_of_its_own_type(
        junit_schema: xmlschema.XMLSchema, tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    code = main(["run", "blank-line-truncation", "auth-plain", "--profile", "2.4",
                 "--junit", str(junit)], out=io.StringIO(), err=io.StringIO())
    assert code == 1  # as the exit status says: a run failed
    text = junit.read_text()
    junit_schema.validate(text)
    cases = _cases(text)
    failure = cases[("smtp-hil.release_2_4", "blank-line-truncation")].find("failure")
    assert failure is not None and failure.get("type") == "reproduces"
    assert "cut at the first blank line" in (failure.get("message") or "")
    assert cases[("smtp-hil.release_2_4", "auth-plain")].find("failure") is None


def test_a_failure_text_hides_credentials(tmp_path: Path) -> None:
    refused = tmp_path / "auth-refused.toml"  # the server knows another password
    refused.write_text(Path(resolve_scenario("auth-plain").source or "").read_text()
                       .replace('{ pump7 = "s3cret-pump7" }', '{ pump7 = "another" }'))
    result = run(load_scenario(refused))
    assert not result.passed
    plain_response = "AHB1bXA3AHMzY3JldC1wdW1wNw=="  # base64 of \0pump7\0s3cret-pump7
    records = result.world.kernel.trace.records
    assert plain_response in "\n".join(transcript_lines(records, show_secrets=True))
    text = junit_xml([result])
    assert "AUTH PLAIN &lt;credentials hidden, 28 bytes&gt;" in text
    assert plain_response not in text and "s3cret-pump7" not in text
    assert plain_response in junit_xml([result], show_secrets=True)


def test_the_matrix_with_a_firmware_column_reports_its_runs_and_skips_what_does_not_apply(
        junit_schema: xmlschema.XMLSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        lwip: FirmwareChoice) -> None:
    # three rows (not the whole catalog): lwIP passes one, fails one, cannot run one
    rows = [resolve_scenario(n) for n in ("auth-plain", "dot-line-in-body", "starttls")]
    monkeypatch.setattr(scenarios.cli.matrix, "load_catalog", lambda: rows)
    junit = tmp_path / "m.xml"
    code = main(["matrix", "--firmware", "lwip", "--junit", str(junit)],
                out=io.StringIO(), err=io.StringIO())
    assert code == 0  # the model's releases match the catalog; lwIP's column never decides
    text = junit.read_text()
    junit_schema.validate(text)
    cases = _cases(text)
    lwip = {name: case for (classname, name), case in cases.items()
            if classname == "smtp-hil-matrix.firmware_lwip"}
    assert sorted(lwip) == ["auth-plain", "dot-line-in-body", "starttls"]
    assert len(cases) == 3 * len(PROFILE_NAMES) + 3
    assert [child.tag for child in lwip["auth-plain"]] == ["system-out"]
    assert "outcome: pass\nfirmware: lwip\n" in lwip["auth-plain"].findtext("system-out", "")
    failure = lwip["dot-line-in-body"].find("failure")
    assert failure is not None and failure.get("type") == "fail"
    assert "the body was cut" in (failure.get("message") or "")
    assert "C: RSET" in (failure.text or "")  # the transcript's tail: the body as commands
    assert "outcome: fails" in lwip["dot-line-in-body"].findtext("system-out", "")
    skipped = lwip["starttls"].find("skipped")
    assert skipped is not None and skipped.get("type") == "not-applicable"
    assert (skipped.get("message") or "").startswith("not applicable: STARTTLS")
    assert lwip["starttls"].get("time") == "0.000"
    suite = ElementTree.fromstring(text).find("testsuite")
    assert suite is not None
    reproduced = sum(1 for r in rows for p in PROFILE_NAMES
                     if p != "current" and r.reproduced_by(p))
    assert suite.get("skipped") == str(reproduced + 1)
    assert suite.get("failures") == "1"


def test_run_with_a_firmware_lists_what_it_cannot_run_as_skipped_with_the_reason(
        junit_schema: xmlschema.XMLSchema, tmp_path: Path, lwip: FirmwareChoice) -> None:
    """``run --firmware lwip --junit``: a scenario lwIP cannot run is a skipped testcase
    saying why, as in the matrix (and as Robot reports it); it was left out of the file."""
    junit = tmp_path / "r.xml"
    out = io.StringIO()
    code = main(["run", "auth-plain", "starttls", "--firmware", "lwip", "--junit", str(junit)],
                out=out, err=io.StringIO())
    assert code == 1, out.getvalue()  # not applicable is no pass
    text = junit.read_text()
    junit_schema.validate(text)
    cases = _cases(text)
    assert sorted(cases) == [("smtp-hil.firmware_lwip", "auth-plain"),
                             ("smtp-hil.firmware_lwip", "starttls")]
    skipped = cases[("smtp-hil.firmware_lwip", "starttls")].find("skipped")
    assert skipped is not None and skipped.get("type") == "not-applicable"
    reason = next(line for line in out.getvalue().splitlines() if "starttls" in line)
    assert skipped.get("message") == "not applicable: " + reason.split("not applicable: ")[1]
    assert cases[("smtp-hil.firmware_lwip", "auth-plain")].find("skipped") is None
    suite = ElementTree.fromstring(text).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("2", "1", "0")
