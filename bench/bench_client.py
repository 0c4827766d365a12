"""Benchmarks of the SMTP client itself: memory while streaming big mails, round trips.

Run as ``.venv/bin/python bench/bench_client.py`` (``--quick`` skips the 20 MiB full send).
It prints figures and asserts nothing about time or memory; it raises RuntimeError only
when a mail did not arrive whole or a run went wrong.

(a) Memory of a mail with a 1 MiB and a 20 MiB attachment, whose bytes come from a
    generator (64 KiB pseudo-random blocks, never all in memory):
    - "stream": ``MessageBuilder.chunks()`` through the client's dot-stuffing path
      (:func:`smtp.datastream.stuffed_stream`, i.e. :class:`smtp.datastream.DotStuffer`), every
      output chunk dropped after counting;
    - "send": a full :func:`smtp.hostclient.send_jobs` to aiosmtpd on loopback. aiosmtpd
      (its ``Sink`` handler) runs in a subprocess, so it keeps the mail in ITS memory and
      the figures of this side are the client's alone.
    Each figure comes from a fresh child interpreter: the tracemalloc peak (Python
    allocations) from one child, and the growth of ``ru_maxrss`` from just before the
    work to just after it (the OS high-water mark of the whole process) from another
    child without tracemalloc, so tracemalloc's own memory is not in it.
(b) Round trips for one mail to three recipients, with and without PIPELINING (and with
    PIPELINING plus CHUNKING): :class:`smtp.client.ClientCore` against
    :class:`scenarios.server.engine.ServerEngine` in memory, ping-pong: everything the
    client wants to send goes to the engine in one flight, the engine's replies come back
    in one flight. A round trip is a flight of replies the client had to wait for
    (including the greeting and the reply to QUIT).

Wall time (``time.perf_counter``), OS sockets and subprocesses are used here, outside
the simulated world. This script knows the message builder, the client core and task,
the host client and the scripted server engine.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd_server import LOOPBACK, free_port, start_aiosmtpd

from scenarios.server.actions import Action, Send
from scenarios.server.engine import ServerEngine
from scenarios.server.rules import ServerConfig
from smtp.client import ClientCore
from smtp.datastream import stuffed_stream
from smtp.events import ClientEvent, Sent, describe
from smtp.hostclient import send_jobs
from smtp.message import Attachment, MailJob, MessageBuilder
from smtp.outputs import (
    Notify,
    Output,
    SendBytes,
    SendContent,
)
from smtp.profiles import PROFILES
from smtp.rtcdate import RtcTime, format_date_header
from smtp.settings import ClientSettings

MIB = 1024 * 1024
SIZES = (1 * MIB, 20 * MIB)
BLOCK = 64 * 1024
SERVER_SIZE_LIMIT = 64 * MIB  # aiosmtpd's default (32 MiB) is under 20 MiB in base64 + more
SEND_TIMEOUT_S = 600.0
PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
FIXED_RTC = RtcTime(2025, 6, 1, 12, 0, 0, 6, True)
SENDER = "device@example.test"
RECIPIENTS = ("alice@example.test", "bob@example.test", "carol@example.test")


# ---- the mail ------------------------------------------------------------------------


def generated_content(size: int, seed: int = 1) -> Callable[[], Iterator[bytes]]:
    """A fresh generator of ``size`` pseudo-random bytes in 64 KiB blocks, each call."""

    def blocks() -> Iterator[bytes]:
        rng = random.Random(seed)
        left = size
        while left > 0:
            n = min(BLOCK, left)
            yield rng.randbytes(n)
            left -= n

    return blocks


def big_mail(size: int) -> MailJob:
    return MailJob(sender=SENDER, to=(RECIPIENTS[0],), subject=f"{size // MIB} MiB attachment",
                   body="The capture is attached.\n",
                   attachments=(Attachment("capture.bin", "application/octet-stream",
                                           generated_content(size)),))


def builder_for(job: MailJob) -> MessageBuilder:
    return MessageBuilder(job, date_header=format_date_header(FIXED_RTC),
                          message_id_domain="device.example.test", message_id_seq=1,
                          boundary_seed=1)


# ---- (a) memory, measured in child interpreters ----------------------------------------


def maxrss_bytes() -> int:
    """The process's peak resident set so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _proc_status_bytes(field: str) -> int | None:
    try:
        text = PROC_STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match[1]) * 1024 if match else None


