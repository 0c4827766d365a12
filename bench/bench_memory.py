"""Peak memory of one ``smtp-hil run`` as the mail grows: 1 MiB against 20 MiB attached.

Run as ``.venv/bin/python bench/bench_memory.py`` (``--sizes 1 20``). It prints figures
and asserts nothing. Each case is one whole ``smtp-hil run FILE`` process (so every
figure has the interpreter, the imports and the test PKI in it), on a scenario written
into a temporary folder: one recipient, a two-line body and one generated attachment of
N MiB, the scripted server with no size limit, plaintext or STARTTLS, with no view or
with one of the views that read the run (``--artifacts``, ``--junit``, ``--report``,
``--check-determinism``; ``--views`` to choose). Printed: the process's peak RSS (its
rusage: the largest of the process and the children it waited for, such as the
determinism worker) and CPU seconds, and for each kind of run the growth from the
smallest to the largest size. The goal of issue 10 is a growth of at most 5 MB.

This script knows the scenario file format and the console script; nothing else.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from measure import load_average

MIB = 1024 * 1024

SCENARIO = """\
[scenario]
name = "attachment-{kind}-{mib}"
title = "A {mib} MiB attachment ({kind})"
description = "bench/bench_memory.py"
tags = ["feature"]
time_limit_s = 3600
{security}
[server]
hostname = "mx.example.net"
max_size = "unlimited"

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Big"
body = \"\"\"
Attached: a dump.
\"\"\"

[[job.attachments]]
filename = "dump.bin"
size = {size}

[expect]
event = "sent"
reply_code = 250
mailbox_count = 1
body_exact = true
pool_returns_to_full = true
"""

STARTTLS = '\n[device.config.server]\nsecurity = "starttls"\n'


VIEWS: Final = ("none", "artifacts", "junit", "report", "check-determinism")
"""What a case asks the run for besides its verdict: nothing, or one view."""


def view_arguments(view: str, out: Path) -> list[str]:
    """The ``smtp-hil run`` options that ask for ``view``, writing under ``out``."""
    if view == "none":
        return []
    if view == "check-determinism":
        return ["--check-determinism"]
    target = {"artifacts": out, "junit": out.with_suffix(".xml"),
              "report": out.with_suffix(".html")}[view]
    return [f"--{view}", str(target)]


def run_case(folder: Path, kind: str, mib: int, view: str) -> tuple[float, float, float]:
    """Peak RSS MiB, CPU seconds and wall seconds of one whole process."""
    path = folder / f"att-{kind}-{mib}.toml"
    path.write_text(SCENARIO.format(kind=kind, mib=mib, size=mib * MIB,
                                    security=STARTTLS if kind == "tls" else ""))
    command = [str(Path(sys.executable).with_name("smtp-hil")), "run", str(path)]
    command += view_arguments(view, folder / f"out-{kind}-{mib}-{view}")
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        assert child.stderr is not None
        raise RuntimeError(f"{' '.join(command)} failed: {child.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 20], metavar="MIB")
    parser.add_argument("--views", nargs="+", choices=VIEWS, default=list(VIEWS),
                        help="the views to measure (default: all)")
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes)
    print(f"peak RSS of one `smtp-hil run` with an attachment ({load_average()})")
    print(f"  {'run':<30} " + " ".join(f"{m:>4} MiB: RSS MiB  CPU s" for m in sizes)
          + "   growth")
    with tempfile.TemporaryDirectory(prefix="smtp-hil-bench-memory-") as temp:
        folder = Path(temp)
        for kind in ("plain", "tls"):
            for view in args.views:
                figures = [run_case(folder, kind, mib, view) for mib in sizes]
                label = f"{'plaintext' if kind == 'plain' else 'STARTTLS'}" \
                        f"{'' if view == 'none' else f', --{view}'}"
                cells = " ".join(f"{rss:16.0f} {cpu:6.2f}" for rss, cpu, _ in figures)
                growth = figures[-1][0] - figures[0][0]
                print(f"  {label:<30} {cells}   {growth:+.1f} MiB ({growth * MIB / 1e6:+.1f} MB)")


if __name__ == "__main__":
    main()
