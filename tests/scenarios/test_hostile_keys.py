"""The scenario keys of the hostile-server catalog (issue 14), read and run.

``[server.certificate]`` and ``device.trusts`` (a certificate of each kind a client must
refuse, and what the device trusts), ``server.tls_stall`` (a handshake that stops at a
record boundary), ``trickle_jitter_s``/``trickle_bytes`` (a seeded, irregular trickle):
each through a whole run of the modelled client, and each refused with the key named
when it is wrong.
"""

from __future__ import annotations

import itertools

import pytest

from emulator.units import SECOND
from scenarios.format import ScenarioError, parse_scenario
from scenarios.runner import RunResult, run
from smtp.events import ClientError, ErrorKind, Sent, Timeout

BASE = """
[scenario]
name = "probe"
title = "probe"
time_limit_s = 1800

[device.config.server]
security = "{security}"

[device.config.auth]
username = "pump7"
password = "s3cret-pump7"

[server]
credentials = {{ pump7 = "s3cret-pump7" }}
{server}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Shift report"
body = "Pump 7 shift report.\\n"

[expect]
event = "{event}"
{extra}
"""


def scenario_text(*, security: str = "required", server: str = "", event: str = "error",
                  extra: str = "", top: str = "") -> str:
    return top + BASE.format(security=security, server=server, event=event, extra=extra)


def run_text(text: str, profile: str = "current", seed: int = 0) -> RunResult:
    return run(parse_scenario(text, source="probe.toml"), profile, seed)


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="x.toml")
    return info.value.problems


def terminal(result: RunResult) -> object:
    assert result.terminal is not None
    return result.terminal.event


# ---- certificates and trust ---------------------------------------------------------------

REFUSED_FOR = {
    "self_signed": "unknown issuer: self-signed certificate 'CN=smtp.example.test,O=smtp-hil'",
    "unknown_ca": "unknown issuer: 'CN=smtp-hil other CA,O=smtp-hil' is not among",
    "expired": "certificate expired: valid until 2024-05-04 00:00:00 UTC, device clock reads "
               "2024-06-03 10:00:",
    "not_yet_valid": "certificate not yet valid: valid from 2024-07-03 00:00:00 UTC, device "
                     "clock reads 2024-06-03 10:00:",
    "wrong_name": "name mismatch: certificate is for other.example.org; expected "
                  "smtp.example.test",
    "weak_key": "weak key: the server's certificate has an RSA key of 1024 bits",
    "weak_signature": "weak signature: the server's certificate is signed with SHA-1",
}


@pytest.mark.parametrize("kind", sorted(REFUSED_FOR))
@pytest.mark.parametrize("security", ["required", "tls"])
def test_each_certificate_kind_is_presented_and_refused_for_what_it_is(kind: str,
                                                                       security: str) -> None:
    text = scenario_text(security=security,
                         server=("implicit_tls = true\n" if security == "tls" else "")
                         + f'[server.certificate]\nkind = "{kind}"\n')
    result = run_text(text)
    event = terminal(result)
    assert isinstance(event, ClientError) and event.kind is ErrorKind.TLS_FAILED
    assert REFUSED_FOR[kind] in event.detail, event.detail
    assert result.mailbox == []
    assert all(not seen.auth_mechanisms for seen in result.server_side.observations)


def test_the_default_certificate_is_valid_and_unchanged() -> None:
    result = run_text(scenario_text(event="sent"))
    assert isinstance(terminal(result), Sent) and result.passed


@pytest.mark.parametrize(("kind", "trusts"), [("self_signed", "server_certificate"),
                                              ("unknown_ca", "other_ca")])
def test_a_device_that_trusts_the_presented_certificate_delivers(kind: str,
                                                                 trusts: str) -> None:
    text = scenario_text(event="sent", server=f'[server.certificate]\nkind = "{kind}"\n',
                         top="")
    text = text.replace("[device.config.server]", f'[device]\ntrusts = ["{trusts}"]\n\n'
                                                  "[device.config.server]")
    result = run_text(text)
    assert isinstance(terminal(result), Sent), terminal(result)


def test_relative_dates_follow_every_rtc_variant() -> None:
    text = scenario_text(server='[server.certificate]\nkind = "expired"\n')
    text = text.replace("[device.config.server]",
                        "[device]\nrtc_variants = [2035-06-03T10:00:00Z, 1999-01-01T00:00:00Z]"
                        "\n\n[device.config.server]")
    text = text.replace('event = "error"', 'event = "error"\nerror_kind = "tls_failed"')
    scenario = parse_scenario(text, source="probe.toml")
    result = run(scenario)
    assert result.passed, result.verdict.reasons


