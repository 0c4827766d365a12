"""A per-user cache of the test PKI's throwaway private keys.

Generating an RSA-2048 key searches for primes with OS randomness: 0.05 to 0.4 s, in
every process that needs the simulation's test certificates. The keys only sign
certificates of simulated servers (their content changes ciphertext content, which the
trace leaves out), so one process may as well reuse the keys the previous one made.

Where: ``$SMTP_HIL_KEY_CACHE`` when set (empty or ``off``: no cache at all), else
``$XDG_CACHE_HOME/smtp-hil/test-keys``, else ``~/.cache/smtp-hil/test-keys``. The rules,
each of which turns the cache off (keys are then generated per process, as without it):

* the folder is created with mode 0700 and used only while it is a real folder (not a
  symbolic link) owned by this user that nobody else can read or write;
* it is never inside the project's source tree (a cache must not end up in a commit);
* each key is a PKCS#8 PEM file, mode 0600, named after a digest of the parameters it
  was made for (key type, size, and what it signs), so other parameters get other keys;
* a key is written to a temporary file in the folder and renamed into place: processes
  that race see a whole key or none (the last writer wins; either key is as good);
* a file that does not load as a key of the expected type is replaced.

The folder holds throwaway test keys and nothing else; deleting it at any time is safe.
This module knows files and PEM keys; nothing about certificates or TLS.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ENV_VARIABLE: Final = "SMTP_HIL_KEY_CACHE"
OFF: Final = frozenset({"", "off"})
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]

Key = TypeVar("Key", rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)


def cache_folder(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the keys go (see the module docstring), or None when the cache is off."""
    env = os.environ if environ is None else environ
    if ENV_VARIABLE in env:
        value = env[ENV_VARIABLE]
        return None if value.strip().lower() in OFF else Path(value)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smtp-hil" / "test-keys"


def usable_folder(folder: Path) -> bool:
    """Create ``folder`` (0700) if needed; True when it is private to this user and
    outside the project's source tree."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
        resolved = folder.resolve()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o077:
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False
    return not resolved.is_relative_to(PROJECT_ROOT)


def _load(path: Path, accept: Callable[[object], Key | None]) -> Key | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            return None
        data = file.read()
    try:
        # Our own key from our own private folder: skip the slow RSA consistency check.
        key = serialization.load_pem_private_key(data, password=None,
                                                 unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        return None
    return accept(key)


def _store(folder: Path, path: Path, key: Key) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".key-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def _cached(parameters: str, make: Callable[[], Key], accept: Callable[[object], Key | None],
            folder: Path | None, environ: Mapping[str, str] | None) -> Key:
    where = folder if folder is not None else cache_folder(environ)
    if where is None or not usable_folder(where):
        return make()
    path = where / (hashlib.sha256(parameters.encode()).hexdigest()[:32] + ".pem")
    key = _load(path, accept)
    if key is None:
        key = make()
        _store(where, path, key)
    return key


def cached_rsa_key(parameters: str, make: Callable[[], rsa.RSAPrivateKey], *,
                   folder: Path | None = None,
                   environ: Mapping[str, str] | None = None) -> rsa.RSAPrivateKey:
    """The RSA key an earlier process made for ``parameters`` (a text naming the key's
    size and what it signs), or ``make()``, then kept for the next process. ``folder``
    overrides the environment's choice of folder."""
    return _cached(parameters, make,
                   lambda key: key if isinstance(key, rsa.RSAPrivateKey) else None,
                   folder, environ)


def cached_ec_key(parameters: str, make: Callable[[], ec.EllipticCurvePrivateKey], *,
                  folder: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> ec.EllipticCurvePrivateKey:
    """:func:`cached_rsa_key` for an elliptic-curve key."""
    return _cached(parameters, make,
                   lambda key: key if isinstance(key, ec.EllipticCurvePrivateKey) else None,
                   folder, environ)
