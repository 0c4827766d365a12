"""Every command and code sample of the READMEs runs, as written, so the documents cannot
drift from what the tools do.

Each code block of :data:`DOCUMENTS` is one test, in document order, in one workspace
per document: a fresh folder holding links to the checkout's files (``.venv``,
``scenarios/``, ``tests/``, ``Makefile`` ...), where what the commands write (``out/``,
``run.html``, ``customer.toml``) stays. Blocks run in order because later ones may read
what earlier ones wrote (under ``pytest -n``, keep the module on one worker: ``--dist
loadfile``, as ``make test`` does; with the default ``load`` a block can land on another
worker than the one that wrote what it reads, and fail).

- **Shell blocks** (indented, or fenced ``sh``/``console``/``shell``/``bash``/no
  language): a line whose first word is a program (``.venv/bin/...``, ``make``,
  ``tshark``, ``grep``, ``printf`` ... :data:`PROGRAMS`, after any ``NAME=value``) is a
  command, a ``\\`` at its end continues it, and the lines up to the next command are
  its documented output. Each command runs in bash. Its exit status must be 1 when its
  output shows a failure (``FAIL``, ``N/A``, ``UNEXPECTED``, pytest's ``E`` lines or
  ``failed``), else 0; with no output shown, the harness's own commands (``smtp-hil``,
  ``pytest``, ``robot``) may also exit 1 (a run or test that fails is a result). Never a
  traceback. The documented output must appear in what the command printed, whitespace
  aside, ``...`` standing for anything, a number after ``wall`` for any number, and a
  path under ``/tmp/`` for any path. A command ending in ``&`` runs in the background
  (until it prints its first line) while the rest of the block runs, and is stopped at
  the block's end.
- **python** blocks run as a script; **toml** blocks are loaded as what they are (a
  scenario file, a fragment of one, a DUT file, a device configuration);
  **robotframework** blocks run as a suite. Any other language fails the test: say what
  it is, or mark it.

A block that cannot run here is marked by an HTML comment on the line before it (or
before its first command), which Markdown does not show; its reason is printed as the
test's skip:

- ``<!-- doc-test: skip: REASON -->``: the whole block;
- ``<!-- doc-test: skip `COMMAND`: REASON -->``: the commands starting with ``COMMAND``
  (the others run; the test then skips with the reason after running them);
- ``<!-- doc-test: needs PROGRAM -->``: skip unless ``PROGRAM`` is installed (``lwip``:
  the lwIP firmware is built);
- ``<!-- doc-test: same as PATH -->``: the block is the file ``PATH``, word for word;
- ``<!-- doc-test: output not compared: REASON -->``: run the commands, but their
  output varies (a random port, a temporary folder).

A new section's blocks are tested without anything to register: write commands that
work when typed literally, or mark the ones that cannot run here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]
DOCUMENTS: Final = ("README.md", "scenarios/README.md", "bench/README.md")
PROGRAMS: Final = frozenset({
    "make", "tshark", "grep", "printf", "cat", "curl", "swaks", "msmtp", "python3",
    "xdg-open", "tcpdump", "gcc", "renode", "pip", "ls", "cd", "echo", "diff"})
"""First words that make a line a command (besides anything under ``.venv/bin/``)."""
HARNESS: Final = (".venv/bin/smtp-hil", ".venv/bin/pytest", ".venv/bin/python -m robot",
                  "make robot", "make run")
"""Commands whose exit status 1 is a result (a run or a test failed), not an error."""
SHELL_LANGUAGES: Final = frozenset({"", "sh", "shell", "console", "bash"})
COMMAND_TIMEOUT_S: Final = 600.0
BACKGROUND_READY_S: Final = 60.0
FAILURE_WORDS: Final = re.compile(r"^(FAIL|N/A|UNEXPECTED|E )|\bfailed\b", re.M)
MARKER: Final = re.compile(r"^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$")
FENCE: Final = re.compile(r"^(\s*)```\s*([\w-]*)\s*$")
NESTED: Final = "SMTP_HIL_DOC_TEST"
"""Set for every command run: a documented command that runs the test suite (``make
test``, unmarked) must not run these tests again, and again."""

pytestmark = pytest.mark.skipif(os.environ.get(NESTED) == "1", reason=(
    "inside a command of the READMEs run by tests/test_docs.py: not run again"))


# ---- finding the blocks ------------------------------------------------------------------

@dataclass
class Block:
    """One code block: where it starts, its language (None: indented), its text, and the
    markers written before it."""

    document: str
    line: int
    language: str | None
    text: str
    markers: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.document}:{self.line}"


def _dedent(lines: list[str]) -> str:
    width = min((len(s) - len(s.lstrip()) for s in lines if s.strip()), default=0)
    return "\n".join(s[width:] for s in lines).strip("\n") + "\n"


def blocks_of(document: str) -> list[Block]:
    """The code blocks of ``document`` (fenced, and indented by four spaces or more after a
    blank line), each with the ``doc-test`` markers just before it."""
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    markers: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        marker, fence = MARKER.match(line), FENCE.match(line)
        if marker:
            markers.append(marker[1])
        elif fence:
            end = next(i for i in range(index + 1, len(lines))
                       if lines[i].strip() == "```")
            found.append(Block(document, index + 1, fence[2], _dedent(lines[index + 1:end]),
                               markers))
            markers, index = [], end
        elif line.startswith("    ") and line.strip() and (index == 0
                                                            or not lines[index - 1].strip()):
            start = index
            while index + 1 < len(lines) and (
                    lines[index + 1].startswith("    ") or (
                        not lines[index + 1].strip() and index + 2 < len(lines)
                        and lines[index + 2].startswith("    "))):
                index += 1
            found.append(Block(document, start + 1, None, _dedent(lines[start:index + 1]),
                               markers))
            markers = []
        elif line.strip():
            markers = []  # a marker belongs to the block right after it
        index += 1
    return found


def _all_blocks() -> Iterator[pytest.ParameterSet]:
    for document in DOCUMENTS:
        for block in blocks_of(document):
            yield pytest.param(block, id=block.name)


# ---- the workspace -----------------------------------------------------------------------

def _tracked_top_level() -> set[str]:
    """The checkout's top-level files and folders (tracked, or new and not ignored: never
    what earlier commands left, such as ``out/``), and ``.venv``."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    return {path.split("/", 1)[0] for path in listed} | {".venv"}


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder per document, with links to the checkout's files."""
    names = _tracked_top_level()
    out = {}
    for document in DOCUMENTS:
        folder = tmp_path_factory.mktemp(Path(document).stem.lower())
        for name in sorted(names):
            if (ROOT / name).exists():
                (folder / name).symlink_to(ROOT / name)
        out[document] = folder
        _write_shims(folder.parent / SHIMS)
    return out


