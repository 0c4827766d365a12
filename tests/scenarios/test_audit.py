"""``smtp-hil audit``: the hostile-server catalog put to one client, as a scorecard.

The modelled client on ``current`` passes every case; each historical release fails
exactly the cases whose ``reproduces`` names it (the known weaknesses, 2.0's among them);
the catalog covers every row of shared/reference/hostile-servers.md. For client
programs: each rule that makes a case not applicable, the outcome rules (a program
killed at the cap never "refused"), advisory checks as notes, and the command line's
exit statuses, JSON and report. The real programs' own results are
tests/scenarios/test_audit_clients.py's.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from scenarios.audit.cases import select_cases
from scenarios.audit.modelled import audit_modelled
from scenarios.audit.programs import audit_program
from scenarios.audit.scorecard import audit_exit_status, scorecard_lines
from scenarios.catalog import load_catalog
from scenarios.cli.main import main
from scenarios.format import AUDIT_GROUPS, Scenario, parse_scenario
from scenarios.outside.dutapplicability import device_reasons, dut_reasons, link_reasons
from scenarios.outside.dutfile import DutFile
from smtp.profiles import PROFILE_NAMES

CASES = select_cases(load_catalog())


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["audit", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# ---- the catalog and the modelled client ---------------------------------------------------

def test_the_catalog_covers_every_row_of_the_hostile_server_catalog() -> None:
    assert {s.audit.case for s in CASES if s.audit} == set(range(1, 33))
    assert {s.audit.group for s in CASES if s.audit} == set(AUDIT_GROUPS)
    for scenario in CASES:
        assert scenario.description and "hostile-servers.md" in scenario.description, \
            f"{scenario.name}: the description cites no row of the catalog"
        assert len([t for t in scenario.tags if t in ("hostile", "security")]) == 1


def test_the_audit_of_current_passes_every_case() -> None:
    code, out, _ = _cli("--json")
    card = json.loads(out)
    assert code == 0
    assert card["summary"] == {"pass": len(CASES), "fail": 0, "not_applicable": 0,
                               "cases": len(CASES), "exit": 0}
    assert [c["scenario"] for c in card["cases"]] == [s.name for s in CASES]


@pytest.mark.parametrize("profile", [p for p in PROFILE_NAMES if p != "current"])
def test_each_release_fails_exactly_its_known_weaknesses(profile: str) -> None:
    """2.0 shows the known weaknesses: no tls_downgraded event, no timer under TLS, TLS
    drops unnoticed, the blank-line truncation, the busy wait for TX buffers."""
    results = audit_modelled(CASES, profile=profile)
    failed = {r.scenario.name for r in results if r.status == "fail"}
    assert failed == {s.name for s in CASES if s.reproduced_by(profile)}
    assert all(r.reason for r in results)
    if profile == "2.0":
        assert {"starttls-stripped-cram-md5", "tls-dropped-rst", "trickle-under-tls",
                "smuggling-crlf-dot-crcrlf", "drop-fin-mid-body"} <= failed


def test_the_scorecard_is_grouped_with_one_line_per_case_and_a_summary() -> None:
    chosen = [s for s in CASES if s.name in ("starttls-stripped", "tls-cert-weak-key",
                                             "hostile-huge-line-100mb")]
    results = audit_modelled(chosen, profile="2.0")
    lines = scorecard_lines("the modelled client, release 2.0", results)
    assert lines[0] == "smtp-hil audit: the modelled client, release 2.0, 3 cases"
    assert lines[1:] == [
        "", "STARTTLS stripping and injection",
        "  PASS  starttls-stripped" + " " * 27 + " gives up when STARTTLS is stripped and "
        "TLS is required: no AUTH, no mail",
        "", "Certificate checks",
        "  PASS  tls-cert-weak-key" + " " * 27 + " refuses a certificate with a 1024-bit RSA "
        "key (weak key)",
        "", "Parser limits",
        "  PASS  hostile-huge-line-100mb" + " " * 21 + " caps the reply line and hangs up long "
        "before 100 MB",
        "", "Summary: 3 pass, 0 fail, 0 not applicable (3 cases); exit 0"]


# ---- selecting cases, and bad input ----------------------------------------------------------

def test_tags_and_groups_narrow_the_cases() -> None:
    code, out, _ = _cli("--group", "certificates", "--json")
    card = json.loads(out)
    assert code == 0 and {c["group"] for c in card["cases"]} == {"certificates"}
    code, out, _ = _cli("--tag", "security", "--tag", "smuggling", "--json")
    names = [c["scenario"] for c in json.loads(out)["cases"]]
    assert "smuggling-lf-dot-lf" in names and "tls-cert-weak-key" not in names


@pytest.mark.parametrize(("argv", "message"), [
    (["--tag", "nonsense"], "smtp-hil: --tag: 'nonsense' is no audit case's tag (known: "),
    (["--group", "dns"], "smtp-hil: --group: 'dns' is not a group (known: starttls, "
                         "certificates, smuggling, parser, timeouts)"),
    (["--dut", "/nonexistent/client.toml"], "smtp-hil: no such DUT file: /nonexistent/client.toml"),
    (["--dut", "smtplib", "--profile", "2.0"], "smtp-hil: --profile: not with --dut"),
    (["--dut", "smtplib", "--seed", "3"], "smtp-hil: --seed: not with --dut"),
])
def test_bad_input_exits_2_naming_the_value(argv: list[str], message: str) -> None:
    code, out, err = _cli(*argv)
    assert code == 2 and out == ""
    assert err.startswith(message), err


def test_the_report_holds_the_scorecard_and_each_cases_run(tmp_path: Path) -> None:
    report = tmp_path / "audit.html"
    code, _, _ = _cli("--group", "certificates", "--report", str(report))
    html = report.read_text()
    assert code == 0
    assert '<section id="scorecard"' in html and "<h3>Certificate checks</h3>" in html
    assert 'href="#run-tls-cert-weak-key--current--seed0"' in html
    assert 'id="run-data-tls-cert-weak-key--current--seed0"' in html


# ---- client programs: applicability -------------------------------------------------------

CASE = """
[scenario]
name = "probe"
title = "probe"
tags = ["security"]
time_limit_s = 30
[scenario.audit]
group = "starttls"
case = 1
claim = "probes"
outcome = "refuse"
{audit}
{device}
[device.config.server]
security = "{security}"
{config}
[server]
starttls = false
{server}
[job]
{job}

