"""Views of a run for people and tools: transcript, trace lines, pcap, JSON.

Every view is computed from the run's trace and result; nothing here changes a run.
The transcript shows the SMTP dialogue as the server saw it (decrypted under TLS), one
``C:``/``S:`` line per line sent, stamped with virtual time.

Credentials (AUTH payloads, the LOGIN lines, the CRAM-MD5 response) are hidden in every
view unless ``show_secrets`` is true: the transcript says ``AUTH PLAIN <credentials
hidden, 28 bytes>``, the trace lines and the pcap have ``*`` in their place, so lengths
and sequence numbers still add up (:mod:`scenarios.masking`). The trace itself, and its
hash, keep the bytes.

This module knows the result, the trace and the file formats; it runs nothing.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from emulator.trace import TraceKind, TraceRecord, records_to_jsonl
from emulator.tracespill import spills
from emulator.units import format_us
from scenarios.format import Scenario
from scenarios.masking import ServerFollower, iter_masked, masked_records
from scenarios.readagain import ReadAgain
from scenarios.record import FleetOutcome
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import RunResult
from scenarios.server.authmask import Span, with_markers
from smtp.events import describe
from stack.pcap import write_pcap
from stack.tcp import TX_PURPOSE
from stack.tls.keylog import write_key_log

TRANSCRIPT_KINDS: Final[frozenset[TraceKind]] = frozenset({
    "rx", "tx", "accept", "tls_established", "tls_failed", "drop_tls", "discarded", "closed",
    "tls_stall", "tx_generated", "stop_reading", "resume_reading"})
"""The server's trace records the transcript shows: bytes, and the events that say why
bytes stop or are not shown (a dropped TLS session, input the server discarded, a
stalled handshake, a generated reply: its length, how much went out and its SHA-256,
never its bytes; a server that stopped reading)."""
_BYTES_KINDS: Final[frozenset[TraceKind]] = frozenset({"rx", "tx"})


def transcript_lines(records: Sequence[TraceRecord], *, show_secrets: bool = False
                     ) -> list[str]:
    """``C:``/``S:`` lines with virtual timestamps, from the server's rx/tx records;
    credentials hidden unless ``show_secrets``."""
    return list(iter_transcript(records, show_secrets=show_secrets))


def iter_transcript(records: Iterable[TraceRecord], *, show_secrets: bool = False
                    ) -> Iterator[str]:
    """:func:`transcript_lines` one at a time, reading ``records`` once in order (a trace
    kept on disk is never held whole)."""
    follower = None if show_secrets else ServerFollower()
    for rec in records:
        yield from transcript_entry(rec, () if follower is None else follower.spans(rec))


def transcript_tail(records: Iterable[TraceRecord], count: int, *,
                    show_secrets: bool = False) -> list[str]:
    """The last ``count`` lines of :func:`transcript_lines`, holding no more than those."""
    return list(deque(iter_transcript(records, show_secrets=show_secrets), maxlen=count))


def transcript_entry(rec: TraceRecord, hidden: Sequence[Span] = ()) -> list[str]:
    """The transcript lines of one record (none unless it is a server record the
    transcript shows); ``hidden``: the credential spans of its data."""
    if not rec.source.startswith("server.") or rec.kind not in TRANSCRIPT_KINDS:
        return []
    stamp = format_us(rec.t_us)
    if rec.kind not in _BYTES_KINDS:
        details = " ".join(f"{k}={v!s}" if not isinstance(v, bytes) else f"{k}={v!r}"
                           for k, v in sorted(rec.fields.items()))
        return [f"{stamp} -- {rec.kind} {details}".rstrip()]
    data = rec.fields.get("data")
    if not isinstance(data, bytes):
        return []
    who = "C:" if rec.kind == "rx" else "S:"
    parts = with_markers(data, hidden).decode("latin-1").split("\r\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [f"{stamp} {who} {part.encode('unicode_escape').decode('ascii')}" for part in parts]


def result_dict(result: RunResult) -> dict[str, Any]:
    """The result as JSON-ready data."""
    terminal = result.terminal
    return {
        "scenario": result.scenario.name,
        "profile": result.profile,
        "seed": result.seed,
        "verdict": "pass" if result.passed else "fail",
        "reasons": result.verdict.reasons,
        "expected_to_fail": result.profile != "current"
        and result.scenario.reproduced_by(result.profile),
        "terminal_event": describe(terminal.event) if terminal else None,
        "terminal_t_us": terminal.t_us if terminal else None,
        "events": [{"t_us": e.t_us, "event": describe(e.event)} for e in result.events],
        "mailbox": [{"sender": m.sender, "recipients": [r.address for r in m.recipients],
                     "size": m.size, "via": m.via} for m in result.mailbox],
        "virtual_us": result.virtual_us,
        "wall_s": round(result.wall_s, 6),
        "pool": {"count": result.pool.count, "peak_in_use": result.pool.peak_in_use,
                 "lowest_free": result.pool.lowest_free,
                 "failed_allocations": result.pool.failed_allocations,
                 "frames_dropped": result.pool.frames_dropped,
                 "failed_tx_allocations": result.pool.failed_by_purpose.get(TX_PURPOSE, 0),
                 "in_use_at_end": result.pool_in_use_at_end},
        "watchdog_resets": result.watchdog_resets,
        "trace_sha256": result.trace_sha256,
        "trace_not_reproducible": why_not_reproducible(result.scenario),
        **({"fleet": fleet_dict(result.fleet)} if result.fleet is not None else {}),
    }


def fleet_dict(fleet: FleetOutcome) -> dict[str, Any]:
    """A fleet run's devices and burst as JSON-ready data."""
    return {
        "devices": len(fleet.devices), "sent": fleet.sent, "failed": fleet.failed,
        "retried": fleet.retried, "refused": fleet.refused,
        "peak_connections": fleet.peak_connections, "last_done_us": fleet.last_done_us,
        "queue_peak": fleet.queue_peak, "queue_dropped": fleet.queue_dropped,
        "per_device": [{"device": d.index, "ip": d.ip, "start_us": d.start_us,
                        "attempts": d.attempts, "event": d.event, "detail": d.detail,
                        "done_us": d.done_us, "passed": d.passed, "firmware": d.firmware}
                       for d in fleet.devices],
    }


