"""Ctrl-C during ``smtp-hil run``, ``smtp-hil matrix`` and ``smtp-hil audit``: what
finished is printed in the normal format, one line says the command was interrupted and
how many runs (cases) were not done, the JUnit file holds the finished runs, the exit
status is 130, no traceback.

Each command runs in a subprocess with standard error on a pseudo-terminal, as at a
prompt (so the progress line shows), and gets SIGINT as soon as it has shown that a
run finished: the first result line of ``run``, the progress of the second run of
``matrix``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import tty
from pathlib import Path
from xml.etree import ElementTree

import pytest

from scenarios.cli.progress import uninterrupted
from scenarios.outside.dut import free_port
from scenarios.outside.interruptible import run_interruptibly
from smtp.profiles import PROFILE_NAMES

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 60.0
RUNS = 300  # far more than can finish before the signal
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
       "PYTHONPATH": str(ROOT)}
"""Standard output as a user's pipe is: block-buffered, so each line must be flushed."""
pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs OS ptys")


class Interrupted:
    """The command's output once it exited after SIGINT."""

    def __init__(self, argv: list[str], cwd: Path, ready: re.Pattern[str],
                 watch: str) -> None:
        primary, secondary = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scenarios.cli", *argv], cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=secondary, env=ENV)
        os.close(secondary)
        assert self.proc.stdout is not None
        watched = self.proc.stdout.fileno() if watch == "stdout" else primary
        seen, tty = b"", b""
        deadline = time.monotonic() + GUARD_S
        while not ready.search((seen if watch == "stdout" else tty).decode(errors="replace")):
            assert time.monotonic() < deadline, f"never ready: {seen!r} {tty[-300:]!r}"
            readable, _, _ = select.select([watched], [], [], 1.0)
            if readable:
                chunk = os.read(watched, 65536)
                assert chunk, f"the command ended before it was interrupted: {tty[-2000:]!r}"
                if watch == "stdout":
                    seen += chunk
                else:
                    tty += chunk
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=GUARD_S)
        self.stdout = (seen + rest).decode()
        self.stderr = (tty + _drain(primary)).decode(errors="replace")
        os.close(primary)
        self.returncode = self.proc.returncode

    def stderr_lines(self) -> list[str]:
        """The lines left on the terminal: the progress line is rewritten in place
        (``\\r`` and erase-line) and must be gone at the end."""
        lines, current = [], ""
        for token in re.split(r"(\r\n|\r\x1b\[K|\n)", self.stderr):
            if token in ("\r\n", "\n"):
                lines.append(current)
                current = ""
            elif token == "\r\x1b[K":
                current = ""
            else:
                current += token
        return [line for line in [*lines, current] if line]


def _drain(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other side is closed
            break
        if not chunk:
            break
        data += chunk
    return data


def test_run_interrupted_prints_the_finished_runs_and_exits_130(tmp_path: Path) -> None:
    junit = tmp_path / "runs.xml"
    done = Interrupted(["run", *["blank-line-truncation"] * RUNS, "--junit", str(junit)],
                       tmp_path, re.compile(r"^PASS ", re.M), watch="stdout")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 130
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith("PASS blank-line-truncation [current seed 0] ")
                         for line in lines), done.stdout
    finished = len(lines)
    assert done.stderr_lines() == [
        f"smtp-hil: interrupted: {finished} of {RUNS} runs done, {RUNS - finished} not done"]
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    assert len(list(cases)) == finished


@pytest.mark.parametrize("jobs", [1, 2])
def test_matrix_interrupted_prints_the_finished_rows_and_exits_130(tmp_path: Path,
                                                                   jobs: int) -> None:
    """One job runs the catalog in order, so what finished is a prefix; with two the
    heaviest runs go first and the finished cells are wherever they are in the grid."""
    junit, report = tmp_path / "matrix.xml", tmp_path / "matrix.html"
    done = Interrupted(["matrix", "--jobs", str(jobs), "--junit", str(junit),
                        "--report", str(report)], tmp_path, re.compile(r"\[3/\d+\]"),
                       watch="tty")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 130
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["scenario", *PROFILE_NAMES]
    rows = [line.split() for line in lines[1:lines.index("")]]
    cells = [cell for row in rows for cell in row[1:]]
    finished = sum(cell != "-" for cell in cells)
    assert finished >= 2 and all(len(row) == len(PROFILE_NAMES) + 1 for row in rows)
    assert all(any(cell != "-" for cell in row[1:]) for row in rows), rows
    if jobs == 1:
        assert "-" not in cells[:finished] and set(cells[finished:]) <= {"-"}, rows
    assert f"{finished} runs, " in done.stdout
    assert "matrix matches the catalog" not in done.stdout
    [problem] = done.stderr_lines()
    progress = re.search(r"\[\d+/(\d+)\]", done.stderr)
    assert progress is not None
    total = int(progress[1])
    assert problem == (f"smtp-hil: interrupted: {finished} of {total} runs done, "
                       f"{total - finished} not done")
    assert len(list(ElementTree.parse(junit).getroot().iter("testcase"))) == finished
    html = report.read_text()  # the finished runs, listed: no grid of a matrix not done
    assert html.count('<script type="application/json" id="run-data-') == finished
    assert 'id="matrix"' not in html and f"interrupted after {finished} runs" in html