@pytest.mark.parametrize(("server", "device", "expected"), [
    ('[server.certificate]\nkind = "revoked"\n', "",
     "x.toml: server.certificate.kind: expected one of valid, self_signed, unknown_ca, "
     "expired, not_yet_valid, wrong_name, weak_key, weak_signature, got 'revoked'"),
    ('[server.certificate]\nkind = "expired"\nvalid_from_days = -9\n', "",
     "x.toml: server.certificate.valid_from_days: give valid_from_days and valid_until_days "
     "together"),
    ('[server.certificate]\nkey = "dsa"\n', "",
     "x.toml: server.certificate.key: expected one of rsa, ecdsa, rsa1024, got 'dsa'"),
    ("", "trusts = []\n",
     "x.toml: device.trusts: expected at least 1 item(s)"),
    ("", 'trusts = ["system"]\n',
     "x.toml: device.trusts[0]: expected one of test_ca, other_ca, server_certificate, "
     "got 'system'"),
    ('tls_stall = "after_finished"\n', "",
     "x.toml: server.tls_stall: expected one of before_server_hello, after_server_hello, "
     "after_first_flight, got 'after_finished'"),
])
def test_bad_certificate_trust_and_stall_keys_name_the_key(server: str, device: str,
                                                           expected: str) -> None:
    text = scenario_text(server=server)
    if device:
        text = text.replace("[device.config.server]", f"[device]\n{device}\n"
                                                      "[device.config.server]")
    assert problems(text) == [expected]


# ---- a stall in the TLS handshake ---------------------------------------------------------

@pytest.mark.parametrize(("stall", "version", "command", "after_s"), [
    ("before_server_hello", "TLSv1.3", "tls_handshake", 60),
    ("after_server_hello", "TLSv1.3", "tls_handshake", 60),
    ("after_first_flight", "TLSv1.2", "tls_handshake", 60),
    ("after_first_flight", "TLSv1.3", "EHLO", 300),
])
def test_a_stalled_handshake_is_a_timeout_on_the_right_timer(stall: str, version: str,
                                                             command: str,
                                                             after_s: int) -> None:
    server = (f'tls_stall = "{stall}"\ntls_max_version = "{version}"\n'
              'tls_ciphers = "ECDHE+AESGCM"\n')
    result = run_text(scenario_text(security="starttls", server=server, event="timeout"))
    event = terminal(result)
    assert isinstance(event, Timeout), event
    assert event.command == command and event.after_us == after_s * SECOND
    kinds = [r.kind for r in result.trace if r.source.startswith("server.")]
    assert "tls_stall" in kinds and "tls_established" not in kinds
    assert result.mailbox == []


def test_a_stall_of_the_second_handshake_leaves_the_first_alone() -> None:
    server = 'tls_stall = "before_server_hello"\ntls_stall_nth = 2\n'
    result = run_text(scenario_text(security="starttls", server=server, event="sent"))
    assert isinstance(terminal(result), Sent)


# ---- trickle with seeded jitter ------------------------------------------------------------

JITTER_RULE = """
[[server.rules]]
verb = "MAIL"
action = "trickle"
reply = "250 2.1.0 Sender ok"
trickle_delay_s = 2
trickle_jitter_s = 4
trickle_bytes = {step}
"""


def gaps(result: RunResult) -> list[int]:
    """Microseconds between the server's trickled writes of the MAIL reply."""
    stamps = [r.t_us for r in result.trace
              if r.source.startswith("server.") and r.kind == "tx"
              and isinstance(r.fields.get("data"), bytes)
              and len(r.fields["data"]) <= 3]
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_jitter_draws_each_gap_within_its_bounds_and_the_seed_decides() -> None:
    text = scenario_text(security="none", server=JITTER_RULE.format(step=1), event="sent")
    first, again, other = run_text(text, seed=1), run_text(text, seed=1), run_text(text, seed=2)
    drawn = gaps(first)
    assert len(drawn) == len("250 2.1.0 Sender ok\r\n") - 1
    assert all(2 * SECOND <= gap <= 6 * SECOND + SECOND // 10 for gap in drawn), drawn
    assert len(set(drawn)) > 5  # irregular, not a fixed delay
    assert gaps(again) == drawn and first.trace_sha256 == again.trace_sha256
    assert gaps(other) != drawn and other.trace_sha256 != first.trace_sha256


def test_trickle_bytes_sets_the_bytes_per_write() -> None:
    text = scenario_text(security="none", server=JITTER_RULE.format(step=3), event="sent")
    result = run_text(text)
    writes = [r.fields["data"] for r in result.trace
              if r.source.startswith("server.") and r.kind == "tx"
              and isinstance(r.fields.get("data"), bytes) and len(r.fields["data"]) <= 3]
    assert b"".join(writes) == b"250 2.1.0 Sender ok\r\n"
    assert {len(w) for w in writes[:-1]} == {3}


def test_jitter_only_with_a_trickle() -> None:
    rule = '[[server.rules]]\nverb = "MAIL"\ntrickle_jitter_s = 3\n'
    assert problems(scenario_text(server=rule)) == [
        "x.toml: server.rules[0].trickle_jitter_s: only used with action 'trickle'"]
