"""``smtp-hil serve`` and ``smtp-hil run --dut``: real clients, verdicts, bad input."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenarios.cli.main import main
from scenarios.outside.dut import message_for
from scenarios.runner import resolve_scenario
from stack.tls.certs import make_ca

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 20.0  # hang guards only


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@contextmanager
def _serving(*argv: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "scenarios.cli", "serve", *argv],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               bufsize=0)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: serve stops cleanly and removes its CA folder
            try:
                process.wait(timeout=GUARD_S)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()


def _readline(process: subprocess.Popen[bytes]) -> str:
    """One line of serve's output, read byte by byte (nothing is read ahead, so the rest
    is still there for ``communicate``)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], GUARD_S)
        assert ready, f"serve printed nothing more after {line!r}"
        byte = os.read(fd, 1)
        assert byte, f"serve ended after {line!r}"
        line += byte
    return line.decode()


def _rest(process: subprocess.Popen[bytes]) -> str:
    out, _ = process.communicate(timeout=GUARD_S)
    return out.decode()


def _message(name: str) -> bytes:
    return message_for(resolve_scenario(name), datetime.now(UTC))


def test_serve_once_judges_the_client_and_prints_json(tmp_path: Path) -> None:
    with _serving("blank-line-truncation", "--listen", "127.0.0.1:0", "--once",
                  "--json") as process:
        listening = json.loads(_readline(process))
        assert listening["type"] == "listening"
        with smtplib.SMTP("127.0.0.1", listening["port"], local_hostname="dev.example.com",
                          timeout=GUARD_S) as client:
            client.sendmail("pump7@example.com", ["ops@example.net"],
                            _message("blank-line-truncation"))
        out = _rest(process)
    assert process.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    verdict = lines[-1]
    assert verdict["type"] == "verdict" and verdict["verdict"] == "pass", verdict
    statuses = {c["name"]: c["status"] for c in verdict["checks"]}
    assert statuses["body_exact"] == "pass" and statuses["event"] == "not observable"
    said = "".join(line["data"] for line in lines
                   if line["type"] == "transcript" and line["kind"] == "C")
    assert "ehlo dev.example.com" in said  # smtplib writes its verbs in lower case


def test_serve_starttls_prints_the_ca_the_client_must_trust() -> None:
    with _serving("starttls", "--listen", "127.0.0.1:0", "--once") as process:
        port = int(_readline(process).split()[3].rsplit(":", 1)[1])
        ca_file = _readline(process).split(": ", 1)[1].strip()
        context = ssl.create_default_context(cafile=ca_file)
        with smtplib.SMTP("127.0.0.1", port, local_hostname="dev.example.com",
                          timeout=GUARD_S) as client:
            client.starttls(context=context)
            client.login("pump7", "s3cret-pump7")
            client.sendmail("pump7@example.com", ["ops@example.net"], _message("starttls"))
        out = _rest(process)
    assert process.returncode == 0, out
    assert "-- tls_established" in out
    assert "PASS starttls (server side, connection 1" in out
    assert "pass            server.tls_used" in out
    assert "not observable  reply_code" in out


def test_serve_says_a_client_closed_after_the_tls_handshake_without_a_command() -> None:
    with _serving("starttls", "--listen", "127.0.0.1:0", "--once") as process:
        port = int(_readline(process).split()[3].rsplit(":", 1)[1])
        ca_file = _readline(process).split(": ", 1)[1].strip()
        with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as raw:
            reader = raw.makefile("rb")
            assert reader.readline().startswith(b"220")
            raw.sendall(b"EHLO dev.example.com\r\n")
            while reader.readline()[3:4] == b"-":
                pass
            raw.sendall(b"STARTTLS\r\n")
            assert reader.readline().startswith(b"220")
            context = ssl.create_default_context(cafile=ca_file)
            with context.wrap_socket(raw, server_hostname="localhost"):
                pass  # the handshake, then close_notify and FIN: not one command
        out = _rest(process)
    assert process.returncode == 1, out
    assert "-- tls_established" in out
    assert ("the client closed the connection after the TLS handshake without a command"
            in out), out
    assert "was not EHLO" not in out


def test_serve_exits_1_when_the_client_fails_an_expectation() -> None:
    with _serving("pipelining", "--listen", "127.0.0.1:0", "--once") as process:
        port = int(_readline(process).split()[3].rsplit(":", 1)[1])
        with smtplib.SMTP("127.0.0.1", port, timeout=GUARD_S) as client:  # never pipelines
            client.sendmail("pump7@example.com", ["ops@example.net"], _message("pipelining"))
        out = _rest(process)
    assert process.returncode == 1
    assert "FAIL pipelining" in out and "the client did not pipeline" in out


def test_serve_without_once_stops_cleanly_on_sigterm() -> None:
    with _serving("starttls", "--listen", "127.0.0.1:0") as process:
        _readline(process)
        ca_file = Path(_readline(process).split(": ", 1)[1].strip())
        assert ca_file.is_file()
        process.terminate()
        assert process.wait(timeout=GUARD_S) == 0
    assert not ca_file.exists()


class _SigtermOnFirstLine(io.StringIO):
    """Serve's output: on its first line, notes whether serve could already be stopped
    (a SIGTERM handler is in place) and, if so, sends this process SIGTERM."""

    def __init__(self) -> None:
        super().__init__()
        self.default = signal.getsignal(signal.SIGTERM)
        self.stoppable: bool | None = None

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.stoppable is None:
            self.stoppable = signal.getsignal(signal.SIGTERM) is not self.default
            if not self.stoppable:
                raise AssertionError(f"serve printed {text!r} before it could be stopped")
            os.kill(os.getpid(), signal.SIGTERM)
        return written


