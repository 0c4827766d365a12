"""Report views of a board driven by keywords: a Robot test's (or a Python session's)
emulated board, its link and its scripted server, with no scenario verdict.

A :class:`~scenarios.world.World` that keywords drove (``Boot Emulated Board``, ``Send
Mail``, ``Wait For Device Event`` ...) has everything a run's view shows: the trace
(dialogue, pool and RX ring chart, TCP view, transcript), the client's events, the
server's mailbox and observations. What it lacks is a verdict: nobody judged the
scenario's ``[expect]`` (the jobs came from the keywords), so the view's outcome is
:attr:`~scenarios.report.model.Outcome.NO_VERDICT` and its checks are empty; the test's
own assertions are the verdict.

This module knows the world's parts and the report's records; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.artifacts import transcript_lines
from scenarios.report.device import device_charts
from scenarios.report.dialogue import dialogue_rows
from scenarios.report.from_runs import device_facts, timer_marks
from scenarios.report.masking import report_records
from scenarios.report.model import Artifact, Outcome, RunView
from scenarios.report.tcpview import tcp_view
from scenarios.verdict.server import observation_notes
from scenarios.world import World
from smtp.events import describe


def session_view(world: World, *, run_id: str, title: str,
                 artifacts: Sequence[Artifact] = ()) -> RunView:
    """The view of ``world`` as keywords left it (module docstring); ``artifacts`` are
    links to files written beside the report."""
    kernel, firmware, board = world.kernel, world.firmware, world.board
    records = report_records(kernel.trace.records)
    ended = firmware.terminal_events
    terminal = (ended[-1].t_us, describe(ended[-1].event)) if ended else None
    rows, omitted = dialogue_rows(records, terminal=terminal,
                                  extra=timer_marks(firmware.events))
    connections = world.server.connections if world.server is not None else []
    observations = [c.engine.observations for c in connections]
    mailbox = [mail for c in connections for mail in c.engine.mailbox]
    jobs = f"{len(ended)} job(s) ended" if ended else "no job ended"
    return RunView(
        run_id=run_id, scenario=world.scenario.name, title=title,
        column=world.profile.name, seed=world.seed, outcome=Outcome.NO_VERDICT,
        reason=f"driven by keywords: {jobs} by virtual time "
               f"{kernel.now_us / 1_000_000:.3f} s",
        notes=observation_notes(observations, mailbox), terminal=terminal,
        events=[(e.t_us, describe(e.event)) for e in firmware.events],
        dialogue=rows, dialogue_omitted=omitted,
        devices=device_charts(records, kernel.now_us), tcp=tcp_view(records),
        transcript=transcript_lines(records), artifacts=list(artifacts),
        facts=device_facts(virtual_us=kernel.now_us, seed=world.seed,
                           trace_sha256=kernel.trace.sha256(), mailbox=mailbox,
                           pool=board.pool.stats, pool_in_use_at_end=board.pool.in_use,
                           watchdog_resets=board.stats.watchdog_resets,
                           observations=observations))