[expect]
event = "error"
"""
MAIL_JOB = 'from = "a@example.com"\nto = ["b@example.net"]\nsubject = "hi"\nbody = "Hi.\\n"'


def _case(*, audit: str = "", device: str = "", security: str = "none", config: str = "",
          server: str = "", job: str = MAIL_JOB) -> Scenario:
    return parse_scenario(CASE.format(audit=audit, device=device, security=security,
                                      config=config, server=server, job=job),
                          source="probe.toml")


def _dut_file(tmp_path: Path, body: str = "", exit_code: int = 1) -> DutFile:
    path = tmp_path / "fake.toml"
    path.write_text(f"""
[client]
name = "fake"
command = ["{sys.executable}", "-c", "import sys; sys.exit({exit_code})"]
{body}
""")
    return DutFile.load(path)


def test_link_faults_and_loss_are_never_applicable() -> None:
    scenario = _case(server='[[link.faults]]\nfault = "drop_nth"\nn = 3\n[link]\nloss = 0.2'
                     .replace("[[link.faults]]", "[link]\nloss = 0.2\n[[link.faults]]", 1)
                     .replace("\n[link]\nloss = 0.2", "", 1))
    assert link_reasons(scenario) == [
        "link faults (drop_nth) cannot be applied to a client program on real sockets: they "
        "have no link model",
        "link.loss (0.2) cannot be applied to a client program on real sockets"]


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"device": "[device]\nrtc = 2035-06-03T10:00:00Z"},
     "a device setting (device.rtc) that a client program cannot be given"),
    ({"config": '[device.config.tls]\nverify = false'},
     "device TLS settings (device.config.tls: verify) that a client program cannot be given"),
    ({"config": '[device.config.auth]\nusername = "u"\npassword = "p"\nmechanism = "LOGIN"'},
     "an AUTH mechanism forced on the device (LOGIN) that a client program cannot be told"),
    ({"job": 'kind = "vrfy"\naddress = "ops@example.net"'},
     "a vrfy job: a client program sends mail"),
    ({"job": MAIL_JOB + '\ndsn_envid = "QQ314159"'},
     "DSN parameters (job.dsn_*) that a client program is not given"),
    ({"job": MAIL_JOB.replace('"hi"', '"hi\\r\\nBcc: x@example.net"') + "\nallow_invalid = true"},
     "CR or LF in a header field: a client program relays the message file the harness "
     "wrote, whose headers are the harness's to encode"),
])
def test_the_devices_own_settings_and_jobs_are_not_applicable(kwargs: dict[str, str],
                                                              reason: str) -> None:
    assert device_reasons(_case(**kwargs)) == [reason]


def test_what_a_dut_file_cannot_express_is_not_applicable(tmp_path: Path) -> None:
    dut = _dut_file(tmp_path, "opportunistic = false")
    assert dut_reasons(_case(security="required"), dut) == [
        "fake cannot be told to use security 'required' (its DUT file has no "
        "client.security.required)"]
    creds = '[device.config.auth]\nusername = "u"\npassword = "p"'
    assert dut_reasons(_case(config=creds), dut) == [
        "the scenario logs in and fake has no [client.auth]"]
    assert dut_reasons(_case(audit='needs = ["opportunistic_tls"]'), dut) == [
        "fake has no opportunistic STARTTLS mode (its starttls mode never falls back to "
        "plaintext)"]
    crlf = MAIL_JOB.replace('"b@example.net"', '"b@example.net\\r\\nRCPT TO:<v@x.org>"')
    assert dut_reasons(_case(job=crlf + "\nallow_invalid = true"), dut) == [
        "CR or LF in an address: fake does not take its addresses as raw arguments (its DUT "
        "file says raw_arguments = false)"]
    raw = _dut_file(tmp_path, "raw_arguments = true")
    assert dut_reasons(_case(job=crlf + "\nallow_invalid = true"), raw) == []


def test_a_timeouts_case_beyond_the_programs_own_timeout_is_not_applicable(
        tmp_path: Path) -> None:
    scenario = _case(audit="").model_copy()
    timeouts = parse_scenario(CASE.replace('group = "starttls"', 'group = "timeouts"').format(
        audit="", device="", security="none", config="", server="", job=MAIL_JOB),
        source="probe.toml")
    dut = _dut_file(tmp_path, "default_timeout_s = 120")
    (result,) = audit_program([timeouts], dut, time_cap_s=60)
    assert result.status == "not_applicable"
    assert result.reason == ("fake's own timeout (120 s, which its DUT file cannot set) "
                             "lies beyond the time cap (60 s)")
    assert audit_program([scenario], dut, time_cap_s=60)[0].status != "not_applicable"


# ---- client programs: the outcome --------------------------------------------------------------

def test_a_program_that_refuses_passes_a_refuse_case_and_fails_a_deliver_case(
        tmp_path: Path) -> None:
    refuses = _dut_file(tmp_path, exit_code=1)
    (result,) = audit_program([_case()], refuses)
    assert (result.status, result.reason) == ("pass", "probes (exit 1)")
    deliver = parse_scenario(CASE.replace('outcome = "refuse"', 'outcome = "deliver"').format(
        audit="", device="", security="none", config="", server="", job=MAIL_JOB),
        source="probe.toml")
    (result,) = audit_program([deliver], refuses)
    assert result.status == "fail" and result.reason.startswith("it did not deliver (exit 1")


def test_a_program_that_claims_delivery_fails_a_refuse_case(tmp_path: Path) -> None:
    (result,) = audit_program([_case()], _dut_file(tmp_path, exit_code=0))
    assert (result.status, result.reason) == ("fail", "it claims it delivered (exit 0)")


def test_a_program_killed_at_the_cap_never_refused(tmp_path: Path) -> None:
    path = tmp_path / "hang.toml"
    path.write_text('[client]\nname = "hang"\ncommand = ["sleep", "30"]\n')
    (result,) = audit_program([_case()], DutFile.load(path), time_cap_s=0.5)
    assert result.status == "fail"
    assert result.reason == "no ending of its own within 0.5 s: it was killed at the time cap"


def test_advisory_checks_become_notes(tmp_path: Path) -> None:
    text = CASE.replace('event = "error"', 'event = "error"\nmailbox_count = 1')
    advisory = parse_scenario(text.format(audit='advisory = ["mailbox_count"]', device="",
                                          security="none", config="", server="",
                                          job=MAIL_JOB), source="probe.toml")
    (result,) = audit_program([advisory], _dut_file(tmp_path))
    assert result.status == "pass"
    assert "advisory mailbox_count: expected 1 mail(s) in the server's mailbox, found 0" \
        in result.notes


def test_nothing_applicable_is_not_a_pass(tmp_path: Path) -> None:
    dut = tmp_path / "none.toml"
    dut.write_text(f'[client]\nname = "plain"\ncommand = ["{sys.executable}", "-c", "0"]\n')
    code, out, _ = _cli("--dut", str(dut), "--group", "certificates")
    assert code == 1
    assert out.rstrip().endswith("not applicable (10 cases); no case applied: nothing was "
                                 "tested; exit 1")
    assert audit_exit_status([]) == 1
