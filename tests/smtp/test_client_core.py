"""Tests of smtp/client.py (ClientCore), paired in memory with the scripted server engine.

``Pair`` is a tiny synchronous driver that mirrors smtp/task.py: it feeds the core what
happened and carries out its outputs, and does the same for the server engine
(scenarios/server/engine.py), moving bytes between the two. No network, no kernel, no
clock: Delay actions are ignored, and the core's timer fires only when the dialogue has
stalled (nothing left to deliver either way), which is when it would fire in real time.

Every test asserts what the server received (mailbox, observations) and what the
client told the application (events). test_client_profiles.py loads ``Pair`` from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.server import replies as R
from scenarios.server.actions import Action, Close, Delay, DropTls, Reset, Send, Silence
from scenarios.server.actions import StartTls as ServerStartTls
from scenarios.server.engine import ServerEngine
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.server.rules import Rule, RuleAction, ServerConfig
from smtp.auth import AUTH_REPLY_LINE_LIMIT, MAX_CHALLENGE, Credentials
from smtp.client import ClientCore
from smtp.events import (
    Authenticated,
    ClientError,
    ClientEvent,
    CommandAbort,
    Connected,
    DowngradeReason,
    ErrorKind,
    EtrnResult,
    RecipientRejected,
    Sent,
    Timeout,
    TlsDowngraded,
    TlsEstablished,
    VrfyResult,
    describe,
    is_terminal,
)
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import MailJob, MessageBuilder
from smtp.outputs import (
    ArmTimer,
    CancelTimer,
    Log,
    MessageComposed,
    Notify,
    Output,
    SendBytes,
    SendContent,
    StartTls,
)
from smtp.outputs import Close as ClientClose
from smtp.phases import Phase
from smtp.profiles import PROFILE_NAMES, get_profile
from smtp.replies import Reply
from smtp.rtcdate import RtcTime, format_date_header
from smtp.settings import SECOND_US, ClientSettings

# ---- the pairing helper ------------------------------------------------------------------

SERVER_HOST = "smtp.example.com"
TLS_CIPHER = "TLS_AES_256_GCM_SHA384"
TLS_VERSION = "TLSv1.3"
RTC = RtcTime(2017, 6, 22, 12, 22, 7, 3, True)  # a Thursday
SERVER_NOW = datetime(2017, 6, 22, 12, 22, 7, tzinfo=UTC)
DEVICE_DOMAIN = "device.example.com"
DEVICE_IP = "192.0.2.10"

Delivery = Literal["as_sent", "bytewise", "coalesced"]


@dataclass
class FixedPorting:
    """The device's porting layer with a fixed RTC reading (``psp_rtc_get``)."""

    rtc: RtcTime = RTC
    domain: str | None = DEVICE_DOMAIN
    address: str = DEVICE_IP
    hostname: str = "device"

    def rtc_get(self) -> RtcTime:
        return self.rtc

    def host_domain(self) -> str | None:
        return self.domain

    def host_address(self) -> str:
        return self.address

    def template_hostname(self) -> str:
        return self.hostname


