"""The pty bridge: a plain pyserial port on a real OS pty drives the board's console.

The wall-clock timeouts below only bound how long a broken bridge could hang a test;
nothing asserts on wall time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from emulator.pty_bridge import PtyBridge
from scenarios.session import DeviceSession, open_session

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs OS ptys")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bridged() -> Iterator[tuple[DeviceSession, PtyBridge]]:
    session = open_session("blank-line-truncation", "2.4")
    bridge = PtyBridge(session, speed=None)
    thread = threading.Thread(target=bridge.serve, daemon=True)
    thread.start()
    yield session, bridge
    bridge.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    bridge.close()


def _read_until(port: serial.Serial, marker: bytes) -> bytes:
    data = port.read_until(marker)
    assert data.endswith(marker), f"no {marker!r} from the console; got {data!r}"
    return data


def test_a_plain_serial_port_on_the_pty_talks_to_the_console(
        bridged: tuple[DeviceSession, PtyBridge]) -> None:
    session, bridge = bridged
    assert bridge.slave_path.startswith("/dev/")
    with serial.Serial(bridge.slave_path, baudrate=115200, timeout=10) as port:
        port.write(b"version\r")
        _read_until(port, b"VERSION: release=2.4 ip_stack=6.02\r\n")
        port.write(b'smtp send --from pump7@example.com --to ops@example.net '
                   b'--body "one\\n\\ntwo"\r')
        _read_until(port, b"OK: queued=mail job=1\r\n")
        _read_until(port, b"SMTP: sent 250 ")
        port.write(b"reset\r")
        _read_until(port, b"BOOT: boot=2 reason='console reset'\r\n")
    mail, = session.mailbox
    assert mail.content.endswith(b"\r\n\r\none\r\n")
    assert bridge.bytes_in > 0 and bridge.bytes_out > 0


def test_the_bridge_stops_after_its_duration() -> None:
    session = open_session("blank-line-truncation")
    with PtyBridge(session, speed=1000.0) as bridge:
        bridge.serve(duration_s=0.05)
    assert session.kernel.now_us > 0  # paced virtual time moved while idle


def test_bad_pacing_is_refused() -> None:
    session = open_session("blank-line-truncation")
    with pytest.raises(ValueError, match="speed"):
        PtyBridge(session, speed=0)


def test_smtp_hil_board_pty_prints_the_path_and_exits_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "board", "--scenario", "blank-line-truncation",
         "--profile", "2.4", "--pty", "--fast", "--duration", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("PTY: /dev/"), first + (proc.stderr.read() if proc.stderr else "")
        with serial.Serial(first.split()[1], timeout=10) as port:
            port.write(b"version\r")
            _read_until(port, b"VERSION: release=2.4 ip_stack=6.02\r\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
