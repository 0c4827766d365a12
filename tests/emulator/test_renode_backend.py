"""RenodeBackend without Renode: the command line, finding (or not finding) Renode, and the
process handling with a stand-in executable that does what the backend relies on.

Renode itself cannot be installed on these machines. The stand-in below is a Python
script put on PATH under the name ``renode``: it reads the monitor commands from its
``-e`` arguments, opens the server socket terminal they ask for (a line console that
answers ``smtp send`` with ``SMTP: sent ...``, each connection in its own thread, so the
backend's port probe, which closes at once, ends only its own connection) and the monitor
port, and quits when the monitor says ``quit``. It is not Renode and nothing here claims
Renode's own behaviour; it exercises our side: starting, waiting for the UART port, the
console URL, stopping with nothing left running.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from pathlib import Path

import pytest

from emulator.backends.renode import (
    RENODE_MISSING,
    TERMINAL_NAME,
    RenodeBackend,
    RenodeError,
    RenodeNotFound,
    find_renode,
    renode_test_command,
)
from emulator.backends.serialboard import SerialConsole

EXAMPLE = Path(__file__).resolve().parents[2] / "emulator" / "backends" / "renode_example.resc"

STAND_IN = r'''#!{python}
import re, signal, socket, sys, threading
args = sys.argv[1:]
open({argv_file!r}, "w").write("\n".join(args))
if {ignore_stop!r}:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
commands = [args[i + 1] for i, a in enumerate(args) if a == "-e"]
uart_port = int(re.search(r"CreateServerSocketTerminal (\d+)", "\n".join(commands))[1])
monitor = socket.create_server(("127.0.0.1", int(args[args.index("--port") + 1])))
uart = socket.create_server(("127.0.0.1", uart_port))

def console(conn):
    # One connection; a peer that went away (the backend's port probe) ends only it.
    try:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"BOOT: boot=1 reason=power-on\r\n")
            for raw in lines:
                if raw.startswith(b"smtp send"):
                    conn.sendall(b"OK: queued=mail job=1\r\nSMTP: sent 250 2.0.0 OK\r\n")
    except OSError:
        pass

def serve_uart():
    while True:
        conn, _ = uart.accept()
        threading.Thread(target=console, args=(conn,), daemon=True).start()

threading.Thread(target=serve_uart, daemon=True).start()
while True:
    conn, _ = monitor.accept()
    with conn:
        if conn.recv(100).startswith(b"quit") and not {ignore_stop!r}:
            sys.exit(0)
'''


def install_stand_in(folder: Path, *, ignore_stop: bool = False) -> Path:
    """``folder/renode``; it writes its arguments to ``folder/argv.txt``."""
    script = folder / "renode"
    script.write_text(STAND_IN.format(python=sys.executable, argv_file=str(folder / "argv.txt"),
                                      ignore_stop=ignore_stop))
    script.chmod(0o755)
    return script


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- the command line -------------------------------------------------------------------

def test_command_line(tmp_path: Path) -> None:
    resc, elf = tmp_path / "board.resc", tmp_path / "fw.elf"
    backend = RenodeBackend(resc, uart="sysbus.usart3", port=40001, monitor_port=40002,
                            renode="/opt/renode/renode", variables={"elf": elf, "name": "pump"})
    assert backend.command() == [
        "/opt/renode/renode", "--disable-xwt", "--plain", "--port", "40002",
        "-e", f"$elf=@{elf}",
        "-e", '$name="pump"',
        "-e", f"include @{resc}",
        "-e", f'emulation CreateServerSocketTerminal 40001 "{TERMINAL_NAME}" false',
        "-e", f"connector Connect sysbus.usart3 {TERMINAL_NAME}",
        "-e", "start",
    ]
    assert backend.console_url() == "socket://127.0.0.1:40001"


def test_ports_are_picked_when_not_given(tmp_path: Path) -> None:
    backend = RenodeBackend(tmp_path / "board.resc", renode="renode")
    assert backend.port != backend.monitor_port
    assert f"CreateServerSocketTerminal {backend.port} " in " ".join(backend.command())
    assert backend.console_url() == f"socket://127.0.0.1:{backend.port}"


def test_bad_arguments_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resc: Renode's monitor takes paths without spaces"):
        RenodeBackend(tmp_path / "my board.resc", renode="renode").command()
    with pytest.raises(ValueError, match="port: expected a TCP port 1-65535, got 0"):
        RenodeBackend(tmp_path / "b.resc", port=0)
    with pytest.raises(ValueError, match="uart: expected a peripheral name"):
        RenodeBackend(tmp_path / "b.resc", uart="sysbus uart0")


def test_renode_test_gets_its_own_port() -> None:
    line = renode_test_command(Path("smtp.robot"), port=40123)
    assert line == ["renode-test", "--robot-framework-remote-server-port", "40123", "smtp.robot"]
    picked = int(renode_test_command(Path("smtp.robot"))[2])
    assert 1 <= picked <= 65535


def test_the_example_script_leaves_terminal_and_start_to_the_backend() -> None:
    commands = [line.split("#")[0].strip() for line in EXAMPLE.read_text().splitlines()]
    assert "mach create $name" in commands
    assert not any(c == "start" or "CreateServerSocketTerminal" in c for c in commands)


# ---- finding Renode ---------------------------------------------------------------------

def test_missing_renode_says_what_to_install_and_which_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("RENODE", raising=False)
    backend = RenodeBackend(tmp_path / "board.resc")
    with pytest.raises(RenodeNotFound) as caught:
        backend.start()
    assert str(caught.value) == RENODE_MISSING
    assert str(caught.value) == (
        "Renode was not found: no 'renode' on PATH, the RENODE variable is not set, and "
        "'renode-run' is not installed. Renode cannot be installed from the package "
        "registries these machines use (it is on neither PyPI nor Debian). Install the "
        "Linux portable release from https://github.com/renode/renode/releases (unpack it, "
        "then put its folder on PATH or set RENODE=/path/to/renode), or install renode-run "
        "with 'pip install git+https://github.com/antmicro/renode-run' and run "
        "'renode-run download'.")
    assert backend.process is None


def test_renode_variable_then_path_then_renode_run(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("renode", "renode-run", "my-renode"):
        (tools / name).write_text("#!/bin/sh\n")
        (tools / name).chmod(0o755)
    path = str(tools)
    assert find_renode({"PATH": path, "RENODE": str(tools / "my-renode")}) == [
        str(tools / "my-renode")]
    assert find_renode({"PATH": path}) == [str(tools / "renode")]
    (tools / "renode").unlink()
    assert find_renode({"PATH": path}) == [str(tools / "renode-run"), "exec", "--"]
    with pytest.raises(RenodeNotFound, match=r"^RENODE=/nowhere/renode: not an executable"):
        find_renode({"PATH": path, "RENODE": "/nowhere/renode"})


# ---- process handling, with the stand-in ------------------------------------------------

def test_start_console_and_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_stand_in(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RENODE", raising=False)
    with RenodeBackend(EXAMPLE, uart="sysbus.usart3", startup_timeout=20) as backend:
        assert backend.process is not None
        pid = backend.process.pid
        with SerialConsole(backend.console_url()) as console:
            console.write_line("smtp send --from a@example.com --to b@example.net")
            assert console.wait_for_line("^SMTP: sent", timeout=10).string == (
                "SMTP: sent 250 2.0.0 OK")
        assert (tmp_path / "argv.txt").read_text().splitlines() == backend.command()[1:]
    assert backend.process is None
    assert not running(pid)


def test_the_stand_in_serves_on_after_a_probe_that_reset_the_connection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend's port probe (``_accepts``) connects and closes at once; the console
    connects next. A probe that resets its connection before the stand-in has greeted it
    must not stop the stand-in from serving the console (it did: its single UART thread
    died on the failed send, one run in five)."""
    install_stand_in(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RENODE", raising=False)
    with RenodeBackend(EXAMPLE, uart="sysbus.usart3", startup_timeout=20) as backend:
        for _ in range(3):  # each probe resets (SO_LINGER 0) before reading anything
            with socket.create_connection(("127.0.0.1", backend.port), timeout=5) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with SerialConsole(backend.console_url()) as console:
            console.write_line("smtp send --from a@example.com --to b@example.net")
            assert console.wait_for_line("^SMTP: sent", timeout=5).string == (
                "SMTP: sent 250 2.0.0 OK")


def test_stop_kills_a_renode_that_will_not_quit(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    renode = install_stand_in(tmp_path, ignore_stop=True)
    backend = RenodeBackend(EXAMPLE, renode=str(renode), startup_timeout=20)
    backend.start()
    assert backend.process is not None
    pid = backend.process.pid
    backend.stop(timeout=0.2)
    assert not running(pid)


def test_a_renode_that_exits_early_is_reported_with_its_log(tmp_path: Path) -> None:
    renode = tmp_path / "renode"
    renode.write_text("#!/bin/sh\necho 'There was an error executing command include'\nexit 3\n")
    renode.chmod(0o755)
    backend = RenodeBackend(EXAMPLE, renode=str(renode), log_path=tmp_path / "renode.log")
    with pytest.raises(RenodeError, match=r"(?s)exited with status 3 .*error executing command"):
        backend.start()
    assert backend.process is None
