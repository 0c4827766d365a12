"""Server-side TLS over memory BIOs for the scripted server on real sockets: ciphertext
in and out, plaintext for the engine (:mod:`scenarios.server.asyncdriver` drives it).

OpenSSL through ``ssl.MemoryBIO``: the handshake (through a
:class:`~scenarios.server.tlsstall.HandshakeStall` when one is given), decryption
(noting the client's close_notify), encryption, our own close_notify, and what follows
the client's after we sent ours. This module knows ``ssl``; nothing about sockets,
engines or time.
"""

from __future__ import annotations

import contextlib
import ssl

from scenarios.server.tlsstall import HandshakeStall


class TlsPipe:
    """Server-side TLS over memory BIOs: ciphertext in and out, plaintext for the engine."""

    def __init__(self, context: ssl.SSLContext, stall: HandshakeStall | None = None) -> None:
        self.stall = stall
        """Cuts the handshake: the client's bytes in, the server's flight out."""
        self._stall_told = False
        self._discarded_told = 0
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self._in, self._out, server_side=True)
        self.open = False
        self.unwrapping = False

    def stall_news(self) -> list[tuple[str, str]]:
        """What the stall did since last asked, as transcript notes: ``tls_stall`` once
        it took hold, then ``discarded`` for each batch of client bytes thrown away."""
        stall, news = self.stall, []
        if stall is None or not stall.stalled:
            return []
        if not self._stall_told:
            self._stall_told = True
            news.append(("tls_stall", f"mode={stall.mode} records_sent={stall.records_sent}"))
        if stall.discarded > self._discarded_told:
            news.append(("discarded", f"{stall.discarded - self._discarded_told} bytes: the "
                                      "server stalls its TLS handshake"))
            self._discarded_told = stall.discarded
        return news

    def outgoing(self) -> bytes:
        data = self._out.read()
        return data if self.stall is None else self.stall.outgoing(data)

    def handshake(self, data: bytes) -> bool:
        """Feed handshake bytes; True once done. Raises ``ssl.SSLError`` on failure."""
        self._in.write(data if self.stall is None else self.stall.incoming(data))
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.open = True
        return True

    def decrypt(self, data: bytes) -> tuple[bytes, bool]:
        """Plaintext from ``data`` and whether the client sent close_notify. Raises
        ``ssl.SSLError`` on a TLS error."""
        self._in.write(data)
        plain = bytearray()
        while True:
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                return bytes(plain), False
            except ssl.SSLZeroReturnError:
                return bytes(plain), True
            if not chunk:
                return bytes(plain), True
            plain += chunk

    def encrypt(self, data: bytes) -> bytes:
        self.obj.write(data)
        return self.outgoing()

    def close_notify(self) -> bytes:
        """Our close_notify alert (the peer's is not awaited here)."""
        self.open = False
        self.unwrapping = True
        with contextlib.suppress(ssl.SSLError):
            self.obj.unwrap()
        return self.outgoing()

    def after_unwrap(self, data: bytes) -> bytes | None:
        """While waiting for the peer's close_notify: None until it came, then the bytes
        that followed it (plaintext)."""
        self._in.write(data)
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLError:
            pass
        self.unwrapping = False
        return self._in.read()