class Pair:
    """A ClientCore and a ServerEngine talking through two in-memory queues.

    ``delivery`` shapes what the client reads: ``"as_sent"`` one ``receive`` per server
    write, ``"bytewise"`` one byte per ``receive``, ``"coalesced"`` everything pending in
    one ``receive``. TLS is not real here: when both sides have asked for it the pair
    calls ``tls_established`` on each and the bytes keep flowing in clear (real TLS is
    tested in tests/stack/test_tls.py and through the task).
    """

    def __init__(self, jobs: Sequence[Job], *, server: ServerConfig | None = None,
                 profile: str = "current", delivery: Delivery = "as_sent",
                 porting: FixedPorting | None = None, **settings: Any) -> None:
        self.settings = ClientSettings(server_host=SERVER_HOST,
                                       **{"security": "none", **settings})
        self.porting = porting or FixedPorting()
        self.core = ClientCore(self.settings, get_profile(profile), self.porting, jobs)
        self.engine = ServerEngine(server or ServerConfig(hostname=SERVER_HOST))
        self.delivery = delivery
        self.outputs: list[Output] = []
        self.sent: list[SendBytes] = []
        self.armed: list[ArmTimer] = []
        self.logs: list[Log] = []
        self.composed: list[MessageComposed] = []
        self.fired: list[str] = []
        """The command of the armed timer each time it fired."""
        self.received: list[bytes] = []
        """The data of every ``receive`` call, in order."""
        self.discarded = b""
        """Plaintext the driver dropped when the client started TLS (as task.py does)."""
        self.tls = False
        self._to_server: deque[bytes] = deque()
        self._to_client: deque[bytes] = deque()
        self._content: Iterator[bytes] | None = None
        self._timer: ArmTimer | None = None
        self._client_tls = False
        self._server_tls = False
        self._client_closed: bool | None = None  # None: open; else whether it aborted
        self._server_told = False
        self._server_gone: str | None = None
        self._client_told = False

    # -- running
    def run(self, max_steps: int = 200_000) -> Pair:
        self._client(self.core.start())
        if self.core.finished:
            return self
        self._client(self.core.connected(SERVER_HOST, self.settings.server_port))
        self._server(self.engine.on_connect())
        for _ in range(max_steps):
            if not self._step():
                return self
        raise AssertionError("the dialogue did not settle")

    def _step(self) -> bool:
        """Do the next thing that is due; False when nothing is left.

        The order is task.py's: write what is queued, read what has arrived, and only
        then stream the content (so bytes that came before the content went out are read
        while the core is still in its content phase).
        """
        if self._to_server:
            data = self._to_server.popleft()
            if self._server_gone is None:
                self._server(self.engine.on_data(data, SERVER_NOW))
            return True
        if self._client_closed is not None and not self._server_told:
            self._server_told = True
            self.engine.on_close("client reset" if self._client_closed else "client closed")
            return True
        if self._client_tls and self._server_tls:
            self._handshake()
            return True
        if self._to_client:
            self._deliver()
            return True
        if self._content is not None:
            self._pump_content()
            return True
        if self._server_gone is not None and not self._client_told:
            self._client_told = True
            if self._client_closed is None:
                self._client(self.core.connection_lost(self._server_gone))
            return True
        if self._client_tls and self._client_closed is None:
            self._client_tls = False
            self._client(self.core.tls_failed("handshake failed: the server did not start TLS"))
            return True
        if self._timer is not None and self._client_closed is None:
            self.fired.append(self._timer.command)
            self._timer = None
            self._client(self.core.timer_expired())
            return True
        return False

    def _pump_content(self) -> None:
        # As task.py: hand every chunk to the socket, then tell the core.
        assert self._content is not None
        for chunk in self._content:
            if self._client_closed is not None:
                break
            self._to_server.append(chunk)
            self._client(self.core.block_sent())
        self._content = None
        if self._client_closed is None:
            self._client(self.core.content_sent())

    def _handshake(self) -> None:
        # No real TLS here: both sides are told the handshake succeeded and the bytes
        # that follow are passed in clear.
        self._client_tls = self._server_tls = False
        self.tls = True
        self._server(self.engine.on_tls_established(TLS_CIPHER, TLS_VERSION))
        self._client(self.core.tls_established(TLS_CIPHER, TLS_VERSION))

    def _deliver(self) -> None:
        if self.delivery == "coalesced":
            data = b"".join(self._to_client)
            self._to_client.clear()
        elif self.delivery == "bytewise":
            head = self._to_client.popleft()
            data = head[:1]
            if len(head) > 1:
                self._to_client.appendleft(head[1:])
        else:
            data = self._to_client.popleft()
        if self._client_closed is None:
            self.received.append(data)
            self._client(self.core.receive(data))

    # -- carrying out outputs and actions
    def _client(self, outputs: list[Output]) -> None:
        for out in outputs:
            self.outputs.append(out)
            if isinstance(out, SendBytes):
                self.sent.append(out)
                self._to_server.append(out.data)
            elif isinstance(out, SendContent):
                self._content = out.chunks
            elif isinstance(out, StartTls):
                self._client_tls = True
                # task.py drains the socket before the handshake: plaintext is dropped.
                self.discarded += b"".join(self._to_client)
                self._to_client.clear()
            elif isinstance(out, ArmTimer):
                self.armed.append(out)
                self._timer = out
            elif isinstance(out, CancelTimer):
                self._timer = None
            elif isinstance(out, ClientClose):
                self._client_closed = out.abort
                self._timer = None
                self._content = None
                if out.abort:
                    self._to_server.clear()
            elif isinstance(out, Log):
                self.logs.append(out)
            elif isinstance(out, MessageComposed):
                self.composed.append(out)
            else:
                assert isinstance(out, Notify)

    def _server(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if self._server_gone is None:
                    self._to_client.append(action.data)
            elif isinstance(action, ServerStartTls):
                self._server_tls = True
            elif isinstance(action, Close):
                self._server_gone = "connection closed by the server"
            elif isinstance(action, Reset):
                self._server_gone = "connection reset by the server"
            elif isinstance(action, DropTls):
                self._server_gone = f"the server dropped TLS ({action.mode})"
            else:
                assert isinstance(action, Delay | Silence)  # no time here; Silence: no answer

    # -- what happened
    @property
    def events(self) -> list[ClientEvent]:
        return self.core.events

    @property
    def terminal(self) -> list[ClientEvent]:
        return [e for e in self.events if is_terminal(e)]

    @property
    def mailbox(self) -> list[ReceivedMail]:
        return self.engine.mailbox

    @property
    def obs(self) -> Observations:
        return self.engine.observations

    @property
    def commands(self) -> list[str]:
        return self.obs.commands

    def outputs_after(self, kind: type[ClientEvent]) -> list[Output]:
        """The outputs after the first Notify of an event of type ``kind``."""
        for i, out in enumerate(self.outputs):
            if isinstance(out, Notify) and isinstance(out.event, kind):
                return self.outputs[i + 1:]
        raise AssertionError(f"no {kind.__name__} event")


def mail(**fields: Any) -> MailJob:
    """A small valid mail job; ``fields`` override."""
    base: dict[str, Any] = {"sender": "dev@example.org", "to": ("ops@example.net",),
                            "subject": "Report", "body": "Hello\r\n"}
    return MailJob(**{**base, **fields})


def expected_message(job: MailJob, *, via: str = "DATA", seq: int = 1,
                     eight_bit_ok: bool = True, date: str | None = None,
                     domain: str = DEVICE_DOMAIN) -> bytes:
    """The exact content the current release sends for ``job``, as the server stores it:
    after DATA an unterminated last line gets its CRLF; BDAT carries the bytes as they are."""
    builder = MessageBuilder(job, date_header=date or format_date_header(RTC),
                             message_id_domain=domain, message_id_seq=seq, boundary_seed=seq,
                             eight_bit_ok=eight_bit_ok)
    content = builder.to_bytes()
    if via == "DATA" and not content.endswith(b"\r\n"):
        content += b"\r\n"
    return content


NO_EXTENSIONS = ServerConfig(hostname=SERVER_HOST, capabilities=("ENHANCEDSTATUSCODES",))
PLAIN_ESMTP = ServerConfig(hostname=SERVER_HOST,
                           capabilities=("SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"))
USERS = {"dev": "s3cret"}
TLS_SERVER = ServerConfig(
    hostname=SERVER_HOST, credentials=USERS,
    capabilities=("PIPELINING", "STARTTLS", "AUTH PLAIN", "ENHANCEDSTATUSCODES"),
    capabilities_tls=("PIPELINING", "AUTH LOGIN", "ENHANCEDSTATUSCODES"))


def event_types(pair: Pair) -> list[type]:
    return [type(e) for e in pair.events]


def only_terminal(pair: Pair) -> ClientEvent:
    (event,) = pair.terminal
    return event


def bdat_sizes(pair: Pair) -> list[tuple[int, bool]]:
    """``(size, last)`` of every BDAT command the client wrote, in order."""
    out: list[tuple[int, bool]] = []
    for sent in pair.sent:
        data = sent.data
        while (at := data.find(b"BDAT ")) >= 0:
            line_end = data.index(b"\r\n", at)
            words = data[at:line_end].split()
            size = int(words[1])
            out.append((size, words[-1] == b"LAST"))
            data = data[line_end + 2 + size:]
    return out


# ---- the plain dialogue ------------------------------------------------------------------

TRICKY_BODY = ("Hello\r\n.hidden line starts with a dot\r\n..two dots\r\n.\r\n\r\n"
               "after a blank line\nbare LF line\rbare CR line\r\nno final line break")


def test_plain_delivery_is_byte_exact_and_ends_with_quit() -> None:
    job = mail(body=TRICKY_BODY)
    pair = Pair([job], server=NO_EXTENSIONS).run()

    assert pair.commands == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert event_types(pair) == [Connected, Sent]
    sent = only_terminal(pair)
    assert isinstance(sent, Sent) and sent.reply.code == 250
    assert sent.accepted == ("ops@example.net",) and sent.rejected == ()
    (received,) = pair.mailbox
    assert received.sender == "dev@example.org"
    assert received.recipient_addresses == ["ops@example.net"]
    assert received.via == "DATA"
    assert received.content == expected_message(job, eight_bit_ok=False)
    assert received.body.endswith(b"no final line break\r\n")
    obs = pair.obs
    assert obs.dot_stuffing_violations == [] and obs.eod_lookalikes == []
    assert not obs.bare_lf_in_data and not obs.bare_cr_in_data
    assert obs.command_line_endings.bare_lf == 0 and obs.command_line_endings.bare_cr == 0
    assert not obs.pipelined and obs.used_without_advertisement == []
    assert pair.engine.closed and pair.core.finished
    assert pair.outputs[-1] == ClientClose(abort=False)
    assert pair.fired == []


@pytest.mark.parametrize("delivery", ["as_sent", "bytewise", "coalesced"])
@pytest.mark.parametrize("segmentation", ["normal", "byte_by_byte", "coalesced"])
def test_reply_segmentation_does_not_change_the_outcome(delivery: Delivery,
                                                        segmentation: Any) -> None:
    job = mail(to=("ops@example.net", "boss@example.net"), body=TRICKY_BODY)
    server = replace(TLS_SERVER, segmentation=segmentation,
                     capabilities=(*(TLS_SERVER.capabilities or ()), "CHUNKING"))
    pair = Pair([job], server=server, delivery=delivery, security="starttls",
                credentials=Credentials("dev", "s3cret"), chunk_size=50).run()

    assert event_types(pair) == [Connected, TlsEstablished, Authenticated, Sent]
    assert pair.commands[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
    assert pair.commands[-1] == "QUIT"
    (received,) = pair.mailbox
    assert received.content == expected_message(job, via=received.via, eight_bit_ok=False)
    assert received.tls and received.authenticated_user == "dev"
    assert pair.fired == []


def test_replies_to_a_pipelined_group_coalesced_in_one_write() -> None:
    job = mail(to=("a@example.net", "b@example.net", "c@example.net"))
    server = ServerConfig(hostname=SERVER_HOST, coalesce_replies=True,
                          capabilities=("PIPELINING", "ENHANCEDSTATUSCODES"))
    pair = Pair([job], server=server, delivery="coalesced").run()

    group_replies = [data for data in pair.received if data.startswith(b"250 2.1.0")]
    assert group_replies == [R.encode("\n".join([R.S250_SENDER_OK, *[R.S250_RECIPIENT_OK] * 3,
                                                 R.S354_START_DATA]))]
    sent = only_terminal(pair)
    assert isinstance(sent, Sent)
    assert sent.accepted == ("a@example.net", "b@example.net", "c@example.net")
    assert len(pair.mailbox) == 1


def test_multi_line_ehlo_reply_gives_every_extension() -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=(
        "PIPELINING", "SIZE 1000000", "AUTH PLAIN LOGIN", "8BITMIME", "DSN"))
    pair = Pair([mail()], server=server).run()

    assert pair.core.extensions == {"PIPELINING": "", "SIZE": "1000000",
                                    "AUTH": "PLAIN LOGIN", "8BITMIME": "", "DSN": ""}
    assert isinstance(only_terminal(pair), Sent)


@pytest.mark.parametrize("code", ["500 5.5.2 Error: command not recognized",
                                  "502 5.5.1 Error: command not implemented"])
def test_ehlo_refused_falls_back_to_helo(code: str) -> None:
    server = replace(PLAIN_ESMTP, rules=(Rule("EHLO", reply=code),))
    pair = Pair([mail()], server=server).run()

    assert pair.commands == ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert [s.data for s in pair.sent[:2]] == [f"EHLO {DEVICE_DOMAIN}\r\n".encode(),
                                               f"HELO {DEVICE_DOMAIN}\r\n".encode()]
    assert pair.obs.helo_used
    assert pair.core.extensions == {}
    assert "SIZE" not in pair.mailbox[0].mail_params  # nothing learnt from a refused EHLO
    assert isinstance(only_terminal(pair), Sent)


def test_ehlo_refused_with_tls_required_does_not_fall_back() -> None:
    server = replace(TLS_SERVER, rules=(Rule("EHLO", reply=R.S502_NOT_IMPLEMENTED),))
    pair = Pair([mail()], server=server, security="required").run()

    assert pair.commands == ["EHLO", "QUIT"]
    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_REQUIRED


@pytest.mark.parametrize(("porting_domain", "settings_domain", "expected"), [
    (DEVICE_DOMAIN, None, DEVICE_DOMAIN),
    (None, "configured.example.com", "configured.example.com"),
    (None, None, f"[{DEVICE_IP}]"),
])
def test_ehlo_name_is_the_domain_else_an_address_literal(
        porting_domain: str | None, settings_domain: str | None, expected: str) -> None:
    server = replace(PLAIN_ESMTP, ehlo_reject_bare_ip=True)
    pair = Pair([mail()], server=server, porting=FixedPorting(domain=porting_domain),
                device_domain=settings_domain).run()

    assert pair.obs.ehlo_names == [expected]
    assert isinstance(only_terminal(pair), Sent)
    assert pair.mailbox[0].helo_name == expected


# ---- TLS ---------------------------------------------------------------------------------

def test_starttls_then_ehlo_again_and_only_post_tls_capabilities_count() -> None:
    pair = Pair([mail()], server=TLS_SERVER, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    assert pair.commands == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    assert pair.obs.auth_mechanisms == ["LOGIN"]  # pre-TLS PLAIN was forgotten
    assert not pair.obs.auth_in_plaintext
    assert pair.obs.plaintext_after_starttls == b""
    assert pair.core.extensions == {"PIPELINING": "", "AUTH": "LOGIN", "ENHANCEDSTATUSCODES": ""}
    assert event_types(pair) == [Connected, TlsEstablished, Authenticated, Sent]
    assert pair.events[1] == TlsEstablished(TLS_CIPHER, TLS_VERSION)
    assert pair.events[2] == Authenticated("LOGIN")
    (received,) = pair.mailbox
    assert received.tls and received.authenticated_user == "dev"
    # The EHLO sent after the handshake runs under its own timer (RFC 5321 4.5.3.2).
    after_tls = pair.outputs_after(TlsEstablished)
    assert after_tls[:2] == [SendBytes(f"EHLO {DEVICE_DOMAIN}\r\n".encode(), "EHLO"),
                             ArmTimer("ehlo", 300 * SECOND_US)]


@pytest.mark.parametrize("refusal", [R.S454_TLS_UNAVAILABLE, R.S502_NOT_IMPLEMENTED,
                                     "354 do something else", "500 5.5.1 unknown",
                                     "501 5.5.4 syntax", "530 5.7.0 must issue AUTH",
                                     "250 2.0.0 OK"])
def test_starttls_refused_fails_closed(refusal: str) -> None:
    # transition=False: the engine must not start TLS after a 3xx/2xx it was told to send.
    server = replace(TLS_SERVER, rules=(Rule("STARTTLS", reply=refusal, transition=False),))
    pair = Pair([mail()], server=server, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_FAILED
    assert pair.obs.commands_after_failed_starttls == ["QUIT"]
    assert pair.commands == ["EHLO", "STARTTLS", "QUIT"]
    assert pair.obs.auth_mechanisms == [] and pair.mailbox == []


def test_starttls_answered_221_closes_without_quit() -> None:
    """221 is the server saying goodbye (hostile-servers.md row 4: "421/221 -> close"):
    the client once answered it with QUIT, to a server that had closed the session."""
    server = replace(TLS_SERVER, rules=(Rule("STARTTLS", reply="221 2.0.0 Bye",
                                             transition=False),))
    pair = Pair([mail()], server=server, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_FAILED
    assert error.detail == "STARTTLS refused: 221 2.0.0 Bye"
    assert pair.commands == ["EHLO", "STARTTLS"]
    assert pair.obs.commands_after_failed_starttls == []
    assert pair.outputs[-1] == ClientClose(abort=False)
    assert pair.obs.auth_mechanisms == [] and pair.mailbox == []


def test_starttls_answered_421_aborts_without_quit() -> None:
    server = replace(TLS_SERVER, rules=(Rule("STARTTLS", reply="421 4.3.0 shutting down",
                                             transition=False),))
    pair = Pair([mail()], server=server, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    abort = only_terminal(pair)
    assert isinstance(abort, CommandAbort) and abort.command == "STARTTLS"
    assert pair.commands == ["EHLO", "STARTTLS"]
    assert pair.outputs[-1] == ClientClose(abort=True)


def test_server_that_answers_220_but_never_starts_tls_fails_closed() -> None:
    server = replace(TLS_SERVER, rules=(Rule("STARTTLS", reply="220 go ahead",
                                             transition=False),))
    pair = Pair([mail()], server=server, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_FAILED
    assert pair.commands == ["EHLO", "STARTTLS"]
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert pair.mailbox == []


def test_tls_required_but_starttls_not_offered_sends_nothing_sensitive() -> None:
    server = ServerConfig(hostname=SERVER_HOST, starttls=False, credentials=USERS)
    pair = Pair([mail()], server=server, security="required",
                credentials=Credentials("dev", "s3cret")).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_REQUIRED
    assert pair.commands == ["EHLO", "QUIT"]
    assert pair.obs.auth_mechanisms == [] and pair.mailbox == []


def test_opportunistic_starttls_without_offer_goes_on_in_plaintext() -> None:
    server = ServerConfig(hostname=SERVER_HOST, starttls=False)
    pair = Pair([mail()], server=server, security="starttls").run()

    assert "STARTTLS" not in pair.commands
    assert isinstance(only_terminal(pair), Sent)
    assert not pair.mailbox[0].tls


def test_implicit_tls_greets_inside_tls() -> None:
    server = ServerConfig(hostname=SERVER_HOST, implicit_tls=True, credentials=USERS)
    pair = Pair([mail()], server=server, security="tls", server_port=465,
                credentials=Credentials("dev", "s3cret")).run()

    assert event_types(pair) == [Connected, TlsEstablished, Authenticated, Sent]
    assert pair.commands[:2] == ["EHLO", "AUTH"] and "STARTTLS" not in pair.commands
    assert pair.mailbox[0].tls
    assert pair.armed[:3] == [ArmTimer("connect", 30 * SECOND_US),
                              ArmTimer("tls_handshake", 60 * SECOND_US),
                              ArmTimer("greeting", 300 * SECOND_US)]


INJECTED = b"250-evil.example.com\r\n250 AUTH PLAIN\r\n"


@pytest.mark.parametrize("delivery", ["as_sent", "bytewise"])
def test_plaintext_injected_after_220_ready_is_discarded(delivery: Delivery) -> None:
    server = replace(TLS_SERVER, rules=(Rule("STARTTLS", inject=INJECTED),))
    pair = Pair([mail()], server=server, delivery=delivery, security="starttls",
                credentials=Credentials("dev", "s3cret")).run()

    # The injected "EHLO reply" never answers the EHLO sent inside TLS: the real one does,
    # so LOGIN (post-TLS) is used, not the injected PLAIN.
    assert pair.obs.auth_mechanisms == ["LOGIN"]
    assert event_types(pair) == [Connected, TlsEstablished, Authenticated, Sent]
    logs = [log for log in pair.logs if log.kind != "matched"]
    if delivery == "as_sent":  # the core got it with the 220 and dropped it
        assert [log.kind for log in logs] == ["discarded_plaintext"]
        assert str(len(INJECTED)) in logs[0].detail
    else:  # it was still in the socket: the driver drops it before the handshake
        assert pair.discarded == INJECTED


def test_each_reply_taken_is_logged_with_the_command_it_answered() -> None:
    """The ``matched`` logs: every reply the core read, in order, with the command it was
    matched to (the invariants align them with the server's reply ledger)."""
    pair = Pair([mail()], server=replace(TLS_SERVER, starttls=False)).run()
    matched = [log.detail for log in pair.logs if log.kind == "matched"]
    assert matched[:2] == ["GREETING 220", "EHLO 250"]
    assert matched[-1] == "QUIT 221"
    assert "DATA 354" in matched and matched[-2] == "DATA 250"


# ---- AUTH --------------------------------------------------------------------------------

ALL_MECHANISMS = "AUTH PLAIN LOGIN CRAM-MD5 ANONYMOUS XOAUTH2"
USER_PASS = Credentials("dev", "s3cret")
WITH_TOKEN = Credentials("dev", "s3cret", oauth_token="s3cret")  # the engine checks the token


@pytest.mark.parametrize(("offered", "credentials", "configured", "expected"), [
    (ALL_MECHANISMS, WITH_TOKEN, None, "XOAUTH2"),
    (ALL_MECHANISMS, USER_PASS, None, "CRAM-MD5"),
    ("AUTH LOGIN PLAIN ANONYMOUS", USER_PASS, None, "PLAIN"),
    ("AUTH ANONYMOUS LOGIN", USER_PASS, None, "LOGIN"),
    (ALL_MECHANISMS, WITH_TOKEN, "LOGIN", "LOGIN"),
    (ALL_MECHANISMS, USER_PASS, "PLAIN", "PLAIN"),
    (ALL_MECHANISMS, Credentials(anonymous_trace="dev@example.org"), None, "ANONYMOUS"),
    (ALL_MECHANISMS, Credentials(), "ANONYMOUS", "ANONYMOUS"),
])
def test_auth_mechanism_strongest_first_unless_configured(
        offered: str, credentials: Credentials, configured: str | None, expected: str) -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=(offered,), credentials=USERS,
                          require_auth=True)
    pair = Pair([mail()], server=server, credentials=credentials, mechanism=configured).run()

    assert pair.obs.auth_mechanisms == [expected]
    assert pair.events[1] == Authenticated(expected)
    user = "anonymous" if expected == "ANONYMOUS" else "dev"
    assert pair.mailbox[0].authenticated_user == user
    assert isinstance(only_terminal(pair), Sent)


def test_cram_md5_answer_is_the_rfc_2195_digest() -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=("AUTH CRAM-MD5",),
                          credentials=USERS)
    pair = Pair([mail()], server=server, credentials=USER_PASS).run()

    digest = hmac.new(b"s3cret", server.cram_md5_challenge.encode(), hashlib.md5).hexdigest()
    assert SendBytes(base64.b64encode(f"dev {digest}".encode()) + b"\r\n",
                     "AUTH response") in pair.sent
    assert pair.obs.authenticated_user == "dev"


# AUTH challenge sizes (hostile-servers.md row 32): the reply parser's line limit and the
# challenge limit of smtp/auth.py agree, so a challenge of up to MAX_CHALLENGE octets is
# read and answered, and a longer one is cancelled with "*" without being read.

def _challenge_server(challenge_line: str) -> ServerConfig:
    """A server whose first LOGIN prompt is ``challenge_line`` (the exchange goes on)."""
    return ServerConfig(hostname=SERVER_HOST, capabilities=("AUTH LOGIN",), credentials=USERS,
                        rules=(Rule("AUTH", reply=challenge_line, transition=True),))


@pytest.mark.parametrize("decoded", [600, MAX_CHALLENGE])
def test_a_long_valid_challenge_is_answered(decoded: int) -> None:
    """A verbose LOGIN prompt over a 512-octet line was once "malformed reply: reply line
    longer than 512 octets": the 12,288-octet challenge limit could never be reached."""
    prompt = base64.b64encode(b"Username, please: " + b"u" * (decoded - 18)).decode()
    assert len("334 " + prompt + "\r\n") == (AUTH_REPLY_LINE_LIMIT if decoded == MAX_CHALLENGE
                                              else 806)
    pair = Pair([mail()], server=_challenge_server(f"334 {prompt}"),
                credentials=USER_PASS).run()

    assert isinstance(only_terminal(pair), Sent)
    assert pair.obs.authenticated_user == "dev"
    # Once authenticated, a reply line is held to 512 octets again.
    assert pair.core.parser.max_line_length == 512


@pytest.mark.parametrize("quanta", [4097, (1 << 20) // 3])
def test_a_challenge_over_the_limit_is_cancelled_unread(quanta: int) -> None:
    """One base64 quantum over the limit, or a megabyte: the client reads 16 KiB of it,
    answers "*" (RFC 4954) and closes; it once reset the connection with a "malformed
    reply" and no "*"."""
    pair = Pair([mail()], server=_challenge_server("334 " + "QUFB" * quanta),
                credentials=USER_PASS).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.AUTH_FAILED
    assert error.detail == ("exchange cancelled: AUTH challenge longer than 16390 octets "
                            "(at most 12288 octets decoded)")
    assert pair.sent[-1] == SendBytes(b"*\r\n", "AUTH cancel")
    assert pair.outputs[-1] == ClientClose(abort=False)
    assert pair.commands == ["EHLO", "AUTH"]
    assert pair.obs.authenticated_user is None and pair.mailbox == []


def test_an_oversized_line_that_is_no_challenge_is_a_malformed_reply() -> None:
    pair = Pair([mail()], server=_challenge_server("535 " + "x" * 20000),
                credentials=USER_PASS).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.PROTOCOL
    assert error.detail == "malformed reply: reply line longer than 16390 octets"
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert b"*\r\n" not in [sent.data for sent in pair.sent]


def test_outside_auth_a_reply_line_is_held_to_512_octets() -> None:
    server = ServerConfig(hostname=SERVER_HOST, rules=(Rule("MAIL", reply="250 " + "x" * 600),))
    pair = Pair([mail()], server=server).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError)
    assert error.detail == "malformed reply: reply line longer than 512 octets"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
def test_wrong_credentials_535_is_auth_failed_and_no_mail(mechanism: str) -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=(ALL_MECHANISMS,),
                          credentials=USERS)
    pair = Pair([mail()], server=server, mechanism=mechanism,
                credentials=Credentials("dev", "wrong", oauth_token="wrong")).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.AUTH_FAILED
    assert error.reply is not None and error.reply.code == 535
    assert pair.commands == ["EHLO", "AUTH", "QUIT"]
    assert pair.obs.auth_failures == 1 and pair.mailbox == []


# ---- SIZE, PIPELINING, CHUNKING ----------------------------------------------------------

@pytest.mark.parametrize("chunking", [False, True])
def test_size_is_declared_exactly(chunking: bool) -> None:
    job = mail(body="no final line break\n.dot")
    caps = ("SIZE 100000", *(("CHUNKING",) if chunking else ()))
    pair = Pair([job], server=ServerConfig(hostname=SERVER_HOST, capabilities=caps)).run()

    (received,) = pair.mailbox
    assert received.via == ("BDAT" if chunking else "DATA")
    assert received.mail_params["SIZE"] == str(len(received.content))
    assert pair.obs.sizes[0].declared == pair.obs.sizes[0].actual


def test_too_large_mail_is_refused_locally_before_mail_from() -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=("SIZE 1000",), max_size=1000)
    small = mail(subject="small")
    pair = Pair([mail(body="x" * 2000 + "\r\n"), small], server=server).run()

    first, second = pair.terminal
    assert isinstance(first, ClientError) and first.kind is ErrorKind.SIZE_EXCEEDED
    assert "1000" in first.detail
    assert isinstance(second, Sent)
    assert pair.commands == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]  # the small one only
    assert [m.header("Subject") for m in pair.mailbox] == ["small"]


PIPELINING_ONLY = ServerConfig(hostname=SERVER_HOST,
                               capabilities=("PIPELINING", "ENHANCEDSTATUSCODES"),
                               rcpt_reject={"bad@example.net": R.S550_NO_SUCH_USER})


def test_pipelining_sends_mail_rcpts_and_data_in_one_write() -> None:
    job = mail(to=("a@example.net", "b@example.net"))
    pair = Pair([job], server=PIPELINING_ONLY).run()

    group = [s for s in pair.sent if s.label == "MAIL group"]
    assert [s.data for s in group] == [b"MAIL FROM:<dev@example.org>\r\n"
                                       b"RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
                                       b"DATA\r\n"]
    assert ("C", group[0].data) in pair.engine.transcript  # one read on the server
    assert pair.obs.pipelined and pair.obs.pipelining_violations == []
    assert not pair.obs.pipelined_without_advertisement
    assert isinstance(only_terminal(pair), Sent)


def test_pipelined_mail_failure_is_command_abort_mail() -> None:
    server = replace(PIPELINING_ONLY, rules=(
        Rule("MAIL", reply="550 5.7.1 Sender refused"),))
    pair = Pair([mail(to=("a@example.net", "b@example.net"))], server=server).run()

    abort = only_terminal(pair)
    assert isinstance(abort, CommandAbort) and abort.command == "MAIL"
    assert abort.reply.code == 550
    # The RCPTs were refused (503) only because MAIL failed: no recipient_rejected.
    assert not any(isinstance(e, RecipientRejected) for e in pair.events)
    assert pair.obs.mail_count == 0 and pair.mailbox == []
    assert pair.commands == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert pair.core.finished


def test_every_rcpt_rejected_but_354_sends_a_lone_dot() -> None:
    server = replace(PIPELINING_ONLY, rcpt_reject={"a@example.net": R.S550_NO_SUCH_USER,
                                                   "b@example.net": R.S550_NO_SUCH_USER},
                     rules=(Rule("DATA", reply="354 go ahead anyway"),))
    pair = Pair([mail(to=("a@example.net", "b@example.net"))], server=server).run()

    assert SendBytes(b".\r\n", "DATA end (empty)") in pair.sent
    assert not any(b"Subject" in s.data for s in pair.sent)  # no content at all
    abort = only_terminal(pair)
    assert isinstance(abort, CommandAbort) and abort.command == "RCPT"
    assert abort.reply.code == 550
    rejected = [e.address for e in pair.events if isinstance(e, RecipientRejected)]
    assert rejected == ["a@example.net", "b@example.net"]
    assert pair.mailbox == [] and pair.commands[-1] == "QUIT"


@pytest.mark.parametrize("pipelining", [True, False])
def test_partial_rcpt_reject_is_recipient_rejected_then_sent(pipelining: bool) -> None:
    job = mail(to=("a@example.net", "bad@example.net"), cc=("c@example.net",))
    pair = Pair([job], server=PIPELINING_ONLY, pipelining=pipelining).run()

    assert pair.obs.pipelined is pipelining
    rejected = [e for e in pair.events if isinstance(e, RecipientRejected)]
    assert [(e.address, e.reply.code) for e in rejected] == [("bad@example.net", 550)]
    sent = only_terminal(pair)
    assert isinstance(sent, Sent)
    assert sent.accepted == ("a@example.net", "c@example.net")
    assert sent.rejected == ("bad@example.net",)
    assert pair.mailbox[0].recipient_addresses == ["a@example.net", "c@example.net"]


def _chunking_job() -> MailJob:
    return mail(body=TRICKY_BODY * 5)


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize("chunk_size", [1, 37, 100, "exact"])
def test_chunking_bdat_counts_are_exact_and_content_byte_exact(
        pipelining: bool, chunk_size: int | str) -> None:
    job = _chunking_job()
    expected = expected_message(job, via="BDAT", eight_bit_ok=False)
    size = len(expected) if chunk_size == "exact" else int(chunk_size)
    caps = ("CHUNKING", *(("PIPELINING",) if pipelining else ()))
    pair = Pair([job], server=ServerConfig(hostname=SERVER_HOST, capabilities=caps),
                chunk_size=size).run()

    (received,) = pair.mailbox
    assert received.via == "BDAT" and received.content == expected
    chunks = bdat_sizes(pair)
    assert sum(n for n, _ in chunks) == len(expected)
    assert all(n == size and not last for n, last in chunks[:-1])
    assert chunks[-1][1] and chunks[-1][0] < size
    assert len(chunks) == len(expected) // size + 1
    assert "DATA" not in pair.commands
    assert pair.obs.pipelined is pipelining
    assert isinstance(only_terminal(pair), Sent)


# ---- DSN, 8BITMIME, SMTPUTF8 -------------------------------------------------------------

DSN_JOB = mail(to=("ops@example.net", "boss@example.net"), dsn_notify=("SUCCESS", "FAILURE"),
               dsn_ret="HDRS", dsn_envid="QQ314159 x+y", dsn_orcpt=True)


def test_dsn_parameters_reach_the_server() -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=("DSN", "PIPELINING"))
    pair = Pair([DSN_JOB], server=server).run()

    (received,) = pair.mailbox
    assert received.mail_params["RET"] == "HDRS"
    assert received.mail_params["ENVID"] == "QQ314159+20x+2By"  # xtext
    assert [r.notify for r in received.recipients] == [("SUCCESS", "FAILURE")] * 2
    assert [r.orcpt for r in received.recipients] == ["rfc822;ops@example.net",
                                                      "rfc822;boss@example.net"]
    assert pair.obs.used_without_advertisement == []


def test_dsn_parameters_are_left_out_when_not_offered() -> None:
    pair = Pair([DSN_JOB], server=PIPELINING_ONLY).run()

    (received,) = pair.mailbox
    assert "RET" not in received.mail_params and "ENVID" not in received.mail_params
    assert all(r.params == {} for r in received.recipients)
    assert pair.obs.used_without_advertisement == []


UTF8_BODY = "Grüße aus Köln — 東京\r\n"


def test_8bitmime_sends_a_utf8_body_as_is() -> None:
    pair = Pair([mail(body=UTF8_BODY)], server=PLAIN_ESMTP).run()

    (received,) = pair.mailbox
    assert received.mail_params["BODY"] == "8BITMIME"
    assert received.body == UTF8_BODY.encode("utf-8")
    assert received.header("Content-Transfer-Encoding") == "8bit"
    assert pair.obs.used_without_advertisement == []


def test_without_8bitmime_a_utf8_body_is_quoted_printable() -> None:
    pair = Pair([mail(body=UTF8_BODY)], server=NO_EXTENSIONS).run()

    (received,) = pair.mailbox
    assert "BODY" not in received.mail_params
    assert received.content.isascii()
    assert received.header("Content-Transfer-Encoding") == "quoted-printable"
    assert received.message.get_content().replace("\r\n", "\n") == \
        UTF8_BODY.replace("\r\n", "\n")


UTF8_ADDRESS = "jürgen@bücher.example"


def test_smtputf8_with_a_non_ascii_address() -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=("SMTPUTF8", "8BITMIME"))
    pair = Pair([mail(to=(UTF8_ADDRESS,))], server=server).run()

    (received,) = pair.mailbox
    assert "SMTPUTF8" in received.mail_params
    assert received.recipient_addresses == [UTF8_ADDRESS]
    assert UTF8_ADDRESS.encode() in received.content  # raw UTF-8 in the To header
    assert pair.obs.used_without_advertisement == []


