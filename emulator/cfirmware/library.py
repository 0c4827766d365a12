"""Finding a built C firmware and loading private copies of it.

lwIP's firmware is ``build/lwip/libhil_lwip.so`` at the top of the source tree (built by
``make lwip``), or the file named by ``SMTP_HIL_LWIP_LIB``. When it is missing,
:func:`lwip_library` raises :class:`FirmwareUnavailable` with one line saying why and how
to get it (the reason ``make lwip`` wrote to ``build/lwip/UNAVAILABLE``, when it did).

A firmware keeps its state in globals and the loader returns the same handle for the
same path, so every device of every run gets its own copy: the file is copied under a
unique name, loaded with ``RTLD_LOCAL`` (the library is built with
``-fvisibility=hidden``, so no symbol of one copy binds to another's), and the copy is
deleted once loaded.

This module knows files and the dynamic loader; nothing about what the firmware does.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import Final

from emulator.userinput import UserInputError

LWIP_LIBRARY_ENV: Final = "SMTP_HIL_LWIP_LIB"
BUILD_DIR: Final = Path(__file__).resolve().parents[2] / "build" / "lwip"
LWIP_LIBRARY: Final = BUILD_DIR / "libhil_lwip.so"
HOW_TO_GET_IT: Final = (
    "run 'make lwip' (with the Debian archive reachable: it runs 'apt-get source "
    "lwip'), or 'LWIP_SRC=/path/to/lwip-2.1.3 make lwip'")


class FirmwareUnavailable(UserInputError):
    """The firmware library is not there; the message says why and how to get it."""


def lwip_library() -> Path:
    """The built lwIP firmware, or :class:`FirmwareUnavailable`."""
    override = os.environ.get(LWIP_LIBRARY_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FirmwareUnavailable(f"{LWIP_LIBRARY_ENV}={override}: no such file")
        return path
    if LWIP_LIBRARY.is_file():
        return LWIP_LIBRARY
    reason_file = BUILD_DIR / "UNAVAILABLE"
    if reason_file.is_file():
        reason = reason_file.read_text(encoding="utf-8", errors="replace").strip()
        raise FirmwareUnavailable(reason or f"lwIP is not built; {HOW_TO_GET_IT}")
    raise FirmwareUnavailable(f"lwIP firmware not built ({LWIP_LIBRARY} is missing); "
                              f"{HOW_TO_GET_IT}")


def load_private_copy(path: Path) -> ctypes.CDLL:
    """A private instance of the library at ``path`` (see the module docstring)."""
    handle, copy = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=".so")
    try:
        with os.fdopen(handle, "wb") as out, path.open("rb") as source:
            shutil.copyfileobj(source, out)
        return ctypes.CDLL(copy, mode=os.RTLD_LOCAL)
    finally:
        os.unlink(copy)
