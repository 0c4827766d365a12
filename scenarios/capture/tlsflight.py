"""What the server's TLS bytes show without their keys: where its records end, and a stall.

Two facts an import needs when a TLS session cannot be (or need not be) decrypted:

- :func:`records_end`: where the side's TLS records stop in its byte stream, by walking
  the record headers (content type 20..24, version 3.x, length). Bytes after that point
  are not TLS: a server that sent a close_notify and then plaintext (``250 OK`` that a
  client must not take for a reply) wrote them in the clear.
- :func:`stall_of`: a handshake the server stopped in the middle of, as the frames' TLS
  record and handshake types (read by tshark, in the clear in every TLS version) show it:
  nothing after the ClientHello, the ServerHello alone, or the whole TLS 1.2 first flight
  up to ServerHelloDone and no ChangeCipherSpec after the client's Finished, or the whole
  TLS 1.3 first flight up to the server's Finished (readable with the key log's handshake
  secrets) and not one record after it while the client sends application data; in each
  case the client sent no alert (a client that refuses the certificate says so with an
  alert: that is a failed handshake, not a stall). Without the handshake secrets a TLS
  1.3 first flight's end cannot be told from a finished handshake.

This module knows TLS record framing and handshake type numbers; it knows nothing about
SMTP, tshark or scenario files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, TypeAlias

TlsStall: TypeAlias = Literal["before_server_hello", "after_server_hello",
                              "after_first_flight"]

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, SERVER_HELLO_DONE, FINISHED = 1, 2, 14, 20
_CONTENT_TYPES: Final = frozenset({20, 21, 22, 23, 24})
_HEADER: Final = 5


def records_end(data: bytes, start: int) -> int:
    """The offset right after the last whole TLS record of ``data`` that follows, record
    after record, from ``start`` (``start`` itself when no record starts there)."""
    position = start
    while len(data) - position >= _HEADER:
        content_type, major = data[position], data[position + 1]
        if content_type not in _CONTENT_TYPES or major != 3:
            break
        length = int.from_bytes(data[position + 3:position + 5], "big")
        if position + _HEADER + length > len(data):
            break
        position += _HEADER + length
    return position


def stall_of(server: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
             client: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]) -> TlsStall | None:
    """The stall the server's TLS frames show (see the module docstring), or None.

    ``server`` and ``client``: each side's frames with payload from the ClientHello on,
    as (record content types, handshake types) pairs, in order. A server frame that holds
    no TLS record (plaintext) is no stall."""
    if not any(CLIENT_HELLO in handshakes for _, handshakes in client):
        return None
    if any(not frame_types for frame_types, _ in server):
        return None
    if any(ALERT in types for types, _ in client):
        return None
    types = [t for frame_types, _ in server for t in frame_types]
    handshakes = [h for _, frame_handshakes in server for h in frame_handshakes]
    if not types:
        return "before_server_hello"
    if types == [HANDSHAKE] and handshakes == [SERVER_HELLO]:
        return "after_server_hello"
    if SERVER_HELLO_DONE in handshakes and CHANGE_CIPHER_SPEC not in types \
            and APPLICATION_DATA not in types and ALERT not in types:
        return "after_first_flight"
    finished = next((i for i, (_, frame_handshakes) in enumerate(client)
                     if FINISHED in frame_handshakes), None)
    server_finished = next((i for i, (_, frame_handshakes) in enumerate(server)
                            if FINISHED in frame_handshakes), None)
    if SERVER_HELLO_DONE not in handshakes and server_finished == len(server) - 1 \
            and finished is not None and len(client) > finished + 1:
        return "after_first_flight"  # TLS 1.3: the client is done and meets silence
    return None