def test_matrix_json_interrupted_says_so(tmp_path: Path) -> None:
    done = Interrupted(["matrix", "--json"], tmp_path, re.compile(r"\[3/\d+\]"), watch="tty")
    assert done.returncode == 130, done.stderr
    data = json.loads(done.stdout)
    assert data["interrupted"] is True
    assert data["runs"] >= 2 and data["not_done"] > 0
    assert sum(len(row["cells"]) for row in data["rows"]) == data["runs"]


def test_ctrl_c_while_the_command_line_is_imported_exits_130_without_a_traceback() -> None:
    """The console script imports the command line inside its entry function; a Ctrl-C
    during those imports (made to happen here by an import hook) is handled too."""
    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def hook(name, *args, **kwargs):\n"
            "    if name == 'scenarios.cli.main':\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *args, **kwargs)\n"
            "builtins.__import__ = hook\n"
            "from scenarios.cli.entry import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=GUARD_S, check=False, env=ENV, cwd=ROOT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "smtp-hil: interrupted\n")


def test_the_console_script_is_the_entry_module() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["smtp-hil"] == "scenarios.cli.entry:main"


DUT_TIME_CAP_S = 300
"""The client program's time limit in the ``--dut`` tests: far beyond the guard, so a
Ctrl-C that only took effect when the program's time ran out fails the test."""
INTERRUPT_FROM_A_THREAD = (
    "import signal, sys, threading, time\n"
    "from pathlib import Path\n"
    "marker, words = Path(sys.argv[1]), int(sys.argv[2])\n"
    "def interrupt():\n"
    "    while not (marker.exists() and len(marker.read_text().split()) == words):\n"
    "        time.sleep(0.05)\n"
    "    signal.pthread_kill(threading.get_ident(), signal.SIGINT)\n"
    "threading.Thread(target=interrupt, daemon=True).start()\n"
    "from scenarios.cli.main import main\n"
    "sys.exit(main(sys.argv[3:]))\n")
"""The command line in a process where a thread other than the main one takes the
SIGINT once a file holds so many words (as soon as the command has got where the test
wants it), as the kernel may choose for a signal sent to the process (any thread that
does not block it may receive it)."""


def interruptible(argv: list[str], receiver: str, marker: Path, words: int) -> list[str]:
    """``smtp-hil ARGV`` as a command: as it is (the test sends SIGINT to the process),
    or (``receiver`` "another thread") interrupted by one of its threads once ``marker``
    holds ``words`` words."""
    if receiver == "process":
        return [sys.executable, "-m", "scenarios.cli", *argv]
    return [sys.executable, "-c", INTERRUPT_FROM_A_THREAD, str(marker), str(words), *argv]


class ProgramInterrupted:
    """A command that runs the client program of ``hang.toml`` (which starts a child and
    waits for it, writing both process ids to a file) once it is interrupted: SIGINT sent
    to the process or taken by another of its threads as soon as the program runs."""

    def __init__(self, tmp_path: Path, argv: list[str], receiver: str) -> None:
        pids = tmp_path / "pids"
        self.dut = tmp_path / "hang.toml"
        self.dut.write_text(f'[client]\nname = "hang"\ncommand = ["sh", "-c", '
                            f'"sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"]\n'
                            f'[client.security]\nnone = []\n')
        argv = [*argv, "--dut", str(self.dut), "--time-cap", str(DUT_TIME_CAP_S)]
        command = interruptible(argv, receiver, pids, 2)
        primary, secondary = os.openpty()
        proc = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=secondary, env=ENV)
        os.close(secondary)
        self.started: list[int] = []
        try:
            deadline = time.monotonic() + GUARD_S
            while not (pids.exists() and len(pids.read_text().split()) == 2):
                assert time.monotonic() < deadline and proc.poll() is None, \
                    "the program never ran"
                time.sleep(0.05)
            self.started = [int(pid) for pid in pids.read_text().split()]
            if receiver == "process":
                proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=GUARD_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"smtp-hil did not exit within {GUARD_S:g} s of SIGINT (received "
                            f"by {'the process' if receiver == 'process' else receiver}): "
                            f"the Ctrl-C waited for the program's time limit "
                            f"({DUT_TIME_CAP_S} s)")
        finally:
            proc.kill()
            proc.wait()
            for pid in self.started:  # whatever a failed run left
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.stdout = out.decode()
        self.tty = _drain(primary).decode(errors="replace")
        os.close(primary)
        self.returncode = proc.returncode
        self.tty_lines = [line for line in re.split(r"\r\n|\r\x1b\[K|\n", self.tty) if line]

    def program_is_gone(self) -> bool:
        """The program and what it started are gone (or zombies)."""
        return all(not Path(f"/proc/{pid}").exists() or "\nState:\tZ" in Path(
            f"/proc/{pid}/status").read_text() for pid in self.started)


