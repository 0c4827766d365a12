"""The invariants: what holds for every run of every scenario, whatever its ``[expect]``.

One module, shared by everything that judges a run without being told the answer: the
explorer (``smtp-hil explore`` checks them on every schedule and shrinks a run that
breaks one), the run's verdict (``[expect] invariants = [...]`` names the ones a scenario
must keep, judged by these same functions and words) and the fleet's aggregate verdict.
Each invariant reads one :class:`~scenarios.record.RunRecord` and gives violations (a
:class:`Violation`: broken, with a short reason class and a sentence) and notes (a
:class:`Note`: a case it cannot judge, such as Jepsen's third outcome, counted and
named, never a failure). The names are :data:`~scenarios.format.vocabulary.InvariantName`.

- ``terminal.exactly_one``: the job ends with exactly one terminal event; none by the
  end of the run is a hang when the device has received nothing for longer than its
  longest timeout plus :data:`MARGIN_US` (a shorter quiet is not judged: a note);
- ``terminal.timely``: the terminal event comes within the longest timeout plus the
  margin of the last frame the device received (or of the job's start);
- ``terminal.prompt_on_close``: once the device's TCP has the server's FIN or an RST,
  the terminal event follows within :data:`PROMPT_US` plus two round trips;
- ``mail.sent_means_one_exact_copy``, ``mail.failure_means_no_copy``,
  ``mail.date_is_rtc``, ``mail.headers_as_job``: :mod:`scenarios.verdict.mailoutcome`;
- ``tls.policy``: with ``security = "required"`` or ``"tls"``, no MAIL and no AUTH
  outside TLS; with any security, nothing but QUIT after a refused STARTTLS;
- ``tls.downgrade_announced`` (not in :data:`DEFAULT_INVARIANTS`): with opportunistic
  STARTTLS a mail sent in plaintext was announced with ``tls_downgraded`` (our own
  ``current`` added that event; the changelog's releases have no such event);
- ``device.pool_full``: once the job is over and every connection closed, every IP
  buffer is free again;
- ``device.no_watchdog_reset``, ``device.no_crash``: no watchdog reset; a C firmware
  reported no fault (an exception out of the run is the explorer's to report);
- ``run.deterministic``: judged by running again in a fresh process (the explorer,
  ``smtp-hil run --check-determinism``), never from one record.

This module knows the record, the trace kinds the board, its TCP and the server write,
and the client's timeouts; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, get_args

from emulator.units import SECOND
from scenarios.format.vocabulary import INVARIANT_NAMES, InvariantName
from scenarios.record import RunRecord
from scenarios.verdict.findings import Finding, Note, Violation
from scenarios.verdict.mailoutcome import MAIL_INVARIANTS, MailFacts, MailJudge
from smtp.events import TlsDowngraded, describe, is_terminal
from smtp.timers import RFC5321_TIMEOUTS_S

__all__ = ["DEFAULT_INVARIANTS", "INVARIANT_NAMES", "MARGIN_US", "PROMPT_US", "Finding",
           "InvariantName", "InvariantReport", "Note", "Violation", "check"]

MARGIN_US: Final = 60 * SECOND
"""Slack on top of the client's longest timeout before a quiet job is a hang."""
PROMPT_US: Final = 2 * SECOND
"""How soon after the connection's end (FIN or RST at the device) the job must end."""

DEFAULT_INVARIANTS: Final[tuple[InvariantName, ...]] = tuple(
    name for name in INVARIANT_NAMES if name != "tls.downgrade_announced")
"""What the explorer checks unless told otherwise."""

ContextPart: TypeAlias = Literal["tls", "watchdog_reset", "server_ended"]
CONTEXT_PARTS: Final[tuple[ContextPart, ...]] = get_args(ContextPart)


@dataclass(frozen=True)
class InvariantReport:
    """What the invariants found in one run: violations, notes, and the run's context
    (what the session was in: TLS, a watchdog reset, the server ended the connection),
    which tells apart two bugs that break one invariant the same way."""

    violations: tuple[Violation, ...] = ()
    notes: tuple[Note, ...] = ()
    context: tuple[ContextPart, ...] = ()

    @property
    def holds(self) -> bool:
        return not self.violations

    def lines(self) -> list[str]:
        """One sentence per violation, prefixed with the invariant's name."""
        return [f"invariant {v.invariant}: {v.text}" for v in self.violations]


# ---- facts every invariant reads --------------------------------------------------------

_FACT_KINDS: Final = frozenset({"alloc", "rx_drop", "state", "rst"})
"""The trace kinds :meth:`_Facts.of` reads."""


