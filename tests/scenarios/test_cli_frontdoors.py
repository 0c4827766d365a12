"""The command line's front doors: ``--version``, help for every subcommand and argument,
``smtp-hil`` alone, colours (``--color``, ``NO_COLOR``) and the progress line
(scenarios/cli/progress.py)."""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import select
import ssl
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from scenarios.cli.main import build_parser, main
from scenarios.cli.progress import Palette, Progress, done_progress, progress, wants_color

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_subcommand_has_a_description_and_help_for_every_argument() -> None:
    missing = []
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {choice.dest for choice in sub._choices_actions if choice.help}
    for name, command in _subcommands().items():
        if name not in helped:
            missing.append(f"{name}: no one-line help in the list of commands")
        if not command.description:
            missing.append(f"{name}: no description")
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: "
                               f"no help")
    assert not missing, "\n".join(missing)


def test_smtp_hil_alone_prints_the_commands_and_exits_2() -> None:
    code, out, err = _cli()
    assert (code, out) == (2, "")
    assert err.startswith("usage: smtp-hil [-h] [--version] COMMAND ...")
    for name in _subcommands():
        assert re.search(rf"^    {name} +\S", err, re.M), f"{name} is not listed:\n{err}"
    assert "Run 'smtp-hil COMMAND --help'" in err


def test_version_names_the_package_python_and_openssl() -> None:
    proc = subprocess.run([sys.executable, "-m", "scenarios.cli", "--version"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == (f"smtp-hil {version('smtp-hil')} (Python "
                           f"{platform.python_version()}, {ssl.OPENSSL_VERSION})\n")


# ---- colours ---------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("choice", "environ", "tty", "coloured"), [
    ("auto", {}, True, True),
    ("auto", {}, False, False),
    ("auto", {"NO_COLOR": "1"}, True, False),
    ("auto", {"NO_COLOR": ""}, True, True),  # no-color.org: only a non-empty value counts
    ("auto", {"TERM": "dumb"}, True, False),
    ("always", {"NO_COLOR": "1"}, False, True),  # an argument wins over the environment
    ("never", {}, True, False),
])
def test_when_to_colour(choice: str, environ: dict[str, str], tty: bool,
                        coloured: bool) -> None:
    stream = _Terminal() if tty else io.StringIO()
    assert wants_color(stream, choice, environ) is coloured  # type: ignore[arg-type]


def test_color_always_paints_verdicts_and_never_leaves_them_plain() -> None:
    code, out, _ = _cli("run", "blank-line-truncation", "--profile", "2.4", "--color",
                        "always")
    assert code == 1 and out.startswith("\x1b[31mFAIL\x1b[0m blank-line-truncation [2.4 ")
    code, out, _ = _cli("matrix", "-k", "blank-line", "--color", "always")
    assert code == 0 and "\x1b[33m" in out and "\x1b[32m" in out
    # the legend's symbols are coloured as the cells they explain
    assert "\x1b[32m.\x1b[0m passes   \x1b[33mx\x1b[0m fails as the catalog says" in out
    assert out.endswith("matrix matches the catalog for the 1 scenario -k 'blank-line' "
                        "chooses: current passes everything and each release fails exactly "
                        "the scenarios of its bugs\x1b[0m\n")
    code, out, _ = _cli("run", "blank-line-truncation", "--color", "never")
    assert code == 0 and out.startswith("PASS ") and not ANSI.search(out)


