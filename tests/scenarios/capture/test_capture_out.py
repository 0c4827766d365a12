"""Captures Wireshark can decrypt: the artifacts' key log, and stamps from the RTC.

Every TLS session of a simulated run writes its secrets to ``keylog.txt`` beside
``capture.pcap`` (mode 0600); tshark decrypts the SMTP commands after STARTTLS with it.
Key logging changes no trace hash. The pcap's first frame is stamped with the device's
RTC setting, or the server's clock when the RTC is unset.
"""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenarios.catalog import load_named
from scenarios.cli.main import main
from scenarios.runner import run
from smtp.config import CONFIG_VERSION
from stack.tls import keylog

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None,
                                  reason="tshark is not installed (Debian: apt-get install "
                                         "tshark; .ci/run does)")


def artifacts(name: str, tmp_path: Path) -> Path:
    status = main(["run", name, "--artifacts", str(tmp_path)], out=io.StringIO(),
                  err=io.StringIO())
    assert status == 0
    return tmp_path / f"{name}--current--seed0"


def tshark(*args: str) -> str:
    done = subprocess.run(["tshark", "-n", *args], capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout


@needs_tshark
def test_tshark_decrypts_the_commands_after_starttls_with_the_key_log(tmp_path: Path) -> None:
    recorded = artifacts("starttls", tmp_path)
    keys = recorded / "keylog.txt"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    lines = keylog.secret_lines(keys.read_text())
    assert {line.split()[0] for line in lines} >= {"CLIENT_TRAFFIC_SECRET_0",
                                                   "SERVER_TRAFFIC_SECRET_0"}
    fields = ["-r", str(recorded / "capture.pcap"), "-Y", "smtp.req", "-T", "fields",
              "-e", "smtp.req.command"]
    without = tshark(*fields).replace(",", " ").split()
    with_keys = tshark("-o", f"tls.keylog_file:{keys}", *fields).replace(",", " ").split()
    assert without == ["EHLO", "STAR"]  # tshark's name for STARTTLS; then only ciphertext
    assert with_keys[:2] == ["EHLO", "STAR"]
    assert {"EHLO", "AUTH", "QUIT"} <= set(with_keys[2:])
    follow = ["-r", str(recorded / "capture.pcap"), "-q", "-z", "follow,tls,ascii,0"]
    assert "MAIL FROM:<pump7@example.com>" not in tshark(*follow)
    decrypted = tshark("-o", f"tls.keylog_file:{keys}", *follow)
    assert "MAIL FROM:<pump7@example.com>" in decrypted and "RCPT TO:<ops@example.net>" in decrypted


def test_a_run_without_tls_has_a_key_log_with_no_secret(tmp_path: Path) -> None:
    keys = artifacts("vrfy", tmp_path) / "keylog.txt"
    assert keys.read_text() == keylog.HEADER


def test_key_logging_changes_no_trace_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_named("starttls")
    logged = run(scenario)
    assert logged.world.server is not None and logged.world.server.tls_secrets()

    class NoCapture:
        def __init__(self, _context: object) -> None:
            pass

        def take(self) -> list[str]:
            return []

    monkeypatch.setattr("scenarios.server.simdriver.SecretsCapture", NoCapture)
    unlogged = run(scenario)
    assert unlogged.world.server is not None and not unlogged.world.server.tls_secrets()
    assert logged.trace_sha256 == unlogged.trace_sha256


@needs_tshark
@pytest.mark.parametrize(("name", "start"), [
    ("date-header", datetime(2024, 11, 28, 16, 45, tzinfo=UTC)),  # its RTC setting
    ("active24-date-required", datetime(2024, 6, 3, 10, 0, tzinfo=UTC)),  # unset: server.clock
])
def test_the_capture_starts_at_the_rtc_setting(name: str, start: datetime,
                                               tmp_path: Path) -> None:
    scenario = load_named(name)
    assert (scenario.device.rtc or scenario.server.clock) == start
    recorded = artifacts(name, tmp_path)
    first = tshark("-r", str(recorded / "capture.pcap"), "-c", "1", "-T", "fields",
                   "-e", "frame.time_epoch").strip()
    assert int(float(first)) == int(start.timestamp())


def test_serve_and_send_refuse_a_key_log_file_they_cannot_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "no-such-folder" / "keys.txt"))
    config = tmp_path / "device.toml"
    config.write_text(f'config_version = {CONFIG_VERSION}\n'
                      '[server]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\n')
    for argv in (["serve", "starttls", "--listen", "127.0.0.1:0", "--once"],
                 ["send", "--config", str(config), "--to", "ops@example.net",
                  "--from", "pump7@example.com"]):
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, out=out, err=err) == 2, (argv, out.getvalue())
        line = err.getvalue()
        assert line.count("\n") == 1 and "SSLKEYLOGFILE=" in line and \
            "cannot append to the file" in line, line
