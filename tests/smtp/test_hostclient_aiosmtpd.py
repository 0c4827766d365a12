"""The modelled client (smtp.hostclient.send_jobs, the unchanged client task) against aiosmtpd.

Every server is aiosmtpd's threaded Controller on 127.0.0.1 with an OS-chosen port; a
fixture finaliser stops each one. The handler records what aiosmtpd accepted (envelope,
content, session facts) and implements CRAM-MD5 (RFC 2195) itself, as aiosmtpd has no
built-in CRAM-MD5. Nothing here asserts on durations.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import random
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import (
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    Session,
    auth_mechanism,
)

from smtp.auth import Credentials
from smtp.events import (
    Authenticated,
    ClientError,
    ClientEvent,
    CommandAbort,
    Connected,
    ErrorKind,
    RecipientRejected,
    Sent,
    TlsEstablished,
    is_terminal,
)
from smtp.hostclient import HostPorting, send_jobs
from smtp.message import Attachment, MailJob
from smtp.profiles import PROFILES
from smtp.settings import ClientSettings, TlsSettings
from stack.tls.certs import default_test_pki

pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning")

LOOPBACK = "127.0.0.1"
RUN_TIMEOUT_S = 15.0
USER, PASSWORD = "device", "s3cret pass"
SENDER = "device@example.test"
REJECTED = "nobody@example.test"


# ---- the server side -------------------------------------------------------------------


@dataclass
class Received:
    """One mail aiosmtpd accepted, with what the session knew at the time."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str]
    smtp_utf8: bool
    tls: bool
    authenticated: bool
    peer: object


@dataclass
class RecordingHandler:
    """Stores accepted mails; refuses ``reject`` at RCPT; speaks CRAM-MD5 for ``users``."""

    reject: frozenset[str] = frozenset()
    users: dict[str, str] = field(default_factory=lambda: {USER: PASSWORD})
    mails: list[Received] = field(default_factory=list)
    mail_commands: list[str] = field(default_factory=list)
    auth_mechanisms: list[str] = field(default_factory=list)
    challenges: int = 0

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        self.mail_commands.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.reject:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes)
        assert envelope.mail_from is not None
        self.mails.append(Received(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), content=content,
            mail_options=list(envelope.mail_options), smtp_utf8=envelope.smtp_utf8,
            tls=session.ssl is not None, authenticated=bool(session.authenticated),
            peer=session.peer))
        return "250 2.0.0 Message accepted for delivery"

    def authenticator(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        """aiosmtpd's check for its built-in PLAIN and LOGIN."""
        self.auth_mechanisms.append(mechanism)
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        # handled=False: aiosmtpd then sends 535 itself (True would mean "already answered")
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195: challenge, then ``user SP hex(HMAC-MD5(password, challenge))``."""
        if len(args) > 1:  # CRAM-MD5 has no initial response
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 CRAM-MD5 takes no initial response")
        self.challenges += 1
        challenge = f"<{self.challenges}.4242@aiosmtpd.example.test>".encode()
        response = await server.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=True)  # 501 already sent
        assert isinstance(response, bytes)
        self.auth_mechanisms.append("CRAM-MD5")
        user, _, digest = response.partition(b" ")
        password = self.users.get(user.decode("utf-8", "replace"))
        ok = password is not None and hmac.compare_digest(
            digest, hmac.new(password.encode(), challenge, hashlib.md5).hexdigest().encode())
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user, b""))


class FreePortController(Controller):
    """aiosmtpd's Controller on port 0: learns the port the OS chose before it is used."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


Serve = Callable[..., tuple[RecordingHandler, int]]


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Serve:
    """``serve(handler=None, **smtp_kwargs)`` starts aiosmtpd; returns (handler, port)."""

    def start(handler: RecordingHandler | None = None,
              **smtp_kwargs: Any) -> tuple[RecordingHandler, int]:
        handler = handler if handler is not None else RecordingHandler()
        smtp_kwargs.setdefault("authenticator", handler.authenticator)
        smtp_kwargs.setdefault("auth_require_tls", False)
        controller = FreePortController(handler, hostname=LOOPBACK, port=0,
                                        server_hostname="aiosmtpd.example.test", **smtp_kwargs)
        controller.start()
        request.addfinalizer(controller.stop)
        port = controller.port
        assert isinstance(port, int)
        return handler, port

    return start


def server_tls_context() -> ssl.SSLContext:
    files = default_test_pki().leaf.files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.cert), str(files.key))
    return context


# ---- the client side -------------------------------------------------------------------


def settings_for(port: int, **overrides: Any) -> ClientSettings:
    fields: dict[str, Any] = {"server_host": LOOPBACK, "server_port": port, "security": "none",
                              "device_domain": "device.example.test"}
    fields.update(overrides)
    return ClientSettings(**fields)


