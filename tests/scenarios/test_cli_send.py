"""``smtp-hil send`` (scenarios/cli/send.py) against aiosmtpd on loopback.

Each server is aiosmtpd's threaded Controller on 127.0.0.1 with an OS-chosen port (the
pattern of tests/smtp/test_hostclient_aiosmtpd.py), stopped by a fixture finaliser. The
command runs in-process through ``scenarios.cli.main``; its exit status, its event lines
and what aiosmtpd accepted are checked. Nothing here asserts on durations.
"""

from __future__ import annotations

import asyncio
import email
import io
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

import scenarios.cli.send
from scenarios.cli.main import main
from smtp.config import CONFIG_VERSION
from stack.tls.certs import default_test_pki

LOOPBACK = "127.0.0.1"
REFUSED = "nobody@example.test"


@dataclass
class Handler:
    """Accepts every recipient but ``REFUSED``; keeps each mail's envelope and content."""

    mails: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    mail_commands: int = 0

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        self.mail_commands += 1
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address == REFUSED:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes) and envelope.mail_from is not None
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), content))
        return "250 2.0.0 Queued"


class FreePortController(Controller):
    """aiosmtpd's Controller on port 0: learns the port the OS chose before it is used."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


Serve = Callable[..., tuple[Handler, int]]


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Serve:
    """``serve(**smtp_kwargs)`` starts aiosmtpd; returns (handler, port)."""

    def start(**smtp_kwargs: Any) -> tuple[Handler, int]:
        handler = Handler()
        controller = FreePortController(handler, hostname=LOOPBACK, port=0,
                                        server_hostname="aiosmtpd.example.test",
                                        **smtp_kwargs)
        controller.start()
        request.addfinalizer(controller.stop)
        assert isinstance(controller.port, int)
        return handler, controller.port

    return start


def write_config(folder: Path, port: int, *, security: str = "none",
                 domain: str | None = "device.example.test", extra: str = "") -> Path:
    device = f'domain = "{domain}"\nhostname = "board7"\n' if domain else 'hostname = "board7"\n'
    path = folder / "device.toml"
    path.write_text(f'config_version = {CONFIG_VERSION}\n[device]\n{device}'
                    f'[server]\nhost = "{LOOPBACK}"\nport = {port}\nsecurity = "{security}"\n'
                    f"{extra}")
    return path


def send(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["send", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# ---- delivery ---------------------------------------------------------------------------


def test_delivers_body_and_attachment_and_exits_0(serve: Serve, tmp_path: Path) -> None:
    handler, port = serve()
    config = write_config(tmp_path, port)
    body = tmp_path / "body.txt"
    body.write_bytes(b"Line one.\n\nLine three after a blank line.\n")
    attachment = tmp_path / "log.bin"
    attachment.write_bytes(bytes(range(256)) * 9)

    code, out, err = send("--config", str(config), "--to", "alice@example.test",
                          "--cc", "bob@example.test", "--bcc", "carol@example.test",
                          "--subject", "from the cli", "--body-file", str(body),
                          "--attach", str(attachment))

    assert (code, err) == (0, "")
    assert out.splitlines() == [f"connected {LOOPBACK}:{port}", "sent 250 2.0.0 Queued"]
    ((sender, recipients, content),) = handler.mails
    assert sender == "board7@device.example.test"  # the default: hostname@domain
    assert recipients == ["alice@example.test", "bob@example.test", "carol@example.test"]
    message = parse(content)
    assert message["Subject"] == "from the cli" and "Bcc" not in message
    text, attached = message.iter_parts()
    assert text.get_content() == "Line one.\r\n\r\nLine three after a blank line.\r\n"
    assert attached.get_filename() == "log.bin"
    assert attached.get_content() == attachment.read_bytes()


def test_from_overrides_the_default_sender(serve: Serve, tmp_path: Path) -> None:
    handler, port = serve()
    code, _, _ = send("--config", str(write_config(tmp_path, port)), "--to",
                      "alice@example.test", "--from", "alerts@plant.example.test")
    assert code == 0
    assert handler.mails[0][0] == "alerts@plant.example.test"


def test_starttls_with_the_ca_file_relative_to_the_config(serve: Serve,
                                                          tmp_path: Path) -> None:
    pki = default_test_pki()
    files = pki.leaf.files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.cert), str(files.key))
    handler, port = serve(tls_context=context, require_starttls=True)
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.pem").write_bytes(pki.ca.cert_pem)
    config = write_config(tmp_path, port, security="required",
                          extra='tls_server_name = "localhost"\n[tls]\nca_file = "pki/ca.pem"\n')

    code, out, err = send("--config", str(config), "--to", "alice@example.test")

    assert (code, err) == (0, ""), out
    lines = out.splitlines()
    assert lines[1].startswith("tls_established TLS") and lines[-1].startswith("sent 250")
    assert len(handler.mails) == 1


def test_every_recipient_refused_exits_1(serve: Serve, tmp_path: Path) -> None:
    handler, port = serve()
    code, out, _ = send("--config", str(write_config(tmp_path, port)), "--to", REFUSED)

    assert code == 1
    assert f"recipient_rejected <{REFUSED}> 550 5.1.1 No such user here" in out.splitlines()
    assert out.splitlines()[-1].startswith("command_abort RCPT 550")
    assert handler.mails == []


def test_one_recipient_refused_of_two_still_sends(serve: Serve, tmp_path: Path) -> None:
    handler, port = serve()
    code, out, _ = send("--config", str(write_config(tmp_path, port)),
                        "--to", REFUSED, "--to", "alice@example.test")
    assert code == 0 and out.splitlines()[-1].startswith("sent 250")
    assert handler.mails[0][1] == ["alice@example.test"]


def test_no_server_listening_exits_1(tmp_path: Path, serve: Serve) -> None:
    _, port = serve()
    config = write_config(tmp_path, port)
    config.write_text(config.read_text().replace(f"port = {port}", "port = 1"))
    code, out, _ = send("--config", str(config), "--to", "alice@example.test")
    assert code == 1
    assert out.splitlines()[-1].startswith("error connection_refused")


# ---- bad input: exit 2, a clear line, nothing sent -------------------------------------


def test_bad_config_exits_2_naming_the_key_with_the_send_prefix(tmp_path: Path) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'config_version = {CONFIG_VERSION}\n[server]\nhost = "{LOOPBACK}"\n'
                      'port = "abc"\n')
    code, out, err = send("--config", str(config), "--to", "alice@example.test")
    assert (code, out) == (2, "")
    assert err == f"smtp-hil send: {config}: server.port: expected an integer, got 'abc'\n"


def test_missing_config_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    code, _, err = send("--config", str(missing), "--to", "alice@example.test")
    assert (code, err) == (2, f"smtp-hil send: no such device configuration file: {missing}\n")


def test_missing_body_and_attachment_files_exit_2_and_send_nothing(
        serve: Serve, tmp_path: Path) -> None:
    handler, port = serve()
    code, out, err = send("--config", str(write_config(tmp_path, port)), "--to",
                          "alice@example.test", "--body-file", str(tmp_path / "body.txt"),
                          "--attach", str(tmp_path / "gone.bin"))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"smtp-hil send: --body-file: no such body file: {tmp_path / 'body.txt'}",
        f"smtp-hil send: --attach: no such attachment: {tmp_path / 'gone.bin'}"]
    assert handler.mail_commands == 0 and handler.mails == []


def test_addresses_with_line_breaks_exit_2(serve: Serve, tmp_path: Path) -> None:
    handler, port = serve()
    code, out, err = send("--config", str(write_config(tmp_path, port)),
                          "--to", "alice@example.test\r\nRCPT TO:<evil@example.test>",
                          "--from", "bad sender", "--subject", "two\nlines")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "smtp-hil send: --from: expected an address local@domain (no display name, "
          "no spaces), got 'bad sender'",
        "smtp-hil send: --to 'alice@example.test\\r\\nRCPT TO:<evil@example.test>': "
        "contains a line break",
        "smtp-hil send: --subject: contains a line break"]
    assert handler.mail_commands == 0


def test_from_is_required_without_a_device_domain(tmp_path: Path) -> None:
    config = write_config(tmp_path, 25, domain=None)
    code, _, err = send("--config", str(config), "--to", "alice@example.test")
    assert code == 2
    assert err == (f"smtp-hil send: --from is required: {config} has no [device] domain "
                   "to make a sender from\n")


def test_unreadable_or_bad_ca_file_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, 25, security="required",
                          extra='[tls]\nca_file = "missing.pem"\n')
    code, _, err = send("--config", str(config), "--to", "alice@example.test")
    assert (code, err) == (2, f"smtp-hil send: {config}: tls.ca_file: no such CA file: "
                              f"{tmp_path / 'missing.pem'}\n")
    (tmp_path / "missing.pem").write_text("not a certificate\n")
    code, _, err = send("--config", str(config), "--to", "alice@example.test")
    assert code == 2 and err.startswith(f"smtp-hil send: {config}: tls.ca_file: expected PEM")


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, 25)
    assert send("--config", str(config), "--to", "a@example.test", "--timeout", "0")[0] == 2
    assert send("--config", str(config), "--to", "a@example.test", "--profile", "9.9")[0] == 2
    code, _, err = send("--config", str(config))
    assert code == 2 and "at least one recipient" in err


# ---- the server's misbehaviour is never the user's bad input ----------------------------


def raw_server(request: pytest.FixtureRequest, replies: dict[bytes, bytes]) -> int:
    """A one-connection server on loopback that answers each command line by its verb
    with exactly the bytes in ``replies`` (DATA content is read up to the final dot).
    Returns its port; the thread ends when the client closes."""
    listener = socket.create_server((LOOPBACK, 0))
    request.addfinalizer(listener.close)

    def serve_one() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(replies[b"GREETING"])
            in_data = False
            for line in lines:
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        conn.sendall(replies[b"DATA_END"])
                    continue
                verb = line.split(b" ", 1)[0].strip().upper()
                conn.sendall(replies[verb])
                in_data = verb == b"DATA"
                if verb == b"QUIT":
                    return

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    request.addfinalizer(lambda: thread.join(5))
    return int(listener.getsockname()[1])


def test_a_size_parameter_of_superscript_digits_does_not_stop_the_mail(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # One EHLO line b"250 SIZE \xb2": U+00B2 is a digit to str.isdigit(), not to int().
    # It raised ValueError in the client task, which send reported as an error in the
    # user's configuration file.
    port = raw_server(request, {
        b"GREETING": b"220 raw.example.test ESMTP\r\n",
        b"EHLO": b"250-raw.example.test\r\n250 SIZE \xb2\r\n",
        b"MAIL": b"250 2.1.0 OK\r\n", b"RCPT": b"250 2.1.5 OK\r\n",
        b"DATA": b"354 go ahead\r\n", b"DATA_END": b"250 2.0.0 Queued\r\n",
        b"QUIT": b"221 2.0.0 Bye\r\n"})
    config = write_config(tmp_path, port)
    code, out, err = send("--config", str(config), "--to", "alice@example.test")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "sent 250 2.0.0 Queued"


def test_an_unresolvable_server_host_is_bad_input_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, 25)
    config.write_text(config.read_text().replace(LOOPBACK, "smtp.invalid"))
    code, out, err = send("--config", str(config), "--to", "alice@example.test")
    assert code == 2 and out == ""
    assert err.startswith(f"smtp-hil send: {config}: server.host: cannot resolve 'smtp.invalid'")


def test_a_failure_inside_the_client_is_not_reported_as_the_users_config_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("internal: a bug")

    monkeypatch.setattr(scenarios.cli.send, "send_jobs", broken)
    config = write_config(tmp_path, 25)
    with pytest.raises(ValueError, match="internal: a bug"):
        send("--config", str(config), "--to", "alice@example.test")
