"""Determinism of the whole simulated world: same seed, same trace hash, in any process.

The run under test (``_determinism_run.py`` beside this file) is a board task doing a
STARTTLS-shaped exchange with a server host: plaintext lines, then real TLS on both ends,
a few KiB each way. Each process generates its own test PKI (fresh RSA keys), so
ciphertext content differs between processes; the trace hashes ciphertext by length only,
and the lengths are fixed (RSA signatures, fixed-width certificate fields), which is why
the hash still matches. Separate processes run with different ``PYTHONHASHSEED`` values,
so any dependence on set or dict-of-str iteration order would show up as a different hash.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
RUN_SCRIPT = HERE / "_determinism_run.py"
REPO_ROOT = HERE.parent.parent


def _load_run_module() -> ModuleType:
    name = "_determinism_run"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RUN_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


RUN = _load_run_module()


def _in_process(seed: int, loss: float = 0.0) -> dict[str, Any]:
    result: dict[str, Any] = dataclasses.asdict(RUN.run_starttls(seed, loss=loss))
    return result


def _in_subprocess(seed: int, hash_seed: str, loss: float = 0.0) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    done = subprocess.run(
        [sys.executable, str(RUN_SCRIPT), "--seed", str(seed), "--loss", str(loss)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _assert_delivered(result: dict[str, Any]) -> None:
    assert result["tls_up"], result
    assert result["up_exact"], result
    assert result["down_exact"], result


def test_same_seed_twice_in_one_process_gives_the_same_trace_hash() -> None:
    first = _in_process(1)
    second = _in_process(1)
    _assert_delivered(first)
    assert first["frames_dropped"] == 0
    assert first["sha256"] == second["sha256"]
    assert first["records"] == second["records"]
    assert first["end_us"] == second["end_us"]


def test_same_run_in_processes_with_different_hash_seeds_gives_the_same_hash() -> None:
    one = _in_subprocess(1, hash_seed="1")
    other = _in_subprocess(1, hash_seed="12345")
    here = _in_process(1)  # this process: pytest's own hash seed, PKI made here
    for result in (one, other, here):
        _assert_delivered(result)
    assert one["sha256"] == other["sha256"] == here["sha256"]
    assert one["records"] == other["records"] == here["records"]


def test_random_loss_depends_on_the_seed_alone() -> None:
    first = _in_process(1, loss=0.05)
    again = _in_process(1, loss=0.05)
    other = _in_process(2, loss=0.05)
    for result in (first, again, other):
        _assert_delivered(result)  # TCP recovered every loss: byte-exact both ways
        assert result["frames_dropped"] > 0 and result["retransmissions"] > 0
    assert first["sha256"] == again["sha256"]
    assert first["sha256"] != other["sha256"]
    assert first["sha256"] != _in_process(1)["sha256"]  # the losses are in the trace
