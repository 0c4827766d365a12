"""The memory of a long-running ``smtp-hil serve``: RSS before, at its peak and after
10,000 connections, one hundred of them carrying a 10 MiB mail.

Run as ``.venv/bin/python bench/bench_serve_memory.py`` (``--connections N``, ``--big M``,
``--big-mib S``, ``--workers W``, ``--memory-budget BYTES`` for serve's option of that
name). It prints figures and asserts nothing about time or memory; it raises
RuntimeError only when a mail got another answer than 250 or ``452 4.3.1 Insufficient
system storage`` (serve's memory budget was full), when the connections whose verdict
failed are not exactly those that got the 452, or when ``serve`` did not judge every
connection.

``serve`` runs as a subprocess (``python -m scenarios.cli serve FILE --listen
127.0.0.1:0 --json``) with a scenario of its own: no STARTTLS, SIZE 16 MiB, every
connection expected to deliver one mail. Its output (one JSON line per read and per
verdict, about 1 GB in all) is read and thrown away by a thread here, which counts the
verdicts. ``--workers`` threads (default 64) each open connections one after the other
on raw sockets: greeting, EHLO, then MAIL, RCPT and DATA pipelined, the content and
QUIT; every reply is checked. Connection ``i`` carries the big mail when ``i`` is a
multiple of ``connections / big``, the others a 1 KB mail; so the big mails are spread
over the run and several are in flight at once.

Figures: the serve process's ``VmRSS`` (resident now) and ``VmHWM`` (the peak so far)
from ``/proc/PID/status`` (Linux only): at the start (listening, before the first
connection), at the peak (``VmHWM`` at the end), at the end (once every verdict is
out) and one second later. Also wall time, connections per second and the serve
process's CPU seconds.

Wall time, OS sockets and subprocesses are used here, outside the simulated world.
This script knows the ``serve`` command line and SMTP; nothing of serve's insides.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
GUARD_S = 120.0  # a hang guard per reply
STORAGE_SHORT = b"452 4.3.1 Insufficient system storage"
SCENARIO = """
[scenario]
name = "bench-serve-memory"
title = "Every connection delivers one mail"

[server]
starttls = false
max_size = 16777216

[job]
from = "bench@example.com"
to = ["ops@example.net"]

[expect]
event = "sent"
mailbox_count = 1
"""
HEADER = (b"From: bench@example.com\r\nTo: ops@example.net\r\nSubject: bench\r\n"
          b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n\r\n")


def content(size: int) -> bytes:
    """A message of exactly ``size`` bytes: the header, then 76-character lines."""
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(HEADER)) // len(line) + 1)
    text = (HEADER + body)[:size - 2]
    return text + b"\r\n" if not text.endswith(b"\r") else text[:-1] + b"y\r\n"


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process ``pid`` in KiB (Linux /proc)."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Replies:
    """Reads SMTP replies off a socket, one complete reply at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""

    def next(self) -> bytes:
        while True:
            lines = self.pending.split(b"\r\n")
            for index, line in enumerate(lines[:-1]):
                if line[3:4] != b"-":
                    reply = b"\r\n".join(lines[:index + 1])
                    self.pending = b"\r\n".join(lines[index + 1:])
                    return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"serve closed the connection; pending {self.pending!r}")
            self.pending += chunk

    def expect(self, code: bytes, what: str) -> None:
        reply = self.next()
        if not reply.startswith(code):
            raise RuntimeError(f"{what}: expected {code.decode()}, got {reply[:200]!r}")


def deliver(port: int, message: bytes) -> bool:
    """One connection, one mail, lock step but for the pipelined envelope; False when
    the mail got 452 4.3.1 (serve's memory budget was full)."""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as sock:
        replies = Replies(sock)
        replies.expect(b"220", "greeting")
        sock.sendall(b"EHLO bench.example.com\r\n")
        replies.expect(b"250", "EHLO")
        sock.sendall(b"MAIL FROM:<bench@example.com>\r\nRCPT TO:<ops@example.net>\r\n"
                     b"DATA\r\n")
        for code, what in ((b"250", "MAIL"), (b"250", "RCPT"), (b"354", "DATA")):
            replies.expect(code, what)
        sock.sendall(message + b".\r\nQUIT\r\n")
        end = replies.next()
        if not end.startswith((b"250", STORAGE_SHORT)):
            raise RuntimeError(f"end of a {len(message)}-byte mail: expected 250 or "
                               f"{STORAGE_SHORT.decode()}, got {end[:200]!r}")
        replies.expect(b"221", "QUIT")
        return end.startswith(b"250")