def tls_settings(server_name: str = "localhost") -> TlsSettings:
    return TlsSettings(ca_pem=default_test_pki().ca.cert_pem, server_name=server_name)


def mail(*to: str, **fields: Any) -> MailJob:
    fields.setdefault("subject", "host client test")
    fields.setdefault("body", "Hello from the modelled client.\n")
    return MailJob(sender=SENDER, to=to or ("alice@example.test",), **fields)


def run(settings: ClientSettings, *jobs: MailJob) -> list[ClientEvent]:
    return send_jobs(settings, jobs, timeout_s=RUN_TIMEOUT_S)


def terminal(events: list[ClientEvent]) -> list[ClientEvent]:
    return [e for e in events if is_terminal(e)]


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# ---- the porting layer -----------------------------------------------------------------


def test_host_porting_reads_settings_and_a_valid_utc_clock() -> None:
    settings = ClientSettings(server_host=LOOPBACK, device_domain="dev.example.test",
                              hostname="board7")
    porting = HostPorting(settings)
    now = porting.rtc_get()
    assert now.valid and now.year >= 2024
    assert porting.host_domain() == "dev.example.test"
    assert porting.template_hostname() == "board7"
    assert porting.host_address() == LOOPBACK
    assert HostPorting(settings, address="192.0.2.7").host_address() == "192.0.2.7"
    with pytest.raises(ValueError, match="address"):
        HostPorting(settings, address="")


def test_send_jobs_refuses_bad_arguments() -> None:
    settings = ClientSettings(server_host=LOOPBACK)
    with pytest.raises(ValueError, match="timeout_s"):
        send_jobs(settings, [], timeout_s=0)
    with pytest.raises(ValueError, match="settings"):
        send_jobs("not settings", [])  # type: ignore[arg-type]
    assert send_jobs(settings, []) == []


# ---- delivery ------------------------------------------------------------------------


def test_plain_delivery_reaches_aiosmtpd(serve: Serve) -> None:
    handler, port = serve()
    events = run(settings_for(port), mail("alice@example.test", subject="plain"))

    assert events[0] == Connected(LOOPBACK, port)
    (sent,) = terminal(events)
    assert isinstance(sent, Sent)
    assert sent.reply.code == 250 and sent.accepted == ("alice@example.test",)
    (received,) = handler.mails
    assert received.mail_from == SENDER and received.rcpt_tos == ["alice@example.test"]
    assert not received.tls and not received.authenticated
    message = parse(received.content)
    assert message["Subject"] == "plain"
    assert message["Message-ID"].endswith("@device.example.test>")
    assert message.get_content() == "Hello from the modelled client.\r\n"


def test_two_jobs_share_one_session_and_body_dots_survive(serve: Serve) -> None:
    handler, port = serve()
    dotted = "first\n.\n..two dots\n.leading dot\nlast"
    events = run(settings_for(port), mail(subject="one", body=dotted), mail(subject="two"))

    assert [type(e) for e in terminal(events)] == [Sent, Sent]
    assert sum(isinstance(e, Connected) for e in events) == 1
    first, second = handler.mails
    assert first.peer == second.peer  # the same connection
    assert parse(first.content).get_content() == dotted.replace("\n", "\r\n") + "\r\n"
    assert parse(second.content)["Subject"] == "two"


def test_starttls_required_verifies_the_certificate_and_delivers(serve: Serve) -> None:
    handler, port = serve(tls_context=server_tls_context(), require_starttls=True)
    events = run(settings_for(port, security="required", tls=tls_settings("localhost")),
                 mail(subject="over tls"))

    tls = [e for e in events if isinstance(e, TlsEstablished)]
    assert len(tls) == 1 and tls[0].version.startswith("TLS")
    assert isinstance(terminal(events)[0], Sent)
    (received,) = handler.mails
    assert received.tls
    assert parse(received.content)["Subject"] == "over tls"


def test_starttls_with_the_wrong_server_name_fails_before_any_mail(serve: Serve) -> None:
    handler, port = serve(tls_context=server_tls_context())
    events = run(settings_for(port, security="required",
                              tls=tls_settings("wrong.example.test")), mail())

    (failure,) = terminal(events)
    assert isinstance(failure, ClientError) and failure.kind is ErrorKind.TLS_FAILED
    assert "certificate" in failure.detail
    assert handler.mail_commands == [] and handler.mails == []


def test_tls_required_but_not_offered_sends_nothing(serve: Serve) -> None:
    handler, port = serve()
    events = run(settings_for(port, security="required", tls=tls_settings()), mail())

    (failure,) = terminal(events)
    assert isinstance(failure, ClientError) and failure.kind is ErrorKind.TLS_REQUIRED
    assert handler.mail_commands == []


# ---- AUTH ------------------------------------------------------------------------------


