"""The event-driven SMTP client task: runs :class:`~smtp.client.ClientCore` over a socket.

The task is a generator for the runtimes of :mod:`stack.api`: on the emulated board
(virtual time, simulated stack) and on the host runtime (real time, OS sockets), with no
change. It takes jobs from a :class:`JobQueue`, opens a connection per batch of jobs,
moves bytes between the socket and the core, starts TLS when the core asks, keeps the
core's per-command timer, and streams the message content as fast as ``send()``
accepts it. When ``send()`` accepts nothing it yields and keeps processing incoming data
and events (never busy-waits) -- except where a historical release did otherwise, in
the one predicate that reads the profile flag that says so (``spins_for_tx_buffers``).

This module knows the socket API, the TLS socket and the core's outputs. It knows
nothing about boards, kernels or OS sockets.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smtp.client import ClientCore
from smtp.events import ClientEvent, describe
from smtp.jobs import Job
from smtp.outputs import (
    ArmTimer,
    CancelTimer,
    Close,
    Log,
    MessageComposed,
    Notify,
    Output,
    SendBytes,
    SendContent,
    StartTls,
)
from smtp.phases import Phase
from smtp.profiles import Profile
from smtp.settings import ClientSettings, Porting
from stack.api import BusyWait, CloseReason, SocketState, StreamSocket, Task, TaskContext, Wait
from stack.tls.config import TlsConfig, client_verifier, shared_context
from stack.tls.session import TlsSocket

#: What releases before the known issue was fixed offered: RSA key exchange only, no
#: ECDHE (so not TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, 0xc014), and no TLS 1.3.
WEAK_CIPHERS = "AES128-SHA:AES256-SHA"
WEAK_MAX_VERSION = "TLSv1.2"

READ_SIZE = 4096


class JobQueue:
    """Where the application posts jobs for the client task."""

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        self._wake: Callable[[], None] | None = None

    def submit(self, job: Job) -> None:
        self._jobs.append(job)
        if self._wake is not None:
            self._wake()

    def take_all(self) -> list[Job]:
        jobs = list(self._jobs)
        self._jobs.clear()
        return jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def bind(self, wake: Callable[[], None]) -> None:
        self._wake = wake


class ClientState(enum.StrEnum):
    """What the client task is doing (the console prints the value)."""

    IDLE = "idle"  # no job: waiting for one
    BUSY = "busy"  # running a session for a batch of jobs


@dataclass
class ClientStatus:
    """What the application (and the console's ``smtp status``) can see."""

    state: ClientState = ClientState.IDLE
    events: list[ClientEvent] = field(default_factory=list)
    sessions: int = 0

    def __post_init__(self) -> None:
        self.state = ClientState(self.state)  # ValueError for a state that is not one


#: What ``current`` offers for TLS 1.2 when the config names no ciphers: forward-secret
#: suites, including TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA (0xc014), which Outlook's servers
#: require (Python's own default string drops every CBC-SHA suite). TLS 1.3 suites are
#: OpenSSL's defaults and are not affected by this string.
CURRENT_CIPHERS = ("ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA:"
                   "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA")


def tls_config_for(settings: ClientSettings, profile: Profile) -> TlsConfig:
    """The client's TLS parameters; historical releases offer only weak suites."""
    tls = settings.tls
    ciphers, max_version = tls.ciphers or CURRENT_CIPHERS, tls.max_version
    if profile.weak_tls_ciphers_only:
        # Known issue: "Outlook SMTP server does not work because it drops TLS connection
        # (probably we use too weak a ciphersuite)".
        ciphers, max_version = WEAK_CIPHERS, WEAK_MAX_VERSION
    return TlsConfig(ciphers=ciphers, min_version=tls.min_version, max_version=max_version,
                     ca_pem=tls.ca_pem, verify=tls.verify,
                     server_name=tls.server_name or settings.server_host,
                     keylog_file=tls.keylog_file)


def connection_end(reason: CloseReason | None, detail: str | None) -> str:
    """Why the connection ended, in the words of the client's event.

    ``reason`` None is a FIN that arrived while the socket is still open on our side. A
    TIMEOUT is the device's own TCP giving up (``detail`` says after what): the server
    closed nothing, so the words never say it did.
    """
    match reason:
        case CloseReason.FIN | None:
            return "connection closed by the server"
        case CloseReason.RST:
            return "connection reset by the server"
        case CloseReason.REFUSED:
            return "connection refused by the server"
        case CloseReason.TIMEOUT:
            return f"the device's TCP gave up {detail or '(timeout)'}"
        case CloseReason.LOCAL:
            return "connection closed by the device"
        case CloseReason.RESET:
            return "the device's stack was reset"
    raise TypeError(f"not a close reason: {reason!r}")


def _rtc_clock(porting: Porting) -> Callable[[], datetime]:
    def clock() -> datetime:
        t = porting.rtc_get()
        return datetime(t.year, t.month, t.day, t.hour, t.minute, t.second, tzinfo=UTC)
    return clock


class _Session:
    """One connection's worth of driving the core."""

    def __init__(self, ctx: TaskContext, core: ClientCore, settings: ClientSettings,
                 profile: Profile, porting: Porting, emit: Callable[[ClientEvent], None],
                 tx_buffer_free: Callable[[], bool]) -> None:
        self.ctx = ctx
        self.core = core
        self.settings = settings
        self.profile = profile
        self.porting = porting
        self.emit = emit
        self.tx_buffer_free = tx_buffer_free
        self.sock: StreamSocket | None = None
        self.tls: TlsSocket | None = None
        self.connecting = False
        self.outbox = bytearray()
        self.outbox_holds_content = False  # a BDAT chunk is in the outbox
        self.content: Iterator[bytes] | None = None
        self.content_pending = b""
        self.deadline: int | None = None
        self.closed = False

    # -- carrying out the core's outputs
    def apply(self, outputs: list[Output]) -> None:
        pending = deque(outputs)
        while pending:
            out = pending.popleft()
            if isinstance(out, SendBytes):
                self.ctx.log("send", label=out.label, length=len(out.data))
                self.outbox += out.data
                self.outbox_holds_content = self.outbox_holds_content or out.content
            elif isinstance(out, SendContent):
                self.content = out.chunks
            elif isinstance(out, StartTls):
                pending.extend(self._start_tls())
            elif isinstance(out, ArmTimer):
                self.deadline = self.ctx.now_us() + out.timeout_us
            elif isinstance(out, CancelTimer):
                self.deadline = None
            elif isinstance(out, Notify):
                self.ctx.log("event", name=out.event.name, line=describe(out.event))
                self.emit(out.event)
            elif isinstance(out, Close):
                self._close(abort=out.abort)
            elif isinstance(out, Log):
                self.ctx.log(out.kind, detail=out.detail)
            elif isinstance(out, MessageComposed):
                rtc = out.rtc
                self.ctx.log("message_composed", message_id=out.message_id,
                             date=out.date_header, rtc_valid=rtc.valid,
                             rtc=f"{rtc.year:04d}-{rtc.month:02d}-{rtc.day:02d}T{rtc.hour:02d}:"
                                 f"{rtc.minute:02d}:{rtc.second:02d}", rtc_weekday=rtc.weekday)

    def _start_tls(self) -> list[Output]:
        raw = self.sock
        if raw is None:
            return self.core.tls_failed("no connection to start TLS on")
        if self.outbox:
            # Nothing the client queued before the handshake may go out after it.
            return self.core.tls_failed("commands were queued when TLS was to start")
        leftover = raw.recv(1 << 20)
        if leftover:
            # RFC 3207: nothing received before the handshake may be used.
            self.ctx.log("discarded_plaintext", length=len(leftover))
        try:
            config = tls_config_for(self.settings, self.profile)
            context = shared_context(config, server_side=False)
            verify = client_verifier(config, _rtc_clock(self.porting))
            tls = TlsSocket(raw, context, server_side=False, server_hostname=config.server_name,
                            verify=verify)
            tls.set_event_handler(lambda _event: self.ctx.wake())
            tls.start()
        except ValueError as exc:
            return self.core.tls_failed(f"TLS setup failed: {exc}")
        self.tls = tls
        self.sock = tls
        return []

    def _close(self, *, abort: bool) -> None:
        if self.sock is not None and not self.closed:
            if abort:
                self.sock.abort()
            else:
                self.flush()
                self.sock.close()
        self.closed = True
        self.content = None

    # -- moving bytes
    def flush(self) -> None:
        while self.outbox and self.sock is not None and not self.closed:
            accepted = self.sock.send(bytes(self.outbox[:65536]))
            if accepted <= 0:
                return
            del self.outbox[:accepted]
        if not self.outbox:
            self.outbox_holds_content = False

    def pump_content(self) -> bool:
        """Send content while the socket accepts it; True when ``send()`` stalled."""
        while self.content is not None and not self.outbox and not self.closed:
            if not self.content_pending:
                nxt = next(self.content, None)
                if nxt is None:
                    self.content = None
                    self.apply(self.core.content_sent())
                    self.flush()  # QUIT, when the core put it right behind the data
                    return bool(self.outbox)
                self.content_pending = nxt
            assert self.sock is not None
            accepted = self.sock.send(self.content_pending)
            if accepted <= 0:
                return True
            self.content_pending = self.content_pending[accepted:]
            self.apply(self.core.block_sent())
        return bool(self.outbox)

    def read(self) -> None:
        sock = self.sock
        while sock is not None and not self.closed and sock is self.sock:
            # ``sock is self.sock``: once TLS has started on this connection the raw
            # socket's bytes belong to TLS; never read them here.
            data = sock.recv(READ_SIZE)
            if not data:
                return
            self.apply(self.core.receive(data))

    def check_connection(self) -> None:
        sock = self.sock
        if sock is None or self.closed:
            return
        if self.connecting:
            if sock.state is SocketState.ESTABLISHED:
                self.connecting = False
                settings = self.settings
                self.apply(self.core.connected(settings.server_host, settings.server_port))
            elif sock.state is SocketState.CLOSED:
                self.connecting = False
                self.closed = True
                refused = sock.close_reason is CloseReason.REFUSED
                why = connection_end(sock.close_reason, sock.close_detail)
                self.apply(self.core.connect_failed(refused, f"connect failed: {why}"))
            return
        tls = self.tls
        if tls is not None and self.core.phase is Phase.TLS_HANDSHAKE:
            if tls.state is SocketState.ESTABLISHED:
                cipher = tls.cipher() or ("?", "?")
                self.apply(self.core.tls_established(cipher[0], cipher[1]))
            elif tls.state is SocketState.CLOSED:
                self.closed = True
                failure = tls.failure
                detail = f"{failure.kind}: {failure.reason}" if failure else "TLS closed"
                self.apply(self.core.tls_failed(detail))
            return
        if sock.state is SocketState.CLOSED or sock.peer_closed:
            if tls is not None and self.profile.ignores_tls_connection_state:
                # Before 2.1 ("Added checking of TLS connection state"): a TLS session
                # that drops is not noticed; the client keeps waiting for a reply.
                return
            self.read()  # whatever arrived before the close still counts
            if not self.core.finished and not self.closed:
                detail = connection_end(sock.close_reason, sock.close_detail)
                if tls is not None and tls.failure is not None:
                    detail += f"; TLS: {tls.failure.kind}: {tls.failure.reason}"
                self.apply(self.core.connection_lost(detail))
            # Close our side too (CLOSE_WAIT -> LAST_ACK); a no-op when already closed.
            self._close(abort=False)

    def spins_for_tx_buffers(self) -> bool:
        """Whether the client now spins for a TX buffer instead of handling input.

        Before 2.1 ("Added handling of incoming messages during sending of MAIL content.
        (Stack was running out of IP buffers because messages were not handled)"): while
        MAIL content went out, streamed after DATA or in BDAT chunks, the client read no
        input and, when ``send()`` took nothing, spun for a TX buffer holding the CPU.
        """
        content_going_out = self.content is not None or self.outbox_holds_content
        return self.profile.busy_waits_for_tx_buffers and content_going_out

    def run(self) -> Task:
        self.apply(self.core.start())
        if self.core.finished:
            return
        sock = self.ctx.stack.socket()
        sock.set_event_handler(lambda _event: self.ctx.wake())
        self.sock = sock
        self.connecting = True
        sock.connect(self.settings.server_host, self.settings.server_port)
        while not self.core.finished:
            if self.core.phase is Phase.STUCK:
                yield Wait()
                continue
            if not self.spins_for_tx_buffers():
                self.read()
            self.check_connection()
            self.flush()
            stalled = self.pump_content() if self.content is not None else bool(self.outbox)
            if self.core.finished:
                break
            if stalled and self.spins_for_tx_buffers():
                yield BusyWait(self.tx_buffer_free, "a free TX buffer")
                continue
            now = self.ctx.now_us()
            if self.deadline is not None and now >= self.deadline:
                self.apply(self.core.timer_expired())
                continue
            woken = yield Wait(None if self.deadline is None else self.deadline - now)
            if woken is False and self.deadline is not None and self.ctx.now_us() >= self.deadline:
                self.apply(self.core.timer_expired())
        if self.sock is not None and not self.closed:
            self._close(abort=False)


def smtp_client_task(ctx: TaskContext, *, settings: ClientSettings, profile: Profile,
                     porting: Porting, jobs: JobQueue, status: ClientStatus,
                     on_event: Callable[[ClientEvent], None] | None = None,
                     tx_buffer_free: Callable[[], bool] = lambda: True) -> Task:
    """The client task: take jobs, run a session for each batch, report events."""
    jobs.bind(ctx.wake)
    message_seq = 1

    def emit(event: ClientEvent) -> None:
        status.events.append(event)
        if on_event is not None:
            on_event(event)

    while True:
        batch = jobs.take_all()
        if not batch:
            status.state = ClientState.IDLE
            yield Wait()
            continue
        status.state = ClientState.BUSY
        status.sessions += 1
        core = ClientCore(settings, profile, porting, batch, first_message_seq=message_seq)
        session = _Session(ctx, core, settings, profile, porting, emit, tx_buffer_free)
        yield from session.run()
        message_seq = core.next_message_seq
