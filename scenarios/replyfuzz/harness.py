"""One fuzz input: the client core against a hostile reply source, and the invariants.

:func:`draw_case` picks a release profile, a configuration (security mode, credentials,
features) and one to three jobs. :func:`run_case` then drives
:class:`~smtp.client.ClientCore` -- the sans-I/O core, where the server's bytes enter the
client -- the way :mod:`smtp.task` does, against a
:class:`~scenarios.replyfuzz.server.HostileServer`, in virtual time. Delivery is fuzzed
here: replies whole, split at random, byte by byte, trickled with long delays,
coalesced with the next one; delays that outlast the client's timer; the server closing
or resetting, after a reply or in the middle of one; a final reply in the middle of the
content; a TLS handshake that fails.

The invariants (:class:`InvariantViolation` when one breaks; any exception from the core
is one too):

1. the core never raises, whatever it is fed, and its events are the documented ones;
2. every job ends with exactly one terminal event, and the session ends (phase DONE),
   except where release 2.0 loses a pipelined MAIL failure without a word (its
   changelog bug: the session is STUCK, and the jobs from there on get nothing);
3. no hang: whenever nothing is left to deliver, the core has a timer running, unless a
   historical release runs none while TLS is up (its known issue) or it is STUCK; a
   timer that fires ends the session; a trickled reply does not re-arm the timer before
   its last byte, and virtual time stays within the timeouts the client armed;
4. nothing after the end: once the core is DONE, no input makes it do anything, and
   nothing is sent after it closed;
5. what the server says is only taken as success where RFC 5321 4.3.2 allows it: a
   ``sent`` event carries a 250; TLS starts only after a 220 to STARTTLS;
6. TLS discipline (releases with STARTTLS): with TLS required nothing but EHLO, HELO,
   STARTTLS, QUIT goes out in plaintext; with opportunistic STARTTLS no password or
   token goes out in plaintext, and ``current`` reports ``tls_downgraded`` before it
   sends a mail in plaintext.

This module knows the client core, its outputs and events; it uses no sockets, no clock
and no random numbers of its own (every choice comes from the chooser).
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from scenarios.replyfuzz.chooser import Chooser, chance, pick
from scenarios.replyfuzz.server import HostileServer, Piece
from smtp.auth import Credentials
from smtp.client import ClientCore
from smtp.events import (
    PROGRESS_EVENTS,
    TERMINAL_EVENTS,
    ClientEvent,
    Sent,
    TlsDowngraded,
    describe,
    is_terminal,
)
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import Attachment, MailJob
from smtp.outputs import (
    ArmTimer,
    CancelTimer,
    Close,
    Log,
    Notify,
    Output,
    SendBytes,
    SendContent,
    StartTls,
)
from smtp.phases import Phase
from smtp.profiles import PROFILE_NAMES, PROFILES, Profile
from smtp.rtcdate import RtcTime
from smtp.settings import SECOND_US, ClientSettings, Security, default_timeouts_us

SERVER_HOST: Final = "mx.example.net"
MAX_STEPS: Final = 200_000
"""Deliveries, timer firings and closes in one case; more is a hang of the harness."""
BYTEWISE_LIMIT: Final = 300
"""Byte-by-byte delivery stops after this many bytes of one reply (the rest goes whole)."""
DELAYS_US: Final = tuple(s * SECOND_US for s in (1, 59, 119, 299, 301, 601, 3600))
TRICKLE_US: Final = 40 * SECOND_US
"""Between two bytes of a trickled reply: under every timeout, so only a per-command
deadline stops a trickle (hostile-servers.md row 27)."""
PLAINTEXT_UNDER_REQUIRED_TLS: Final = frozenset({b"EHLO", b"HELO", b"STARTTLS", b"QUIT"})
SECRETS_IN_CLEAR: Final = (b"AUTH PLAIN", b"AUTH LOGIN", b"AUTH XOAUTH2")


class InvariantViolation(AssertionError):
    """The client broke an invariant of the module docstring; the message says which."""


# ---- the case -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedPorting:
    """The device's porting layer with a valid RTC (a Thursday)."""

    def rtc_get(self) -> RtcTime:
        return RtcTime(2024, 6, 6, 10, 0, 0, 4, True)

    def host_domain(self) -> str | None:
        return "pump7.example.com"

    def host_address(self) -> str:
        return "192.0.2.10"

    def template_hostname(self) -> str:
        return "pump7"