# ---- shell blocks ------------------------------------------------------------------------

@dataclass
class Command:
    text: str
    shown: list[str]

    @property
    def background(self) -> bool:
        return self.text.rstrip().endswith("&")


def _is_command(line: str) -> bool:
    words = line.split()
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words = words[1:]
    return bool(words) and (words[0].startswith(".venv/bin/") or words[0] in PROGRAMS)


def commands_of(text: str) -> list[Command]:
    commands: list[Command] = []
    for line in text.splitlines():
        if commands and commands[-1].text.endswith("\\"):  # continued
            commands[-1].text += "\n" + line
        elif _is_command(line):
            commands.append(Command(line, []))
        elif commands and line.strip():
            commands[-1].shown.append(line.strip())
    return commands


def shown_pattern(shown: list[str]) -> re.Pattern[str]:
    """The documented output as a pattern over whitespace-collapsed actual output."""
    parts = []
    for token in " ".join(shown).split():
        if token.startswith("/tmp/"):
            parts.append(r"\S+")
        else:
            parts.append(re.escape(token).replace(r"\.\.\.", ".*?"))
    text = r"\s+".join(parts)
    text = re.sub(r"wall\\s\+\d+(?:\\\.\d+)?", r"wall\\s+[\\d.]+", text)
    return re.compile(text, re.S)


def expected_statuses(command: Command) -> set[int]:
    shown = "\n".join(command.shown)
    if shown:
        return {1} if FAILURE_WORDS.search(shown) else {0}
    return {0, 1} if command.text.startswith(HARNESS) else {0}


def _skip_prefixes(block: Block) -> dict[str, str]:
    out = {}
    for marker in block.markers:
        found = re.fullmatch(r"skip `([^`]+)`:\s*(.+)", marker)
        if found:
            out[found[1]] = found[2]
    return out


SHIMS: Final = "doc-test-bin"
"""A folder beside the workspaces, first on ``PATH`` for every command: its ``make`` never
remakes ``.venv/.installed``, so a documented ``make robot`` cannot reinstall the
checkout's ``.venv`` (a link in the workspace) as an editable install of the workspace
when ``pyproject.toml`` is newer than the stamp; ``make test`` keeps the ``.venv`` fresh."""


