"""The board's porting layer (the ``psp_*`` functions the SMTP client calls).

``psp_rtc_get`` reads the board's RTC, ``psp_get_host_domain`` returns the configured
device domain (None when only an address is configured), ``psp_get_host_addr`` the
board's IPv4 address and ``psp_template_hostname`` its host name. This module knows the
board and its RTC; it satisfies :class:`smtp.settings.Porting` structurally and imports
nothing from ``smtp``.
"""

from __future__ import annotations

from emulator.board import Board
from emulator.rtc import RtcReading


class BoardPorting:
    """``psp_*`` on the emulated board."""

    def __init__(self, board: Board, *, domain: str | None, hostname: str = "device") -> None:
        self._board = board
        self.domain = domain
        self.hostname = hostname

    def rtc_get(self) -> RtcReading:
        return self._board.rtc.read()

    def host_domain(self) -> str | None:
        return self.domain

    def host_address(self) -> str:
        return self._board.ip

    def template_hostname(self) -> str:
        return self.hostname