MAIL_JOBS: Final[tuple[Job, ...]] = (
    MailJob(sender="pump7@example.com", to=("ops@example.net",), subject="Status",
            body="Pressure nominal.\r\n"),
    MailJob(sender="pump7@example.com", to=("ops@example.net", "b@example.net"),
            cc=("c@example.net",), bcc=("d@example.net",), subject="Report",
            body=".leading dot\r\n\r\nafter a blank line\r\n.\r\nend"),
    MailJob(sender="pump7@example.com", to=("ops@example.net",), subject="Log",
            body=b"line of the log\r\n" * 400,
            attachments=(Attachment("trend.csv", "text/csv", b"t;v\r\n1;2\r\n" * 50),)),
    MailJob(sender="pump7@example.com", to=("j\u00f6rg@example.net",), subject="UTF-8",
            body="Gr\u00fc\u00dfe\r\n"),
    MailJob(sender="pump7@example.com", to=("ops@example.net",), subject="DSN",
            body="x\r\n", dsn_notify=("FAILURE", "DELAY"), dsn_ret="HDRS",
            dsn_envid="QQ314159", dsn_orcpt=True),
)
QUERY_JOBS: Final[tuple[Job, ...]] = (VrfyJob("ops@example.net"), EtrnJob("example.net"))
CREDENTIALS: Final = (
    Credentials(),
    Credentials(username="pump7", password="s3cret"),
    Credentials(anonymous_trace="pump7@example.com"),
    Credentials(username="pump7", oauth_token="ya29.token"),
)
SECURITY_MODES: Final[tuple[Security, ...]] = ("none", "starttls", "required", "tls")


@dataclass(frozen=True)
class Case:
    """What one input runs: the release, the client's settings and its jobs."""

    profile: Profile
    settings: ClientSettings
    jobs: tuple[Job, ...]


def draw_case(chooser: Chooser, profile_name: str | None = None) -> Case:
    """A release (``profile_name``, else drawn), a configuration and one to three jobs."""
    if profile_name is None:
        profile_name = pick(chooser, PROFILE_NAMES[::-1])  # current first: the plainest
    profile = PROFILES[profile_name]
    timeouts = default_timeouts_us()
    if chance(chooser, 20):
        timeouts["data_block"] = 5 * SECOND_US
    credentials = pick(chooser, CREDENTIALS) if chance(chooser, 50) else CREDENTIALS[0]
    mechanism = None
    if credentials != CREDENTIALS[0] and chance(chooser, 15):
        mechanism = pick(chooser, ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "ANONYMOUS"))
    settings = ClientSettings(
        server_host=SERVER_HOST, security=pick(chooser, SECURITY_MODES),
        device_domain="pump7.example.com", credentials=credentials, mechanism=mechanism,
        timeouts_us=timeouts, pipelining=not chance(chooser, 20),
        chunking=not chance(chooser, 20), chunk_size=pick(chooser, (4096, 64, 1)),
        dsn=not chance(chooser, 20), size=not chance(chooser, 20))
    jobs: list[Job] = []
    for _ in range(chooser.integer(1, 3)):
        jobs.append(pick(chooser, QUERY_JOBS) if chance(chooser, 15) else pick(chooser,
                                                                                 MAIL_JOBS))
    return Case(profile, settings, tuple(jobs))


# ---- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostility:
    """How hostile one case's server is, in percent per reply: plain sessions reach the
    content and the later jobs; hostile ones attack the early steps."""

    mutate: int
    surplus: int
    close: int
    split: int
    delay: int

    @classmethod
    def draw(cls, chooser: Chooser) -> Hostility:
        return cls(mutate=pick(chooser, (0, 0, 2, 5, 15, 40)),
                   surplus=pick(chooser, (0, 0, 1, 5)), close=pick(chooser, (0, 0, 1, 3)),
                   split=pick(chooser, (0, 10, 30, 80)), delay=pick(chooser, (0, 0, 2, 10)))


@dataclass(slots=True)
class Delivery:
    """Bytes that reach the client together, after ``delay_us`` of silence."""

    data: bytes
    delay_us: int = 0
    trickled: bool = False
    """A byte of a trickled well-formed reply, not its last one."""


@dataclass
class Outcome:
    """What one input did, for statistics (the invariants were checked on the way)."""

    events: list[ClientEvent]
    virtual_us: int
    deliveries: int
    lost_job: bool