def test_non_ascii_address_refused_locally_when_smtputf8_not_offered() -> None:
    pair = Pair([mail(to=(UTF8_ADDRESS,))], server=PLAIN_ESMTP).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.UNSUPPORTED
    assert "SMTPUTF8" in error.detail
    assert pair.commands == ["EHLO", "QUIT"] and pair.mailbox == []


# ---- VRFY, ETRN, several jobs ------------------------------------------------------------

def test_vrfy_and_etrn_jobs() -> None:
    server = ServerConfig(hostname=SERVER_HOST, vrfy={"ops": "250 2.1.5 Ops <ops@example.net>"},
                          rcpt_reject={})
    pair = Pair([VrfyJob("ops"), VrfyJob("nobody"), EtrnJob("example.net")],
                server=server).run()

    assert pair.commands == ["EHLO", "VRFY", "VRFY", "ETRN", "QUIT"]
    first, second, third = pair.terminal
    assert isinstance(first, VrfyResult) and str(first.reply) == "250 2.1.5 Ops <ops@example.net>"
    assert isinstance(second, VrfyResult) and second.reply.code == 252
    assert isinstance(third, EtrnResult) and str(third.reply) == R.S250_ETRN_STARTED


def test_vrfy_and_etrn_refusals_are_command_aborts() -> None:
    server = ServerConfig(hostname=SERVER_HOST, vrfy={"ghost": R.S550_NO_SUCH_USER},
                          etrn_reply=R.S458_ETRN_UNABLE)
    pair = Pair([VrfyJob("ghost"), EtrnJob("example.net"), mail()], server=server).run()

    vrfy, etrn, sent = pair.terminal
    assert isinstance(vrfy, CommandAbort) and vrfy.command == "VRFY" and vrfy.reply.code == 550
    assert isinstance(etrn, CommandAbort) and etrn.command == "ETRN" and etrn.reply.code == 458
    assert isinstance(sent, Sent)
    assert "RSET" not in pair.commands  # no transaction was open


