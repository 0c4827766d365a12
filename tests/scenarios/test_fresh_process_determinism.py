"""``smtp-hil run --check-determinism``: the second copy in a fresh process.

How a process-dependent nondeterminism is shown without a hook in the product: the test
starts ``smtp-hil`` with ``PYTHONPATH`` pointing at a folder that holds only a
``sitecustomize.py``, which Python imports at start-up in every process that inherits
that environment, so in the CLI and in the worker the CLI starts. That file (written by
this module, nowhere else) wraps ``SimServer._accept`` so that each accepted connection
adds one trace record listing ten strings in the iteration order of a ``set``, an order
that depends on ``PYTHONHASHSEED``. The CLI runs with ``PYTHONHASHSEED=0``; its worker
with another seed; so the traces part at that record, and the check must say so. With
the same code run twice in one process (the old check) the two hashes were equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scenarios.determinism import FreshProcess, worker_hash_seed
from scenarios.runner import resolve_scenario, run

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 120.0  # a hang guard only

SET_ORDER_HOOK = '''
import scenarios.server.simdriver as simdriver

_accept = simdriver.SimServer._accept
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet"]


def _accept_listing_a_set(self, sock):
    _accept(self, sock)
    self.kernel.emit("test.hook", "set_order", order=",".join(set(WORDS)))


simdriver.SimServer._accept = _accept_listing_a_set
'''


def _cli(*argv: str, hook: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    if hook is not None:
        env["PYTHONPATH"] = str(hook)
    return subprocess.run([sys.executable, "-m", "scenarios.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=GUARD_S, check=False)


def _hook(tmp_path: Path) -> Path:
    folder = tmp_path / "hook"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SET_ORDER_HOOK, encoding="utf-8")
    return folder


def test_set_order_nondeterminism_is_caught_and_the_first_differing_record_named(
        tmp_path: Path) -> None:
    done = _cli("run", "pipelining", "blank-line-truncation", "--check-determinism",
                hook=_hook(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert out.count("PASS ") == 2  # both runs pass their verdicts ...
    for name in ("pipelining", "blank-line-truncation"):  # ... neither is reproducible
        assert (f"FAIL {name}: a fresh process (PYTHONHASHSEED=1) gave another trace hash"
                in out), out
    assert '"test.hook","set_order"' in out  # the first record that differs, both sides
    lines = out.splitlines()
    here = next(line for line in lines if line.strip().startswith("this process:"))
    there = next(line for line in lines if line.strip().startswith("fresh process:"))
    assert here.split(":", 1)[1].strip() != there.split(":", 1)[1].strip()
    assert "set_order" in here and "set_order" in there


def test_without_the_hook_the_same_runs_are_deterministic(tmp_path: Path) -> None:
    done = _cli("run", "pipelining", "blank-line-truncation", "--check-determinism", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["deterministic"] for r in results] == [True, True]
    assert all(r["determinism"]["hash_seed"] == "1" for r in results)


def test_one_worker_serves_a_whole_batch_and_reports_where_traces_part() -> None:
    first, second = resolve_scenario("pipelining"), resolve_scenario("starttls")
    with FreshProcess() as worker:
        pid = worker.pid
        for scenario in (first, second):
            assert scenario.source is not None
            worker.submit(scenario.source, "current", 0)
            replay = worker.compare(run(scenario, "current", 0))
            assert replay.divergence is None
            assert worker.pid == pid
        # A run compared with another seed's copy: the first differing record is named.
        assert first.source is not None
        worker.submit(first.source, "current", 1)
        replay = worker.compare(run(first, "current", 0))
    assert replay.divergence is not None
    assert replay.divergence.here != replay.divergence.there
    assert replay.divergence.here is not None and replay.divergence.there is not None


def test_the_worker_never_runs_with_this_process_hash_seed() -> None:
    assert worker_hash_seed({"PYTHONHASHSEED": "1"}) == "2"
    assert worker_hash_seed({"PYTHONHASHSEED": "0"}) == "1"
    assert worker_hash_seed({}) == "1"