@pytest.mark.parametrize("receiver", ["process", "another thread"])
def test_run_with_a_client_program_interrupted_kills_it_and_exits_130(
        tmp_path: Path, receiver: str) -> None:
    """Ctrl-C while a client program runs: the program's process group is killed, the
    command says how far it got and exits 130, at once, whichever thread of the process
    takes the signal. Python runs signal handlers on the main thread only; a SIGINT
    received by another thread (in Python 3.11, the one asyncio starts to wait for the
    program) while the main thread slept in the event loop used to take effect only when
    the program's time limit ran out."""
    done = ProgramInterrupted(tmp_path, ["run", "date-header", "blank-line-truncation"],
                              receiver)
    assert done.returncode == 130, done.tty
    assert done.stdout == ""
    assert "Traceback" not in done.tty
    assert done.tty_lines[-1] == "smtp-hil: interrupted: 0 of 2 runs done, 2 not done", \
        done.tty_lines
    assert done.program_is_gone()


@pytest.mark.parametrize("receiver", ["process", "another thread"])
def test_audit_of_a_client_program_interrupted_prints_the_cases_judged_and_exits_130(
        tmp_path: Path, receiver: str) -> None:
    """``audit --dut``, as ``run --dut``: Ctrl-C while the program of the second case
    runs kills it at once, whichever thread takes the signal; the scorecard of the case
    judged before it and the summary so far are printed, and the status is 130. The
    audit ran each program with plain asyncio.run: the Ctrl-C waited for the time cap,
    and nothing but "interrupted" was printed."""
    done = ProgramInterrupted(
        tmp_path, ["audit", "--case", "starttls-stripped", "--case", "smuggling-bdat"],
        receiver)
    assert done.returncode == 130, done.tty
    assert "Traceback" not in done.tty
    lines = done.stdout.splitlines()
    assert lines[0] == f"smtp-hil audit: hang ({done.dut}), 2 cases"
    assert lines[1:3] == ["", "STARTTLS stripping and injection"]
    assert lines[3].split()[:2] == ["N/A", "starttls-stripped"]
    assert lines[4:] == ["", "Summary so far: 0 pass, 0 fail, 1 not applicable (1 of 2 "
                             "cases; interrupted, 1 not done)"]
    assert done.tty_lines[-1] == "smtp-hil: interrupted: 1 of 2 cases done, 1 not done", \
        done.tty_lines
    assert done.program_is_gone()


def test_audit_json_interrupted_says_so_and_reports_the_cases_judged(tmp_path: Path) -> None:
    report = tmp_path / "audit.html"
    done = ProgramInterrupted(
        tmp_path, ["audit", "--json", "--report", str(report), "--case", "starttls-stripped",
                   "--case", "smuggling-bdat"], "process")
    assert done.returncode == 130, done.tty
    data = json.loads(done.stdout)
    assert (data["interrupted"], data["not_done"]) == (True, 1)
    assert [case["scenario"] for case in data["cases"]] == ["starttls-stripped"]
    assert data["summary"] == {"pass": 0, "fail": 0, "not_applicable": 1, "cases": 1,
                               "exit": 130}
    html = report.read_text()
    assert "Summary so far: 0 pass, 0 fail, 1 not applicable (1 of 2 cases; interrupted, " \
           "1 not done)" in html


def test_a_result_is_counted_whole_when_another_thread_receives_the_sigint() -> None:
    """:func:`uninterrupted`: a SIGINT that a thread other than the main one receives
    during the block (one of a process pool's threads, in ``matrix --jobs``: the kernel
    may hand a process's signal to any thread that does not block it) waits until the
    block has ended. Blocking SIGINT on the main thread alone let it through."""
    steps: list[str] = []
    go = threading.Event()

    def receive_a_sigint() -> None:  # started before the block, as a pool's threads are
        go.wait()
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    other = threading.Thread(target=receive_a_sigint)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt), uninterrupted():
            steps.append("printed")
            go.set()
            other.join()  # the main thread runs Python's handler as soon as it can
            steps.append("counted")
    finally:
        go.set()
        other.join()
        signal.signal(signal.SIGINT, previous)
    assert steps == ["printed", "counted"]


