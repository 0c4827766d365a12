"""``smtp-hil run NAME... --dut FILE``: each scenario with an external client program as
the device under test (:mod:`scenarios.outside.dut`).

``FILE`` may also name a shipped DUT file (``curl``, ``msmtp``, ``swaks``, ``smtplib``).
``--time-cap`` bounds each run in real time (default 60 s); ``--time-scale`` and
``--max-delay`` shorten the scenario's delays. The options that belong to the simulation
(``--seed``, ``--profile``, ``--artifacts`` ...) are refused: a program is not
simulated. A scenario with link faults or loss is "not applicable" (real sockets have no
link model), said with the reason, and not counted as passed. Credentials are hidden in
what is printed unless ``--show-secrets``.

This module parses the ``--dut`` options and prints; the runs are
:mod:`scenarios.outside.dut`'s.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.cli import args as cliargs
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


def _run_line(run: DutRun, show_secrets: bool) -> str:
    word = "PASS" if run.passed else "FAIL"
    ended = "killed" if run.killed else f"exit {run.exit_status}"
    reason = run.verdict.reason if show_secrets else run.hide_secrets(run.verdict.reason)
    return (f"{word} {run.scenario.name} [dut {run.dut.name}, {ended}] {reason} "
            f"(wall {run.wall_s:.3f} s)")


def run_with_dut(scenarios: Sequence[str | Scenario], dut_path: str | Path, out: TextIO,
                 json_output: bool, *, time_cap_s: float = DEFAULT_TIME_CAP_S,
                 time_scale: float = 1.0, max_delay_s: float | None = None,
                 show_secrets: bool = False) -> int:
    """Every scenario against the client program; the exit status (bad input is raised,
    as :class:`~emulator.userinput.UserInputError`). Credentials are hidden in what it
    prints unless ``show_secrets``."""
    # start-up: the program runner and the scripted server on real sockets (asyncio) load
    # only for --dut (measured: 14 ms of every `smtp-hil run`)
    import asyncio

    from scenarios.outside.dut import run_dict, run_dut_async  # start-up: as asyncio
    from scenarios.outside.dutapplicability import link_reasons  # start-up: as asyncio
    from scenarios.server.realtime import Pacing  # start-up: as asyncio

    dut = resolve_dut(dut_path)
    dut.require_installed()
    resolved = [s if isinstance(s, Scenario) else resolve_scenario(s) for s in scenarios]
    for scenario in resolved:  # before any program runs
        dut.refuse_option_like_values(scenario)
    pacing = Pacing(time_scale=time_scale, max_delay_s=max_delay_s)
    status = EXIT_OK
    for scenario in resolved:
        unappliable = link_reasons(scenario)
        if unappliable:  # neither a pass nor a run: a fault never applied proves nothing
            status = EXIT_FAIL
            reason = "; ".join(unappliable)
            _write(out, json.dumps({"scenario": scenario.name, "client": dut.name,
                                    "verdict": "not applicable", "reason": reason})
                   if json_output else f"N/A  {scenario.name} [dut {dut.name}] not "
                                       f"applicable: {reason}")
            continue
        run = asyncio.run(run_dut_async(dut, scenario, time_cap_s=time_cap_s, pacing=pacing))
        if not run.passed:
            status = EXIT_FAIL
        if json_output:
            _write(out, json.dumps(run_dict(run, show_secrets=show_secrets)))
            continue
        _write(out, _run_line(run, show_secrets))
        hidden = run.verdict.not_observable()
        if hidden:
            _write(out, f"     not observable: {', '.join(hidden)}")
        for note in run.verdict.notes:
            _write(out, f"     note: {note}")
    return status


def cmd_run_dut(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``run`` with ``--dut``: refuse the options that belong to the simulation."""
    for attr, option in _DUT_CONFLICTS:
        value = getattr(args, attr, None)
        if value is not None and value is not False:  # --seed 0 is given, too
            raise UserInputError(f"{option} is not available with --dut (a client program "
                                 f"is not simulated)")
    if getattr(args, "profile", "current") != "current":
        raise UserInputError("--profile is not available with --dut (the program is the "
                             "client)")
    return run_with_dut(args.scenarios, args.dut, out, args.json,
                        time_cap_s=args.time_cap, time_scale=args.time_scale,
                        max_delay_s=args.max_delay, show_secrets=args.show_secrets)
