"""The report's data: plain records of runs and of the matrix, ready to become JSON.

A :class:`RunView` is everything the report shows of one run, already reduced to what a
person reads: the outcome, the verdict's checks, the client's events, the dialogue as
sequence-diagram rows, the device's buffer pool and RX ring over virtual time, the TCP
segments, the transcript and the links to the artifacts. A :class:`MatrixGrid` is the
scenario x release table whose cells point at runs by their ``run_id``.

Every part a run may lack is optional: a run against a real client (``serve``) has no
device, so no pool chart and no TCP view; a run that was not applicable has no view at
all, only a grid cell saying why.

This module knows only these records and their JSON shape. It knows nothing about the
simulation, the trace or HTML: the builders (:mod:`scenarios.report.dialogue`,
:mod:`scenarios.report.device`, :mod:`scenarios.report.tcpview`) make the parts, the
adapters (:mod:`scenarios.report.from_runs`, :mod:`scenarios.report.from_server`) make
views of run results and of a real client's connections, and the renderer
(:mod:`scenarios.report.html`) draws them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

JsonValue: TypeAlias = (
    "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None")


class Outcome(enum.Enum):
    """What became of one run, judged against the catalog's ``reproduces``."""

    PASS = "pass"
    REPRODUCES = "reproduces"
    """Fails on a release the catalog says has the bug: the bug reproduces."""
    UNEXPECTED_FAIL = "unexpected-fail"
    UNEXPECTED_PASS = "unexpected-pass"
    """Passes on a release the catalog says fails it."""
    FAILS = "fails"
    """A C firmware (lwIP) or an audited client fails it: its own result, judged as
    ``current`` would be, never a surprise (the catalog says nothing about it)."""
    NOT_APPLICABLE = "not-applicable"
    """The scenario needs something this firmware does not have: no run."""
    NO_VERDICT = "no-verdict"
    """A board driven by keywords (Robot): no scenario verdict; the test's own assertions
    judge it. Never in a matrix."""

    @property
    def letter(self) -> str:
        """The matrix table's letter, as ``smtp-hil matrix`` prints it."""
        return _LETTERS[self]

    @property
    def words(self) -> str:
        return _WORDS[self]

    @property
    def surprise(self) -> bool:
        return self in (Outcome.UNEXPECTED_FAIL, Outcome.UNEXPECTED_PASS)


_LETTERS: Mapping[Outcome, str] = {
    Outcome.PASS: ".", Outcome.REPRODUCES: "x", Outcome.UNEXPECTED_FAIL: "F",
    Outcome.UNEXPECTED_PASS: "P", Outcome.FAILS: "f", Outcome.NOT_APPLICABLE: "-",
    Outcome.NO_VERDICT: "~"}
_WORDS: Mapping[Outcome, str] = {
    Outcome.PASS: "passes",
    Outcome.REPRODUCES: "fails as the catalog says (the bug reproduces)",
    Outcome.UNEXPECTED_FAIL: "fails unexpectedly",
    Outcome.UNEXPECTED_PASS: "passes although the catalog says it fails",
    Outcome.FAILS: "fails (the client's own result, not a surprise)",
    Outcome.NOT_APPLICABLE: "not applicable to this firmware",
    Outcome.NO_VERDICT: "no verdict: driven by keywords, the test's assertions judge it",
}


def outcome_of(passed: bool, expected_to_fail: bool) -> Outcome:
    """The outcome of a run that ran: its verdict against the catalog's expectation."""
    if expected_to_fail:
        return Outcome.UNEXPECTED_PASS if passed else Outcome.REPRODUCES
    return Outcome.PASS if passed else Outcome.UNEXPECTED_FAIL


