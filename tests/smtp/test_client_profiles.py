"""Tests of the release profiles in smtp/client.py: each historical deviation against current.

Every test runs the same dialogue under an old release and under ``current`` (the pairing
helper ``Pair`` of test_client_core.py: ClientCore and the scripted server engine in
memory) and asserts what the server received and what the client reported. The labels
2.3 to 1.0 are ours for the unnumbered groups of the changelog (see smtp/profiles.py).
Weak TLS cipher suites are the client task's business (smtp/task.py), not the core's.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from scenarios.server.rules import Rule, ServerConfig
from smtp.auth import Credentials
from smtp.events import (
    ClientError,
    CommandAbort,
    ErrorKind,
    RecipientRejected,
    Sent,
    Timeout,
    TlsEstablished,
)
from smtp.jobs import EtrnJob, VrfyJob
from smtp.outputs import ArmTimer, CancelTimer, SendContent
from smtp.phases import Phase
from smtp.profiles import PROFILE_NAMES
from smtp.rtcdate import FIXED_1_0_DATE
from smtp.settings import SECOND_US


def _sibling(name: str) -> ModuleType:
    """A module next to this file (test directories are not packages)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_client_pairing_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from test_client_core import DEVICE_DOMAIN, DEVICE_IP, USERS, FixedPorting, Pair, mail
else:
    _pairing = _sibling("test_client_core")
    DEVICE_DOMAIN, DEVICE_IP, USERS = _pairing.DEVICE_DOMAIN, _pairing.DEVICE_IP, _pairing.USERS
    FixedPorting, Pair, mail = _pairing.FixedPorting, _pairing.Pair, _pairing.mail

HOST = "smtp.example.com"
FULL_SERVER = ServerConfig(hostname=HOST, credentials=USERS)
"""Every extension the engine has, STARTTLS included."""
PLAIN_SERVER = ServerConfig(hostname=HOST, capabilities=("ENHANCEDSTATUSCODES",))
PIPELINING_SERVER = ServerConfig(hostname=HOST, capabilities=("PIPELINING",))
OLD = [name for name in PROFILE_NAMES if name != "current"]


def only_terminal(pair: Pair) -> object:
    (event,) = pair.terminal
    return event


def raw_header(content: bytes, name: str) -> str:
    """A header's value exactly as it was on the wire (the parsed ``ReceivedMail.header``
    re-renders a Date, weekday included)."""
    head = content.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.decode().lower() == name.lower():
            return value.strip().decode()
    raise AssertionError(f"no {name} header")


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_every_release_delivers_a_simple_mail(profile: str) -> None:
    pair = Pair([mail(body="one line\r\n")], server=PLAIN_SERVER, profile=profile).run()

    sent = only_terminal(pair)
    assert isinstance(sent, Sent)
    (received,) = pair.mailbox
    assert received.body == b"one line\r\n"
    assert pair.commands[-1] == "QUIT" and pair.core.finished


# ---- 2.5: "Truncated messages that contained blank line." ------------------------------------

BLANK_LINE_BODY = "first paragraph\r\n\r\nsecond paragraph\r\n"


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_body_cut_at_first_blank_line_before_2_5(profile: str) -> None:
    pair = Pair([mail(body=BLANK_LINE_BODY)], server=PLAIN_SERVER, profile=profile).run()

    (received,) = pair.mailbox
    if profile in ("2.5", "current"):
        assert received.body == BLANK_LINE_BODY.encode()
    else:
        assert received.body == b"first paragraph\r\n"
    assert isinstance(only_terminal(pair), Sent)  # the old releases did not notice


# ---- 2.4: "Values of month and day are converted properly. psp_template_hostname is used." ---

DATE_BY_PROFILE = {
    "1.0": FIXED_1_0_DATE,
    "2.0": "Thu, 21 Jul 2017 12:22:07 +0000",
    "2.1": "Thu, 21 Jul 2017 12:22:07 +0000",
    "2.2": "Thu, 21 Jul 2017 12:22:07 +0000",
    "2.3": "Thu, 21 Jul 2017 12:22:07 +0000",
    "2.4": "Thu, 22 Jun 2017 12:22:07 +0000",
    "2.5": "Thu, 22 Jun 2017 12:22:07 +0000",
    "current": "Thu, 22 Jun 2017 12:22:07 +0000",
}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_date_month_and_day_wrong_before_2_4(profile: str) -> None:
    pair = Pair([mail()], server=PLAIN_SERVER, profile=profile).run()

    assert raw_header(pair.mailbox[0].content, "Date") == DATE_BY_PROFILE[profile]


def test_2_3_date_is_refused_by_a_strict_server_and_current_is_not() -> None:
    strict = replace(PLAIN_SERVER, date_tolerance_hours=24)
    old = Pair([mail()], server=strict, profile="2.3").run()
    current = Pair([mail()], server=strict).run()

    abort = only_terminal(old)
    assert isinstance(abort, CommandAbort) and abort.command == "DATA"
    assert abort.reply.code == 554 and old.mailbox == []
    assert isinstance(only_terminal(current), Sent)


