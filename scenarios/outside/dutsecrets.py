"""What a run with a client program hands the program, and what its output must not show.

* :func:`scenario_values`: each scenario value a placeholder takes, with the key the
  scenario file spells it by, so that a value a program could read as an option
  (``--output=x``) is refused naming the file and the key.
* :func:`private_file` and :func:`netrc_entry`: the password and the netrc file a
  program reads instead of a command line (readable by this user only).
* :func:`scenario_secrets` and :func:`hide_known_secrets`: the password and token as
  they are and in base64, hidden in what the program printed and in its argument list.

This module knows the scenario's device configuration and the netrc syntax; it runs
nothing.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path

from scenarios.format import Scenario
from smtp.message import MailJob


def scenario_values(scenario: Scenario, host: str) -> dict[str, list[tuple[str, str]]]:
    """For each placeholder filled from the scenario, the ``(key, value)`` pairs it takes
    (the key as the scenario file spells it, for error messages)."""
    values: dict[str, list[tuple[str, str]]] = {}
    job = scenario.to_job()
    if isinstance(job, MailJob):
        values["sender"] = [("job.from", job.sender)]
        recipients = [(f"job.{field}[{index}]", address)
                      for field, addresses in (("to", job.to), ("cc", job.cc),
                                               ("bcc", job.bcc))
                      for index, address in enumerate(addresses)]
        values["recipient"] = values["recipients"] = recipients
    auth = scenario.device_config(host).auth
    if auth.username:
        values["username"] = [("device.config.auth.username", auth.username)]
    if auth.password is not None:
        values["password"] = [("device.config.auth.password", auth.password)]
    if scenario.device.domain:
        values["helo_name"] = [("device.domain", scenario.device.domain)]
    return values


# ----------------------------------------------------------------------------------------
# The message


def private_file(path: Path, data: bytes) -> Path:
    """``path`` with ``data``, readable by this user only (mode 0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def _netrc_token(text: str) -> str:
    """A netrc token: as is when it has no blank, quote or backslash, else in double
    quotes with backslash escapes (curl reads those since 7.84)."""
    if text and not any(c in text for c in ' \t\r\n"\\'):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def netrc_entry(host: str, username: str | None, password: str | None) -> bytes:
    """One netrc line for ``host`` with the credentials, or nothing without them."""
    if not username or password is None:
        return b""
    return (f"machine {host} login {_netrc_token(username)} password "
            f"{_netrc_token(password)}\n").encode()


def scenario_secrets(scenario: Scenario, host: str) -> list[str]:
    """The scenario device's password and token, as they are and in base64 (alone, and
    in the AUTH PLAIN and XOAUTH2 forms)."""
    auth = scenario.device_config(host).auth
    user = auth.username or ""
    plain = [s for s in (auth.password, auth.oauth_token) if s]
    blobs = [p.encode() for p in plain]
    blobs += [f"\0{user}\0{p}".encode() for p in plain]
    blobs += [f"user={user}\x01auth=Bearer {p}\x01\x01".encode() for p in plain]
    return plain + [base64.b64encode(b).decode("ascii") for b in blobs]


def hide_known_secrets(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``<password hidden>`` (longest
    first, so a secret inside another is not left half shown)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "<password hidden>")
    return text
