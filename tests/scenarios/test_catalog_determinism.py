"""Same scenario + profile + seed = same trace hash, also in another process.

Catalog scenarios with TLS, random loss and hangs run here and in a subprocess with a
different PYTHONHASHSEED (and its own freshly generated certificates); every trace hash
must match.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from scenarios.catalog import load_named
from scenarios.runner import run

RUNS = [("starttls", "current"), ("outlook-ecdhe-only", "2.5"), ("lossy-link", "current"),
        ("silent-server-under-tls", "2.4"), ("buffer-exhaustion-during-content", "2.0")]
SCRIPT = """
import json, sys
from scenarios.catalog import load_named
from scenarios.runner import run
runs = json.loads(sys.argv[1])
print(json.dumps([run(load_named(n), p, seed=11).trace_sha256 for n, p in runs]))
"""


def test_trace_hashes_match_across_processes_and_hash_seeds() -> None:
    here = [run(load_named(name), profile, seed=11).trace_sha256 for name, profile in RUNS]
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(RUNS)], env=env,
                          cwd=Path(__file__).parents[2], capture_output=True, text=True,
                          timeout=300, check=True)
    there = json.loads(proc.stdout)
    assert here == there
    assert len(set(here)) == len(here)