def test_quit_goes_right_behind_the_data_when_no_job_is_left() -> None:
    """RFC 2920 3.1: QUIT may end a group. current writes it behind the content; the
    reply to the data ends the job, then the reply to QUIT the session."""
    pair = Pair([mail()], server=PIPELINING_ONLY).run()

    labels = [s.label for s in pair.sent]
    assert labels[-1] == "QUIT" and pair.commands[-1] == "QUIT"
    assert isinstance(only_terminal(pair), Sent)
    assert pair.engine.closed and pair.core.finished and pair.commands.count("QUIT") == 1
    assert pair.obs.pipelining_violations == []
    quit_at = next(i for i, out in enumerate(pair.outputs)
                   if isinstance(out, SendBytes) and out.label == "QUIT")
    sent_at = next(i for i, out in enumerate(pair.outputs)
                   if isinstance(out, Notify) and isinstance(out.event, Sent))
    assert quit_at < sent_at  # out before the server answered the data


@pytest.mark.parametrize("profile", [p for p in PROFILE_NAMES if p != "current"])
def test_older_releases_send_quit_after_the_reply_to_the_data(profile: str) -> None:
    pair = Pair([mail()], server=PIPELINING_ONLY, profile=profile).run()
    quit_at = next(i for i, out in enumerate(pair.outputs)
                   if isinstance(out, SendBytes) and out.label == "QUIT")
    sent_at = next(i for i, out in enumerate(pair.outputs)
                   if isinstance(out, Notify) and is_terminal(out.event))
    assert sent_at < quit_at