def _environment(cwd: Path) -> dict[str, str]:
    path = f"{cwd.parent / SHIMS}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, NESTED: "1", "PATH": path}


def _write_shims(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    make = shutil.which("make")
    if make is not None:
        shim = folder / "make"
        shim.write_text(f'#!/bin/sh\nexec {make} -o .venv/.installed "$@"\n')
        shim.chmod(0o755)


def _start_background(command: Command, cwd: Path) -> subprocess.Popen[str]:
    """Start it; return once it has printed its first line and is still running."""
    process = subprocess.Popen(["bash", "-c", f"exec {command.text.rstrip()[:-1]}"], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env=_environment(cwd))
    assert process.stdout is not None
    deadline = time.monotonic() + BACKGROUND_READY_S
    first = process.stdout.readline()
    time.sleep(0.3)  # a command that fails says so and ends at once
    assert first and process.poll() is None and time.monotonic() < deadline, (
        f"{command.text}: ended (status {process.poll()}) after printing {first!r}")
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_shell_block(block: Block, cwd: Path) -> tuple[int, list[str]]:
    """Run every command; how many ran, and the ones not run with their reasons."""
    skipped = _skip_prefixes(block)
    compare = not any(m.startswith("output not compared") for m in block.markers)
    not_run: list[str] = []
    ran = 0
    background: list[subprocess.Popen[str]] = []
    try:
        for command in commands_of(block.text):
            reason = next((why for prefix, why in skipped.items()
                           if command.text.startswith(prefix)), None)
            if reason is not None:
                not_run.append(f"`{command.text.splitlines()[0]}`: {reason}")
                continue
            ran += 1
            if command.background:
                background.append(_start_background(command, cwd))
                continue
            done = subprocess.run(["bash", "-c", command.text], cwd=cwd, capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT_S, check=False,
                                  stdin=subprocess.DEVNULL, env=_environment(cwd))
            said = done.stdout + done.stderr
            where = f"{block.name}: {command.text}"
            assert "Traceback (most recent call last)" not in said, f"{where}\n{said[-3000:]}"
            assert done.returncode in expected_statuses(command), (
                f"{where}: exit status {done.returncode}\n{said[-3000:]}")
            if compare and command.shown:
                actual = " ".join(said.split())
                assert shown_pattern(command.shown).search(actual), (
                    f"{where}: the README shows\n  " + "\n  ".join(command.shown)
                    + f"\nbut it printed\n{said[-3000:]}")
    finally:
        for process in background:
            _stop(process)
    return ran, not_run


# ---- the other languages -------------------------------------------------------------------

SCENARIO_BASE: Final = """
[scenario]
name = "doc-fragment"
title = "a fragment of a README, in a scenario of its own"

[job]
from = "a@example.com"
to = ["b@example.net"]

[expect]
event = "sent"
"""

AUDIT_CASE_BASE: Final = """
[scenario]
name = "doc-audit-fragment"
title = "a [scenario.audit] fragment of a README, in an audit case of its own"
tags = ["security"]

[job]
from = "a@example.com"
to = ["b@example.net"]
body = "Hello.\\n"

[expect]
event = "sent"
body_exact = true
"""
"""An audit case (tagged, with the body_exact check an advisory may name) for a
``[scenario.audit]`` fragment."""


def check_toml(block: Block, cwd: Path) -> None:
    # the project's loaders, imported here: collecting this module must stay quick
    from scenarios.format import parse_scenario
    from scenarios.outside.dutfile import DutFile
    from smtp.config import load_config

    data = tomllib.loads(block.text)
    path = cwd / f"doc-block-{block.line}.toml"
    if set(data.get("scenario", {})) == {"audit"}:  # [scenario.audit] alone
        parse_scenario(AUDIT_CASE_BASE + block.text, source=block.name)
    elif "scenario" in data:
        parse_scenario(block.text, source=block.name)
    elif "client" in data:
        path.write_text(block.text)
        DutFile.load(path)
    elif set(data) <= {"device", "link", "server"}:  # a fragment: in a scenario of its own
        parse_scenario(SCENARIO_BASE + block.text, source=block.name)
    else:
        path.write_text(block.text)
        load_config(path)


def run_python(block: Block, cwd: Path) -> None:
    path = cwd / f"doc-block-{block.line}.py"
    path.write_text(block.text)
    done = subprocess.run([str(cwd / ".venv/bin/python"), path.name], cwd=cwd,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                          check=False, stdin=subprocess.DEVNULL, env=_environment(cwd))
    assert done.returncode == 0, f"{block.name}\n{(done.stdout + done.stderr)[-3000:]}"


def run_robot(block: Block, cwd: Path) -> None:
    path = cwd / f"doc-block-{block.line}.robot"
    path.write_text(block.text)
    done = subprocess.run([str(cwd / ".venv/bin/python"), "-m", "robot", "--outputdir",
                           f"build/doc-robot-{block.line}", "--consolecolors", "off",
                           path.name], cwd=cwd, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False, env=_environment(cwd))
    assert done.returncode == 0, f"{block.name}\n{done.stdout[-3000:]}"


# ---- the test ------------------------------------------------------------------------------

def _installed(program: str) -> bool:
    if program == "lwip":
        return (ROOT / "build" / "lwip" / "libhil_lwip.so").is_file()
    return shutil.which(program) is not None


@pytest.mark.parametrize("block", list(_all_blocks()))
def test_block(block: Block, workspaces: dict[str, Path]) -> None:
    cwd = workspaces[block.document]
    for marker in block.markers:
        if marker.startswith("skip:"):
            pytest.skip(f"{block.name}: {marker[len('skip:'):].strip()}")
        needs = re.fullmatch(r"needs (.+)", marker)
        if needs:
            missing = [p for p in needs[1].replace(",", " ").split() if not _installed(p)]
            if missing:
                pytest.skip(f"{block.name}: needs {', '.join(missing)}, not installed here")
        same = re.fullmatch(r"same as (\S+)", marker)
        if same:
            assert block.text == (ROOT / same[1]).read_text(encoding="utf-8"), (
                f"{block.name} is no longer {same[1]}")
            return
    language = block.language
    if language is None or language in SHELL_LANGUAGES:
        if not commands_of(block.text):
            return  # an example of output or of a file's lines: nothing to run
        ran, not_run = run_shell_block(block, cwd)
        if not_run:
            pytest.skip(f"{block.name}: {ran} command(s) ran; not run here: "
                        + "; ".join(not_run))
    elif language == "python":
        run_python(block, cwd)
    elif language == "toml":
        check_toml(block, cwd)
    elif language == "robotframework":
        run_robot(block, cwd)
    else:
        pytest.fail(f"{block.name}: a ```{language} block: the doc test does not know how "
                    f"to run it; mark it <!-- doc-test: skip: REASON -->")


def test_the_documents_have_blocks_and_the_markers_are_understood() -> None:
    known = re.compile(r"skip(?: `[^`]+`)?:\s*\S.*|needs \S.*|same as \S+|"
                       r"output not compared:\s*\S.*")
    for document in DOCUMENTS:
        found = blocks_of(document)
        assert found, f"{document}: no code block found"
        for block in found:
            for marker in block.markers:
                assert known.fullmatch(marker), f"{block.name}: unknown marker {marker!r}"


def test_commands_and_their_output_are_told_apart() -> None:
    text = (".venv/bin/smtp-hil run x --profile 2.4\n"
            "FAIL x [2.4 seed 0] the body\nwas cut (virtual 0.013 s, wall 0.012 s)\n"
            "SSLKEYLOGFILE=k.txt .venv/bin/smtp-hil serve x &\n"
            "tshark -r a.pcap \\\n    -o tls.keylog_file:k.txt -Y smtp\n"
            "printf 'x' \\\n    | .venv/bin/smtp-hil board\n")
    found = commands_of(text)
    assert [c.text for c in found] == [
        ".venv/bin/smtp-hil run x --profile 2.4",
        "SSLKEYLOGFILE=k.txt .venv/bin/smtp-hil serve x &",
        "tshark -r a.pcap \\\n    -o tls.keylog_file:k.txt -Y smtp",
        "printf 'x' \\\n    | .venv/bin/smtp-hil board"]
    assert found[0].shown == ["FAIL x [2.4 seed 0] the body",
                              "was cut (virtual 0.013 s, wall 0.012 s)"]
    assert expected_statuses(found[0]) == {1} and found[1].background
    pattern = shown_pattern(found[0].shown)
    assert pattern.search("FAIL x [2.4 seed 0] the body was cut (virtual 0.013 s, wall "
                          "3.25 s)")
    assert not pattern.search("FAIL x [2.4 seed 0] the body was cut (virtual 0.014 s, wall "
                              "0.012 s)")  # virtual time is deterministic: compared