def test_a_ctrl_c_is_not_lost_when_the_coroutine_swallows_its_cancellation() -> None:
    """asyncio.run returns what a coroutine that catches its cancellation returns, and
    the Ctrl-C is gone; run_interruptibly raises KeyboardInterrupt all the same, after the
    coroutine ended."""
    ended: list[str] = []

    async def swallows() -> str:
        asyncio.get_running_loop().call_later(0.05, signal.raise_signal, signal.SIGINT)
        try:
            await asyncio.sleep(GUARD_S)
        except asyncio.CancelledError:
            ended.append("cancelled")
        return "finished anyway"

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_interruptibly(swallows)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ended == ["cancelled"]


class SilentBoard:
    """A board console played here, over a pty or a TCP socket (``socket://``): it
    answers ``version`` and queues every ``smtp send`` (``OK:``), then never reports the
    job's end, as a board whose mail hangs. :attr:`job_typed` is set once a job was
    typed: the audit is then waiting on the console."""

    def __init__(self, kind: str) -> None:
        self.job_typed = threading.Event()
        self._closing: list[int] = []
        if kind == "pty":
            primary, secondary = os.openpty()
            tty.setraw(secondary)
            self.url = os.ttyname(secondary)
            self._closing = [primary, secondary]  # the pty lives while the test runs
            self._fd = primary
            self._thread = threading.Thread(target=self._serve, daemon=True)
        else:
            self._server = socket.create_server(("127.0.0.1", 0))
            self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
            self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        conn, _ = self._server.accept()
        self._closing.append(conn.detach())
        self._fd = self._closing[-1]
        self._serve()

    def _serve(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = re.split(rb"\r\n|\r|\n", pending)
            for line in lines:
                if line == b"version":
                    os.write(self._fd, b"VERSION: release=silent ip_stack=none\r\n")
                elif line.startswith(b"smtp send "):
                    os.write(self._fd, b"OK: queued=mail job=1\r\n")
                    self.job_typed.set()

    def close(self) -> None:
        if hasattr(self, "_server"):
            self._server.close()
        for fd in self._closing:
            with contextlib.suppress(OSError):
                os.close(fd)


BOARD_CASE_S = 300
"""The board audit's time for a case in these tests: far beyond the guard, so a Ctrl-C
that waited for the console read in progress fails the test."""


@pytest.mark.parametrize(("console", "receiver"), [("pty", "process"), ("socket", "process"),
                                                   ("pty", "another thread")])
def test_audit_of_a_board_interrupted_stops_the_console_read_and_exits_130(
        tmp_path: Path, console: str, receiver: str) -> None:
    """``audit --board``, as ``audit --dut``: Ctrl-C while the audit waits on the
    board's console for the second case's end stops the read at once, whichever thread
    of the process takes the signal; the case judged before it and the summary so far
    are printed, the status is 130. The console was read in a worker thread for as long
    as the case may take (``timeouts.case_s``), and the Ctrl-C waited for that read to
    return."""
    board = SilentBoard(console)
    config = tmp_path / "board.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\nsecurity = "none"\n'
                      f"[timeouts]\ncommand_s = 5\ncase_s = {BOARD_CASE_S}\n")
    marker = tmp_path / "job-typed"
    argv = ["audit", "--board", board.url, "--board-config", str(config), "--case",
            "starttls-stripped", "--case", "greeting-221"]
    command = interruptible(argv, receiver, marker, 1)
    primary, secondary = os.openpty()
    proc = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=secondary, env=ENV)
    os.close(secondary)
    try:
        assert board.job_typed.wait(GUARD_S), "the audit never typed a job"
        if receiver == "process":
            proc.send_signal(signal.SIGINT)
        else:
            marker.write_text("typed")
        try:
            out, _ = proc.communicate(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"smtp-hil did not exit within {GUARD_S:g} s of SIGINT: the Ctrl-C "
                        f"waited for the console read ({BOARD_CASE_S} s)")
    finally:
        proc.kill()
        proc.wait()
        board.close()
    tty_text = _drain(primary).decode(errors="replace")
    os.close(primary)
    tty_lines = [line for line in re.split(r"\r\n|\r\x1b\[K|\n", tty_text) if line]
    assert proc.returncode == 130, tty_text
    assert "Traceback" not in tty_text
    lines = out.decode().splitlines()
    assert lines[0].startswith(f"smtp-hil audit: board {board.url} (VERSION: release=silent")
    assert lines[0].endswith("), 2 cases")
    assert lines[1:3] == ["", "STARTTLS stripping and injection"]
    assert lines[3].split()[:2] == ["N/A", "starttls-stripped"]
    assert lines[4:] == ["", "Summary so far: 0 pass, 0 fail, 1 not applicable (1 of 2 "
                             "cases; interrupted, 1 not done)"]
    assert tty_lines[-1] == "smtp-hil: interrupted: 1 of 2 cases done, 1 not done", tty_lines
