"""Real captures: a real session on the loopback interface, captured by tcpdump, imported.

Two sessions of the modelled client (``smtp-hil send``, the unchanged client task on OS
sockets) with STARTTLS, each decrypted with a key log:

- against Postfix (the private instance of ``tests/smtp/test_postfix_interop.py``), the
  client's own key log (``SSLKEYLOGFILE`` honoured by ``smtp-hil send``);
- against ``smtp-hil serve`` (a real socket, real time), the server's key log
  (``SSLKEYLOGFILE`` honoured by ``serve``).

Each capture is imported, and the imported scenario runs on every release: the replayed
server greets and answers EHLO with the recorded bytes on every one; where a release sends
only commands the recording has, every byte the server writes is a recorded one; on
``current`` the whole recorded server side comes back byte for byte and the scenario
passes. The recorded server side is read with tshark alone, not with the importer.

tcpdump needs root (or CAP_NET_RAW); without it, or without tshark, the tests skip and
say why.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios.cli.main import main
from scenarios.format import Scenario, load_scenario
from scenarios.runner import run
from smtp.config import CONFIG_VERSION
from smtp.profiles import PROFILE_NAMES
from stack.tls.certs import default_test_pki

_INTEROP = Path(__file__).parents[2] / "smtp" / "test_postfix_interop.py"
_spec = importlib.util.spec_from_file_location("_postfix_instance", _INTEROP)
assert _spec is not None and _spec.loader is not None
_postfix_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _postfix_module  # its dataclasses look their module up there
_spec.loader.exec_module(_postfix_module)
postfix = _postfix_module.postfix  # the module-scoped fixture: a private Postfix
free_port = _postfix_module.free_port


def _why_no_capture() -> str | None:
    if shutil.which("tshark") is None:
        return "tshark is not installed (Debian: apt-get install tshark; .ci/run does)"
    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed (Debian: apt-get install tcpdump; .ci/run does)"
    if os.geteuid() != 0:
        return "capturing on the loopback interface needs root (tcpdump)"
    return None


pytestmark = pytest.mark.skipif(_why_no_capture() is not None,
                                reason=str(_why_no_capture()))


@contextmanager
def tcpdump(path: Path, port: int) -> Iterator[None]:
    """tcpdump on ``lo`` for TCP port ``port`` while the block runs. ``--immediate-mode``:
    each packet reaches the file at once (else packets wait in the kernel's buffer for up
    to a second, and those still there when tcpdump stops are never written)."""
    process = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-n",
                                "-Z", "root", "-c", "100000", "-w", str(path),
                                f"tcp port {port}"],
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # "listening on lo, ..." once it captures
        assert "listening on" in line, line
        yield
        time.sleep(0.2)  # the last ACKs
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def device_config(path: Path, port: int, ca_file: Path, **auth: str) -> Path:
    text = (f"config_version = {CONFIG_VERSION}\n"
            '[device]\ndomain = "device.example.test"\n'
            f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "required"\ntls_server_name = "localhost"\n'
            f'[tls]\nca_file = "{ca_file}"\n')
    if auth:
        text += "[auth]\n" + "".join(f'{k} = "{v}"\n' for k, v in auth.items())
    path.write_text(text)
    return path


def send(config: Path, keylog: Path | None, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    if keylog is not None:
        monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    out, err = io.StringIO(), io.StringIO()
    status = main(["send", "--config", str(config), *args], out=out, err=err)
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    assert status == 0, out.getvalue() + err.getvalue()
    return out.getvalue()


def recorded_server_bytes(capture: Path, keylog: Path) -> bytes:
    """What the server sent, read with tshark alone: plaintext up to STARTTLS, then the
    decrypted records (the server is the side that sent the SYN-ACK)."""
    def follow(kind: str) -> list[dict[str, Any]]:
        text = subprocess.run(
            ["tshark", "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keylog}",
             "-q", "-z", f"follow,{kind},yaml,0"], capture_output=True, text=True,
            check=True, timeout=120).stdout
        return yaml.safe_load(text[text.find("peers:"):])["packets"] or []

    sources = subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-T", "fields", "-e", "frame.number",
         "-e", "tcp.srcport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack"],
        capture_output=True, text=True, check=True, timeout=120).stdout.split("\n")
    ports = {}
    server_port = None
    for row in sources:
        if row.strip():
            number, port, syn, ack = row.split("\t")
            ports[int(number)] = port
            if syn == "1" and ack == "1":
                server_port = port
    plain = b"".join(p["data"] for p in follow("tcp") if ports[p["packet"]] == server_port)
    plain = plain[:plain.find(b"220 2.0.0 Ready to start TLS\r\n") + 30]
    tls = b"".join(p["data"] for p in follow("tls") if ports[p["packet"]] == server_port)
    return plain + tls


def check_every_release(scenario: Scenario, recorded: bytes) -> None:
    greeting = recorded[:recorded.find(b"\r\n") + 2]
    replayed_verbs = Counter(step.on.upper() for step in scenario.server.replay)
    for profile in PROFILE_NAMES:
        result = run(scenario, profile)
        engines = [c.engine for c in result.connections]
        assert engines, f"{profile}: no connection"
        written = [data for side, data in engines[0].transcript if side == "S"]
        assert written[0] == greeting, profile
        assert written[1].startswith(b"250") and written[1] in recorded, profile
        sent = Counter(engines[0].observations.commands)
        if all(sent[verb] <= replayed_verbs[verb] for verb in sent):
            unknown = [w for w in written if w not in recorded]
            assert not unknown, f"{profile}: the server wrote what it never recorded: {unknown}"
        if profile == "current":
            assert b"".join(written) == recorded
            assert result.passed, result.verdict.reasons


def import_capture(capture: Path, keylog: Path, tmp_path: Path) -> Scenario:
    target = tmp_path / "field.toml"
    out, err = io.StringIO(), io.StringIO()
    status = main(["import", str(capture), "--keylog", str(keylog), "-o", str(target)],
                  out=out, err=err)
    assert status == 0, err.getvalue()
    return load_scenario(target)


def test_postfix_with_starttls_and_the_clients_key_log(
        postfix: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(default_test_pki().ca.cert_pem)
    config = device_config(tmp_path / "device.toml", postfix.port, ca)
    capture, keys = tmp_path / "postfix.pcap", tmp_path / "client-keys.txt"
    with tcpdump(capture, postfix.port):
        shown = send(config, keys, monkeypatch, "--to", "alice@example.test",
                     "--from", "device@example.test", "--subject", "captured",
                     "--body-file", str(ca))
    assert "tls_established" in shown
    assert "CLIENT_TRAFFIC_SECRET_0" in keys.read_text()
    recorded = recorded_server_bytes(capture, keys)
    assert recorded.startswith(b"220 ") and b"Postfix" in recorded
    scenario = import_capture(capture, keys, tmp_path)
    assert scenario.server.port == postfix.port and scenario.expect.event == "sent"
    check_every_release(scenario, recorded)


def test_smtp_hil_serve_with_the_servers_key_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    keys = tmp_path / "server-keys.txt"
    env = {**os.environ, "SSLKEYLOGFILE": str(keys)}
    serve = subprocess.Popen([sys.executable, "-m", "scenarios.cli", "serve", "starttls",
                              "--listen", f"127.0.0.1:{port}", "--once"],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline() for _ in range(3)]
        ca_line = next(line for line in lines if "CA certificate" in line)
        assert any(f"TLS secrets appended to {keys}" in line for line in lines), lines
        ca = Path(re.sub(r".*: ", "", ca_line.strip()))
        config = device_config(tmp_path / "device.toml", port, ca, username="pump7",
                               password="s3cret-pump7")
        capture = tmp_path / "serve.pcap"
        with tcpdump(capture, port):
            send(config, None, monkeypatch, "--to", "ops@example.net",
                 "--from", "pump7@example.com", "--subject", "captured")
        serve.wait(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert "SERVER_TRAFFIC_SECRET_0" in keys.read_text()
    recorded = recorded_server_bytes(capture, keys)
    scenario = import_capture(capture, keys, tmp_path)
    assert scenario.server.replay[0].reply is not None
    check_every_release(scenario, recorded)
