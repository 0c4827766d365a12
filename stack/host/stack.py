"""The host stack: the :mod:`stack.api` socket API over real, non-blocking OS sockets.

An application task written for the simulated stack runs unchanged here, in real time:
``send()`` returns what the OS accepted (0 when its buffer is full: wait for
``WRITABLE``), ``recv()`` returns what is buffered, and state changes arrive as
:class:`~stack.api.SocketEvent` callbacks. Callbacks are only ever made from
:meth:`HostStack.poll`, never from inside a socket call, so a handler may call any
socket method.

Event rules:

* ``CONNECTED`` when a connect completes (the ``SO_ERROR`` check says 0).
  ``ECONNREFUSED`` gives ``CLOSED`` with reason ``REFUSED``; a reset gives ``RST``; any
  other connect error (unreachable, timed out) gives ``TIMEOUT``. A connect that never
  completes is the task's to time out (then ``abort()``).
* ``READABLE`` when new data was read into the socket's buffer. Reading happens in
  ``poll`` until the OS has no more or the buffer holds ``rx_limit`` bytes (then the
  socket is not read until the application calls ``recv()``: back-pressure).
* The peer's FIN: ``peer_closed`` becomes True, the state ``CLOSED`` with reason ``FIN``
  and ``CLOSED`` is delivered (after ``READABLE`` for data read in the same poll;
  buffered data can still be received). ``ECONNRESET``: ``CLOSED`` with reason ``RST``.
* ``send()`` keeps what a task sends during one step in user space (up to
  ``TX_COALESCE`` bytes) and :meth:`HostStack.poll` writes it with one OS ``send`` before it
  waits, so a pipelined group, or a mail's content and its terminator, leave in one
  write (``TCP_NODELAY`` stays: nothing waits for an ACK). ``WRITABLE`` once after a
  ``send()`` accepted less than it was given, when the OS has taken what was kept.
* ``close()`` shuts down the sending side once what was kept is written (the OS sends
  what it holds, then FIN) and the state is ``CLOSING`` while incoming data
  is drained and discarded, so that late data does not make the OS answer with RST.
  When the peer's FIN arrives, or after ``close_linger_s``, the descriptor is closed,
  the state is ``CLOSED`` with reason ``LOCAL`` and ``CLOSED`` is delivered. On a socket
  that is already ``CLOSED`` (peer FIN, reset) ``close()`` just releases it.
* ``abort()`` closes at once with ``SO_LINGER`` 0: the OS sends RST. No event follows.
  Events queued but not yet delivered when the application closes or aborts a socket
  are dropped.
* ``send()`` on a socket that is not ``ESTABLISHED`` accepts nothing (returns 0).

Names are resolved with a blocking ``getaddrinfo`` inside ``connect()`` (acceptable on
the host: only the first address of the stack's family, IPv4 by default, is tried). A
name that does not resolve raises :class:`UnresolvableHostError` (a ValueError naming the
host), so a caller can tell its own bad configuration from anything else.

This module and :mod:`stack.host.runtime` are the only modules outside tests that touch
OS sockets and the wall clock (here: the close linger deadline). It knows nothing about
SMTP, tasks or the simulated world.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import time
from collections.abc import Callable
from functools import partial
from itertools import count

from stack.api import CloseReason, EventHandler, SocketEvent, SocketState

RECV_CHUNK = 65536
TX_COALESCE = 65536  # bytes send() keeps for the next poll's single write
DEFAULT_RX_LIMIT = 256 * 1024
DEFAULT_CLOSE_LINGER_S = 2.0

class UnresolvableHostError(ValueError):
    """``connect()`` was given a host name that does not resolve; ``host`` is the name."""

    def __init__(self, host: str, why: str) -> None:
        super().__init__(f"connect host: cannot resolve {host!r}: {why}")
        self.host = host
        self.why = why


_CONNECT_PENDING = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY}
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def close_reason_for(err: int) -> CloseReason:
    """The API's reason for an OS error number (refused, reset, otherwise timeout)."""
    if err == errno.ECONNREFUSED:
        return CloseReason.REFUSED
    if err in _RESET_ERRNOS:
        return CloseReason.RST
    return CloseReason.TIMEOUT


