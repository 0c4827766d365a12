"""``smtp-hil run NAME... --dut FILE``: each scenario with an external client program as
the device under test (:mod:`scenarios.outside.dut`).

``FILE`` may also name a shipped DUT file (``curl``, ``msmtp``, ``swaks``, ``smtplib``).
``--time-cap`` bounds each run in real time (default 60 s); ``--time-scale`` and
``--max-delay`` shorten the scenario's delays. ``--report`` writes the HTML report of
the runs (the scripted server's view of each). The options that belong to the
simulation (``--seed``, ``--profile``, ``--artifacts`` ...) are refused: a program is
not simulated. A scenario with link faults or loss is "not applicable" (real sockets
have no link model), said with the reason, and not counted as passed. Credentials are
hidden in what is printed unless ``--show-secrets``. Ctrl-C stops the program that runs
(its whole process group) at once, whichever thread receives the SIGINT
(:mod:`scenarios.outside.interruptible`), prints how many runs finished and exits 130.

This module parses the ``--dut`` options and prints; the runs are
:mod:`scenarios.outside.dut`'s.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.cli import args as cliargs
from scenarios.cli.outputs import check_output_file, write_report
from scenarios.cli.progress import Palette, Progress, say_interrupted, uninterrupted
from scenarios.format import Scenario
from scenarios.outside.dutfile import DEFAULT_TIME_CAP_S, resolve_dut, shipped_dut_files
from scenarios.runner import resolve_scenario

if TYPE_CHECKING:
    from scenarios.outside.dut import DutRun

EXIT_OK, EXIT_FAIL = 0, 1
_DUT_CONFLICTS: Final = (("check_determinism", "--check-determinism"),
                         ("artifacts", "--artifacts"), ("junit", "--junit"),
                         ("seed", "--seed"))


def add_dut_arguments(run_parser: argparse.ArgumentParser) -> None:
    """Add ``--dut`` (with ``--time-cap``, ``--time-scale``, ``--max-delay``) to ``run``."""
    names = ", ".join(shipped_dut_files())
    run_parser.add_argument("--dut", metavar="FILE|NAME",
                            help=f"run a client program as the device under test: a DUT file "
                                 f"or a shipped one ({names})")
    run_parser.add_argument("--time-cap", type=cliargs.positive_seconds,
                            default=DEFAULT_TIME_CAP_S,
                            metavar="S", help="with --dut: longest real time per run "
                                              f"(default {DEFAULT_TIME_CAP_S:g} s)")
    cliargs.add_pacing_arguments(run_parser)


def _write(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _run_line(run: DutRun, show_secrets: bool, palette: Palette) -> str:
    word = palette.paint("PASS" if run.passed else "FAIL", "pass" if run.passed else "fail")
    ended = "killed" if run.killed else f"exit {run.exit_status}"
    reason = run.verdict.reason if show_secrets else run.hide_secrets(run.verdict.reason)
    return (f"{word} {run.scenario.name} [dut {run.dut.name}, {ended}] {reason} "
            f"(wall {run.wall_s:.3f} s)")


def _print_run(out: TextIO, run: DutRun, json_output: bool, show_secrets: bool,
               palette: Palette) -> None:
    if json_output:
        from scenarios.outside.dut import run_dict  # start-up: loaded with --dut already

        _write(out, json.dumps(run_dict(run, show_secrets=show_secrets)))
        return
    _write(out, _run_line(run, show_secrets, palette))
    hidden = run.verdict.not_observable()
    if hidden:
        _write(out, f"     not observable: {', '.join(hidden)}")
    for note in run.verdict.notes:
        _write(out, f"     note: {note}")


def _print_not_applicable(out: TextIO, scenario: Scenario, client: str, reason: str,
                          json_output: bool, palette: Palette) -> None:
    if json_output:
        _write(out, json.dumps({"scenario": scenario.name, "client": client,
                                "verdict": "not applicable", "reason": reason}))
    else:
        _write(out, f"{palette.paint('N/A', 'note')}  {scenario.name} [dut {client}] not "
                    f"applicable: {reason}")


def run_with_dut(scenarios: Sequence[str | Scenario], dut_path: str | Path, out: TextIO,
                 json_output: bool, *, time_cap_s: float = DEFAULT_TIME_CAP_S,
                 time_scale: float = 1.0, max_delay_s: float | None = None,
                 show_secrets: bool = False, err: TextIO | None = None,
                 report: Path | None = None, palette: Palette | None = None) -> int:
    """Every scenario against the client program; the exit status (bad input is raised,
    as :class:`~emulator.userinput.UserInputError`). Credentials are hidden in what it
    prints unless ``show_secrets``. Progress goes to ``err``; ``report`` is the HTML
    report's path. Ctrl-C ends the program that runs and returns 130."""
    # start-up: the program runner and the scripted server on real sockets (asyncio) load
    # only for --dut (measured: 14 ms of every `smtp-hil run`)
    from scenarios.outside.dut import (  # start-up: as asyncio
        dut_run_view,
        run_dut_async,
    )
    from scenarios.outside.dutapplicability import link_reasons  # start-up: as asyncio
    from scenarios.outside.interruptible import run_interruptibly  # start-up: as asyncio
    from scenarios.server.realtime import Pacing  # start-up: as asyncio

    dut = resolve_dut(dut_path)
    dut.require_installed()
    resolved = [s if isinstance(s, Scenario) else resolve_scenario(s) for s in scenarios]
    for scenario in resolved:  # before any program runs
        dut.refuse_option_like_values(scenario)
    if report is not None:
        check_output_file("--report", report)
    pacing = Pacing(time_scale=time_scale, max_delay_s=max_delay_s)
    paint = palette or Palette(False)
    status = EXIT_OK
    runs: list[DutRun] = []
    interrupted = False
    with Progress(err or io.StringIO(), total=len(resolved),
                  command=f"smtp-hil run --dut {dut.name}") as progress:
        try:
            for scenario in resolved:
                unappliable = link_reasons(scenario)
                if unappliable:  # neither a pass nor a run: a fault never applied proves nothing
                    status = EXIT_FAIL
                    with uninterrupted(), progress.printing():
                        _print_not_applicable(out, scenario, dut.name, "; ".join(unappliable),
                                              json_output, paint)
                        progress.done()
                    continue
                progress.start(f"{scenario.name} with {dut.name}")
                run = run_interruptibly(functools.partial(
                    run_dut_async, dut, scenario, time_cap_s=time_cap_s, pacing=pacing))
                with uninterrupted(), progress.printing():
                    runs.append(run)
                    if not run.passed:
                        status = EXIT_FAIL
                    _print_run(out, run, json_output, show_secrets, paint)
                    progress.done()
        except KeyboardInterrupt:  # the program's process group is killed already
            interrupted = True
    if interrupted:
        status = say_interrupted(out, err or io.StringIO(), progress.count, len(resolved))
    if report is not None:
        write_report(report, [], views=[dut_run_view(run) for run in runs],
                     title=f"smtp-hil run --dut {dut.name}: "
                           f"{', '.join(s.name for s in resolved)}")
    return status


def cmd_run_dut(args: argparse.Namespace, scenarios: Sequence[Scenario], out: TextIO,
                err: TextIO) -> int:
    """``run`` with ``--dut``: refuse the options that belong to the simulation."""
    for attr, option in _DUT_CONFLICTS:
        value = getattr(args, attr, None)
        if value is not None and value is not False:  # --seed 0 is given, too
            raise UserInputError(f"{option} is not available with --dut (a client program "
                                 f"is not simulated)")
    if getattr(args, "profile", "current") != "current":
        raise UserInputError("--profile is not available with --dut (the program is the "
                             "client)")
    return run_with_dut(scenarios, args.dut, out, args.json,
                        time_cap_s=args.time_cap, time_scale=args.time_scale,
                        max_delay_s=args.max_delay, show_secrets=args.show_secrets,
                        err=err, report=args.report,
                        palette=Palette.for_stream(out, args.color))
