"""The ``hil://<name>`` pyserial URL: emulated devices reachable by name in this process.

A device session (anything with a ``kernel`` and a ``uart``, see :class:`HilDevice`)
is published under a name with :func:`publish`; ``serial.serial_for_url("hil://demo",
timeout=2.0)`` then returns a port attached to its UART (the port class lives in
:mod:`emulator.serialhandlers.protocol_hil`). Reading from the port advances the
device's virtual time, so a read with ``timeout=300`` returns in milliseconds of wall
time when nothing comes.

:func:`register` adds the handler package to ``serial.protocol_handler_packages``; it is
called when this module is imported and is idempotent. The registry is a plain dict in
this process: the URL does not reach devices in other processes (use the pty bridge for
that).

This module knows pyserial's handler registry, the UART and the kernel; nothing about
SMTP, scenarios or consoles.
"""

from __future__ import annotations

from typing import Protocol

import serial  # type: ignore[import-untyped]

from emulator.kernel import Kernel
from emulator.uart import Uart

SCHEME = "hil"
HANDLER_PACKAGE = "emulator.serialhandlers"


class HilDevice(Protocol):
    """What a ``hil://`` port needs from a device: its clock and its UART."""

    @property
    def kernel(self) -> Kernel: ...

    @property
    def uart(self) -> Uart: ...


_devices: dict[str, HilDevice] = {}


def register() -> None:
    """Make ``hil://`` known to ``serial.serial_for_url`` (safe to call again)."""
    packages: list[str] = serial.protocol_handler_packages
    if HANDLER_PACKAGE not in packages:
        packages.append(HANDLER_PACKAGE)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or any(c in name for c in "/?#:@ ") \
            or not name.isprintable():
        raise ValueError(f"device name: expected a non-empty name without '/?#:@' or "
                         f"spaces, got {name!r}")


def publish(name: str, device: HilDevice) -> str:
    """Make ``device`` reachable as ``hil://<name>``; returns the URL."""
    _check_name(name)
    if name in _devices and _devices[name] is not device:
        raise ValueError(f"device name: {name!r} is already published (withdraw it first)")
    _devices[name] = device
    return url_for(name)


def withdraw(name: str) -> None:
    """Forget the device published as ``name`` (nothing happens if there is none)."""
    _devices.pop(name, None)


def lookup(name: str) -> HilDevice:
    """The device published as ``name``; ValueError lists the known names otherwise."""
    try:
        return _devices[name]
    except KeyError:
        known = ", ".join(sorted(_devices)) or "none"
        raise ValueError(f"hil://{name}: no emulated device published under {name!r} "
                         f"(published: {known})") from None


def published() -> list[str]:
    """Names of the published devices, sorted."""
    return sorted(_devices)


def url_for(name: str) -> str:
    return f"{SCHEME}://{name}"


register()