def _reason_for_exception(exc: OSError) -> CloseReason:
    return close_reason_for(exc.errno) if exc.errno else CloseReason.RST


def _os_error(err: int) -> OSError:
    return OSError(err, errno.errorcode.get(err, "error") if err else "ok")


AcceptHandler = Callable[["HostSocket"], None]
OsSocket = socket.socket  # inside HostStack the name ``socket`` is the method


class HostSocket:
    """One TCP stream over a non-blocking OS socket (implements ``StreamSocket``)."""

    def __init__(self, stack: HostStack, index: int, sock: socket.socket | None = None):
        self._stack = stack
        self._index = index  # creation order: a stable order for events of one poll
        self._sock = sock
        self._state = SocketState.ESTABLISHED if sock is not None else SocketState.CLOSED
        self._close_reason: CloseReason | None = None
        self._peer_closed = False
        self._handler: EventHandler | None = None
        self._rx = bytearray()
        self._tx = bytearray()  # sent since the last poll, written by the next one
        self._shutdown_when_written = False
        self._want_write = False
        self._used = sock is not None
        self._epoch = 0  # bumped by close/abort: drops events queued before
        self._registered = 0
        self.close_deadline: float | None = None
        self.last_error: OSError | None = None
        self.peer_address: tuple[str, int] | None = None
        if sock is not None:
            self.peer_address = sock.getpeername()[:2]

    # ---- StreamSocket ---------------------------------------------------------------

    @property
    def state(self) -> SocketState:
        return self._state

    @property
    def close_reason(self) -> CloseReason | None:
        return self._close_reason

    @property
    def close_detail(self) -> str | None:
        """The OS's words for a timeout (``(Connection timed out)``), else None."""
        if self._close_reason is not CloseReason.TIMEOUT or self.last_error is None:
            return None
        return f"({self.last_error.strerror or self.last_error})"

    @property
    def peer_closed(self) -> bool:
        return self._peer_closed

    @property
    def buffered(self) -> int:
        """Bytes received and not yet taken with :meth:`recv`."""
        return len(self._rx)

    @property
    def local_address(self) -> tuple[str, int] | None:
        if self._sock is None:
            return None
        address: tuple[str, int] = self._sock.getsockname()[:2]
        return address

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self._handler = handler

    def set_ciphertext(self, on: bool) -> None:
        """API parity with the simulated socket (marks TLS payload there); no-op here."""

    def connect(self, host: str, port: int) -> None:
        if self._used:
            raise ValueError("connect: socket already used; take a new one from socket()")
        if not isinstance(host, str) or not host:
            raise ValueError(f"connect host: expected a host name or address, got {host!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 0xFFFF:
            raise ValueError(f"connect port: expected 1..65535, got {port!r}")
        try:
            infos = socket.getaddrinfo(
                host, port, self._stack.family, socket.SOCK_STREAM, socket.IPPROTO_TCP
            )
        except socket.gaierror as exc:
            raise UnresolvableHostError(host, exc.strerror or str(exc)) from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._used = True
        self._sock = sock
        self._state = SocketState.CONNECTING
        self.peer_address = (str(address[0]), int(address[1]))
        err = sock.connect_ex(address)
        if err in _CONNECT_PENDING:
            self._stack._update(self)  # completion shows as writable, even when err == 0
        else:
            self._fail(close_reason_for(err), _os_error(err))

    def send(self, data: bytes) -> int:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"send data: expected bytes, got {type(data).__name__}")
        if self._state is not SocketState.ESTABLISHED or self._sock is None or not data:
            return 0
        if len(self._tx) + len(data) > TX_COALESCE:
            self._write_kept()  # make room, in order
        taken = min(len(data), TX_COALESCE - len(self._tx))
        if taken > 0:
            self._tx += data[:taken]
            self._stack._kept(self)
        if taken < len(data) and not self._want_write:
            self._want_write = True
            self._stack._update(self)
        return taken

    def recv(self, max_bytes: int = 65536) -> bytes:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
            raise ValueError(f"recv max_bytes: expected a positive integer, got {max_bytes!r}")
        data = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        if data:
            self._stack._update(self)  # may resume reading after back-pressure
        return data

    def close(self) -> None:
        self._epoch += 1
        if self._state is SocketState.CLOSING:
            return
        if self._state is not SocketState.ESTABLISHED or self._sock is None:
            self._release(graceful=True)
            self._finish(self._close_reason or CloseReason.LOCAL, deliver=False)
            return
        self._state = SocketState.CLOSING
        self._shutdown_when_written = True
        self._write_kept()
        if self._sock is None:  # the write or the shutdown failed
            return
        self._want_write = False
        self._rx.clear()
        self.close_deadline = time.monotonic() + self._stack.close_linger_s
        self._stack._update(self)

    def abort(self) -> None:
        self._epoch += 1
        if self._sock is not None:
            try:
                self._sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError as exc:
                self.last_error = exc
            self._release(graceful=False)
        self._finish(self._close_reason or CloseReason.LOCAL, deliver=False)

    # ---- driven by HostStack.poll ---------------------------------------------------

    def _write_kept(self) -> None:
        """Write what ``send()`` kept (as much as the OS takes), then the shutdown
        ``close()`` asked for once all of it is out."""
        sock = self._sock
        if sock is None:
            return
        try:
            if self._tx:
                try:
                    written = sock.send(self._tx)
                except (BlockingIOError, InterruptedError):
                    written = 0
                del self._tx[:written]
            if not self._tx and self._shutdown_when_written:
                self._shutdown_when_written = False
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if self._state is SocketState.CLOSING:  # after close(): no event, as ever
                self.last_error = exc
                self._release(graceful=False)
                self._finish(CloseReason.LOCAL, deliver=False)
            else:
                self._fail(_reason_for_exception(exc), exc)
            return
        self._stack._update(self)

    def _interest(self) -> int:
        if self._sock is None:
            return 0
        if self._state is SocketState.CONNECTING:
            return selectors.EVENT_WRITE
        if self._state is SocketState.CLOSING:
            return selectors.EVENT_READ | (selectors.EVENT_WRITE if self._tx else 0)
        if self._state is not SocketState.ESTABLISHED:
            return 0
        mask = selectors.EVENT_READ if len(self._rx) < self._stack.rx_limit else 0
        if self._want_write or self._tx:
            mask |= selectors.EVENT_WRITE
        return mask

    def _on_ready(self, mask: int) -> None:
        if self._sock is None:
            return
        if self._state is SocketState.CONNECTING:
            self._connect_done()
            return
        if mask & selectors.EVENT_WRITE:
            self._write_kept()
        if mask & selectors.EVENT_READ and self._sock is not None:
            self._read_available()
        if (
            mask & selectors.EVENT_WRITE
            and self._want_write
            and not self._tx
            and self._state is SocketState.ESTABLISHED
        ):
            self._want_write = False
            self._stack._queue(self, SocketEvent.WRITABLE)
        self._stack._update(self)

    def _connect_done(self) -> None:
        assert self._sock is not None
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            self._fail(close_reason_for(err), _os_error(err))
            return
        self._state = SocketState.ESTABLISHED
        self._stack._update(self)
        self._stack._queue(self, SocketEvent.CONNECTED)

    def _read_available(self) -> None:
        assert self._sock is not None
        closing = self._state is SocketState.CLOSING
        got_data = False
        eof = False
        while closing or len(self._rx) < self._stack.rx_limit:
            try:
                chunk = self._sock.recv(RECV_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if got_data:
                    self._stack._queue(self, SocketEvent.READABLE)
                self._fail(_reason_for_exception(exc), exc)
                return
            if not chunk:
                eof = True
                break
            if not closing:  # after close() late data is drained and dropped
                self._rx += chunk
                got_data = True
        if got_data:
            self._stack._queue(self, SocketEvent.READABLE)
        if eof:
            self._peer_closed = True
            if closing:
                self._release(graceful=True)
                self._finish(CloseReason.LOCAL, deliver=True)
            else:
                self._finish(CloseReason.FIN, deliver=True)

    def _linger_expired(self, now: float) -> bool:
        if self.close_deadline is None or now < self.close_deadline:
            return False
        self._release(graceful=True)
        self._finish(CloseReason.LOCAL, deliver=True)
        return True

    def _fail(self, reason: CloseReason, exc: OSError) -> None:
        self.last_error = exc
        self._release(graceful=False)
        self._finish(reason, deliver=True)

    def _finish(self, reason: CloseReason, *, deliver: bool) -> None:
        already = self._state is SocketState.CLOSED and self._close_reason is not None
        self._state = SocketState.CLOSED
        self._want_write = False
        if self._close_reason is None:
            self._close_reason = reason
        self._stack._update(self)
        if deliver and not already:
            self._stack._queue(self, SocketEvent.CLOSED)

    def _release(self, *, graceful: bool) -> None:
        """Give the descriptor back to the OS (graceful: after shutting down our side)."""
        self.close_deadline = None
        self._tx.clear()
        self._shutdown_when_written = False
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._stack._forget(self, sock)
        if graceful:
            with contextlib.suppress(OSError):  # not connected any more: nothing to shut
                sock.shutdown(socket.SHUT_WR)
        sock.close()

    def _fileobj(self) -> socket.socket | None:
        return self._sock


class HostListener:
    """A listening OS socket; every accepted connection is handed to ``on_accept``."""

    def __init__(self, stack: HostStack, sock: socket.socket, on_accept: AcceptHandler):
        self._stack = stack
        self._sock: socket.socket | None = sock
        self._on_accept = on_accept
        self._index = -1
        address = sock.getsockname()
        self.address: tuple[str, int] = (str(address[0]), int(address[1]))

    @property
    def port(self) -> int:
        return self.address[1]

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._stack._unregister(sock)
            sock.close()

    def _on_ready(self, mask: int) -> None:
        while self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. the peer reset before accept: nothing to hand over
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                accepted = HostSocket(self._stack, self._stack._next_index(), conn)
            except OSError:
                conn.close()  # gone already (getpeername failed)
                continue
            self._stack._update(accepted)
            self._stack._queue_call(partial(self._on_accept, accepted))


_Delivery = Callable[[], bool]


class HostStack:
    """OS sockets behind the :class:`stack.api.NetworkStack` API, driven by :meth:`poll`."""

    def __init__(
        self,
        *,
        family: socket.AddressFamily = socket.AF_INET,
        rx_limit: int = DEFAULT_RX_LIMIT,
        close_linger_s: float = DEFAULT_CLOSE_LINGER_S,
    ) -> None:
        if family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC):
            raise ValueError(f"family: expected AF_INET, AF_INET6 or AF_UNSPEC, got {family!r}")
        if not isinstance(rx_limit, int) or rx_limit <= 0:
            raise ValueError(f"rx_limit: expected a positive integer, got {rx_limit!r}")
        if not close_linger_s >= 0:
            raise ValueError(f"close_linger_s: expected >= 0 seconds, got {close_linger_s!r}")
        self.family = family
        self.rx_limit = rx_limit
        self.close_linger_s = float(close_linger_s)
        self._selector = selectors.DefaultSelector()
        self._pending: list[_Delivery] = []
        self._unwritten: dict[HostSocket, None] = {}  # sockets whose send()s wait for poll
        self._closing: set[HostSocket] = set()
        self._live: set[HostSocket] = set()  # sockets holding a descriptor
        self._counter = count()
        self._closed = False

    # ---- NetworkStack ---------------------------------------------------------------

    def socket(self) -> HostSocket:
        self._check_open()
        return HostSocket(self, self._next_index())

    def listen(
        self, host: str, port: int, on_accept: AcceptHandler, *, backlog: int = 16
    ) -> HostListener:
        """Listen on ``host:port`` (port 0: any free port, see ``.port``)."""
        self._check_open()
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"listen port: expected 0..65535, got {port!r}")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        listener = HostListener(self, sock, on_accept)
        self._selector.register(sock, selectors.EVENT_READ, listener)
        return listener

    def poll(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for socket activity and deliver the events.

        Returns how many events (and accepted connections) were delivered. Waits 0 s
        when events are already queued.
        """
        self._check_open()
        if not timeout_s >= 0:
            raise ValueError(f"poll timeout_s: expected >= 0 seconds, got {timeout_s!r}")
        unwritten, self._unwritten = self._unwritten, {}
        for sock in unwritten:  # one write per socket for what its task sent this step
            sock._write_kept()
        if self._pending:
            timeout_s = 0.0
        if self._closing:
            nearest = min(s.close_deadline or 0.0 for s in self._closing)
            timeout_s = max(0.0, min(timeout_s, nearest - time.monotonic()))
        if self._selector.get_map():
            ready = self._selector.select(timeout_s)
            ready.sort(key=lambda item: item[0].data._index)
            for key, mask in ready:
                key.data._on_ready(mask)
        elif timeout_s > 0:
            time.sleep(timeout_s)  # nothing to watch; keep the caller's pacing
        if self._closing:
            now = time.monotonic()
            for sock in sorted(self._closing, key=lambda s: s._index):
                sock._linger_expired(now)
        batch, self._pending = self._pending, []
        return sum(1 for deliver in batch if deliver())

    def close(self) -> None:
        """Release every descriptor (open connections get closed by the OS) and stop."""
        if self._closed:
            return
        for sock in list(self._unwritten):  # what tasks sent since the last poll
            sock._write_kept()
        for key in list(self._selector.get_map().values()):
            if isinstance(key.data, HostListener):
                key.data.close()
        for sock in sorted(self._live, key=lambda s: s._index):
            sock._release(graceful=True)
        self._selector.close()
        self._closed = True

    def __enter__(self) -> HostStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- bookkeeping for sockets and listeners --------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("HostStack: used after close()")

    def _next_index(self) -> int:
        return next(self._counter)

    def _kept(self, sock: HostSocket) -> None:
        """``sock`` holds bytes for the next :meth:`poll` to write."""
        self._unwritten[sock] = None

    def _queue(self, sock: HostSocket, event: SocketEvent) -> None:
        epoch = sock._epoch

        def deliver() -> bool:
            handler = sock._handler
            if sock._epoch != epoch or handler is None:
                return False
            handler(event)
            return True

        self._pending.append(deliver)

    def _queue_call(self, call: Callable[[], None]) -> None:
        def deliver() -> bool:
            call()
            return True

        self._pending.append(deliver)

    def _update(self, sock: HostSocket) -> None:
        """Bring the selector registration in line with what the socket waits for."""
        fileobj = sock._fileobj()
        if sock.close_deadline is not None:
            self._closing.add(sock)
        else:
            self._closing.discard(sock)
        if fileobj is None or self._closed:
            return
        self._live.add(sock)
        mask = sock._interest()
        if mask == sock._registered:
            return
        if sock._registered == 0:
            self._selector.register(fileobj, mask, sock)
        elif mask == 0:
            self._selector.unregister(fileobj)
        else:
            self._selector.modify(fileobj, mask, sock)
        sock._registered = mask

    def _forget(self, sock: HostSocket, fileobj: OsSocket) -> None:
        self._closing.discard(sock)
        self._live.discard(sock)
        if sock._registered and not self._closed:
            self._selector.unregister(fileobj)
        sock._registered = 0

    def _unregister(self, fileobj: OsSocket) -> None:
        if not self._closed:
            with contextlib.suppress(KeyError):
                self._selector.unregister(fileobj)