def reset_peak_rss() -> bool:
    """Linux: reset the peak RSS (VmHWM) to the current RSS; False where unsupported.

    Without it the import-time peak (cryptography, OpenSSL) hides the work's own peak,
    since ``ru_maxrss`` never goes down.
    """
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _proc_status_bytes("VmHWM") is not None


def rss_window() -> tuple[int, Callable[[], int], str]:
    """(resident bytes now, a function giving the peak since now, what the peak is)."""
    if reset_peak_rss():
        now = _proc_status_bytes("VmRSS") or 0
        return now, lambda: _proc_status_bytes("VmHWM") or 0, "VmHWM"
    return maxrss_bytes(), maxrss_bytes, "ru_maxrss"


def stream_only(size: int) -> int:
    """Build and dot-stuff the DATA content; the number of bytes that would go out."""
    total = 0
    for chunk in stuffed_stream(builder_for(big_mail(size)).chunks()):
        total += len(chunk)
    return total


def full_send(size: int, port: int) -> int:
    """Send the mail to the server on ``port``; the size the server accepted (SIZE=)."""
    settings = ClientSettings(server_host=LOOPBACK, server_port=port, security="none",
                              device_domain="device.example.test")
    events = send_jobs(settings, [big_mail(size)], timeout_s=SEND_TIMEOUT_S)
    sent = [e for e in events if isinstance(e, Sent)]
    if len(sent) != 1:
        lines = "; ".join(describe(e) for e in events)
        raise RuntimeError(f"full send of {size} bytes did not end with sent: {lines}")
    return size