CheckStatus: TypeAlias = Literal["pass", "fail", "not judged", "not observable"]


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One expectation of the scenario (dotted name, as in ``Expect.checks()``), the value
    it asks for, and what became of it."""

    name: str
    expected: str
    status: CheckStatus
    detail: str = ""

    def as_json(self) -> JsonValue:
        return [self.name, self.expected, self.status, self.detail]


Lane: TypeAlias = Literal["client", "link", "server"]
RowKind: TypeAlias = Literal["c2s", "s2c", "mark"]
TlsPhase: TypeAlias = Literal["", "handshake", "tls"]


@dataclass(frozen=True, slots=True)
class DialogueRow:
    """One row of the sequence diagram, in time order.

    ``c2s``/``s2c`` rows are arrows carrying ``lines`` (the first few of ``total_lines``);
    ``t_us`` is when the server received (``c2s``) or wrote (``s2c``) them, and
    ``client_t_us`` when the client sent them, where the trace tells. ``mark`` rows are
    things that happened on one ``lane``: events, faults, timers, TLS steps.
    """

    kind: RowKind
    t_us: int
    lane: Lane
    lines: tuple[str, ...]
    total_lines: int = 0
    client_t_us: int | None = None
    last_t_us: int | None = None
    """For merged rows (several writes or marks): the time of the last one."""
    count: int = 1
    """How many trace records the row stands for."""
    style: str = ""
    """What kind of thing it is: ``command``, ``group``, ``content``, ``reply``,
    ``replies``, ``event``, ``terminal``, ``timer``, ``fault``, ``drop``, ``tls``,
    ``watchdog``, ``log``, ``conn``."""
    connection: int = 0
    tls: TlsPhase = ""

    def as_json(self) -> JsonValue:
        row: dict[str, JsonValue] = {"k": self.kind, "t": self.t_us, "l": self.lane,
                                     "x": list(self.lines)}
        if self.total_lines > len(self.lines):
            row["n"] = self.total_lines
        if self.client_t_us is not None:
            row["ct"] = self.client_t_us
        if self.last_t_us is not None and self.last_t_us != self.t_us:
            row["t2"] = self.last_t_us
        if self.count > 1:
            row["c"] = self.count
        if self.style:
            row["s"] = self.style
        if self.connection:
            row["cn"] = self.connection
        if self.tls:
            row["tls"] = self.tls
        return row


@dataclass(frozen=True, slots=True)
class AxisPiece:
    """One piece of a time axis: virtual times ``t0..t1`` drawn at ``x0..x1`` (0 to 1).
    A ``gap`` piece stands for a long quiet stretch drawn narrower than its length."""

    t0: int
    t1: int
    x0: float
    x1: float
    gap: bool = False

    def as_json(self) -> JsonValue:
        return [self.t0, self.t1, round(self.x0, 5), round(self.x1, 5), int(self.gap)]


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened at one instant (or from ``t_us`` to ``end_us``)."""

    t_us: int
    kind: str
    text: str
    end_us: int | None = None

    def as_json(self) -> JsonValue:
        out: list[JsonValue] = [self.t_us, self.kind, self.text]
        if self.end_us is not None:
            out.append(self.end_us)
        return out


@dataclass(frozen=True, slots=True)
class DeviceChart:
    """One board's buffer pool and NIC RX ring over virtual time.

    ``points`` are ``(t_us, in_use, peak, rx_in_use, ring)`` at every instant something
    changed: the buffers in use after that instant, the most in use during it, those
    holding received frames, and the frames waiting in the RX ring.
    """

    board: str
    pool_size: int | None
    points: tuple[tuple[int, int, int, int, int], ...]
    marks: tuple[Mark, ...]
    axis: tuple[AxisPiece, ...]
    summary: Mapping[str, int]

    def as_json(self) -> JsonValue:
        return {"board": self.board, "size": self.pool_size,
                "p": [list(p) for p in self.points], "m": [m.as_json() for m in self.marks],
                "axis": [a.as_json() for a in self.axis], "sum": dict(self.summary)}


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment the link carried (or dropped), as the TCP view lists it."""

    t_us: int
    from_device: bool
    flags: str
    seq: int
    ack: int
    length: int
    window: int
    note: str = ""
    style: str = ""
    """``retransmission``, ``dropped`` (by the link), ``lost`` (at the receiver) or ``""``."""

    def as_json(self) -> JsonValue:
        row: list[JsonValue] = [self.t_us, int(self.from_device), self.flags, self.seq,
                                self.ack, self.length, self.window]
        if self.note or self.style:
            row += [self.note, self.style]
        return row


@dataclass(frozen=True, slots=True)
class TcpView:
    """The segments of a run's TCP connections, relative sequence numbers, with what
    happened to them; ``omitted`` segments were left out of a long list (middle part)."""

    device: str
    server: str
    segments: tuple[Segment, ...]
    omitted: int
    summary: Mapping[str, int]

    def as_json(self) -> JsonValue:
        return {"dev": self.device, "srv": self.server,
                "seg": [s.as_json() for s in self.segments], "omitted": self.omitted,
                "sum": dict(self.summary)}


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file written beside the run, linked relative to the report's own location."""

    label: str
    href: str