@dataclass
class _Facts:
    record: RunRecord
    receptions: list[int] = field(default_factory=list)
    """When the device's NIC received a frame (kept or dropped)."""
    device_closed_at: int | None = None
    """When the device's TCP first had the server's FIN or an RST."""
    _mail: MailFacts | None = None
    _mail_read: bool = False

    @property
    def mail(self) -> MailFacts | None:
        """The mail invariants' facts (read once, when one of them asks)."""
        if not self._mail_read:
            self._mail, self._mail_read = MailFacts.of(self.record), True
        return self._mail

    @classmethod
    def of(cls, record: RunRecord) -> _Facts:
        facts = cls(record)
        board = record.board_name
        pool, tcp = f"{board}.pool", f"tcp.{board}"
        for r in record.trace:
            kind = r.kind
            if kind not in _FACT_KINDS:  # most records are the data path's: skip them
                continue
            source = r.source
            if (source == pool and kind == "alloc" and r.fields.get("purpose") == "rx") or (
                    source == board and kind == "rx_drop"):
                facts.receptions.append(r.t_us)
            elif facts.device_closed_at is None and source == tcp and (
                    (kind == "state" and r.fields.get("to") == "CLOSE_WAIT")
                    or (kind == "rst" and r.fields.get("direction") == "in")):
                facts.device_closed_at = r.t_us
        return facts

    def last_reception_before(self, t_us: int) -> int:
        before = [t for t in self.receptions if t <= t_us]
        return before[-1] if before else 0


def _seconds(us: int, places: int = 3) -> str:
    """Microseconds as seconds for a sentence: ``600``, ``0.019``, ``1799.981``."""
    text = f"{us / SECOND:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def longest_timeout_us(record: RunRecord) -> int:
    """The client's longest per-command timeout in this scenario (RFC 5321's defaults,
    raised by ``[device.config.timeouts]``)."""
    configured = record.scenario.device.config.get("timeouts", {})
    seconds = [*RFC5321_TIMEOUTS_S.values(),
               *(v for v in configured.values() if isinstance(v, int | float))]
    return round(max(seconds) * SECOND)


def _terminals(record: RunRecord) -> list[str]:
    return [describe(e.event) for e in record.events if is_terminal(e.event)]


# ---- terminal.* -------------------------------------------------------------------------

def exactly_one(record: RunRecord, facts: _Facts) -> list[Finding]:
    name: InvariantName = "terminal.exactly_one"
    terminals = _terminals(record)
    if len(terminals) > 1:
        return [Violation(name, "duplicate outcome", f"{len(terminals)} terminal events for "
                                                     f"one job: {'; '.join(terminals)}")]
    if terminals or record.firmware_stopped:
        return []
    bound = longest_timeout_us(record) + MARGIN_US
    last = facts.last_reception_before(record.virtual_us)
    quiet = record.virtual_us - last
    if quiet > bound:
        why = (f"no terminal event {_seconds(quiet, 0)} s after the device last "
               f"received anything (its longest timeout is {_seconds(bound - MARGIN_US)} s): "
               f"the job hangs")
        if record.watchdog_resets:
            why += f" (the watchdog reset the board {record.watchdog_resets} time(s))"
        return [Violation(name, "hang", why)]
    return [Note(name, "not_judged", f"the run ended {_seconds(quiet)} s after the device "
                                     f"last received anything, before its longest timeout "
                                     f"and the margin: too early to call it a hang")]


def timely(record: RunRecord, facts: _Facts) -> list[Finding]:
    terminal = record.terminal
    if terminal is None:
        return []
    last = facts.last_reception_before(terminal.t_us)
    waited = terminal.t_us - last
    bound = longest_timeout_us(record) + MARGIN_US
    if waited <= bound:
        return []
    return [Violation("terminal.timely", "late",
                      f"{describe(terminal.event)} came {_seconds(waited)} s after the device "
                      f"last received anything, more than its longest timeout "
                      f"({_seconds(bound - MARGIN_US)} s) and the margin")]


def prompt_on_close(record: RunRecord, facts: _Facts) -> list[Finding]:
    closed = facts.device_closed_at
    if closed is None:
        return []
    terminal = record.terminal
    end = terminal.t_us if terminal is not None else record.virtual_us
    if closed > end:
        return []
    allowed = PROMPT_US + 4 * record.scenario.link.latency_us
    if end - closed <= allowed:
        return []
    what = describe(terminal.event) if terminal is not None else "no terminal event"
    return [Violation("terminal.prompt_on_close", "slow on close",
                      f"the device's TCP had the server's FIN or a reset at "
                      f"{_seconds(closed)} s, and {what} came {_seconds(end - closed)} s "
                      f"later (allowed: {_seconds(allowed)} s)")]


# ---- tls.* ------------------------------------------------------------------------------

def _security(record: RunRecord) -> str:
    server = record.scenario.device.config.get("server", {})
    value = server.get("security", "starttls") if isinstance(server, dict) else "starttls"
    return str(value)


