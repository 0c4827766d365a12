"""The raw socket under the simulated server's TLS session, and a base to wrap it.

The simulated server hands its TLS session (:class:`~stack.tls.session.TlsSocket`) the
accepted TCP socket, or a wrapper around it that shapes the handshake's ciphertext: one
byte per segment (``segmentation = "byte_by_byte"``), or a stall
(:mod:`scenarios.server.tlsstall`). :class:`RawSocketWrapper` passes everything through,
so a wrapper overrides only what it changes, and wrappers stack.

This module knows the stream socket API; nothing about TLS, engines or kernels.
"""

from __future__ import annotations

from typing import Protocol

from stack.api import CloseReason, EventHandler, SocketState, StreamSocket


class RawSocket(StreamSocket, Protocol):
    """A TCP stream as the server's TLS session uses it: the stream API, how much it
    holds unread, and the switch that traces what it sends as ciphertext."""

    @property
    def rx_buffered(self) -> int: ...

    def set_ciphertext(self, on: bool) -> None: ...


class RawSocketWrapper:
    """A :class:`RawSocket` that passes every call to the one it wraps."""

    def __init__(self, raw: RawSocket) -> None:
        self.raw = raw

    @property
    def state(self) -> SocketState:
        return self.raw.state

    @property
    def close_reason(self) -> CloseReason | None:
        return self.raw.close_reason

    @property
    def close_detail(self) -> str | None:
        return self.raw.close_detail

    @property
    def peer_closed(self) -> bool:
        return self.raw.peer_closed

    @property
    def rx_buffered(self) -> int:
        return self.raw.rx_buffered

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self.raw.set_event_handler(handler)

    def set_ciphertext(self, on: bool) -> None:
        self.raw.set_ciphertext(on)

    def connect(self, host: str, port: int) -> None:
        self.raw.connect(host, port)

    def send(self, data: bytes) -> int:
        return self.raw.send(data)

    def recv(self, max_bytes: int = 65536) -> bytes:
        return self.raw.recv(max_bytes)

    def close(self) -> None:
        self.raw.close()

    def abort(self) -> None:
        self.raw.abort()
