"""An aiosmtpd server in a subprocess, for the benchmarks that talk to a real server.

Shared by bench_client.py and bench_send.py (run as scripts from the repository root,
so this folder is on ``sys.path``). Not a benchmark itself: no ``bench_`` prefix.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
SERVER_START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def start_aiosmtpd(port: int, *, size_limit: int | None = None,
                   pipelining: bool = False) -> subprocess.Popen[bytes]:
    """aiosmtpd in a subprocess, its Sink handler (or with ``pipelining`` the Sink that
    advertises PIPELINING, :mod:`pipelining_sink`); returns once it greets. Its EHLO
    reply is ``250-<host>``, ``250-8BITMIME`` (then ``250-PIPELINING``), ``250 HELP``:
    no SIZE, SMTPUTF8 or CHUNKING."""
    handler = "pipelining_sink.PipeliningSink" if pipelining else "aiosmtpd.handlers.Sink"
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-c", handler, "-l", f"{LOOPBACK}:{port}"]
    if size_limit is not None:
        command += ["-s", str(size_limit)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")]))}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1.0) as probe:
                if probe.recv(512).startswith(b"220"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"aiosmtpd did not start on port {port}")
