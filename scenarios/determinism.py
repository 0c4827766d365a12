"""Is a run reproducible? The same run again in a fresh process, compared record by record.

Running a scenario twice in one process misses every nondeterminism that depends on the
process: the iteration order of sets of strings (``PYTHONHASHSEED``), object addresses,
what an earlier run left in a cache. So the second copy runs in a fresh process of the
same interpreter (``python -m scenarios.determinism``) whose ``PYTHONHASHSEED`` differs
from this process's, and the two trace hashes are compared. When they differ, the worker
is asked for its per-record digests, and the first record where the traces part is
reported from both sides (:class:`Divergence`), in the trace's canonical encoding.

One worker serves a whole batch (a request per scenario, JSON lines on its standard
input and output), so checking many scenarios does not pay for an interpreter and its
imports each time. The worker is given the next job before this process runs its own
copy, so the two copies run side by side.

Some scenarios are not reproducible by design
(:func:`scenarios.reproducibility.why_not_reproducible` says which and why): such a
scenario is reported as not checked, with the reason, never as deterministic and never as
a silent difference.

This module knows the runner, the trace encoding and how to start a process; it prints
nothing (the CLI does).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from emulator.trace import TraceRecord, encode_record
from emulator.tracespill import SPILL_BOUND
from scenarios.firmware_choice import resolve_firmware
from scenarios.format import Scenario
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import RunResult, resolve_scenario, run

HASH_SEEDS: Final = ("1", "2")
"""The worker's ``PYTHONHASHSEED``: the first of these that is not this process's."""

def worker_hash_seed(environ: dict[str, str] | None = None) -> str:
    """The worker's ``PYTHONHASHSEED``: one this process does not run with."""
    own = (os.environ if environ is None else environ).get("PYTHONHASHSEED")
    return next(seed for seed in HASH_SEEDS if seed != own)


@dataclass(frozen=True)
class Divergence:
    """Where two traces first part: the record index (0-based) and the record on each
    side in the canonical encoding (None: that trace had already ended)."""

    index: int
    here: str | None
    there: str | None


@dataclass(frozen=True)
class Replay:
    """The run again in the fresh process: its trace hash and, when that differs from
    this process's, where the traces first part (None when they agree record for record
    although the hashes differ, which happens when another RTC variant differs)."""

    trace_sha256: str
    hash_seed: str
    divergence: Divergence | None = None


class WorkerError(RuntimeError):
    """The worker process failed or answered something unexpected (a bug, not input)."""


def _record_digest(record: TraceRecord) -> str:
    return hashlib.sha256(encode_record(record)).hexdigest()[:16]


def _first_difference(here: Sequence[TraceRecord], there: Sequence[str]) -> int | None:
    """The index of the first record of ``here`` whose digest is not ``there``'s, read
    record by record (a trace kept on disk is read once, never held whole)."""
    for index, (mine, theirs) in enumerate(zip(here, there, strict=False)):
        if _record_digest(mine) != theirs:
            return index
    return None if len(here) == len(there) else min(len(here), len(there))