def auth_settings(port: int, mechanism: str | None, password: str = PASSWORD,
                  **overrides: Any) -> ClientSettings:
    return settings_for(port, credentials=Credentials(username=USER, password=password),
                        mechanism=mechanism, **overrides)


def test_auth_plain_over_starttls(serve: Serve) -> None:
    handler, port = serve(tls_context=server_tls_context(), auth_require_tls=True,
                          auth_required=True)
    events = run(auth_settings(port, "PLAIN", security="required", tls=tls_settings()),
                 mail())

    assert Authenticated("PLAIN") in events
    assert isinstance(terminal(events)[0], Sent)
    assert handler.auth_mechanisms == ["PLAIN"]
    (received,) = handler.mails
    assert received.tls and received.authenticated


def test_auth_login(serve: Serve) -> None:
    handler, port = serve(auth_required=True)
    events = run(auth_settings(port, "LOGIN"), mail())

    assert Authenticated("LOGIN") in events
    assert isinstance(terminal(events)[0], Sent)
    assert handler.auth_mechanisms == ["LOGIN"]
    assert handler.mails[0].authenticated


def test_auth_cram_md5_is_chosen_as_the_strongest_offered(serve: Serve) -> None:
    handler, port = serve(auth_required=True)
    events = run(auth_settings(port, None), mail())

    assert Authenticated("CRAM-MD5") in events
    assert isinstance(terminal(events)[0], Sent)
    assert handler.auth_mechanisms == ["CRAM-MD5"] and handler.challenges == 1
    assert handler.mails[0].authenticated


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_wrong_password_is_auth_failed_and_no_mail(serve: Serve, mechanism: str) -> None:
    handler, port = serve(auth_required=True)
    events = run(auth_settings(port, mechanism, password="wrong"), mail())

    (failure,) = terminal(events)
    assert isinstance(failure, ClientError) and failure.kind is ErrorKind.AUTH_FAILED
    assert failure.reply is not None and failure.reply.code == 535
    assert handler.mail_commands == [] and handler.mails == []


# ---- SIZE ------------------------------------------------------------------------------


def test_mail_over_the_size_limit_is_refused_locally_and_the_next_one_goes(
        serve: Serve) -> None:
    handler, port = serve(data_size_limit=4000)
    big = mail(subject="too big", body=("y" * 70 + "\n") * 80)
    small = mail(subject="small")
    events = run(settings_for(port), big, small)

    refused, sent = terminal(events)
    assert isinstance(refused, ClientError) and refused.kind is ErrorKind.SIZE_EXCEEDED
    assert "4000" in refused.detail
    assert isinstance(sent, Sent)
    assert len(handler.mail_commands) == 1  # MAIL was never sent for the big one
    (received,) = handler.mails
    assert parse(received.content)["Subject"] == "small"
    assert f"SIZE={len(received.content)}" in received.mail_options


def test_size_limit_boundary_exactly_at_the_limit_goes(serve: Serve) -> None:
    job = mail(subject="boundary", body="z" * 500 + "\n")
    handler, port = serve()
    run(settings_for(port), job)
    size = len(handler.mails[0].content)  # the same job has the same length every time

    at_limit, port = serve(data_size_limit=size)
    assert isinstance(terminal(run(settings_for(port), job))[0], Sent)
    assert len(at_limit.mails) == 1
    below, port = serve(data_size_limit=size - 1)
    (refused,) = terminal(run(settings_for(port), job))
    assert isinstance(refused, ClientError) and refused.kind is ErrorKind.SIZE_EXCEEDED
    assert below.mail_commands == []


def test_without_size_checking_the_server_refuses_after_data(serve: Serve) -> None:
    handler, port = serve(data_size_limit=1000)
    events = run(settings_for(port, size=False), mail(body="w" * 70 * 40))

    (abort,) = terminal(events)
    assert isinstance(abort, CommandAbort) and abort.command == "DATA"
    assert abort.reply.code == 552
    assert handler.mail_commands == [SENDER] and handler.mails == []


# ---- MIME ------------------------------------------------------------------------------


def attachment_bytes(size: int) -> bytes:
    data = random.Random(20240229).randbytes(size)
    # make sure the awkward sequences are in there, at a chunk boundary too
    return b"\r\n.\r\n" + data[:65531] + b"\r\n.." + data[65531:] + b"\n.\r\r\n"


