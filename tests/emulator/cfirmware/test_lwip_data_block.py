"""lwIP 2.1.3 against a server that stops reading in the middle of the content
(``data-block-timeout``): the zero window, and which of smtp.c's timers ends the wait.

When lwIP is not built (``make lwip``), the module skips with one line saying why and how
to get it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.cfirmware.library import FirmwareUnavailable
from emulator.units import SECOND
from scenarios.firmware_choice import resolve_firmware
from scenarios.format import parse_scenario
from scenarios.runner import RunResult, resolve_scenario, run

try:
    LWIP = resolve_firmware("lwip")
except FirmwareUnavailable as exc:
    pytest.skip(f"lwIP tests: {exc}", allow_module_level=True)

SERVER = "198.51.100.25:25"


def _last_body_write(result: RunResult) -> int:
    """When lwIP last put content on the wire, before the server's window shut."""
    links = [r for r in result.trace if r.source.startswith("link") and r.kind == "tx"]
    shut = next(r.t_us for r in links if r.fields["src"] == SERVER and r.fields["window"] == 0)
    return max(r.t_us for r in links
               if r.fields["dst"] == SERVER and r.fields["payload"] and r.t_us <= shut)


def test_the_window_shuts_and_the_8_minute_timer_armed_at_data_fires() -> None:
    result = run(resolve_scenario("data-block-timeout"), firmware=LWIP)
    assert result.terminal is not None and result.terminal.event.name == "timeout"
    assert 479 * SECOND <= result.terminal.t_us <= 480 * SECOND  # SMTP_TIMEOUT, from DATA
    windows = [r.fields["window"] for r in result.trace
               if r.source.startswith("link") and r.kind == "tx" and r.fields["src"] == SERVER]
    assert 0 in windows  # lwIP's segments fill the server's 5,840 bytes exactly
    server = [r for r in result.trace if r.source == "server.c1"]
    stop = next(r for r in server if r.kind == "stop_reading")
    assert not [r for r in server if r.kind == "rx" and r.t_us > stop.t_us]
    assert result.mailbox == []


def test_with_smtp_send_mail_the_data_block_timer_runs_12_minutes() -> None:
    # smtp_send_mail re-arms SMTP_TIMEOUT_DATABLOCK ("3 minutes", 360 polls of 2 s) at
    # each block it writes; SMTP_CHECK_DATA lets it take no line break: one long line.
    source = resolve_scenario("data-block-timeout").source
    text = Path(source or "").read_text()
    start = text.index('body = """')
    end = text.index('"""', start + 10) + 3
    text = (text[:start] + 'body = "' + "x" * 15000 + '"' + text[end:]).replace(
        "pool_buffers = 6", 'pool_buffers = 6\nfirmware_options = { smtp_api = "copy" }')
    result = run(parse_scenario(text, source="copy.toml"), firmware=LWIP)
    assert result.terminal is not None and result.terminal.event.name == "timeout"
    fired = result.terminal.t_us - _last_body_write(result)
    assert 719 * SECOND <= fired <= 720 * SECOND, fired
