"""Interop tests of the modelled client (smtp.hostclient.send_jobs, the unchanged client
task over OS sockets) against Postfix from Debian's packages, configured by the test on a
loopback port with a generated certificate, with PIPELINING, CHUNKING, SIZE, DSN,
STARTTLS, VRFY and ETRN.

``.ci/run`` installs Postfix non-interactively; the test starts and stops its own instance
in a temporary directory and never touches a system mail setup: its own config directory
(main.cf, master.cf with one smtpd on 127.0.0.1 and a free high port), queue and data
directories, a log file, and virtual mailboxes (maildirs owned by ``nobody``) under the
same temporary directory. ``/etc/postfix`` is only read (Postfix's own file list). The
instance is stopped by a fixture finaliser. Where Postfix is absent, the test does not
run as root, or the instance cannot start, the tests skip with a visible reason.

What Postfix did is read back from the delivered maildir files and from its log (the
per-session command counts it logs at disconnect: ``data=1`` or ``bdat=5``). Waiting for
the queue manager to deliver is a bounded poll; nothing here asserts on durations.
"""

from __future__ import annotations

import email
import grp
import io
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from scenarios.cli.main import main
from smtp.config import CONFIG_VERSION
from smtp.events import (
    ClientError,
    ClientEvent,
    CommandAbort,
    ErrorKind,
    EtrnResult,
    RecipientRejected,
    Sent,
    TlsEstablished,
    VrfyResult,
    is_terminal,
)
from smtp.hostclient import send_jobs
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import Attachment, MailJob
from smtp.settings import ClientSettings, TlsSettings
from stack.tls.certs import default_test_pki

LOOPBACK = "127.0.0.1"
DOMAIN = "example.test"
SENDER = f"device@{DOMAIN}"
USERS = ("alice", "bob", "device")
SIZE_LIMIT = 100_000
RUN_TIMEOUT_S = 30.0
WAIT_S = 20.0  # upper bound for Postfix to start, deliver, or log; never asserted on
MAILBOX_UID = 65534  # nobody: virtual(8) refuses to deliver as root


# ---- the Postfix instance --------------------------------------------------------------

MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
local      unix  - n n - - local
virtual    unix  - n n - - virtual
lmtp       unix  - - n - - lmtp
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def main_cf(root: Path, port: int) -> str:
    """main.cf: everything under ``root``; local delivery into virtual maildirs only."""
    return f"""\
compatibility_level = 3.6
config_directory = {root}/etc
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
relay_domains =
alias_maps =
alias_database =
inet_interfaces = {LOOPBACK}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/etc/vmailbox
virtual_uid_maps = static:{MAILBOX_UID}
virtual_gid_maps = static:{MAILBOX_UID}
message_size_limit = {SIZE_LIMIT}
disable_vrfy_command = no
smtpd_etrn_restrictions = permit_mynetworks, reject
fast_flush_domains = {DOMAIN}
smtpd_data_restrictions = reject_unauth_pipelining
smtpd_tls_security_level = may
smtpd_tls_cert_file = {root}/tls/cert.pem
smtpd_tls_key_file = {root}/tls/cert.key
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def why_postfix_cannot_run() -> str | None:
    """None when this machine can run a private Postfix instance, else the reason."""
    if shutil.which("postfix", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") is None:
        return "Postfix is not installed (Debian: apt-get install postfix; .ci/run does)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its master daemon runs as root)"
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return "the postfix user or postdrop group is missing (package not set up)"
    return None


@dataclass
class Postfix:
    """A running private instance: where it listens and where it keeps things."""

    root: Path
    port: int
    postfix: str

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def log(self) -> Path:
        return self.root / "maillog"

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.postfix, "-c", str(self.config_dir), *args],
                              capture_output=True, text=True, check=False, timeout=WAIT_S)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / DOMAIN / user / "new"


def _wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _greets(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2.0) as probe:
            return probe.recv(4).startswith(b"220")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _configure(root: Path, port: int) -> None:
    for folder in ("etc", "queue", "data", "mail", "tls"):
        (root / folder).mkdir()
    postfix_user = pwd.getpwnam("postfix")
    os.chown(root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    os.chown(root / "mail", MAILBOX_UID, MAILBOX_UID)
    (root / "etc" / "main.cf").write_text(main_cf(root, port))
    (root / "etc" / "master.cf").write_text(MASTER_CF.format(listen=f"{LOOPBACK}:{port}"))
    (root / "etc" / "vmailbox").write_text(
        "".join(f"{user}@{DOMAIN} {DOMAIN}/{user}/\n" for user in USERS))
    default_test_pki().leaf.write(root / "tls")


def _stop(instance: Postfix) -> None:
    pid = instance.master_pid()
    instance.command("stop")
    if pid is not None and not _wait_until(lambda: not _alive(pid)):
        instance.command("abort")
        _wait_until(lambda: not _alive(pid))


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    """A private Postfix on a free loopback port, stopped and removed afterwards."""
    reason = why_postfix_cannot_run()
    if reason is not None:
        pytest.skip(reason)
    binary = shutil.which("postfix", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    assert binary is not None
    root = Path(tempfile.mkdtemp(prefix="smtp-hil-postfix-"))
    root.chmod(0o755)  # the mailbox owner and the postfix user must reach their folders
    instance = Postfix(root=root, port=free_port(), postfix=binary)
    try:
        _configure(root, instance.port)
        done = instance.command("start")  # also creates the queue's folders
        if done.returncode != 0:
            log = instance.log_text().strip().splitlines()[-3:]
            pytest.skip(f"Postfix could not start here: "
                        f"{' | '.join(log) or done.stderr.strip() or done.returncode}")
        if not _wait_until(lambda: _greets(instance.port)):
            pytest.skip(f"Postfix did not greet on {LOOPBACK}:{instance.port}: "
                        f"{' | '.join(instance.log_text().splitlines()[-3:])}")
        yield instance
    finally:
        _stop(instance)
        shutil.rmtree(root, ignore_errors=True)


# ---- the client side -------------------------------------------------------------------


def settings_for(server: Postfix, **overrides: Any) -> ClientSettings:
    """STARTTLS required, the certificate checked against the test CA as ``localhost``."""
    fields: dict[str, Any] = {
        "server_host": LOOPBACK, "server_port": server.port, "security": "required",
        "device_domain": "device.example.test", "chunking": False,
        "tls": TlsSettings(ca_pem=default_test_pki().ca.cert_pem, server_name="localhost")}
    fields.update(overrides)
    return ClientSettings(**fields)


def mail(subject: str, *to: str, **fields: Any) -> MailJob:
    fields.setdefault("body", f"Mail {subject!r} from the modelled client.\n")
    return MailJob(sender=SENDER, to=to or (f"alice@{DOMAIN}",), subject=subject, **fields)


def run(settings: ClientSettings, *jobs: Job) -> list[ClientEvent]:
    return send_jobs(settings, jobs, timeout_s=RUN_TIMEOUT_S)


def terminal(events: list[ClientEvent]) -> list[ClientEvent]:
    return [e for e in events if is_terminal(e)]


def delivered(server: Postfix, user: str, subject: str) -> EmailMessage:
    """The message with ``subject`` in ``user``'s maildir, once the queue delivered it."""
    found: list[EmailMessage] = []

    def look() -> bool:
        folder = server.maildir(user)
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if message["Subject"] == subject:
                found.append(message)
                return True
        return False

    assert _wait_until(look), f"{subject!r} never reached {user}: {server.log_text()[-800:]}"
    return found[0]


