"""The client core's timers: their names and their defaults.

One timer runs at a time (:class:`~smtp.outputs.ArmTimer`): while a reply is awaited,
the timer of the command at the head of the expectation queue; while connecting, TLS
shaking hands, or content streaming, ``connect``, ``tls_handshake`` and ``data_block``.
:data:`TimerName` is the closed set of their names; an unknown name is refused wherever
one is looked up (:meth:`smtp.settings.ClientSettings.timeout_us`), never given a default.

This module is pure data.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

TimerName = Literal[
    "connect", "greeting", "ehlo", "starttls", "tls_handshake", "auth", "mail", "rcpt",
    "data_init", "data_block", "data_term", "bdat", "rset", "quit", "vrfy", "etrn",
]
"""The client's timers: one per command awaited, and ``connect``, ``tls_handshake`` and
``data_block`` (each block of content handed to the socket)."""
TIMER_NAMES: Final[tuple[TimerName, ...]] = get_args(TimerName)

#: RFC 5321 4.5.3.2 minimum per-command timeouts (and Postfix's defaults), in seconds.
RFC5321_TIMEOUTS_S: Final[dict[TimerName, int]] = {
    "connect": 30,
    "greeting": 300,
    "ehlo": 300,
    "starttls": 120,
    "tls_handshake": 60,
    "auth": 300,
    "mail": 300,
    "rcpt": 300,
    "data_init": 120,
    "data_block": 180,
    "data_term": 600,
    "bdat": 600,
    "rset": 120,
    "quit": 60,
    "vrfy": 300,
    "etrn": 300,
}