def test_a_refused_data_with_quit_behind_it_is_one_abort_and_one_quit() -> None:
    server = replace(PIPELINING_ONLY, rules=(Rule("DATA_END", reply="554 5.6.0 No thanks"),))
    pair = Pair([mail()], server=server).run()

    assert pair.terminal == [CommandAbort("DATA", Reply(554, ("5.6.0 No thanks",)))]
    assert pair.commands.count("QUIT") == 1 and "RSET" not in pair.commands
    assert pair.core.finished and pair.outputs[-1] == ClientClose(abort=False)


def test_quit_waits_for_the_last_job_and_for_pipelining() -> None:
    two = Pair([mail(subject="one"), mail(subject="two")], server=PIPELINING_ONLY).run()
    assert two.commands.count("QUIT") == 1
    first_end = next(i for i, out in enumerate(two.outputs)
                     if isinstance(out, Notify) and is_terminal(out.event))
    quit_at = next(i for i, out in enumerate(two.outputs)
                   if isinstance(out, SendBytes) and out.label == "QUIT")
    assert first_end < quit_at  # the first mail's data had a job behind it
    lockstep = Pair([mail()], server=PIPELINING_ONLY, pipelining=False).run()
    quit_at = next(i for i, out in enumerate(lockstep.outputs)
                   if isinstance(out, SendBytes) and out.label == "QUIT")
    sent_at = next(i for i, out in enumerate(lockstep.outputs)
                   if isinstance(out, Notify) and is_terminal(out.event))
    assert sent_at < quit_at


