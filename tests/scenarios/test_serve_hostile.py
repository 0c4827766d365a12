"""``smtp-hil serve`` facing clients that log in, misbehave or vanish, over real loopback
sockets: credentials hidden in what it prints, bounded memory (message size, line
length, idle time, concurrent connections), no traceback whatever a client does.

Each test starts ``serve`` as a process of its own (its stderr is part of what is
checked) and talks to it with raw sockets or smtplib.
"""

from __future__ import annotations

import base64
import json
import queue
import smtplib
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 20.0  # hang guards only
PLAIN_BLOB = base64.b64encode(b"\0pump7\0s3cret-pump7").decode()
LOGIN_LINES = [base64.b64encode(b"pump7").decode(), base64.b64encode(b"s3cret-pump7").decode()]


@dataclass
class Serve:
    """A running ``smtp-hil serve``: its port and its output lines as they come."""

    process: subprocess.Popen[bytes]
    port: int = 0
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def next_line(self) -> str:
        line = self.lines.get(timeout=GUARD_S)
        self.seen.append(line)
        return line

    def wait_for(self, text: str) -> str:
        """The next output line containing ``text`` (the lines before it are kept)."""
        while True:
            line = self.next_line()
            if text in line:
                return line

    def stop(self) -> tuple[str, str]:
        """SIGTERM, then everything it printed and its standard error."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=GUARD_S)
        assert self.process.stderr is not None
        err = self.process.stderr.read().decode()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen), err


@contextmanager
def serving(scenario: str, *options: str) -> Iterator[Serve]:
    """``serve SCENARIO --listen 127.0.0.1:0 OPTIONS``; the port is known on entry."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "serve", scenario, "--listen", "127.0.0.1:0",
         "--max-delay", "0.05", *options], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    serve = Serve(process)

    def pump() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            serve.lines.put(raw.decode())

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = serve.next_line()
        if first.startswith("{"):
            serve.port = json.loads(first)["port"]
        else:
            serve.port = int(first.split()[3].rsplit(":", 1)[1])
        yield serve
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


# ----------------------------------------------------------------------------------------
# Credentials


def _log_in(port: int, scenario: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="dev.example.com",
                      timeout=GUARD_S) as client:
        client.login("pump7", "s3cret-pump7")


@pytest.mark.parametrize("json_output", [False, True])
@pytest.mark.parametrize(("scenario", "secrets"), [("auth-plain", [PLAIN_BLOB]),
                                                   ("auth-login", LOGIN_LINES)])
def test_serve_hides_credentials_unless_asked(scenario: str, secrets: list[str],
                                              json_output: bool) -> None:
    options = ["--once", *(["--json"] if json_output else [])]
    with serving(scenario, *options) as hidden:
        _log_in(hidden.port, scenario)
        out, err = hidden.stop()
    assert not any(s in out + err for s in secrets) and "s3cret" not in out + err
    assert "<credentials hidden, " in out
    with serving(scenario, *options, "--show-secrets") as shown:
        _log_in(shown.port, scenario)
        out, _ = shown.stop()
    assert all(s in out for s in secrets)
