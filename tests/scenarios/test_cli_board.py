"""``smtp-hil board``: the console on standard input, arguments, bad input."""

from __future__ import annotations

import io

from scenarios.cli.board import cmd_board
from scenarios.cli.main import build_parser, main


def _board(argv: list[str], script: bytes) -> tuple[int, str]:
    args = build_parser().parse_args(["board", *argv])
    out, err = io.StringIO(), io.StringIO()
    status = cmd_board(args, out, err, stdin=io.BytesIO(script))
    return status, out.getvalue()


def test_stdin_lines_run_on_the_console_until_the_client_is_idle() -> None:
    status, text = _board(
        ["--scenario", "blank-line-truncation", "--profile", "2.4", "--url", "--name", "cli"],
        b'version\nsmtp send --from pump7@example.com --to ops@example.net --body "a"\n'
        b"smtp status\n")
    assert status == 0
    lines = [line for line in text.splitlines() if line and not line.startswith("> ")]
    assert lines[:3] == ["URL: hil://cli", "BOOT: boot=1 reason=power-on",
                         "VERSION: release=2.4 ip_stack=6.02"]
    assert "VERSION: release=2.4 ip_stack=6.02" in lines[3:]
    sent = next(i for i, line in enumerate(lines) if line.startswith("SMTP: sent 250 "))
    status_line = next(i for i, line in enumerate(lines) if line.startswith("STATUS: "))
    assert sent < status_line  # the send finished before the next line was typed


def test_an_unknown_scenario_or_profile_is_bad_input() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["board", "--scenario", "no-such-scenario"], out=out, err=err) == 2
    assert "no scenario named 'no-such-scenario'" in err.getvalue()
    err = io.StringIO()
    assert main(["board", "--profile", "9.9"], out=out, err=err) == 2
    assert "unknown profile '9.9'" in err.getvalue()