def test_two_mails_on_one_connection() -> None:
    jobs = [mail(subject="one"), mail(subject="two", to=("boss@example.net",))]
    pair = Pair(jobs, server=PIPELINING_ONLY).run()

    assert [type(e) for e in pair.terminal] == [Sent, Sent]
    assert [m.header("Subject") for m in pair.mailbox] == ["one", "two"]
    ids = [m.header("Message-ID") for m in pair.mailbox]
    assert ids[0] != ids[1] and ids[0] is not None and ids[0].startswith("<1.")
    assert pair.commands.count("EHLO") == 1 and "RSET" not in pair.commands
    assert pair.core.next_message_seq == 3


@pytest.mark.parametrize("pipelining", [True, False])
def test_second_mail_after_a_failed_first_gets_rset_between(pipelining: bool) -> None:
    jobs = [mail(subject="one", to=("bad@example.net",)), mail(subject="two")]
    pair = Pair(jobs, server=PIPELINING_ONLY, pipelining=pipelining).run()

    abort, sent = pair.terminal
    assert isinstance(abort, CommandAbort) and abort.command == "RCPT"
    assert isinstance(sent, Sent)
    first_rset = pair.commands.index("RSET")
    assert pair.commands[first_rset + 1] == "MAIL"
    assert pair.commands.count("MAIL") == 2 and pair.commands[-1] == "QUIT"
    assert [m.header("Subject") for m in pair.mailbox] == ["two"]


# ---- timeouts ----------------------------------------------------------------------------

@pytest.mark.parametrize(("verb", "command", "timer", "seconds"), [
    ("GREETING", "GREETING", "greeting", 300),
    ("EHLO", "EHLO", "ehlo", 300),
    ("MAIL", "MAIL", "mail", 300),
    ("RCPT", "RCPT", "rcpt", 300),
    ("DATA", "DATA", "data_init", 120),
    ("DATA_END", "DATA", "data_term", 600),
])
@pytest.mark.parametrize("action", ["silent", "ignore"])
def test_silent_server_times_out_with_the_rfc_default(
        verb: str, command: str, timer: str, seconds: int, action: Any) -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule(verb, action=action),))
    pair = Pair([mail(), mail(subject="queued")], server=server).run()

    assert pair.fired == [timer]
    assert pair.armed[-1] == ArmTimer(timer, seconds * SECOND_US)
    timeout = Timeout(command, seconds * SECOND_US)
    if verb in ("GREETING", "EHLO"):  # no job had started: the session's failure is theirs
        assert pair.terminal == [timeout] * 2
    else:  # the queued job was never attempted, and says so
        first, second = pair.terminal
        assert first == timeout
        assert isinstance(second, ClientError)
        assert second.kind is ErrorKind.CONNECTION_LOST
        assert second.detail.startswith("not attempted: the session ended (timeout ")
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert pair.obs.close_reason == "client reset"
    assert pair.mailbox == [] and pair.core.finished


def test_timeout_values_come_from_the_settings() -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule("MAIL", action="silent"),))
    timeouts = {"greeting": 5 * SECOND_US, "ehlo": 5 * SECOND_US, "mail": 7 * SECOND_US}
    pair = Pair([mail()], server=server, timeouts_us=timeouts).run()

    assert pair.terminal == [Timeout("MAIL", 7 * SECOND_US)]


def test_silent_quit_closes_without_an_event() -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule("QUIT", action="silent"),))
    pair = Pair([mail()], server=server).run()

    assert pair.fired == ["quit"]
    assert event_types(pair) == [Connected, Sent]
    assert pair.outputs[-1] == ClientClose(abort=True)


