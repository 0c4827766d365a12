"""The cases of an audit: which scenarios, and what became of each.

An audit case is a catalog scenario tagged ``hostile`` or ``security`` (it has a
``[scenario.audit]`` table: :class:`~scenarios.format.AuditSection`). :func:`select_cases`
picks them, narrowed by tags and groups (a name that no case carries is refused, naming
the known ones), in scorecard order: by group, then by catalog row, then by name.
:class:`CaseResult` is one case's result: ``pass``, ``fail`` or ``not_applicable``, with
its reason in one sentence, the checks and notes behind it, and what ran (for the
report).

This module knows the scenario format; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from emulator.userinput import UserInputError
from scenarios.format import AUDIT_GROUPS, AuditSection, Scenario

CaseStatus: TypeAlias = Literal["pass", "fail", "not_applicable"]


@dataclass(frozen=True)
class CheckLine:
    """One check of a case: its dotted name, ``pass``/``fail``/``not observable``/
    ``advisory``, and what was seen."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class CaseResult:
    """What became of one audit case (see the module docstring)."""

    scenario: Scenario
    status: CaseStatus
    reason: str
    """One sentence: the claim (pass), the first thing wrong (fail), why not (N/A)."""
    reasons: tuple[str, ...] = ()
    """Everything wrong (fail) or every reason it does not apply (N/A)."""
    checks: tuple[CheckLine, ...] = ()
    notes: tuple[str, ...] = ()
    exit_status: int | None = None
    """The client program's exit status (None: killed, not run, or the modelled client)."""
    wall_s: float = 0.0
    run: object = field(default=None, repr=False, compare=False)
    """What ran (a RunResult or a DutRun), for the report; None when not applicable."""

    @property
    def audit(self) -> AuditSection:
        audit = self.scenario.audit
        assert audit is not None  # only audit cases become results
        return audit


def select_cases(scenarios: Iterable[Scenario], *, tags: Sequence[str] = (),
                 groups: Sequence[str] = (), names: Sequence[str] = ()) -> list[Scenario]:
    """The audit cases among ``scenarios`` carrying every tag in ``tags``, in one of
    ``groups`` and named in ``names`` (each: all when empty), in scorecard order. An
    unknown tag, group or case name is a :class:`UserInputError` naming the known tags
    and groups (or saying the name is no audit case)."""
    cases = [s for s in scenarios if s.audit is not None]
    known_tags = sorted({t for s in cases for t in s.tags})
    problems = [f"--tag: {tag!r} is no audit case's tag (known: {', '.join(known_tags)})"
                for tag in tags if tag not in known_tags]
    problems += [f"--group: {group!r} is not a group (known: {', '.join(AUDIT_GROUPS)})"
                 for group in groups if group not in AUDIT_GROUPS]
    known_names = {s.name for s in cases}
    problems += [f"--case: {name!r} is no audit case (no catalog scenario of that name is "
                 "tagged hostile or security)" for name in names if name not in known_names]
    if problems:
        raise UserInputError(problems)
    chosen = [s for s in cases if all(t in s.tags for t in tags)
              and (not groups or _audit(s).group in groups) and (not names or s.name in names)]
    order = list(AUDIT_GROUPS)
    return sorted(chosen, key=lambda s: (order.index(_audit(s).group), _audit(s).case, s.name))


def _audit(scenario: Scenario) -> AuditSection:
    audit = scenario.audit
    assert audit is not None
    return audit
