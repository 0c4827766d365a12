"""The README's worked example, "Reproducing a field bug from a capture", run as written.

Each command of the section runs in bash, literally, in a fresh folder where
``.venv`` is this checkout's; its exit status and the start of its output must be what
the README shows (up to the ``...`` where the README shortens a line).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Reproducing a field bug from a capture"


def commands() -> list[tuple[str, str]]:
    """``(command, documented output)`` pairs from the section's indented blocks."""
    text = (ROOT / "README.md").read_text()
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line[4:] for line in body.splitlines() if line.startswith("    ")]
    out: list[tuple[str, str]] = []
    command: list[str] = []
    shown: list[str] = []
    for line in lines:
        if command and command[-1].endswith("\\"):
            command.append(line)
        elif line.startswith((".venv/bin/", "grep ")):
            if command:
                out.append(("\n".join(command), " ".join(shown)))
            command, shown = [line], []
        else:
            shown.append(line.strip())
    if command:
        out.append(("\n".join(command), " ".join(shown)))
    return out


def test_the_section_has_the_whole_story() -> None:
    found = [c for c, _ in commands()]
    assert any("--profile 2.0 --artifacts field" in c for c in found)
    assert any(c.startswith(".venv/bin/smtp-hil import") for c in found)
    assert any("customer.toml --profile 2.0" in c for c in found)
    assert ".venv/bin/smtp-hil run customer.toml" in found


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed "
                    "(Debian: apt-get install tshark; .ci/run does)")
def test_every_command_works_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    for command, shown in commands():
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, check=False)
        expected_status = 1 if shown.startswith("FAIL") else 0
        assert done.returncode == expected_status, (command, done.stdout, done.stderr)
        actual = " ".join((done.stdout + done.stderr).split())
        prefix = re.split(r"\.\.\.", shown, maxsplit=1)[0].strip()
        assert actual.startswith(prefix), (command, prefix, actual)