def run_dirname(result: RunResult) -> str:
    """``<scenario>--<release>--seed<N>``; a C firmware's run names the firmware instead
    of the release (``dot-line-in-body--lwip--seed0``), so it never overwrites the
    model's ``current`` run."""
    ran_on = result.profile if result.firmware == "model" else result.firmware
    return dirname_for(result.scenario.name, ran_on, result.seed)


def dirname_for(name: str, ran_on: str, seed: int) -> str:
    """The folder of one run's artifacts: ``<scenario>--<ran_on>--seed<N>``, ``ran_on``
    the release of the model firmware or the name of a C firmware."""
    return f"{name}--{ran_on}--seed{seed}"


def capture_epoch_s(scenario: Scenario) -> int:
    """The wall-clock second the pcap stamps virtual time 0 with: the device's RTC
    setting, or the server's clock when the RTC is unset (``server.clock``, by default
    2024-06-03T10:00:00Z)."""
    start = scenario.device.rtc if scenario.device.rtc is not None else scenario.server.clock
    return int(start.timestamp())


def tls_secrets(result: RunResult) -> list[str]:
    """The run's TLS secrets as NSS key log lines (none when there was no TLS)."""
    if result.world is None and result.key_log is not None:
        return list(result.key_log)
    server = result.require_world("the TLS key log").server
    return server.tls_secrets() if server is not None else []


def shown_records(records: Sequence[TraceRecord], show_secrets: bool) -> Sequence[TraceRecord]:
    """The records a written view gets: as they are, or with credentials blanked (a trace
    kept on disk blanked again on each pass, never held whole)."""
    if show_secrets:
        return records
    if spills(records):
        return ReadAgain(lambda: iter_masked(records))
    return masked_records(records)


def write_artifacts(result: RunResult, folder: Path, *, show_secrets: bool = False) -> Path:
    """Transcript, trace (JSON lines), pcap, TLS key log and result JSON in
    ``folder/<run>/``; credentials hidden unless ``show_secrets``. The key log holds the
    TLS secrets whatever ``show_secrets`` says (it is what decrypts the pcap): it is
    written only here, where the user asked for artifacts, with mode 0600. (A run can
    also write the first three as it goes: :mod:`scenarios.artifactstream`.)"""
    out = folder / run_dirname(result)
    out.mkdir(parents=True, exist_ok=True)
    records = result.trace
    with (out / "transcript.txt").open("w") as fh:  # the lines joined, and a line end
        for number, line in enumerate(iter_transcript(records, show_secrets=show_secrets)):
            fh.write(line if number == 0 else "\n" + line)
        fh.write("\n")
    shown = shown_records(records, show_secrets)
    with (out / "trace.jsonl").open("w") as fh:
        for line in records_to_jsonl(shown):
            fh.write(line + "\n")
    write_pcap(shown, out / "capture.pcap", epoch_s=capture_epoch_s(result.as_run))
    finish_artifacts(result, out)
    return out


def finish_artifacts(result: RunResult, out: Path) -> None:
    """The files of ``out`` that are written once the run is over: the TLS key log
    (mode 0600) and the result JSON."""
    write_key_log(out / "keylog.txt", tls_secrets(result))
    (out / "result.json").write_text(json.dumps(result_dict(result), indent=2) + "\n")