def test_stalled_tls_handshake_times_out_and_a_late_handshake_is_ignored() -> None:
    core = ClientCore(ClientSettings(server_host=SERVER_HOST, security="starttls"),
                      get_profile("current"), FixedPorting(), [mail()])
    core.start()
    core.connected(SERVER_HOST, 25)
    core.receive(b"220 smtp.example.com ESMTP\r\n")
    core.receive(b"250-smtp.example.com\r\n250 STARTTLS\r\n")
    assert core.receive(b"220 2.0.0 Ready to start TLS\r\n") == [
        Log("matched", "STARTTLS 220"), StartTls(), ArmTimer("tls_handshake", 60 * SECOND_US)]
    # The handshake neither finishes nor fails: the timer ends the job.
    assert core.timer_expired() == [Notify(Timeout("tls_handshake", 60 * SECOND_US)),
                                    CancelTimer(), ClientClose(abort=True)]
    assert core.tls_established(TLS_CIPHER, TLS_VERSION) == []
    assert core.tls_failed("too late") == []
    assert core.finished and not core.tls_active


# ---- connection trouble ------------------------------------------------------------------

@pytest.mark.parametrize("action", ["close", "reset"])
def test_connection_lost_mid_transaction_fails_every_job(action: Any) -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule("RCPT", action=action),))
    pair = Pair([mail(), VrfyJob("ops")], server=server).run()

    assert [e.kind for e in pair.terminal if isinstance(e, ClientError)] == \
        [ErrorKind.CONNECTION_LOST] * 2
    assert len(pair.terminal) == 2 and pair.mailbox == []


def test_drop_after_the_final_dot_is_never_reported_as_sent() -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule("DATA_END", action="close"),))
    pair = Pair([mail()], server=server).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.CONNECTION_LOST


@pytest.mark.parametrize(("greeting", "commands"), [
    ("421 4.3.2 Service not available", []),
    ("554 5.3.2 No SMTP service here", ["QUIT"]),
])
def test_refusing_greeting_is_service_unavailable(greeting: str, commands: list[str]) -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule("GREETING", reply=greeting),))
    pair = Pair([mail(), mail()], server=server).run()

    assert [e.kind for e in pair.terminal if isinstance(e, ClientError)] == \
        [ErrorKind.SERVICE_UNAVAILABLE] * 2
    assert pair.commands == commands


# ---- hostile replies ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [b"2x0 what\r\n", b"250-a\r\n550 b\r\n", b"25\r\n",
                                 b"250 a\rb\r\n", b"250 " + b"A" * 600 + b"\r\n"])
def test_malformed_reply_is_a_protocol_error(bad: bytes) -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule("MAIL", reply=bad, raw=True),))
    pair = Pair([mail()], server=server).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.PROTOCOL
    assert error.detail.startswith("malformed reply")
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert pair.commands == ["EHLO", "MAIL"] and pair.mailbox == []


@pytest.mark.parametrize("verb", ["GREETING", "MAIL", "RCPT"])
def test_surplus_reply_is_a_protocol_error_not_the_next_answer(verb: str) -> None:
    server = replace(NO_EXTENSIONS, rules=(Rule(verb, inject="250 2.0.0 surplus\r\n"),))
    pair = Pair([mail()], server=server).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.PROTOCOL
    assert "unsolicited reply" in error.detail
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert pair.mailbox == [] and "DATA" not in pair.commands


def test_positive_reply_while_content_streams_is_a_protocol_error() -> None:
    server = replace(NO_EXTENSIONS, send_during_data="250 2.0.0 nobody asked\r\n")
    pair = Pair([mail()], server=server).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.PROTOCOL
    assert "unsolicited reply" in error.detail
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert pair.mailbox == []


def test_negative_reply_while_content_streams_aborts_data() -> None:
    server = replace(NO_EXTENSIONS, send_during_data="552 5.3.4 Too much mail data\r\n")
    pair = Pair([mail(), mail(subject="queued")], server=server).run()

    assert pair.terminal == [CommandAbort("DATA", Reply(552, ("5.3.4 Too much mail data",)))] * 2
    assert pair.outputs[-1] == ClientClose(abort=True)
    assert pair.mailbox == []


# ---- input checks and the message --------------------------------------------------------

@pytest.mark.parametrize("job", [
    mail(to=("ops@example.net\r\nRCPT TO:<victim@example.net>",)),
    mail(sender="dev@example.org\nDATA"),
    mail(cc=("c@example.net\r",)),
    mail(subject="hi\r\nBcc: victim@example.net"),
    VrfyJob("ops\r\nDATA"),
    EtrnJob("example.net\r\nQUIT"),
], ids=["rcpt", "sender", "cc", "subject", "vrfy", "etrn"])
def test_cr_lf_in_input_is_refused_before_anything_is_sent(job: Job) -> None:
    pair = Pair([job], server=NO_EXTENSIONS).run()

    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.INVALID_INPUT
    assert pair.sent == [] and pair.engine.transcript == []
    assert pair.events == [error] and pair.core.finished


def test_invalid_job_is_refused_and_the_valid_one_still_sent() -> None:
    bad = mail(to=("ops@example.net\r\nRCPT TO:<victim@example.net>",))
    pair = Pair([bad, mail()], server=NO_EXTENSIONS).run()

    error, sent = pair.terminal
    assert isinstance(error, ClientError) and error.kind is ErrorKind.INVALID_INPUT
    assert "to[0]" in error.detail
    assert isinstance(sent, Sent)
    assert not any(b"victim" in s.data for s in pair.sent)
    assert pair.events[0] == error  # refused before connecting


def test_date_header_comes_from_the_porting_rtc() -> None:
    rtc = RtcTime(2024, 2, 29, 23, 59, 58, 3, True)
    server = replace(NO_EXTENSIONS, date_tolerance_hours=48)
    pair = Pair([mail()], server=server).run()
    other = Pair([mail()], server=NO_EXTENSIONS, porting=FixedPorting(rtc=rtc)).run()

    assert b"\r\nDate: Thu, 22 Jun 2017 12:22:07 +0000\r\n" in pair.mailbox[0].content
    assert b"\r\nDate: Thu, 29 Feb 2024 23:59:58 +0000\r\n" in other.mailbox[0].content


def test_cc_header_and_bcc_only_in_the_envelope() -> None:
    job = mail(cc=("c@example.net",), bcc=("hidden@example.net",), reply_to=("r@example.org",))
    pair = Pair([job], server=NO_EXTENSIONS).run()

    (received,) = pair.mailbox
    assert received.recipient_addresses == ["ops@example.net", "c@example.net",
                                            "hidden@example.net"]
    assert received.header("Cc") == "c@example.net"
    assert received.header("Reply-To") == "r@example.org"
    assert b"hidden@example.net" not in received.content


# ---- every job ends exactly once ---------------------------------------------------------

_REPLIES = ["250 2.0.0 OK", "354 go", "421 4.3.0 bye", "450 4.2.0 busy", "550 5.1.1 no",
            "334 VXNlcm5hbWU6", "220 ready", "502 5.5.1 no", "235 2.7.0 ok", "252 maybe"]
_STOPS: list[RuleAction] = ["ignore", "silent", "close", "reset"]
_VERBS = ["GREETING", "EHLO", "HELO", "STARTTLS", "AUTH", "AUTH_RESPONSE", "MAIL", "RCPT",
          "DATA", "DATA_END", "BDAT", "RSET", "VRFY", "ETRN", "QUIT"]


@st.composite
def _rules(draw: st.DrawFn) -> Rule:
    verb = draw(st.sampled_from(_VERBS))
    nth = draw(st.one_of(st.none(), st.integers(1, 3)))
    shape = draw(st.sampled_from(["reply", "reply", "reply", "reply_then_close", "malformed",
                                  "surplus", "stop"]))
    if shape == "malformed":
        return Rule(verb, nth=nth, reply=b"2x0 bad\r\n", raw=True)
    if shape == "surplus":
        return Rule(verb, nth=nth, inject=b"250 surplus\r\n")
    if shape == "stop":
        return Rule(verb, nth=nth, action=draw(st.sampled_from(_STOPS)))
    reply = draw(st.sampled_from(_REPLIES))
    if shape == "reply_then_close":
        return Rule(verb, nth=nth, action="reply_then_close", reply=reply)
    return Rule(verb, nth=nth, reply=reply)


