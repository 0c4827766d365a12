"""Renode as a backend: a real firmware image on an emulated board, its UART on a socket.

:class:`RenodeBackend` starts Renode headless, includes a ``.resc`` script (which creates
the machine and loads the firmware but does not ``start``), opens a server socket
terminal, connects the board's UART to it and starts the emulation. The console is then
``socket://127.0.0.1:<port>`` (:meth:`RenodeBackend.console_url`), which
:class:`emulator.backends.serialboard.SerialConsole` opens like any serial port.
``renode_example.resc`` beside this module is a documented example script. Renode runs in
real time, outside the simulation: this module reads the wall clock (to wait for Renode's
ports) and starts OS processes; nothing of it is part of a deterministic run.

The monitor commands it runs, in order, after Renode has started::

    $elf=@/path/fw.elf                                  (one per ``variables`` entry)
    include @/path/board.resc
    emulation CreateServerSocketTerminal <port> "smtp-hil-uart" false
    connector Connect sysbus.uart0 smtp-hil-uart
    start

Known traps, handled here:

- Renode's server socket terminal speaks telnet by default: the first bytes a client
  reads are IAC negotiation. The third argument (``emitConfig``, ``telnetMode`` in newer
  releases) is ``false`` here; :class:`SerialConsole` strips IAC bytes anyway.
- ``renode-test`` runs a Robot Framework server on a fixed port (9999 in older releases)
  unless told otherwise, so two parallel runs clash: :func:`renode_test_command` passes
  a free port. This backend itself picks free ports for the UART and the monitor.
- Renode is not in the package registries these machines use (PyPI, Debian). When it is
  missing, :class:`RenodeNotFound` says exactly that, what to install and which
  variable to set (:data:`RENODE_MISSING`).

The emulation starts as soon as the terminal is connected, before any console client
is: what the firmware prints at boot is gone by the time :meth:`console_url` is opened.
Drive the console with commands and wait for their answers.

Finding Renode: the ``renode`` argument, else the ``RENODE`` variable, else ``renode`` on
``PATH``, else ``renode-run`` on ``PATH`` (``renode-run exec -- ...``).

This module knows Renode's command line and monitor syntax, processes and TCP ports; it
is outside the simulation (wall clock, OS processes and sockets) and knows nothing about
SMTP or scenarios.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

TERMINAL_NAME: Final = "smtp-hil-uart"

RENODE_MISSING: Final = (
    "Renode was not found: no 'renode' on PATH, the RENODE variable is not set, and "
    "'renode-run' is not installed. Renode cannot be installed from the package registries "
    "these machines use (it is on neither PyPI nor Debian). Install the Linux portable "
    "release from https://github.com/renode/renode/releases (unpack it, then put its "
    "folder on PATH or set RENODE=/path/to/renode), or install renode-run with "
    "'pip install git+https://github.com/antmicro/renode-run' and run 'renode-run download'."
)
"""What :class:`RenodeNotFound` says when no Renode can be found."""


class RenodeNotFound(FileNotFoundError):
    """No Renode to run; the message says what to install and which variable to set."""


class RenodeError(RuntimeError):
    """Renode started but did not come up (it exited, or its UART port never opened)."""


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def find_renode(environ: Mapping[str, str] | None = None) -> list[str]:
    """The command that runs Renode: ``[renode]`` or ``[renode-run, exec, --]``."""
    env = os.environ if environ is None else environ
    path = env.get("PATH", "")
    configured = env.get("RENODE")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return [configured]
        found = shutil.which(configured, path=path)
        if found is None:
            raise RenodeNotFound(f"RENODE={configured}: not an executable file. "
                                 f"{RENODE_MISSING}")
        return [found]
    renode = shutil.which("renode", path=path)
    if renode is not None:
        return [renode]
    renode_run = shutil.which("renode-run", path=path)
    if renode_run is not None:
        return [renode_run, "exec", "--"]
    raise RenodeNotFound(RENODE_MISSING)


def renode_test_command(robot_file: Path, *, port: int | None = None,
                        renode_test: str = "renode-test") -> list[str]:
    """``renode-test`` on ``robot_file`` with its Robot server on a free port, so that
    parallel runs do not clash on the default one."""
    chosen = free_port() if port is None else port
    return [renode_test, "--robot-framework-remote-server-port", str(chosen), str(robot_file)]


def _monitor_path(name: str, path: Path) -> str:
    text = str(path.resolve())
    if any(ch.isspace() or ch == '"' for ch in text):
        raise ValueError(f"{name}: Renode's monitor takes paths without spaces or quotes, "
                         f"got {text!r}")
    return "@" + text


def _variable_value(name: str, value: str | Path) -> str:
    if isinstance(value, Path):
        return _monitor_path(f"variables[{name!r}]", value)
    if '"' in value or "\n" in value:
        raise ValueError(f"variables[{name!r}]: expected text without quotes or line breaks, "
                         f"got {value!r}")
    return f'"{value}"'


class RenodeBackend:
    """One Renode process running ``resc`` with ``uart`` on a server socket terminal."""

    def __init__(self, resc: Path, *, uart: str = "sysbus.uart0", port: int | None = None,
                 renode: str | None = None, monitor_port: int | None = None,
                 variables: Mapping[str, str | Path] | None = None,
                 startup_timeout: float = 60.0, log_path: Path | None = None) -> None:
        if not isinstance(resc, Path):
            raise ValueError(f"resc: expected a pathlib.Path, got {type(resc).__name__}")
        if not uart or any(ch.isspace() for ch in uart):
            raise ValueError(f"uart: expected a peripheral name like sysbus.uart0, got {uart!r}")
        for name, value in (("port", port), ("monitor_port", monitor_port)):
            if value is not None and (not isinstance(value, int) or not 1 <= value <= 65535):
                raise ValueError(f"{name}: expected a TCP port 1-65535, got {value!r}")
        for key in variables or {}:
            if not key.isidentifier():
                raise ValueError(f"variables: expected names like elf, got {key!r}")
        self.resc = resc
        self.uart = uart
        self.port = free_port() if port is None else port
        self.monitor_port = free_port() if monitor_port is None else monitor_port
        self.renode = renode
        self.variables = dict(variables or {})
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def monitor_commands(self) -> list[str]:
        """The monitor commands run at startup (see the module docstring)."""
        commands = [f"${name}={_variable_value(name, value)}"
                    for name, value in self.variables.items()]
        return [*commands,
                f"include {_monitor_path('resc', self.resc)}",
                f'emulation CreateServerSocketTerminal {self.port} "{TERMINAL_NAME}" false',
                f"connector Connect {self.uart} {TERMINAL_NAME}",
                "start"]

    def command(self) -> list[str]:
        """The whole command line; raises RenodeNotFound when there is no Renode."""
        launcher = [self.renode] if self.renode else find_renode()
        line = [*launcher, "--disable-xwt", "--plain", "--port", str(self.monitor_port)]
        for command in self.monitor_commands():
            line += ["-e", command]
        return line

    def console_url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start Renode and wait until the UART terminal accepts connections."""
        if self.process is not None:
            raise RenodeError("Renode is already running for this backend")
        line = self.command()
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="renode-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(line, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while not self._accepts(self.port):
            if self.process.poll() is not None:
                status = self.process.returncode
                self.process = None
                raise RenodeError(f"Renode exited with status {status} before its UART "
                                  f"terminal opened; log:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RenodeError(f"Renode's UART terminal on port {self.port} did not open "
                                  f"within {self.startup_timeout} s; log:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the monitor to quit, then terminate, then kill the process group."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.monitor_port), timeout=1.0) as monitor:
                monitor.sendall(b"quit\n")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
            else:
                break
        process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # helpers renode-run left behind

    def __enter__(self) -> RenodeBackend:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text) or "(empty log)"
