"""Mails per second of ``smtp-hil send``-style delivery, beside smtplib and aiosmtplib.

Run as ``.venv/bin/python bench/bench_send.py`` (``--mails N``, ``--rounds R``). It prints
figures and asserts nothing about time; it raises RuntimeError only when a mail was not
accepted.

(a) 200 small mails (one recipient, a subject, a two-line body) on ONE connection to
    aiosmtpd on loopback, sent three ways in the same run, one after the other in each of
    three rounds, against two aiosmtpd servers: its stock ``Sink`` handler, which
    advertises no PIPELINING (so every client talks in lock-step), and
    :mod:`pipelining_sink`, the same Sink advertising PIPELINING (aiosmtpd serves
    pipelined commands; it just never says so). Both advertise 8BITMIME only besides
    (no SIZE, SMTPUTF8 or CHUNKING). The clients:
    - "smtp-hil": :func:`smtp.hostclient.send_jobs` with 200 ``MailJob``s queued before
      the task starts, so they share one session: the modelled client task, unchanged,
      over OS sockets (what ``smtp-hil send`` runs for one mail);
    - "smtplib": ``smtplib.SMTP``, one connection, ``send_message`` 200 times;
    - "aiosmtplib": ``aiosmtplib.SMTP``, one connection, ``send_message`` 200 times.
    Each client builds its messages as it goes (``email.message.EmailMessage`` for the
    two libraries, :class:`smtp.message.MessageBuilder` inside the modelled client).
    Wall time (``time.perf_counter``) runs from before the connection to after QUIT.
    aiosmtpd runs in a subprocess, so the server's work is not on the clients' CPU time
    slice. Beside the rates, the CPU time per mail of the client (``time.process_time``
    of this process) and of the server (``/proc/<pid>/stat``, Linux only), medians over
    the rounds: on a busy machine the wall figures scatter, the CPU figures much less.
(b) One mail on a new connection, per client and server: the client's writes (OS
    ``send``/``sendall`` calls) and its round trips (how often it read the server's
    answer after writing: the greeting counts as one).
(c) One ``smtp-hil send`` process sending one mail, three times: wall seconds per
    invocation, interpreter start and imports included.

Wall time, OS sockets and subprocesses are used here, outside the simulated world. This
script knows the host client, the mail job and the two SMTP libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiosmtpd_server import LOOPBACK, free_port, start_aiosmtpd
from measure import load_average

from smtp.config import CONFIG_VERSION
from smtp.events import Sent, describe, is_terminal
from smtp.hostclient import send_jobs
from smtp.message import MailJob
from smtp.settings import ClientSettings

SENDER = "device@example.test"
RECIPIENT = "alice@example.test"
BODY = "Sensor 7 reports 21.5 C.\nNothing else to say.\n"
RUN_TIMEOUT_S = 120.0


# ---- the server --------------------------------------------------------------------------


# ---- the three clients -------------------------------------------------------------------


def library_message(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = f"reading {n}"
    message.set_content(BODY)
    return message


def send_smtp_hil(port: int, mails: int) -> None:
    settings = ClientSettings(server_host=LOOPBACK, server_port=port, security="none",
                              device_domain="device.example.test")
    jobs = [MailJob(sender=SENDER, to=(RECIPIENT,), subject=f"reading {n}", body=BODY)
            for n in range(mails)]
    events = send_jobs(settings, jobs, timeout_s=RUN_TIMEOUT_S)
    ends = [e for e in events if is_terminal(e)]
    if len(ends) != mails or not all(isinstance(e, Sent) for e in ends):
        wrong = next((describe(e) for e in ends if not isinstance(e, Sent)), "missing")
        raise RuntimeError(f"smtp-hil: {len(ends)} of {mails} jobs ended; {wrong}")


def send_smtplib(port: int, mails: int) -> None:
    with smtplib.SMTP(LOOPBACK, port, local_hostname="device.example.test") as client:
        for n in range(mails):
            refused = client.send_message(library_message(n))
            if refused:
                raise RuntimeError(f"smtplib: mail {n} refused: {refused}")


def send_aiosmtplib(port: int, mails: int) -> None:
    async def session() -> None:
        client = aiosmtplib.SMTP(hostname=LOOPBACK, port=port, start_tls=False,
                                 local_hostname="device.example.test")
        async with client:
            for n in range(mails):
                refused, _ = await client.send_message(library_message(n))
                if refused:
                    raise RuntimeError(f"aiosmtplib: mail {n} refused: {refused}")

    asyncio.run(session())


CLIENTS: dict[str, Callable[[int, int], None]] = {
    "smtp-hil": send_smtp_hil, "smtplib": send_smtplib, "aiosmtplib": send_aiosmtplib,
}


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def timed(work: Callable[[], None], server_pid: int) -> tuple[float, float, float | None]:
    """Wall seconds, this process's CPU seconds and the server's CPU seconds of ``work``."""
    server_before = process_cpu_s(server_pid)
    cpu_before = time.process_time()
    start = time.perf_counter()
    work()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    server_after = process_cpu_s(server_pid)
    server = None if server_before is None or server_after is None \
        else server_after - server_before
    return wall, cpu, server


def bench_rates(port: int, server_pid: int, mails: int, rounds: int, server: str) -> None:
    print(f"(a) {mails} small mails on one connection to aiosmtpd ({server}) on loopback, "
          f"{rounds} rounds ({load_average()})")
    runs: dict[str, list[tuple[float, float, float | None]]] = {name: [] for name in CLIENTS}
    for _ in range(rounds):
        for name, send in CLIENTS.items():
            runs[name].append(timed(functools.partial(send, port, mails), server_pid))
    print(f"    {'client':<11} {'best mails/s':>13} {'median mails/s':>15} "
          f"{'client CPU ms/mail':>19} {'server CPU ms/mail':>19}   wall s per round")
    for name, results in runs.items():
        rates = [mails / wall for wall, _, _ in results]
        cpu = statistics.median(c for _, c, _ in results) * 1000 / mails
        servers = [s for _, _, s in results if s is not None]
        server = f"{statistics.median(servers) * 1000 / mails:19.2f}" if servers \
            else f"{'n/a':>19}"
        walls = " ".join(f"{wall:.3f}" for wall, _, _ in results)
        print(f"    {name:<11} {max(rates):>13.0f} {statistics.median(rates):>15.0f} "
              f"{cpu:>19.2f} {server}   {walls}")


class _SocketCalls:
    """Counts this process's socket writes and the reads that follow a write."""

    def __init__(self) -> None:
        self.writes = 0
        self.round_trips = 0
        self._wrote = True  # the greeting is the first thing waited for

    def wrap(self, monkeypatch: contextlib.ExitStack) -> None:
        for name in ("send", "sendall"):
            monkeypatch.enter_context(_patched(name, self._write))
        for name in ("recv", "recv_into"):
            monkeypatch.enter_context(_patched(name, self._read))

    def _write(self, result: object) -> None:
        self.writes += 1
        self._wrote = True

    def _read(self, result: object) -> None:
        if result and self._wrote:
            self.round_trips += 1
            self._wrote = False