@pytest.mark.parametrize(("profile", "domain"), [
    ("2.3", "localhost"), ("2.0", "localhost"), ("1.0", "localhost"),
    ("2.4", DEVICE_DOMAIN), ("current", DEVICE_DOMAIN),
])
def test_message_id_domain_was_localhost_before_2_4(profile: str, domain: str) -> None:
    pair = Pair([mail()], server=PLAIN_SERVER, profile=profile).run()

    message_id = pair.mailbox[0].header("Message-ID")
    assert message_id is not None and message_id.endswith(f"@{domain}>")


def test_current_message_id_falls_back_to_the_template_hostname() -> None:
    pair = Pair([mail()], server=PLAIN_SERVER,
                porting=FixedPorting(domain=None, hostname="sensor-17")).run()

    message_id = pair.mailbox[0].header("Message-ID")
    assert message_id is not None and message_id.endswith("@sensor-17>")


# ---- 2.2: "Changed psp_get_host_addr() to psp_get_host_domain()" ------------------------------

@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_ehlo_greets_with_the_bare_ip_before_2_2(profile: str) -> None:
    pair = Pair([mail()], server=PLAIN_SERVER, profile=profile).run()

    bare = profile in ("1.0", "2.0", "2.1")
    assert pair.obs.ehlo_names == [DEVICE_IP if bare else DEVICE_DOMAIN]


def test_2_1_bare_ip_is_refused_by_a_strict_server_and_current_is_not() -> None:
    strict = replace(PLAIN_SERVER, ehlo_reject_bare_ip=True)
    old = Pair([mail()], server=strict, profile="2.1").run()
    current = Pair([mail()], server=strict).run()

    abort = only_terminal(old)
    assert isinstance(abort, CommandAbort) and abort.command == "EHLO"
    assert abort.reply.code == 501 and old.commands == ["EHLO", "QUIT"]
    assert isinstance(only_terminal(current), Sent)


def test_current_without_a_domain_greets_with_an_address_literal() -> None:
    strict = replace(PLAIN_SERVER, ehlo_reject_bare_ip=True)
    pair = Pair([mail()], server=strict, porting=FixedPorting(domain=None)).run()

    assert pair.obs.ehlo_names == [f"[{DEVICE_IP}]"]
    assert isinstance(only_terminal(pair), Sent)


# ---- 2.1: "command_abort was not sent when mail failed" ---------------------------------------

MAIL_REFUSED = replace(PIPELINING_SERVER, rules=(Rule("MAIL", reply="550 5.7.1 Sender refused"),))


def test_2_0_pipelined_mail_failure_loses_the_job_without_any_event() -> None:
    pair = Pair([mail(), mail(subject="next")], server=MAIL_REFUSED, profile="2.0").run()

    assert pair.terminal == []
    assert pair.core.phase is Phase.STUCK and not pair.core.finished
    assert [log.kind for log in pair.logs if log.kind != "matched"] == ["job_lost"]
    assert pair.fired == [] and isinstance(pair.outputs[-2], CancelTimer)
    assert pair.commands == ["EHLO", "MAIL", "RCPT", "DATA"]  # no QUIT, no second mail
    assert not pair.engine.closed


@pytest.mark.parametrize("profile", ["2.1", "current"])
def test_pipelined_mail_failure_is_command_abort_since_2_1(profile: str) -> None:
    pair = Pair([mail(), mail(subject="next")], server=MAIL_REFUSED, profile=profile).run()

    first, second = pair.terminal
    assert isinstance(first, CommandAbort) and first.command == "MAIL"
    assert isinstance(second, CommandAbort) and second.command == "MAIL"  # refused too
    assert not any(isinstance(e, RecipientRejected) for e in pair.events)
    assert pair.commands[-1] == "QUIT" and pair.core.finished


def test_2_0_mail_failure_without_pipelining_is_reported() -> None:
    server = replace(PLAIN_SERVER, rules=MAIL_REFUSED.rules)
    pair = Pair([mail()], server=server, profile="2.0").run()

    abort = only_terminal(pair)
    assert isinstance(abort, CommandAbort) and abort.command == "MAIL"


# ---- known issue: "Timeout test is executed only when no TLS connection is active." -----------

TLS_SERVER = ServerConfig(hostname=HOST, capabilities=("STARTTLS", "PIPELINING"))
SILENT_AFTER_MAIL = replace(TLS_SERVER, rules=(Rule("MAIL", action="silent"),))