def _on_a_terminal(argv: list[str], environ: dict[str, str], stream: str = "stdout") -> str:
    """What the command writes to its standard output (or ``stream="stderr"``: its
    standard error) when that is a terminal; the other goes nowhere."""
    primary, secondary = os.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PYTHONPATH=str(ROOT), **environ)
    terminal = {"stdout": secondary, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen([sys.executable, "-m", "scenarios.cli", *argv], cwd=ROOT,
                            stdout=terminal[stream], env=env,
                            stderr=secondary if stream == "stderr" else subprocess.DEVNULL)
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 60
    while proc.poll() is None or select.select([primary], [], [], 0.1)[0]:
        assert time.monotonic() < deadline
        if select.select([primary], [], [], 0.1)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    os.close(primary)
    proc.wait()
    return seen.decode()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs OS ptys")
def test_a_terminal_gets_colours_unless_no_color_is_set() -> None:
    argv = ["run", "blank-line-truncation"]
    assert "\x1b[32mPASS\x1b[0m" in _on_a_terminal(argv, {"TERM": "xterm"})
    plain = _on_a_terminal(argv, {"TERM": "xterm", "NO_COLOR": "1"})
    assert plain.startswith("PASS blank-line-truncation") and not ANSI.search(plain)


AUDIT_TWO = ["audit", "--profile", "2.0", "--case", "starttls-stripped",
             "--case", "starttls-stripped-cram-md5"]
"""Two audit cases, the first passed and the second failed by release 2.0."""


def test_audit_paints_its_verdicts_as_run_does() -> None:
    code, out, _ = _cli(*AUDIT_TWO, "--color", "always")
    assert code == 1
    assert "\n  \x1b[32mPASS\x1b[0m  starttls-stripped " in out
    assert "\n  \x1b[31mFAIL\x1b[0m  starttls-stripped-cram-md5 " in out
    code, out, _ = _cli(*AUDIT_TWO, "--color", "never")
    assert code == 1 and "\n  PASS  starttls-stripped " in out and not ANSI.search(out)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs OS ptys")
def test_audit_shows_the_case_that_runs_on_a_terminal() -> None:
    """As ``run``: ``[1/2] case  0.0 s`` on standard error, redrawn in place for each
    case and erased at the end."""
    tty = _on_a_terminal(AUDIT_TWO, {"TERM": "xterm"}, stream="stderr")
    assert tty.startswith("\r\x1b[K[1/2] starttls-stripped  0.0 s"), tty
    assert "\r\x1b[K[2/2] starttls-stripped-cram-md5  " in tty
    assert tty.endswith("\r\x1b[K")


def test_a_palette_off_leaves_text_alone() -> None:
    assert Palette(False).paint("FAIL", "fail") == "FAIL"
    assert Palette(True).paint("FAIL", "fail") == "\x1b[31mFAIL\x1b[0m"


# ---- progress --------------------------------------------------------------------------

def test_a_pipe_gets_a_progress_line_periodically_while_work_goes_on() -> None:
    read_fd, write_fd = os.pipe()
    seen = b""
    with os.fdopen(write_fd, "w") as pipe, Progress(
            pipe, total=3, command="smtp-hil test", every_s=0.05) as progress:
        progress.start("slow-scenario on 2.4")
        deadline = time.monotonic() + 30  # one long run: the log must not stay silent
        while seen.count(b"\n") < 3:
            assert time.monotonic() < deadline, seen
            if select.select([read_fd], [], [], 0.5)[0]:
                seen += os.read(read_fd, 4096)
        progress.done()
    os.close(read_fd)
    lines = seen.decode().splitlines()
    assert all(re.fullmatch(r"smtp-hil test: 0 of 3 runs done in \d+\.\d s; running "
                            r"slow-scenario on 2\.4", line) for line in lines[:3]), lines
    assert "\r" not in "".join(lines) and not ANSI.search("".join(lines))


def test_a_terminal_gets_a_live_line_erased_before_results_are_printed() -> None:
    terminal = _Terminal()
    with Progress(terminal, total=2, every_s=0.05) as progress:
        progress.start("starttls on 2.4")
        redrawn = re.compile(r"\r\x1b\[K\[1/2\] starttls on 2\.4  (0\.[1-9]|[1-9]\d*\.\d) s")
        deadline = time.monotonic() + 30
        while not redrawn.search(terminal.getvalue()):  # the time moves, however busy
            assert time.monotonic() < deadline, terminal.getvalue()
            time.sleep(0.05)
        with progress.printing():
            terminal.write("PASS starttls\n")
            progress.done()
    text = terminal.getvalue()
    assert text.startswith("\r\x1b[K[1/2] starttls on 2.4  0.0 s")
    assert text.endswith("\r\x1b[KPASS starttls\n")  # erased first; nothing after the end


def test_a_stream_in_memory_gets_no_progress() -> None:
    memory = io.StringIO()
    with Progress(memory, total=1, every_s=0.01) as progress:
        progress.start("x")
        time.sleep(0.1)
        progress.done()
    assert memory.getvalue() == ""


def test_work_of_unknown_size_shows_what_runs_and_for_how_long_without_a_count() -> None:
    now = [100.0]
    progress = Progress(io.StringIO(), total=None, command="smtp-hil import",
                        clock=lambda: now[0])
    progress.start("reading big.pcap")
    now[0] += 5.0
    assert progress.live_line() == "reading big.pcap  5.0 s"
    assert progress.piped_line() == "smtp-hil import: 5.0 s; running reading big.pcap"


def test_work_on_workers_counts_what_finishes_under_one_line() -> None:
    now = [0.0]
    progress = Progress(io.StringIO(), total=432, command="smtp-hil matrix",
                        clock=lambda: now[0])
    progress.start("on 2 workers")
    now[0] += 3.1
    progress.advance()
    progress.advance()
    assert progress.live_line() == "[3/432] on 2 workers  3.1 s"
    assert progress.piped_line() == ("smtp-hil matrix: 2 of 432 runs done in 3.1 s; running "
                                     "on 2 workers")
    terminal = _Terminal()
    live = Progress(terminal, total=432, live=True, clock=lambda: now[0])
    live.start("on 2 workers")
    live.advance()
    assert terminal.getvalue().endswith("\r\x1b[K[2/432] on 2 workers  0.0 s")


def test_a_line_of_its_own_shows_on_a_terminal_only() -> None:
    terminal, memory = _Terminal(), io.StringIO()
    for stream in (terminal, memory):
        progress(stream, "explore: 120 schedules")
        done_progress(stream)
    assert terminal.getvalue() == "\r\x1b[Kexplore: 120 schedules\r\x1b[K"
    assert memory.getvalue() == ""