@dataclass
class RunView:
    """Everything the report shows of one run (see the module docstring)."""

    run_id: str
    scenario: str
    title: str
    column: str
    """Where the run sits in a matrix: the release (``2.4``), a firmware (``lwip``), a
    client program (``dut curl``) or ``serve``."""
    seed: int | None
    outcome: Outcome
    reason: str
    reasons: list[str] = field(default_factory=list)
    reproduces: list[str] = field(default_factory=list)
    """The catalog's changelog lines for this column, when it is expected to fail."""
    checks: list[CheckRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    terminal: tuple[int, str] | None = None
    events: list[tuple[int, str]] = field(default_factory=list)
    dialogue: list[DialogueRow] = field(default_factory=list)
    dialogue_omitted: int = 0
    devices: list[DeviceChart] = field(default_factory=list)
    tcp: TcpView | None = None
    transcript: Sequence[str] = field(default_factory=list)
    """The transcript's lines (a long one may be read again from the run's trace on each
    pass: :mod:`scenarios.readagain`)."""
    artifacts: list[Artifact] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    """Short labelled facts: virtual and wall time, trace hash, mails received, ..."""
    client_observed: bool = True
    """False for a real client (``serve``, ``run --dut``): its events and terminal event
    are not known, only what the server saw."""

    def as_json(self) -> JsonValue:
        return {
            "id": self.run_id, "scenario": self.scenario, "title": self.title,
            "column": self.column, "seed": self.seed, "outcome": self.outcome.value,
            "outcomeWords": self.outcome.words, "reason": self.reason,
            "reasons": list(self.reasons), "reproduces": list(self.reproduces),
            "checks": [c.as_json() for c in self.checks], "notes": list(self.notes),
            "terminal": list(self.terminal) if self.terminal else None,
            "events": [list(e) for e in self.events],
            "rows": [r.as_json() for r in self.dialogue],
            "rowsOmitted": self.dialogue_omitted,
            "devices": [d.as_json() for d in self.devices],
            "tcp": self.tcp.as_json() if self.tcp else None,
            "transcript": list(self.transcript),
            "artifacts": [[a.label, a.href] for a in self.artifacts],
            "facts": [list(f) for f in self.facts],
            "client": self.client_observed,
        }


@dataclass(frozen=True, slots=True)
class MatrixCell:
    """One grid cell: the outcome, the run it links to (none when not applicable), and a
    short text for its tooltip."""

    outcome: Outcome
    run_id: str | None
    text: str = ""


@dataclass(frozen=True, slots=True)
class MatrixRow:
    scenario: str
    title: str
    cells: tuple[MatrixCell, ...]


@dataclass(frozen=True, slots=True)
class MatrixGrid:
    """Scenarios down, columns (releases, then any firmware column) across."""

    columns: tuple[str, ...]
    rows: tuple[MatrixRow, ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row.cells) != len(self.columns):
                raise ValueError(f"matrix row {row.scenario}: {len(row.cells)} cells for "
                                 f"{len(self.columns)} columns")

    def counts(self) -> dict[Outcome, int]:
        out = dict.fromkeys(Outcome, 0)
        for row in self.rows:
            for cell in row.cells:
                out[cell.outcome] += 1
        return out


ScorecardStatus: TypeAlias = Literal["pass", "fail", "not_applicable"]


@dataclass(frozen=True, slots=True)
class ScorecardRow:
    """One audit case: its status, the reason in one sentence, and its run (none when
    not applicable)."""

    scenario: str
    title: str
    case: int
    status: ScorecardStatus
    reason: str
    run_id: str | None


@dataclass(frozen=True, slots=True)
class Scorecard:
    """``smtp-hil audit``'s scorecard: who was audited, the groups' rows, the summary."""

    client: str
    groups: tuple[tuple[str, tuple[ScorecardRow, ...]], ...]
    summary: str


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """A line above the matrix (an exploration's findings): its text, whether it is a
    failure, and the runs it links to, each as (label, ``run_id``)."""

    text: str
    failure: bool = False
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """What one HTML file shows: a title, the runs, the matrix or the audit's scorecard
    when there is one, and summary lines when there are (``smtp-hil explore --report``:
    what it found)."""

    title: str
    runs: tuple[RunView, ...]
    matrix: MatrixGrid | None = None
    scorecard: Scorecard | None = None
    summary: tuple[SummaryLine, ...] = ()
    summary_title: str = "Summary"