@dataclass
class _Run:
    chooser: Chooser
    case: Case
    transcript: list[str] | None
    core: ClientCore = field(init=False)
    server: HostileServer = field(init=False)
    hostility: Hostility = field(init=False)
    queue: deque[Delivery] = field(default_factory=deque)
    held: bytes = b""
    now_us: int = 0
    untimed_us: int = 0
    deadline: int | None = None
    armed_us: int = 0
    content: Iterator[bytes] | None = None
    wants_tls: bool = False
    closed: bool = False
    server_gone: str | None = None
    events: list[ClientEvent] = field(default_factory=list)
    lost_job: bool = False
    deliveries: int = 0
    after_starttls: bytearray | None = None
    """What reached the client since it sent STARTTLS."""

    def __post_init__(self) -> None:
        case = self.case
        self.core = ClientCore(case.settings, case.profile, FixedPorting(), case.jobs)
        self.hostility = Hostility.draw(self.chooser)
        self.server = HostileServer(self.chooser, mutate_percent=self.hostility.mutate)

    # ---- bookkeeping -----------------------------------------------------------------
    def note(self, text: str) -> None:
        if self.transcript is not None:
            self.transcript.append(f"{self.now_us / 1e6:12.6f} {text}")

    def fail(self, why: str) -> InvariantViolation:
        self.note(f"VIOLATION: {why}")
        return InvariantViolation(why)

    def call(self, what: str, core_input: Callable[[], list[Output]]) -> None:
        """Feed the core one input (``core_input`` makes the call) and carry out what it
        returns; an exception from the core is a violation."""
        try:
            outputs = core_input()
        except Exception as exc:
            self.note("".join(traceback.format_exception(exc)))
            raise self.fail(f"the client core raised {type(exc).__name__}: {exc} "
                            f"(in {what})") from exc
        for out in outputs:
            self.apply(out)

    # ---- the core's outputs ----------------------------------------------------------
    def apply(self, out: Output) -> None:
        if isinstance(out, SendBytes):
            self.note(f"C: {out.data[:200]!r}")
            if self.closed:
                raise self.fail(f"sent {out.label} after closing the connection")
            self.check_tls_discipline(out.data)
            if out.data.upper().startswith(b"STARTTLS"):
                self.after_starttls = bytearray()
            if self.server_gone is None:
                self.queue_pieces(self.server.receive(out.data))
        elif isinstance(out, SendContent):
            self.content = out.chunks
        elif isinstance(out, StartTls):
            self.start_tls()
        elif isinstance(out, ArmTimer):
            self.deadline = self.now_us + out.timeout_us
            self.armed_us += out.timeout_us
        elif isinstance(out, CancelTimer):
            self.deadline = None
        elif isinstance(out, Notify):
            self.event(out.event)
        elif isinstance(out, Close):
            self.note(f"client closes ({'RST' if out.abort else 'FIN'})")
            self.closed = True
            self.deadline = None
            self.content = None
        elif isinstance(out, Log):
            self.note(f"log {out.kind}: {out.detail}")
            if out.kind == "job_lost":
                self.lost_job = True

    def event(self, event: ClientEvent) -> None:
        self.note(f"event {describe(event)}")
        if not isinstance(event, (*PROGRESS_EVENTS, *TERMINAL_EVENTS)):
            raise self.fail(f"not a documented event: {event!r}")
        self.events.append(event)
        if sum(1 for e in self.events if is_terminal(e)) > len(self.case.jobs):
            raise self.fail(f"more terminal events than the {len(self.case.jobs)} job(s)")
        if isinstance(event, Sent) and event.reply.code != 250:
            raise self.fail(f"reported sent on a {event.reply.code} reply")

    def check_tls_discipline(self, data: bytes) -> None:
        case, core = self.case, self.core
        if core.tls_active or not case.profile.has_2_0_features:
            return
        verb = data.split(b" ", 1)[0].split(b"\r", 1)[0].upper()
        security = case.settings.security
        if security in ("required", "tls") and verb not in PLAINTEXT_UNDER_REQUIRED_TLS:
            raise self.fail(f"sent {verb!r} in plaintext although TLS is required")
        if security == "starttls":
            if data.upper().startswith(SECRETS_IN_CLEAR):
                raise self.fail(f"sent a secret in plaintext: {data[:40]!r}")
            if verb == b"MAIL" and not case.profile.downgrades_tls_silently and not any(
                    isinstance(e, TlsDowngraded) for e in self.events):
                raise self.fail("sent MAIL in plaintext under opportunistic STARTTLS "
                                "without a tls_downgraded event")

    def start_tls(self) -> None:
        answer = self.after_starttls
        if self.case.settings.security != "tls" and (answer is None
                                                      or not answer.startswith(b"220")):
            raise self.fail(f"started TLS after {bytes(answer or b'')[:40]!r} to STARTTLS")
        dropped = sum(len(d.data) for d in self.queue) + len(self.held)
        if dropped:
            self.note(f"{dropped} plaintext byte(s) dropped before the handshake")
        self.queue.clear()
        self.held = b""
        self.wants_tls = True

    # ---- the server's side -----------------------------------------------------------
    def queue_pieces(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if self.server_gone is not None:
                return
            self.queue_piece(piece)
            if chance(self.chooser, self.hostility.surplus):  # a surplus reply after it
                self.queue_piece(self.server.unsolicited())
            if chance(self.chooser, self.hostility.close):
                self.server_gone = pick(self.chooser, ("connection closed by the server",
                                                       "connection reset by the server"))

    def queue_piece(self, piece: Piece) -> None:
        data = piece.data
        if not data:
            return
        if chance(self.chooser, self.hostility.close):  # gone in the middle of this reply
            data = data[:self.chooser.integer(0, len(data) - 1)]
            self.server_gone = "connection closed by the server"
        delay = pick(self.chooser, DELAYS_US) if chance(self.chooser, self.hostility.delay) \
            else 0
        if not chance(self.chooser, self.hostility.split):
            self.queue.append(Delivery(self.held + data, delay))
            self.held = b""
            return
        how = self.chooser.integer(0, 5)
        if how < 2:  # coalesced with what the server writes next
            self.held += data
        elif how < 4:  # cut at one to three random places
            cuts = sorted({self.chooser.integer(1, max(1, len(data) - 1))
                           for _ in range(self.chooser.integer(1, 3))})
            parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
            self.queue.append(Delivery(self.held + parts[0], delay))
            self.held = b""
            self.queue.extend(Delivery(part) for part in parts[1:] if part)
        else:  # byte by byte (how == 5: trickled, tens of seconds between the bytes)
            trickle = how == 5 and piece.well_formed and len(data) <= BYTEWISE_LIMIT
            head, rest = data[:BYTEWISE_LIMIT], data[BYTEWISE_LIMIT:]
            if self.held:
                self.queue.append(Delivery(self.held, delay))
                self.held, delay = b"", 0
            for index in range(len(head)):
                last = index == len(head) - 1 and not rest
                self.queue.append(Delivery(head[index:index + 1],
                                           TRICKLE_US if trickle and index else delay,
                                           trickled=trickle and not last))
                delay = 0
            if rest:
                self.queue.append(Delivery(rest))

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> Outcome:
        core = self.core
        self.call("start", core.start)
        if not core.finished:
            if chance(self.chooser, 3):
                refused = chance(self.chooser, 50)
                self.call("connect_failed",
                          lambda: core.connect_failed(refused, "connect failed (fuzzed)"))
            else:
                self.call("connected", lambda: core.connected(SERVER_HOST, 25))
                if not self.wants_tls:
                    self.queue_pieces(self.server.greeting())
        for _ in range(MAX_STEPS):
            if core.phase in (Phase.DONE, Phase.STUCK):
                break
            self.step()
        else:
            raise self.fail(f"no end after {MAX_STEPS} steps")
        self.check_end()
        return Outcome(self.events, self.now_us, self.deliveries, self.lost_job)

    def step(self) -> None:
        core = self.core
        if self.wants_tls:
            self.handshake()
        elif self.content is not None:
            self.pump_content()
        elif self.queue or self.held:
            self.deliver()
        elif self.server_gone is not None and not self.closed:
            reason, self.server_gone = self.server_gone, None
            self.note(reason)
            self.call("connection_lost", lambda: core.connection_lost(reason))
            self.closed = True
        else:
            self.stalled()

    def handshake(self) -> None:
        self.wants_tls = False
        implicit = self.case.settings.security == "tls"
        if (implicit or self.server.agreed_to_tls) and not chance(self.chooser, 5):
            self.note("TLS handshake done")
            self.server.tls_active = True
            self.call("tls_established",
                      lambda: self.core.tls_established("TLS_AES_256_GCM_SHA384", "TLSv1.3"))
            if implicit:
                self.queue_pieces(self.server.greeting())
        else:
            self.note("TLS handshake failed")
            self.call("tls_failed", lambda: self.core.tls_failed("handshake failed (fuzzed)"))

    def pump_content(self) -> None:
        core, content = self.core, self.content
        assert content is not None
        early = chance(self.chooser, 3)
        for index, _chunk in enumerate(content):
            self.call("block_sent", core.block_sent)
            if self.content is None:
                return  # the client closed
            if early and index == 0:
                self.content = None
                self.queue_pieces([self.server.early_reply()])
                return
        self.content = None
        self.call("content_sent", core.content_sent)
        if self.server_gone is None and not self.closed:
            self.queue_pieces(self.server.after_content())

    def deliver(self) -> None:
        if self.queue:
            delivery = self.queue.popleft()
        else:
            delivery, self.held = Delivery(self.held), b""
        if delivery.delay_us and not self.wait(delivery.delay_us):
            return
        self.deliveries += 1
        self.note(f"S: {delivery.data[:200]!r}")
        if self.after_starttls is not None:
            self.after_starttls += delivery.data
        armed_before = self.armed_us
        self.call("receive", lambda: self.core.receive(delivery.data))
        if delivery.trickled and self.armed_us != armed_before:
            raise self.fail("a byte of a trickled reply re-armed the timer: a trickle "
                            "defeats the per-command timeout")

    def wait(self, delay_us: int) -> bool:
        """Let ``delay_us`` pass; False when the client's timer fired first."""
        if self.deadline is not None and self.now_us + delay_us >= self.deadline:
            self.fire_timer()
            return False
        if self.deadline is None:
            self.untimed_us += delay_us
        self.now_us += delay_us
        return True

    def fire_timer(self) -> None:
        assert self.deadline is not None
        self.now_us = self.deadline
        self.deadline = None
        self.note("the client's timer fires")
        self.call("timer_expired", self.core.timer_expired)
        if self.core.phase not in (Phase.DONE, Phase.STUCK):
            raise self.fail(f"a fired timer left the session in phase {self.core.phase.value}")

    def stalled(self) -> None:
        """Nothing to deliver: only the client's timer can move things on."""
        core, profile = self.core, self.case.profile
        if self.deadline is not None:
            self.fire_timer()
            return
        if core.tls_active and profile.no_timeout_while_tls_active:
            # The known issue: no timer while TLS is up. The server hangs up eventually.
            self.note("no timer under TLS (known issue); the server closes")
            self.server_gone = "connection closed by the server"
            return
        raise self.fail(f"the client waits with no timer running (phase {core.phase.value}): "
                        "a silent server hangs it")

    def check_end(self) -> None:
        core, profile = self.core, self.case.profile
        jobs = len(self.case.jobs)
        terminal = sum(1 for e in self.events if is_terminal(e))
        if core.phase is Phase.STUCK:
            if not (profile.pipelined_mail_failure_is_silent and self.lost_job):
                raise self.fail("the session is stuck without the 2.0 lost-MAIL bug")
        elif terminal != jobs:
            raise self.fail(f"{terminal} terminal event(s) for {jobs} job(s)")
        if self.now_us - self.untimed_us > self.armed_us:
            raise self.fail(f"{self.now_us / 1e6:.0f} s passed under timers that add up "
                            f"to {self.armed_us / 1e6:.0f} s")
        after: list[Output] = []
        lates: tuple[Callable[[], list[Output]], ...] = (
            lambda: core.receive(b"250 2.0.0 late\r\n"), core.timer_expired,
            lambda: core.connection_lost("late close"))
        for late in lates:
            try:
                after += late()
            except Exception as exc:
                raise self.fail(f"the finished core raised {type(exc).__name__}: {exc}") \
                    from exc
        if core.phase is Phase.DONE and after:
            raise self.fail(f"the finished core still acts: {after[:3]!r}")


def run_case(chooser: Chooser, *, profile: str | None = None,
             transcript: list[str] | None = None) -> Outcome:
    """Draw a case from ``chooser`` (on release ``profile`` if given) and run it;
    InvariantViolation if the client breaks an invariant. ``transcript`` (a list)
    receives a line per step, for a reproducer."""
    case = draw_case(chooser, profile)
    if transcript is not None:
        transcript.append(f"profile {case.profile.name}, security {case.settings.security}, "
                          f"jobs {[type(j).__name__ for j in case.jobs]}, "
                          f"credentials {case.settings.credentials!r}")
    return _Run(chooser, case, transcript).run()