def child_main(work: str, size: int, mode: str, port: int) -> None:
    """Run one measurement in this (fresh) interpreter and print it as JSON."""
    if mode == "trace":
        tracemalloc.start()
    rss_before, rss_peak, _ = rss_window()
    start = time.perf_counter()
    out = stream_only(size) if work == "stream" else full_send(size, port)
    seconds = time.perf_counter() - start
    peak = rss_peak()
    figures: dict[str, float | int] = {"bytes": out, "seconds": seconds,
                                       "rss_before": rss_before, "rss_peak": peak,
                                       "rss_delta": peak - rss_before}
    if mode == "trace":
        figures["trace_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps(figures))


def in_child(work: str, size: int, mode: str, port: int = 0) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", work, str(size), mode,
               str(port)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          timeout=SEND_TIMEOUT_S + 60)
    if done.returncode != 0:
        raise RuntimeError(f"child {work} {size} {mode} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def mib(n: float) -> str:
    return f"{n / MIB:8.2f} MiB"


def bench_memory(sizes: tuple[int, ...], send_sizes: tuple[int, ...]) -> None:
    print("(a) memory of a mail with a generated attachment (client side only)")
    peak_kind = rss_window()[2]
    print(f"    {'work':6} {'attachment':>10} {'DATA bytes':>12} {'tracemalloc peak':>17} "
          f"{'RSS before':>13} {'RSS peak':>13} {'RSS growth':>13} {'seconds':>8}")
    port = free_port()
    server = start_aiosmtpd(port, size_limit=SERVER_SIZE_LIMIT) if send_sizes else None
    try:
        for work, work_sizes in (("stream", sizes), ("send", send_sizes)):
            for size in work_sizes:
                traced = in_child(work, size, "trace", port)
                plain = in_child(work, size, "rss", port)
                shown = f"{int(plain['bytes']):>12}" if work == "stream" else f"{'-':>12}"
                print(f"    {work:6} {mib(size)[:-4].strip() + ' MiB':>10} {shown} "
                      f"{mib(traced['trace_peak']):>17} {mib(plain['rss_before']):>13} "
                      f"{mib(plain['rss_peak']):>13} {mib(plain['rss_delta']):>13} "
                      f"{plain['seconds']:8.2f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    print("    (DATA bytes: dot-stuffed content with the terminator. RSS: the child without "
          f"tracemalloc, peak read as {peak_kind}")
    print("     from just before the work to just after it; seconds: that run.)")


# ---- (b) round trips, in memory ----------------------------------------------------------


class FixedPorting:
    """A porting layer with a fixed RTC, so the core builds the same message every run."""

    def rtc_get(self) -> RtcTime:
        return FIXED_RTC

    def host_domain(self) -> str | None:
        return "device.example.test"

    def host_address(self) -> str:
        return "192.0.2.10"

    def template_hostname(self) -> str:
        return "device"


@dataclass
class Dialogue:
    waits: list[str]  # per round trip: what the client had sent before it waited
    bursts: int  # client flights that carried bytes
    events: list[ClientEvent]


def run_dialogue(*, pipelining: bool, chunking: bool) -> Dialogue:
    settings = ClientSettings(server_host="smtp.example.test", security="none",
                              device_domain="device.example.test",
                              pipelining=pipelining, chunking=chunking)
    job = MailJob(sender=SENDER, to=RECIPIENTS, subject="three recipients",
                  body="Hello, three of you.\n" * 20)
    core = ClientCore(settings, PROFILES["current"], FixedPorting(), [job])
    engine = ServerEngine(ServerConfig())
    flight = bytearray()
    labels: list[str] = []
    events: list[ClientEvent] = []

    def apply(outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, SendBytes):
                flight.extend(out.data)
                labels.append(out.label)
            elif isinstance(out, SendContent):
                labels.append("content")
                for chunk in out.chunks:
                    flight.extend(chunk)
                    core.block_sent()  # only re-arms the data-block timer
                apply(core.content_sent())
            elif isinstance(out, Notify):
                events.append(out.event)
            # timers, Close and Log change nothing in a ping-pong without a clock

    apply(core.start())
    apply(core.connected("smtp.example.test", 25))
    server_out: list[Action] = engine.on_connect()
    waits: list[str] = []
    bursts = 0
    before = "connect"
    while not core.finished:
        replies = b"".join(a.data for a in server_out if isinstance(a, Send))
        if not replies:
            raise RuntimeError(f"deadlock: the client waits after {before}, the server is silent")
        waits.append(before)
        apply(core.receive(replies))
        if flight:
            bursts += 1
            before = " + ".join(labels)
            server_out = engine.on_data(bytes(flight))
            flight.clear()
            labels.clear()
        else:
            server_out = []
    if not any(isinstance(e, Sent) for e in events) or len(engine.mailbox) != 1:
        raise RuntimeError(f"round-trip run did not deliver: {[describe(e) for e in events]}")
    return Dialogue(waits, bursts, events)


def bench_round_trips() -> None:
    print("(b) round trips for one mail to three recipients (ClientCore vs ServerEngine)")
    for name, pipelining, chunking in (("no PIPELINING", False, False),
                                       ("PIPELINING", True, False),
                                       ("PIPELINING + CHUNKING", True, True)):
        dialogue = run_dialogue(pipelining=pipelining, chunking=chunking)
        print(f"    {name:22} round trips: {len(dialogue.waits):2}   "
              f"client write bursts: {dialogue.bursts:2}")
        for i, what in enumerate(dialogue.waits, 1):
            print(f"        {i:2}. waited after: {what}")


# ---- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="no full send of 20 MiB")
    parser.add_argument("--child", nargs=4, metavar=("WORK", "SIZE", "MODE", "PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        work, size, mode, port = args.child
        child_main(work, int(size), mode, int(port))
        return
    bench_round_trips()
    print()
    send_sizes = SIZES[:1] if args.quick else SIZES
    bench_memory(SIZES, send_sizes)


if __name__ == "__main__":
    main()