def _serve_until_its_first_line(*argv: str) -> tuple[int, str, str]:
    out, err = _SigtermOnFirstLine(), io.StringIO()
    code = main(["serve", *argv], out=out, err=err)
    assert out.stoppable
    return code, out.getvalue(), err.getvalue()


def test_serve_can_be_stopped_by_the_time_it_prints_anything() -> None:
    code, out, err = _serve_until_its_first_line("starttls", "--listen", "127.0.0.1:0")
    assert (code, err) == (0, "smtp-hil serve: stopped: 0 connection(s) judged, 0 failed\n")
    lines = out.splitlines()
    assert lines[0].startswith("serving starttls on 127.0.0.1:")
    ca_file = Path(lines[1].split(": ", 1)[1])
    assert ca_file.name == "ca.pem" and not ca_file.parent.exists()  # removed on SIGTERM


def test_serve_prints_an_ipv6_address_in_brackets() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    code, out, _ = _serve_until_its_first_line("blank-line-truncation", "--listen", "[::1]:0")
    assert code == 0
    assert out.startswith("serving blank-line-truncation on [::1]:")


def test_serve_on_a_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _main("serve", "blank-line-truncation", "--listen", f"127.0.0.1:{port}")
    assert code == 2
    assert err == f"smtp-hil: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_serve_refuses_a_certificate_that_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)  # reading it would block until someone writes
    proc = subprocess.run([sys.executable, "-m", "scenarios.cli", "serve", "starttls",
                           "--tls-cert", str(fifo), "--tls-key", str(fifo)], cwd=ROOT,
                          capture_output=True, text=True, timeout=GUARD_S, check=False)
    assert proc.returncode == 2
    assert proc.stderr == f"smtp-hil: --tls-cert: {fifo}: not a regular file (a FIFO)\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
     "--tls-cert: no such certificate file: /nonexistent/cert.pem"),
    (["--tls-cert", "GARBAGE", "--tls-key", "GARBAGE"], "the certificate is not PEM"),
    (["--tls-cert", "/nonexistent/cert.pem"], "--tls-cert and --tls-key go together"),
    (["--listen", "nowhere"], "argument --listen: expected HOST:PORT"),
    (["--listen", "::1:2525"], "or [::1]:2525, got '::1:2525'"),
])
def test_serve_bad_tls_files_and_addresses_exit_2(tmp_path: Path, argv: list[str],
                                                  message: str) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    argv = [str(garbage) if a == "GARBAGE" else a for a in argv]
    code, _, err = _main("serve", "starttls", *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and "--listen: --listen" not in err


def test_serve_refuses_a_key_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    ca = make_ca(common_name="smtp-hil test: cert")
    other = make_ca(common_name="smtp-hil test: other key")
    cert, key = ca.write(tmp_path, stem="ca").cert, other.write(tmp_path, stem="other").key
    code, _, err = _main("serve", "starttls", "--tls-cert", str(cert), "--tls-key", str(key))
    assert code == 2
    assert "the key does not belong to the certificate" in err


def test_serve_refuses_a_scenario_whose_server_does_not_listen() -> None:
    code, _, err = _main("serve", "connection-refused")
    assert code == 2 and "nothing to serve" in err


def test_run_with_a_shipped_dut_prints_json() -> None:
    code, out, err = _main("run", "blank-line-truncation", "--dut", "smtplib", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["client"] == "smtplib" and data["verdict"] == "pass"
    assert data["exit_status"] == 0 and data["observed"]["mails"]


def test_run_with_a_dut_naming_an_unknown_placeholder_exits_2(tmp_path: Path) -> None:
    dut = tmp_path / "bad.toml"
    dut.write_text('[client]\nname = "bad"\ncommand = ["curl", "{servr}"]\n')
    code, _, err = _main("run", "starttls", "--dut", str(dut))
    assert code == 2
    assert f"{dut}: client.command[1]: unknown placeholder {{servr}}" in err


def test_run_with_a_program_not_installed_exits_2(tmp_path: Path) -> None:
    dut = tmp_path / "ghost.toml"
    dut.write_text('[client]\nname = "ghost"\ncommand = ["smtp-hil-no-such-client"]\n')
    code, _, err = _main("run", "starttls", "--dut", str(dut))
    assert code == 2
    assert err == f"smtp-hil: {dut}: the program 'smtp-hil-no-such-client' is not installed\n"


def test_run_with_a_hanging_client_fails_after_the_time_cap(tmp_path: Path) -> None:
    dut = tmp_path / "hang.toml"
    dut.write_text('[client]\nname = "hang"\ncommand = ["sleep", "30"]\n')
    code, out, _ = _main("run", "blank-line-truncation", "--dut", str(dut),
                         "--time-cap", "0.5")
    assert code == 1
    assert "FAIL blank-line-truncation [dut hang, killed]" in out
    assert "still running after 0.5 s and was killed (it hangs)" in out


@pytest.mark.parametrize("option", [["--artifacts", "x"], ["--check-determinism"],
                                    ["--profile", "2.0"], ["--seed", "0"], ["--seed", "3"]])
def test_run_with_a_dut_refuses_simulation_options(option: list[str]) -> None:
    code, _, err = _main("run", "starttls", "--dut", "smtplib", *option)
    assert code == 2 and "not available with --dut" in err


def test_run_with_a_dut_refuses_a_job_that_is_not_mail() -> None:
    code, _, err = _main("run", "vrfy", "--dut", "smtplib")
    assert code == 2 and "a client program sends mail" in err