def test_multipart_attachment_arrives_byte_exact(serve: Serve) -> None:
    handler, port = serve()
    original = attachment_bytes(300_000)

    def chunks() -> Iterator[bytes]:  # odd, uneven chunk sizes
        step = 1
        i = 0
        while i < len(original):
            yield original[i:i + step]
            i += step
            step = step * 7 % 70_001 + 1
    job = mail(subject="with attachment", body="See the attached log.\n",
               attachments=(Attachment("capture.bin", "application/octet-stream", chunks),
                            Attachment("notes.txt", "text/plain", b"one\ntwo\n")))
    events = run(settings_for(port), job)

    assert isinstance(terminal(events)[0], Sent)
    message = parse(handler.mails[0].content)
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_attachments())
    assert [p.get_filename() for p in parts] == ["capture.bin", "notes.txt"]
    assert parts[0].get_payload(decode=True) == original
    assert parts[1].get_payload(decode=True) == b"one\ntwo\n"
    body = message.get_body(("plain",))
    assert body is not None and body.get_content() == "See the attached log.\r\n"


# ---- recipients ------------------------------------------------------------------------


def test_one_rejected_recipient_the_others_get_the_mail(serve: Serve) -> None:
    handler, port = serve(handler=RecordingHandler(reject=frozenset({REJECTED})))
    events = run(settings_for(port), mail("alice@example.test", REJECTED, "carol@example.test"))

    rejected = [e for e in events if isinstance(e, RecipientRejected)]
    assert len(rejected) == 1
    assert rejected[0].address == REJECTED and rejected[0].reply.code == 550
    (sent,) = terminal(events)
    assert isinstance(sent, Sent)
    assert sent.accepted == ("alice@example.test", "carol@example.test")
    assert sent.rejected == (REJECTED,)
    (received,) = handler.mails
    assert received.rcpt_tos == ["alice@example.test", "carol@example.test"]
    assert REJECTED in parse(received.content)["To"]  # the header still lists everyone


def test_all_recipients_rejected_aborts_then_rset_lets_the_next_mail_through(
        serve: Serve) -> None:
    handler, port = serve(handler=RecordingHandler(reject=frozenset({REJECTED})))
    events = run(settings_for(port), mail(REJECTED, subject="lost"), mail(subject="kept"))

    abort, sent = terminal(events)
    assert isinstance(abort, CommandAbort) and abort.command == "RCPT"
    assert abort.reply.code == 550
    # without the RSET aiosmtpd would answer the second MAIL with 503 (nested MAIL)
    assert isinstance(sent, Sent)
    assert handler.mail_commands == [SENDER, SENDER]
    (received,) = handler.mails
    assert parse(received.content)["Subject"] == "kept"


# ---- SMTPUTF8 --------------------------------------------------------------------------


UTF8_RECIPIENT = "jörg.müller@bücher.example.test"


def test_smtputf8_non_ascii_address_delivered(serve: Serve) -> None:
    handler, port = serve(enable_SMTPUTF8=True)
    events = run(settings_for(port), mail(UTF8_RECIPIENT, body="Grüße\n"))

    assert isinstance(terminal(events)[0], Sent)
    (received,) = handler.mails
    assert received.smtp_utf8 and "SMTPUTF8" in received.mail_options
    assert received.rcpt_tos == [UTF8_RECIPIENT]
    assert UTF8_RECIPIENT.encode() in received.content  # raw UTF-8 in the To header
    assert parse(received.content).get_content() == "Grüße\r\n"


def test_non_ascii_address_without_smtputf8_is_refused_locally(serve: Serve) -> None:
    handler, port = serve(enable_SMTPUTF8=False)
    events = run(settings_for(port), mail(UTF8_RECIPIENT))

    (failure,) = terminal(events)
    assert isinstance(failure, ClientError) and failure.kind is ErrorKind.UNSUPPORTED
    assert handler.mail_commands == []


# ---- historical releases on the host ---------------------------------------------------


def test_release_2_4_still_delivers_but_cuts_the_body_at_a_blank_line(serve: Serve) -> None:
    handler, port = serve()
    events = send_jobs(settings_for(port), [mail(body="kept\n\ndropped\n")],
                       profile=PROFILES["2.4"], timeout_s=RUN_TIMEOUT_S)

    assert isinstance(terminal(events)[0], Sent)
    assert parse(handler.mails[0].content).get_content() == "kept\r\n"


def test_on_event_sees_every_event_in_order(serve: Serve) -> None:
    _, port = serve()
    seen: list[ClientEvent] = []
    events = send_jobs(settings_for(port), [mail()], on_event=seen.append,
                       timeout_s=RUN_TIMEOUT_S)
    assert seen == events and len(events) == 2



def test_finishing_is_checked_in_time_linear_in_the_events(
        serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """send_jobs looks at each event once to know when every job has ended (it used to
    count the whole event list again on every turn of the runtime: quadratic)."""
    import smtp.hostclient

    calls = 0

    def counting(event: ClientEvent) -> bool:
        nonlocal calls
        calls += 1
        return is_terminal(event)

    monkeypatch.setattr(smtp.hostclient, "is_terminal", counting)
    _, port = serve()
    events = run(settings_for(port), *[mail() for _ in range(40)])
    assert len(terminal(events)) == 40
    assert calls == len(events)
