"""TLS session secrets in the NSS key log format (``SSLKEYLOGFILE``), for decrypting captures.

OpenSSL hands a session's secrets to ``ssl.SSLContext.keylog_filename``, which works for
``MemoryBIO`` sessions too. The lines are the NSS key log format (RFC 9850): TLS 1.2
``CLIENT_RANDOM <client random> <master secret>``; TLS 1.3 five lines keyed by the client
random (``CLIENT_HANDSHAKE_TRAFFIC_SECRET``, ``SERVER_HANDSHAKE_TRAFFIC_SECRET``,
``CLIENT_TRAFFIC_SECRET_0``, ``SERVER_TRAFFIC_SECRET_0``, ``EXPORTER_SECRET``). Wireshark and
tshark decrypt a capture with them (``-o tls.keylog_file:FILE``).

Secrets are as sensitive as the traffic they open. Two ways to keep them, and no other:

- :class:`SecretsCapture` gives one context a private file no other process can read (an
  anonymous memory file on Linux, else a file in a private temporary folder that is
  removed at once) and, once the handshake is over, :meth:`SecretsCapture.take` returns
  the lines and closes the file. The secrets then live in memory only, until the caller
  writes them where its user asked (a run's artifacts).
- :func:`log_to_file` appends to a file the user named (``SSLKEYLOGFILE``), as browsers,
  curl and OpenSSL's own tools do.

Logging changes nothing a session sends or a trace records. This module knows ``ssl``
contexts and files; it knows nothing about sockets, kernels or traces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from emulator.userinput import UserInputError

ENV_VARIABLE: Final = "SSLKEYLOGFILE"
HEADER: Final = ("# TLS secrets (NSS key log format, SSLKEYLOGFILE): anyone holding this "
                 "file can read the TLS traffic it belongs to\n")
"""The first line of a key log file this project writes."""
LABELS: Final = frozenset({
    "CLIENT_RANDOM", "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
    "EARLY_EXPORTER_SECRET", "EXPORTER_SECRET",
})
"""The labels of the NSS key log format that carry TLS 1.2 and 1.3 secrets."""


def secret_lines(text: str) -> list[str]:
    """The secret lines of key log ``text`` (comments and blank lines dropped)."""
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def check_line(line: str) -> str | None:
    """What is wrong with one key log line, or None: ``LABEL <hex> <hex>``."""
    parts = line.split()
    if len(parts) != 3:
        return "expected three fields: LABEL CLIENT_RANDOM SECRET"
    label, random, secret = parts
    if label not in LABELS:
        return f"unknown label {label!r}"
    for name, value in (("client random", random), ("secret", secret)):
        try:
            bytes.fromhex(value)
        except ValueError:
            return f"the {name} is not hexadecimal"
    if len(random) != 64:
        return "the client random is not 32 bytes"
    return None


def key_log_text(lines: list[str]) -> str:
    """A whole key log file: :data:`HEADER` and one secret per line."""
    return HEADER + "".join(line + "\n" for line in lines)


def write_key_log(path: str | os.PathLike[str], lines: list[str]) -> None:
    """Write a key log file readable by its owner only (mode 0600, even if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(key_log_text(lines))


class SecretsCapture:
    """Collects the secrets one context logs into a private file (see the module docstring).

    Attach before the context wraps a session; call :meth:`take` when the handshake is
    over (or the connection is gone). A capture that is never taken closes its file when
    it is collected.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context: ssl.SSLContext | None = context
        self._fd: int | None = None
        self._folder: str | None = None
        path = self._open()
        try:
            context.keylog_filename = path
        except OSError:
            self._release()
            raise
        if self._folder is not None:  # the context holds the file open: the name can go
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _open(self) -> str:
        if hasattr(os, "memfd_create"):
            self._fd = os.memfd_create("smtp-hil-tls-secrets", os.MFD_CLOEXEC)
            return f"/proc/self/fd/{self._fd}"
        self._folder = tempfile.mkdtemp(prefix="smtp-hil-keys-")  # mode 0700
        path = str(Path(self._folder) / "keylog.txt")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        return path

    def take(self) -> list[str]:
        """The secret lines logged so far; the file is closed and logging stops."""
        lines: list[str] = []
        if self._fd is not None:
            chunks = []
            offset = 0
            while chunk := os.pread(self._fd, 1 << 16, offset):
                chunks.append(chunk)
                offset += len(chunk)
            lines = secret_lines(b"".join(chunks).decode("ascii", "replace"))
        self._release()
        return lines

    def _release(self) -> None:
        if self._context is not None:
            # None closes OpenSSL's handle on the file (typeshed says str only).
            self._context.keylog_filename = None  # type: ignore[assignment]
            self._context = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._release()


def env_key_log_file(environ: Mapping[str, str] | None = None) -> str | None:
    """The file ``SSLKEYLOGFILE`` names, or None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(ENV_VARIABLE, "")
    return value or None


def check_key_log_file(path: str) -> None:
    """UserInputError (a ValueError) naming ``SSLKEYLOGFILE`` unless ``path`` can be
    appended to (created with mode 0600 if missing): checked before a session starts, not
    in its middle."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise UserInputError(f"{ENV_VARIABLE}={path}: cannot append to the file: "
                             f"{exc.strerror or exc}") from None
    os.close(fd)


def log_to_file(context: ssl.SSLContext, path: str) -> None:
    """Append ``context``'s secrets to ``path`` (created with mode 0600 if missing).

    Raises ValueError naming the file when it cannot be opened for appending.
    """
    check_key_log_file(path)
    try:
        context.keylog_filename = path
    except OSError as exc:
        raise ValueError(f"{ENV_VARIABLE}={path}: cannot append to the file: "
                         f"{exc.strerror or exc}") from None