def tls_policy(record: RunRecord, _facts: _Facts) -> list[Finding]:
    security = _security(record)
    found: list[Finding] = []
    for number, seen in enumerate(record.server_side.observations, start=1):
        where = f"connection {number}"
        if security in ("required", "tls"):
            if seen.plaintext_mail is not None:
                found.append(Violation("tls.policy", "mail in plaintext",
                                       f"{where}: MAIL outside TLS although the device's "
                                       f"security is {security!r}"))
            if seen.auth_in_plaintext:
                found.append(Violation("tls.policy", "auth in plaintext",
                                       f"{where}: AUTH outside TLS although the device's "
                                       f"security is {security!r}"))
        after = [verb for verb in seen.commands_after_failed_starttls if verb != "QUIT"]
        if after:
            found.append(Violation("tls.policy", "commands after failed starttls",
                                   f"{where}: after a refused STARTTLS the client sent "
                                   f"{', '.join(after)} (only QUIT is allowed)"))
    return found


def downgrade_announced(record: RunRecord, _facts: _Facts) -> list[Finding]:
    if _security(record) != "starttls":
        return []
    plaintext = any(seen.plaintext_mail is not None for seen in record.server_side.observations)
    announced = any(isinstance(e.event, TlsDowngraded) for e in record.events)
    if not plaintext or announced:
        return []
    return [Violation("tls.downgrade_announced", "silent downgrade",
                      "the mail went in plaintext although the device wanted STARTTLS, and "
                      "the client reported no tls_downgraded")]


# ---- device.* ---------------------------------------------------------------------------

def pool_full(record: RunRecord, _facts: _Facts) -> list[Finding]:
    if record.terminal is None or record.firmware_stopped:
        return []
    if not all(c.closed for c in record.server_side.connections):
        return []
    if not record.pool_in_use_at_end:
        return []
    return [Violation("device.pool_full", "pool not full",
                      f"{record.pool_in_use_at_end} IP buffer(s) still in use after the job "
                      f"ended and every connection closed")]


def no_watchdog_reset(record: RunRecord, _facts: _Facts) -> list[Finding]:
    if not record.watchdog_resets:
        return []
    reasons = record.watchdog_reset_reasons
    return [Violation("device.no_watchdog_reset", "watchdog reset",
                      f"the watchdog reset the board {record.watchdog_resets} time(s)"
                      + (f": {reasons[0]}" if reasons else ""))]


def no_crash(record: RunRecord, _facts: _Facts) -> list[Finding]:
    if not record.firmware_problems and not record.firmware_stopped:
        return []
    problems = record.firmware_problems or ["the firmware stopped"]
    return [Violation("device.no_crash", "firmware fault", "; ".join(problems))]


_Judge: TypeAlias = Callable[[RunRecord, _Facts], list[Finding]]


def _with_mail_facts(judge: MailJudge) -> _Judge:
    def judged(record: RunRecord, facts: _Facts) -> list[Finding]:
        return judge(record, facts.mail)
    return judged


_JUDGES: Final[dict[InvariantName, _Judge]] = {
    "terminal.exactly_one": exactly_one,
    "terminal.timely": timely,
    "terminal.prompt_on_close": prompt_on_close,
    **{name: _with_mail_facts(judge) for name, judge in MAIL_INVARIANTS.items()},
    "tls.policy": tls_policy,
    "tls.downgrade_announced": downgrade_announced,
    "device.pool_full": pool_full,
    "device.no_watchdog_reset": no_watchdog_reset,
    "device.no_crash": no_crash,
}
"""Every invariant one record can judge (all but ``run.deterministic``)."""


_SERVER_ENDED_KINDS: Final = frozenset({"close", "reset", "drop_tls"})
_CONTEXT_KINDS: Final = _SERVER_ENDED_KINDS | {"tls_established"}
"""The server's trace kinds :func:`context_of` reads (the kind is tested first: most
records of a run are the data path's)."""


def context_of(record: RunRecord) -> tuple[ContextPart, ...]:
    """What the session was in before the job ended (or the run, with no terminal
    event): TLS was up, the watchdog reset the board, the server ended a connection
    (closed it, reset it or dropped TLS)."""
    parts: list[ContextPart] = []
    end = record.terminal.t_us if record.terminal is not None else record.virtual_us
    kinds = {r.kind for r in record.trace if r.kind in _CONTEXT_KINDS and r.t_us <= end
             and r.source.startswith("server.")}
    if "tls_established" in kinds:
        parts.append("tls")
    if record.watchdog_resets:
        parts.append("watchdog_reset")
    if kinds & _SERVER_ENDED_KINDS:
        parts.append("server_ended")
    return tuple(parts)


def check(record: RunRecord, names: Iterable[InvariantName] = DEFAULT_INVARIANTS
          ) -> InvariantReport:
    """Judge ``record`` by the invariants ``names`` (``run.deterministic`` is skipped:
    no single record can judge it)."""
    facts = _Facts.of(record)
    findings: list[Finding] = []
    for name in names:
        judge = _JUDGES.get(name)
        if judge is not None:
            findings += judge(record, facts)
    return InvariantReport(
        violations=tuple(f for f in findings if isinstance(f, Violation)),
        notes=tuple(f for f in findings if isinstance(f, Note)),
        context=context_of(record))


def judged_by_one_record() -> Sequence[InvariantName]:
    """The invariants :func:`check` judges (the rest need a second run)."""
    return tuple(_JUDGES)
