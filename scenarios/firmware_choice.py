"""Which firmware the emulated board runs: the Python model, lwIP, or a team's own C one.

A setting is ``"model"`` (the Python stack and the modelled client, the default),
``"lwip"`` (lwIP 2.1.3 and its ``apps/smtp`` client, built by ``make lwip``) or the path
of a shared library implementing ``emulator/cfirmware/include/hil_firmware.h`` (ending in
``.so``; in a scenario file, relative to the file). It is given by the scenario's
``[device] firmware`` key or by ``--firmware`` on the command line (which wins).

This module knows the names and where a firmware's library is; nothing about running it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

from pydantic import BeforeValidator

from emulator.cfirmware.library import FirmwareUnavailable, lwip_library
from smtp.inputwording import says
from smtp.userfiles import FIRMWARE_FILE, UserFileError, check_user_file

MODEL: Final = "model"
LWIP: Final = "lwip"
SETTING_WORDS: Final = "'model', 'lwip' or the path of a C firmware library ending in .so"


def check_firmware_setting(value: object) -> str:
    """``value`` if it names a firmware, else a ValueError saying what is expected."""
    if isinstance(value, str) and (value in (MODEL, LWIP) or value.endswith(".so")):
        return value
    raise ValueError(f"expected {SETTING_WORDS}, got {value!r}")


def _setting(value: object) -> str:
    try:
        return check_firmware_setting(value)
    except ValueError as exc:
        raise says(str(exc)) from None


FirmwareSetting = Annotated[str, BeforeValidator(_setting)]
"""The type of the scenario's ``[device] firmware`` key."""


@dataclass(frozen=True, slots=True)
class FirmwareChoice:
    """A firmware to run: ``label`` (``model``, ``lwip`` or the library's file name) and,
    for a C firmware, its library."""

    label: str
    library: Path | None = None

    @property
    def is_model(self) -> bool:
        return self.library is None


MODEL_FIRMWARE: Final = FirmwareChoice(MODEL)


def resolve_firmware(setting: str, base: Path | None = None) -> FirmwareChoice:
    """The firmware ``setting`` names; a relative library path is taken from ``base``.

    Raises :class:`~emulator.cfirmware.library.FirmwareUnavailable` when lwIP is not
    built or the library file does not exist.
    """
    check_firmware_setting(setting)
    if setting == MODEL:
        return MODEL_FIRMWARE
    if setting == LWIP:
        return FirmwareChoice(LWIP, lwip_library())
    path = Path(setting)
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        check_user_file(path, FIRMWARE_FILE)  # a FIFO or a device is no library
    except UserFileError as exc:
        raise FirmwareUnavailable(f"firmware {setting}: {exc}") from None
    return FirmwareChoice(path.name, path)