@pytest.mark.parametrize("profile", ["2.0", "2.4", "2.5"])
def test_no_timer_while_tls_is_active_in_old_releases(profile: str) -> None:
    pair = Pair([mail()], server=TLS_SERVER, security="starttls", profile=profile).run()

    after_tls = pair.outputs_after(TlsEstablished)
    assert not any(isinstance(o, ArmTimer) for o in after_tls)
    assert CancelTimer() in after_tls
    contents = [o for o in after_tls if isinstance(o, SendContent)]
    assert [c.block_timeout_us for c in contents] == [None]
    assert isinstance(only_terminal(pair), Sent)


def test_current_times_every_command_under_tls() -> None:
    pair = Pair([mail()], server=TLS_SERVER, security="starttls").run()

    after_tls = pair.outputs_after(TlsEstablished)
    armed = [o.command for o in after_tls if isinstance(o, ArmTimer)]
    assert armed[0] == "ehlo" and {"mail", "data_block", "data_term", "quit"} <= set(armed)
    contents = [o for o in after_tls if isinstance(o, SendContent)]
    assert [c.block_timeout_us for c in contents] == [180 * SECOND_US]


def test_2_5_waits_forever_for_a_silent_server_under_tls() -> None:
    pair = Pair([mail()], server=SILENT_AFTER_MAIL, security="starttls", profile="2.5").run()

    assert pair.terminal == [] and pair.fired == []
    assert pair.core.phase is Phase.SESSION and not pair.core.finished


def test_current_times_out_a_silent_server_under_tls() -> None:
    pair = Pair([mail()], server=SILENT_AFTER_MAIL, security="starttls").run()

    assert pair.terminal == [Timeout("MAIL", 300 * SECOND_US)]
    assert pair.core.finished


def test_2_5_times_out_without_tls() -> None:
    server = replace(PLAIN_SERVER, rules=(Rule("MAIL", action="silent"),))
    pair = Pair([mail()], server=server, profile="2.5").run()

    assert pair.terminal == [Timeout("MAIL", 300 * SECOND_US)]


# ---- 1.0: plain SMTP, AUTH LOGIN, a fixed Date -------------------------------------------------

def test_1_0_uses_none_of_the_2_0_features() -> None:
    job = mail(to=("ops@example.net",), cc=("cc@example.net",), body=BLANK_LINE_BODY,
               dsn_notify=("FAILURE",), dsn_ret="HDRS", dsn_envid="E1", dsn_orcpt=True)
    pair = Pair([job], server=FULL_SERVER, profile="1.0", security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    assert "STARTTLS" not in pair.commands and not pair.obs.starttls_requested
    assert pair.obs.auth_mechanisms == ["LOGIN"]  # CRAM-MD5 and PLAIN were offered
    assert not pair.obs.pipelined
    (received,) = pair.mailbox
    assert received.via == "DATA" and "BDAT" not in pair.commands
    assert received.mail_params == {}  # no SIZE, BODY, RET, ENVID
    assert [r.params for r in received.recipients] == [{}]  # no NOTIFY, ORCPT
    assert received.recipient_addresses == ["ops@example.net"]  # Cc did not exist
    assert received.header("Cc") is None
    assert received.date_header == FIXED_1_0_DATE
    assert not received.tls and isinstance(only_terminal(pair), Sent)


def test_current_uses_the_2_0_features_on_the_same_server() -> None:
    job = mail(to=("ops@example.net",), cc=("cc@example.net",),
               dsn_notify=("FAILURE",), dsn_ret="HDRS", dsn_envid="E1", dsn_orcpt=True)
    pair = Pair([job], server=FULL_SERVER, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    assert pair.commands[:3] == ["EHLO", "STARTTLS", "EHLO"]
    assert pair.obs.auth_mechanisms == ["CRAM-MD5"] and pair.obs.pipelined
    (received,) = pair.mailbox
    assert received.via == "BDAT"
    assert {"SIZE", "RET", "ENVID"} <= set(received.mail_params)
    assert [r.notify for r in received.recipients] == [("FAILURE",)] * 2
    assert received.header("Cc") == "cc@example.net" and received.tls


def test_1_0_without_login_offered_cannot_authenticate() -> None:
    server = ServerConfig(hostname=HOST, capabilities=("AUTH PLAIN CRAM-MD5",),
                          credentials=USERS)
    pair = Pair([mail()], server=server, profile="1.0", mechanism="PLAIN",
                credentials=Credentials("dev", "s3cret")).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.AUTH_FAILED
    assert pair.obs.auth_mechanisms == [] and pair.mailbox == []


def test_1_0_has_no_vrfy_or_etrn() -> None:
    pair = Pair([VrfyJob("ops"), EtrnJob("example.net")], server=FULL_SERVER,
                profile="1.0").run()

    assert [e.kind for e in pair.terminal if isinstance(e, ClientError)] == \
        [ErrorKind.UNSUPPORTED] * 2
    assert pair.commands == ["EHLO", "QUIT"]