_CONNECT_RE = re.compile(r"smtpd\[\d+\]: connect from ", re.M)
_DISCONNECT_RE = re.compile(r"smtpd\[\d+\]: disconnect from \S+ (?P<counts>.*)$", re.M)


def session_counts(server: Postfix, log_offset: int) -> dict[str, str]:
    """The command counts Postfix logged when the next SMTP session after ``log_offset``
    ended (a connection that sent no EHLO, such as the greeting probe, is passed over)."""
    counts: list[dict[str, str]] = []

    def look() -> bool:
        for match in _DISCONNECT_RE.finditer(server.log_text()[log_offset:]):
            if "ehlo=" in match["counts"]:  # not the fixture's probe for the greeting
                counts.append(dict(item.split("=", 1) for item in match["counts"].split()))
                return True
        return False

    assert _wait_until(look), server.log_text()[log_offset:]
    return counts[0]


def log_offset(server: Postfix) -> int:
    """Where the log ends once every session so far has logged its disconnect."""
    def settled() -> bool:
        text = server.log_text()
        return len(_CONNECT_RE.findall(text)) == len(_DISCONNECT_RE.findall(text))

    assert _wait_until(settled), server.log_text()[-800:]
    return len(server.log_text())


# ---- tests ---------------------------------------------------------------------------


def test_starttls_pipelining_delivery_with_an_attachment_is_byte_exact(
        postfix: Postfix) -> None:
    payload = bytes(range(256)) * 120 + b"\r\n.\r\nend"  # 30 KiB, a dot line, no final EOL
    offset = log_offset(postfix)
    events = run(settings_for(postfix), mail(
        "attachment over starttls", f"alice@{DOMAIN}", cc=(f"bob@{DOMAIN}",),
        body="Dear Alice,\n\n.leading dot and a blank line above.\n",
        attachments=(Attachment("sensor.bin", "application/octet-stream", payload),)))

    assert any(isinstance(e, TlsEstablished) for e in events)
    (sent,) = terminal(events)
    assert isinstance(sent, Sent) and sent.reply.code == 250
    assert sent.accepted == (f"alice@{DOMAIN}", f"bob@{DOMAIN}")
    for user in ("alice", "bob"):
        message = delivered(postfix, user, "attachment over starttls")
        assert message["From"] == SENDER and message["Cc"] == f"bob@{DOMAIN}"
        text, attached = message.iter_parts()
        assert text.get_content() == "Dear Alice,\n\n.leading dot and a blank line above.\n"
        assert attached.get_filename() == "sensor.bin"
        assert attached.get_content() == payload
        assert "with ESMTPS" in message["Received"]  # Postfix saw TLS
    counts = session_counts(postfix, offset)
    assert counts["starttls"] == "1" and counts["data"] == "1" and "bdat" not in counts
    assert "improper command pipelining" not in postfix.log_text()[offset:]