class FreshProcess:
    """A worker process for replays; use as a context manager, or call :meth:`close`.

    ``submit(path, profile, seed)`` hands the worker its next run; ``compare(result)``
    waits for it and compares it with ``result`` (this process's copy of that run).
    """

    def __init__(self, *, python: str | None = None) -> None:
        self.hash_seed = worker_hash_seed()
        env = dict(os.environ, PYTHONHASHSEED=self.hash_seed)
        # stderr to a file, which never fills up as a pipe would; closed in close()
        self._errors = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(
            [python or sys.executable, "-m", "scenarios.determinism"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors,
            text=True, encoding="utf-8")
        self._pending = 0

    @property
    def pid(self) -> int:
        return self._process.pid

    def __enter__(self) -> FreshProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def submit(self, scenario_path: str, profile: str, seed: int,
               firmware: str | None = None) -> None:
        """Start the worker on one run (answered by the next :meth:`compare`); ``firmware``
        is a ``--firmware`` setting (None: the scenario's own)."""
        self._send({"op": "run", "path": scenario_path, "profile": profile, "seed": seed,
                    "firmware": firmware})
        self._pending += 1

    def compare(self, result: RunResult) -> Replay:
        """The worker's copy of the run last submitted, compared with ``result``."""
        if self._pending != 1:
            raise WorkerError(f"compare: expected one run submitted, {self._pending} are")
        self._pending = 0
        answer = self._receive()
        theirs = str(answer["trace_sha256"])
        if theirs == result.trace_sha256:
            return Replay(theirs, self.hash_seed)
        self._send({"op": "digests"})
        digests = self._receive()["digests"]
        if not isinstance(digests, list):
            raise WorkerError(f"digests: expected a list, got {digests!r}")
        records = result.trace
        index = _first_difference(records, [str(d) for d in digests])
        if index is None:
            return Replay(theirs, self.hash_seed)
        self._send({"op": "record", "index": index})
        there = self._receive()["record"]
        here = encode_record(records[index]).decode("ascii").rstrip("\n") \
            if index < len(records) else None
        return Replay(theirs, self.hash_seed,
                      Divergence(index, here, there if isinstance(there, str) else None))

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            assert process.stdin is not None
            try:
                process.stdin.close()
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._errors.close()

    # -- the pipe -------------------------------------------------------------------------
    def _send(self, request: dict[str, object]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except OSError as exc:
            raise WorkerError(f"the determinism worker is gone: {self._stderr()}") from exc

    def _receive(self) -> dict[str, object]:
        stdout = self._process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise WorkerError(f"the determinism worker ended: {self._stderr()}")
        answer = json.loads(line)
        if not isinstance(answer, dict) or "error" in answer:
            raise WorkerError(f"the determinism worker failed: {answer}")
        return answer

    def _stderr(self) -> str:
        process = self._process
        if process.poll() is None:
            process.kill()
            process.wait()
        self._errors.seek(0)
        return self._errors.read().strip() or f"exit status {process.returncode}"


# ---- checking a batch -----------------------------------------------------------------------

SHOWN_RECORD_CHARS: Final = 400
"""How much of a differing record :meth:`DeterminismCheck.lines` shows."""


@dataclass(frozen=True)
class DeterminismCheck:
    """The outcome for one run: checked or not (``why``), and what the copy gave."""

    name: str
    trace_sha256: str
    why_not_checked: str | None = None
    replay: Replay | None = None

    @property
    def deterministic(self) -> bool | None:
        """True or False when checked; None when the scenario is not reproducible."""
        if self.replay is None:
            return None
        return self.replay.trace_sha256 == self.trace_sha256

    def lines(self) -> list[str]:
        """What the CLI prints under the run's own line."""
        replay = self.replay
        if replay is None:
            return [f"     determinism not checked: not reproducible by design: "
                    f"{self.why_not_checked}"]
        if self.deterministic:
            return [f"     deterministic: trace_sha256 {self.trace_sha256} (again in a fresh "
                    f"process, PYTHONHASHSEED={replay.hash_seed})"]
        lines = [f"FAIL {self.name}: a fresh process (PYTHONHASHSEED={replay.hash_seed}) gave "
                 f"another trace hash: {replay.trace_sha256}, this process "
                 f"{self.trace_sha256}"]
        part = replay.divergence
        if part is None:
            lines.append("     the traces of the run shown agree record for record: another "
                         "RTC variant's trace differs")
            return lines
        lines.append(f"     the traces first differ at record {part.index}:")
        for side, record in (("this process: ", part.here), ("fresh process:", part.there)):
            shown = "(the trace had ended)" if record is None else record
            if len(shown) > SHOWN_RECORD_CHARS:
                shown = shown[:SHOWN_RECORD_CHARS] + f"... ({len(record or '')} characters)"
            lines.append(f"       {side} {shown}")
        return lines

    def as_dict(self) -> dict[str, object]:
        replay = self.replay
        if replay is None:
            return {"checked": False, "why": self.why_not_checked}
        part = replay.divergence
        return {"checked": True, "hash_seed": replay.hash_seed,
                "trace_sha256_again": replay.trace_sha256,
                "first_difference": None if part is None else
                {"index": part.index, "here": part.here, "there": part.there}}


class DeterminismChecker:
    """Checks a batch of runs with one worker, started when the first run needs it.

    For each run: :meth:`before` (hands the worker its copy, so both run side by side),
    then this process runs it, then :meth:`after` gives the :class:`DeterminismCheck`.
    """

    def __init__(self) -> None:
        self._worker: FreshProcess | None = None

    def __enter__(self) -> DeterminismChecker:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._worker is not None:
            self._worker.close()

    def before(self, scenario: Scenario, profile: str, seed: int,
               firmware: str | None = None) -> None:
        if why_not_reproducible(scenario) is not None:
            return
        if scenario.source is None:
            raise ValueError(f"scenario {scenario.name}: only a scenario read from a file "
                             f"can be run again in another process")
        if self._worker is None:
            self._worker = FreshProcess()
        self._worker.submit(scenario.source, profile, seed, firmware)

    def after(self, scenario: Scenario, result: RunResult) -> DeterminismCheck:
        why = why_not_reproducible(scenario)
        if why is not None or self._worker is None:
            return DeterminismCheck(scenario.name, result.trace_sha256, why_not_checked=why)
        return DeterminismCheck(scenario.name, result.trace_sha256,
                                replay=self._worker.compare(result))


# ---- the worker ----------------------------------------------------------------------------


def serve(requests: IO[str], answers: IO[str]) -> None:
    """The worker's loop: one JSON answer line per request line, until end of input."""
    last: Sequence[TraceRecord] = ()
    for line in requests:
        request = json.loads(line)
        op = request.get("op")
        answer: dict[str, object]
        if op == "run":
            scenario = resolve_scenario(str(Path(request["path"])))
            setting = request.get("firmware")
            firmware = resolve_firmware(str(setting)) if setting is not None else None
            result = run(scenario, str(request["profile"]), int(request["seed"]), firmware,
                         spill_after=SPILL_BOUND)
            last = result.trace
            answer = {"trace_sha256": result.trace_sha256, "records": len(last)}
        elif op == "digests":
            answer = {"digests": [_record_digest(r) for r in last]}
        elif op == "record":
            index = int(request["index"])
            answer = {"record": encode_record(last[index]).decode("ascii").rstrip("\n")
                      if 0 <= index < len(last) else None}
        else:
            answer = {"error": f"unknown op {op!r}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