class Output:
    """Drains serve's standard output; counts its verdict lines."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.stream = process.stdout
        first = json.loads(self.stream.readline())
        self.port: int = first["port"]
        self.verdicts = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for line in self.stream:
            if line.startswith(b'{"type": "verdict"'):
                self.verdicts += 1
                self.failed += b'"verdict": "fail"' in line

    def wait_for(self, verdicts: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.verdicts < verdicts:
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve judged {self.verdicts} of {verdicts} connections")
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100, help="how many carry the big mail")
    parser.add_argument("--big-mib", type=float, default=10.0, help="its size in MiB")
    parser.add_argument("--workers", type=int, default=64, help="connections at once")
    parser.add_argument("--memory-budget", type=int, metavar="BYTES",
                        help="serve's --memory-budget (default: serve's own)")
    args = parser.parse_args(argv)
    budget = [] if args.memory_budget is None else ["--memory-budget", str(args.memory_budget)]
    small, big = content(1024), content(int(args.big_mib * MIB))
    every = max(1, args.connections // args.big) if args.big else 0
    with tempfile.TemporaryDirectory(prefix="smtp-hil-bench-") as folder:
        scenario = Path(folder) / "bench.toml"
        scenario.write_text(SCENARIO)
        process = subprocess.Popen(
            [sys.executable, "-m", "scenarios.cli", "serve", str(scenario), "--listen",
             "127.0.0.1:0", "--json", "--max-connections", str(args.workers * 16), *budget],
            cwd=ROOT, stdout=subprocess.PIPE)
        try:
            output = Output(process)
            start = status(process.pid)
            cpu_before = cpu_s(process.pid)
            began = time.perf_counter()
            messages = [big if every and i % every == 0 else small
                        for i in range(args.connections)]
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                accepted = list(pool.map(lambda m: deliver(output.port, m), messages))
            output.wait_for(args.connections, GUARD_S)
            wall = time.perf_counter() - began
            end = status(process.pid)
            cpu = cpu_s(process.pid) - cpu_before
            time.sleep(1.0)
            later = status(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    bigs = sum(1 for m in messages if m is big)
    short = accepted.count(False)
    print(f"serve memory over {args.connections} connections ({bigs} of them with a "
          f"{len(big) / MIB:.1f} MiB mail, the others {len(small)} bytes), "
          f"{args.workers} at once, "
          + ("serve's default memory budget" if args.memory_budget is None else
             f"--memory-budget {args.memory_budget} ({args.memory_budget / MIB:g} MiB)"))
    print(f"    RSS at start      {start['VmRSS'] / 1024:8.1f} MiB")
    print(f"    RSS at its peak   {end['VmHWM'] / 1024:8.1f} MiB (VmHWM)")
    print(f"    RSS at the end    {end['VmRSS'] / 1024:8.1f} MiB "
          f"({(end['VmRSS'] - start['VmRSS']) / 1024:+.1f} MiB)")
    print(f"    RSS 1 s later     {later['VmRSS'] / 1024:8.1f} MiB "
          f"({(later['VmRSS'] - start['VmRSS']) / 1024:+.1f} MiB)")
    print(f"    wall {wall:.1f} s, {args.connections / wall:.0f} connections/s, "
          f"serve CPU {cpu:.1f} s; verdicts {output.verdicts}, failed {output.failed}")
    print(f"    mails refused with 452 4.3.1 (budget full): {short} "
          f"({sum(1 for m, ok in zip(messages, accepted, strict=True) if m is big and not ok)}"
          f" of them big)")
    if output.failed != short:
        raise RuntimeError(f"{output.failed} connection(s) failed their verdict, "
                           f"{short} got 452 4.3.1")


if __name__ == "__main__":
    main()