def test_chunking_delivers_in_bdat_chunks(postfix: Postfix) -> None:
    body = "".join(f"line {n:04d} of a mail sent in BDAT chunks\n" for n in range(200))
    offset = log_offset(postfix)
    events = run(settings_for(postfix, chunking=True, chunk_size=2048), mail("bdat", body=body))

    assert isinstance(terminal(events)[0], Sent)
    assert delivered(postfix, "alice", "bdat").get_content() == body
    counts = session_counts(postfix, offset)
    assert int(counts["bdat"]) > 2 and "data" not in counts


def test_over_the_size_limit_is_refused_locally_and_the_next_mail_goes(
        postfix: Postfix) -> None:
    offset = log_offset(postfix)
    big = mail("too big", body=("z" * 70 + "\n") * (SIZE_LIMIT // 70 + 10))
    events = run(settings_for(postfix), big, mail("small after big"))

    refused, sent = terminal(events)
    assert isinstance(refused, ClientError) and refused.kind is ErrorKind.SIZE_EXCEEDED
    assert str(SIZE_LIMIT) in refused.detail
    assert isinstance(sent, Sent)
    delivered(postfix, "alice", "small after big")
    assert session_counts(postfix, offset)["mail"] == "1"  # MAIL never sent for the big one


def test_dsn_parameters_are_accepted_and_postfix_reports_success(postfix: Postfix) -> None:
    events = run(settings_for(postfix), mail(
        "with dsn", dsn_notify=("SUCCESS", "FAILURE"), dsn_ret="HDRS",
        dsn_envid="envid-4711", dsn_orcpt=True))

    assert isinstance(terminal(events)[0], Sent)
    delivered(postfix, "alice", "with dsn")
    report = delivered(postfix, "device", "Successful Mail Delivery Report")
    text = report.as_string()
    assert "Original-Envelope-Id: envid-4711" in text
    assert f"Original-Recipient: rfc822;alice@{DOMAIN}" in text
    assert "Action: delivered" in text


def test_vrfy_gives_a_vrfy_result_or_a_rejection(postfix: Postfix) -> None:
    events = run(settings_for(postfix), VrfyJob(f"alice@{DOMAIN}"), VrfyJob(f"nobody@{DOMAIN}"))

    known, unknown = terminal(events)
    assert isinstance(known, VrfyResult) and known.reply.code == 252
    assert isinstance(unknown, CommandAbort) and unknown.command == "VRFY"
    assert unknown.reply.code == 550


def test_etrn_gives_an_etrn_result_or_a_defined_refusal(postfix: Postfix) -> None:
    events = run(settings_for(postfix), EtrnJob(DOMAIN), EtrnJob("elsewhere.test"))

    started, refused = terminal(events)
    assert isinstance(started, EtrnResult) and started.reply.code == 250
    assert isinstance(refused, CommandAbort) and refused.command == "ETRN"
    assert refused.reply.code == 459  # "service unavailable": not a fast-flush domain


def test_an_unknown_recipient_is_rejected_and_the_others_get_the_mail(
        postfix: Postfix) -> None:
    events = run(settings_for(postfix), mail("partly", f"nobody@{DOMAIN}", f"bob@{DOMAIN}"))

    rejected = [e for e in events if isinstance(e, RecipientRejected)]
    assert [e.address for e in rejected] == [f"nobody@{DOMAIN}"]
    assert rejected[0].reply.code == 550
    (sent,) = terminal(events)
    assert isinstance(sent, Sent) and sent.accepted == (f"bob@{DOMAIN}",)
    delivered(postfix, "bob", "partly")


def test_the_send_command_delivers_with_the_ca_file_of_its_config(
        postfix: Postfix, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(default_test_pki().ca.cert_pem)
    config = tmp_path / "device.toml"
    config.write_text(f'config_version = {CONFIG_VERSION}\n'
                      '[device]\ndomain = "device.example.test"\n'
                      f'[server]\nhost = "{LOOPBACK}"\nport = {postfix.port}\n'
                      'security = "required"\ntls_server_name = "localhost"\n'
                      '[tls]\nca_file = "ca.pem"\n')
    out, err = io.StringIO(), io.StringIO()
    code = main(["send", "--config", str(config), "--to", f"bob@{DOMAIN}",
                 "--from", SENDER, "--subject", "via smtp-hil send"], out=out, err=err)

    assert (code, err.getvalue()) == (0, ""), out.getvalue()
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("sent 250 2.0.0 Ok: ") and "queued as" in last
    delivered(postfix, "bob", "via smtp-hil send")