_JOBS = st.sampled_from([
    mail(),
    mail(to=("a@example.net", "bad@example.net"), body=TRICKY_BODY),
    mail(to=("bad@example.net",)),
    mail(body="x" * 3000),
    VrfyJob("ops"),
    EtrnJob("example.net"),
])
_CAPS = ["PIPELINING", "CHUNKING", "SIZE 2000", "STARTTLS", "AUTH PLAIN LOGIN CRAM-MD5",
         "8BITMIME", "DSN"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rules=st.lists(_rules(), max_size=4), jobs=st.lists(_JOBS, min_size=1, max_size=3),
       caps=st.sets(st.sampled_from(_CAPS)),
       security=st.sampled_from(["none", "starttls", "required"]),
       auth=st.booleans(), delivery=st.sampled_from(["as_sent", "bytewise", "coalesced"]))
def test_every_job_gets_exactly_one_terminal_event(
        rules: list[Rule], jobs: list[Job], caps: set[str], security: str, auth: bool,
        delivery: Delivery) -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=sorted(caps), credentials=USERS,
                          rcpt_reject={"bad@example.net": R.S550_NO_SUCH_USER}, rules=rules)
    credentials = USER_PASS if auth else Credentials()
    pair = Pair(jobs, server=server, security=security, credentials=credentials,
                delivery=delivery, chunk_size=700).run()

    assert len(pair.terminal) == len(jobs)
    assert pair.core.finished and pair.core.jobs_open == 0
    assert pair.core.phase is Phase.DONE
    if pair.obs.starttls_requested and not pair.tls:
        assert set(pair.obs.commands_after_failed_starttls) <= {"QUIT"}
    if security == "required":
        assert pair.tls or not set(pair.commands) & {"AUTH", "MAIL", "VRFY", "ETRN"}
        assert not pair.obs.auth_in_plaintext and all(m.tls for m in pair.mailbox)
    if not any(rule.inject for rule in rules):
        # Never a delivery claimed that the server did not store. (Not the converse: a
        # 354 after the final dot stores the mail and the client rightly reports failure.
        # And a surplus reply read apart from the rest of a pipelined group's replies
        # cannot be told from a real one, so injecting rules are left out.)
        assert sum(isinstance(e, Sent) for e in pair.terminal) <= len(pair.mailbox)


# ---- opportunistic STARTTLS that the server does not offer ---------------------------------

def test_starttls_mode_without_starttls_never_sends_a_password_in_plaintext() -> None:
    server = ServerConfig(hostname=SERVER_HOST, capabilities=("AUTH PLAIN LOGIN",),
                          credentials=USERS, starttls=False)
    pair = Pair([mail()], server=server, security="starttls", credentials=USER_PASS).run()

    assert "AUTH" not in pair.commands and "MAIL" not in pair.commands
    assert not pair.obs.auth_in_plaintext
    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_REQUIRED
    assert "refusing to authenticate without TLS" in error.detail


@pytest.mark.parametrize("profile", [p for p in PROFILE_NAMES if p != "1.0"])
@pytest.mark.parametrize("offered", ["AUTH PLAIN CRAM-MD5", "AUTH CRAM-MD5 ANONYMOUS"])
def test_starttls_mode_without_starttls_never_authenticates_not_even_with_cram_md5(
        profile: str, offered: str) -> None:
    """This test once asserted the opposite: CRAM-MD5 in plaintext was allowed because
    the password itself never crosses the wire. But a man in the middle who strips
    STARTTLS then has the user name and an HMAC-MD5 of the password, which a dictionary
    attack recovers offline, and the mail goes in plaintext behind it
    (hostile-servers.md rows 1 and 7: "send no credentials; no AUTH before TLS"). So
    where STARTTLS was wanted and not had, no AUTH goes out at all, with any mechanism,
    and the job fails with tls_required, as msmtp does. The changelog says nothing about
    it, so every release with STARTTLS behaves the same."""
    server = ServerConfig(hostname=SERVER_HOST, capabilities=(offered,),
                          credentials=USERS, starttls=False)
    pair = Pair([mail()], server=server, profile=profile, security="starttls",
                credentials=USER_PASS).run()

    assert "AUTH" not in pair.commands and "MAIL" not in pair.commands
    assert pair.commands == ["EHLO", "QUIT"]
    assert pair.obs.auth_mechanisms == [] and pair.mailbox == []
    error = only_terminal(pair)
    assert isinstance(error, ClientError) and error.kind is ErrorKind.TLS_REQUIRED
    assert error.detail == ("the server offers no STARTTLS; refusing to authenticate "
                            f"without TLS (server offers: {offered.removeprefix('AUTH ')})")
    assert bool(downgrades(pair)) == (profile == "current")


# ---- tls_downgraded: opportunistic STARTTLS going on in plaintext says so ---------------
# The policy stays (no STARTTLS offered: the mail still goes, in plaintext, with no
# password in clear), but the application hears about it: one tls_downgraded event
# before the mail, naming why. Only current has it (not in the changelog): 2.0 to 2.5 go
# on without a word, and 1.0 has no STARTTLS at all.

STARTTLS_STRIPPED = ServerConfig(hostname=SERVER_HOST, starttls=False,
                                 capabilities=("PIPELINING", "SIZE 10485760", "8BITMIME"))
STARTTLS_OFFERED = ServerConfig(hostname=SERVER_HOST,
                                capabilities=("PIPELINING", "STARTTLS", "8BITMIME"))
SILENT_DOWNGRADE_RELEASES = [name for name in PROFILE_NAMES if name not in ("1.0", "current")]


def downgrades(pair: Pair) -> list[TlsDowngraded]:
    return [e for e in pair.events if isinstance(e, TlsDowngraded)]


def test_starttls_not_offered_is_told_before_the_mail_goes_in_plaintext() -> None:
    pair = Pair([mail()], server=STARTTLS_STRIPPED, security="starttls").run()
    assert [type(e) for e in pair.events] == [Connected, TlsDowngraded, Sent]
    (event,) = downgrades(pair)
    assert (event.reason, event.reply) == (DowngradeReason.NOT_OFFERED, None)
    assert describe(event) == "tls_downgraded not_offered"
    assert not is_terminal(event)
    assert not pair.tls and len(pair.mailbox) == 1


def test_ehlo_refused_and_helo_fallback_is_a_downgrade_with_the_refusal() -> None:
    refusal = "502 5.5.1 Error: command not implemented"
    server = ServerConfig(hostname=SERVER_HOST, rules=(Rule("EHLO", reply=refusal),))
    pair = Pair([mail()], server=server, security="starttls").run()
    assert pair.commands[:2] == ["EHLO", "HELO"]
    (event,) = downgrades(pair)
    assert (event.reason, event.reply) == (DowngradeReason.EHLO_REFUSED,
                                           Reply(502, ("5.5.1 Error: command not implemented",)))
    assert describe(event) == f"tls_downgraded ehlo_refused {refusal}"
    assert isinstance(pair.terminal[-1], Sent)


@pytest.mark.parametrize(("security", "server"), [
    ("none", STARTTLS_STRIPPED),  # plaintext was asked for: nothing was downgraded
    ("starttls", STARTTLS_OFFERED),  # STARTTLS offered and used
])
def test_no_downgrade_is_told_when_there_was_none(security: str,
                                                  server: ServerConfig) -> None:
    pair = Pair([mail()], server=server, security=security).run()
    assert downgrades(pair) == []
    assert isinstance(pair.terminal[-1], Sent)
    assert pair.tls == (security == "starttls")
    if pair.tls:
        assert any(isinstance(e, TlsEstablished) for e in pair.events)


def test_required_tls_is_a_failure_not_a_downgrade() -> None:
    pair = Pair([mail()], server=STARTTLS_STRIPPED, security="required").run()
    assert downgrades(pair) == []
    assert not pair.mailbox


@pytest.mark.parametrize("profile", SILENT_DOWNGRADE_RELEASES)
def test_releases_before_ours_go_on_in_plaintext_without_a_word(profile: str) -> None:
    pair = Pair([mail()], server=STARTTLS_STRIPPED, security="starttls", profile=profile).run()
    assert downgrades(pair) == []
    assert isinstance(pair.terminal[-1], Sent)


def test_one_downgrade_per_session_whatever_the_number_of_jobs() -> None:
    pair = Pair([mail(), mail(subject="second")], server=STARTTLS_STRIPPED,
                security="starttls").run()
    assert len(downgrades(pair)) == 1
    assert [type(e) for e in pair.terminal] == [Sent, Sent]