@contextlib.contextmanager
def _patched(name: str, note: Callable[[object], None]) -> Iterator[None]:
    real = getattr(socket.socket, name)

    def call(sock: socket.socket, *args: object) -> object:
        result = real(sock, *args)
        note(result)
        return result

    setattr(socket.socket, name, call)
    try:
        yield
    finally:
        setattr(socket.socket, name, real)


def bench_turns(port: int, server: str) -> None:
    print(f"(b) one mail on a new connection to aiosmtpd ({server})")
    for name, send in CLIENTS.items():
        calls = _SocketCalls()
        with contextlib.ExitStack() as patches:
            calls.wrap(patches)
            send(port, 1)
        print(f"    {name:<11} {calls.writes} writes, {calls.round_trips} round trips")


def bench_cli(port: int, rounds: int) -> None:
    print(f"\n(c) one `smtp-hil send` process, one mail, {rounds} runs")
    command = Path(sys.executable).with_name("smtp-hil")
    with tempfile.TemporaryDirectory(prefix="smtp-hil-bench-") as folder:
        config = Path(folder) / "device.toml"
        config.write_text(f'config_version = {CONFIG_VERSION}\n[device]\n'
                          f'domain = "device.example.test"\n[server]\nhost = "{LOOPBACK}"\n'
                          f'port = {port}\nsecurity = "none"\n')
        argv = [str(command), "send", "--config", str(config), "--to", RECIPIENT,
                "--subject", "one mail", "--from", SENDER]
        seconds = []
        for _ in range(rounds):
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            seconds.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"smtp-hil send exited {done.returncode}: "
                                   f"{done.stdout}{done.stderr}")
    runs = " ".join(f"{s:.3f}" for s in seconds)
    print(f"    wall s per invocation: best {min(seconds):.3f}, "
          f"median {statistics.median(seconds):.3f} ({runs})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mails", type=int, default=200, help="mails per run (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per client (default 3)")
    args = parser.parse_args(argv)
    for pipelining, label in ((False, "stock Sink, no PIPELINING"),
                              (True, "Sink advertising PIPELINING")):
        port = free_port()
        server = start_aiosmtpd(port, pipelining=pipelining)
        try:
            bench_rates(port, server.pid, args.mails, args.rounds, label)
            bench_turns(port, label)
            if pipelining:
                bench_cli(port, args.rounds)
        finally:
            server.terminate()
            server.wait(timeout=10)
        print()


if __name__ == "__main__":
    main()
