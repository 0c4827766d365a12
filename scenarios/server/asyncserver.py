"""The scripted server listening on an OS socket: accepts connections, hands each to an
:class:`~scenarios.server.asyncdriver.AsyncConnection`, refuses those past its limit,
and keeps what every connection received.

It knows the listening socket, the connection limit, the shared rule book (rule counts
and seeded draws run across connections) and when connections finish; how one
connection speaks SMTP, TLS and pacing is :mod:`scenarios.server.asyncdriver`'s. It reads
the wall clock and touches OS sockets: nothing in the simulated world may import it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from scenarios.server import replies as R
from scenarios.server.asyncdriver import DEFAULT_GATHER_S, AsyncConnection
from scenarios.server.limits import ConnectionLimits
from scenarios.server.mailbox import ReceivedMail
from scenarios.server.realtime import Pacing, host_clock
from scenarios.server.rules import RuleBook, ServerConfig
from scenarios.server.simdriver import ServerTls
from scenarios.server.socketbounds import RefusedConnection
from scenarios.server.transcript import TranscriptSink
from stack.tls.config import make_context


@dataclass
class AsyncServer:
    """The scripted server listening on an OS socket (see the module docstring).

    ``clock`` is the server's clock for the engine's Date check; ``on_line`` receives
    every :class:`TranscriptLine` as it happens; ``keep_lines`` keeps them in each
    connection's ``lines`` too; ``limits`` bounds what connections hold (the memory
    budget is shared by all of them: :attr:`budget`).
    """

    config: ServerConfig
    tls: ServerTls | None = None
    pacing: Pacing = field(default_factory=Pacing)
    clock: Callable[[], datetime] = host_clock
    on_line: TranscriptSink | None = None
    gather_s: float = DEFAULT_GATHER_S
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    keep_lines: bool = True
    connections: list[AsyncConnection] = field(default_factory=list)
    seed: int = 0  # seeds what the rules draw (a trickle's jitter)

    def __post_init__(self) -> None:
        if not isinstance(self.config, ServerConfig):
            raise ValueError(f"config: expected a ServerConfig, got {self.config!r}")
        if not isinstance(self.gather_s, int | float) or not 0 <= self.gather_s <= 10:
            raise ValueError(f"gather_s: expected seconds in 0..10, got {self.gather_s!r}")
        self.rulebook = RuleBook(self.config.rules, seed=self.seed)
        self.budget = self.limits.budget()
        self._server: asyncio.Server | None = None
        self._started = time.monotonic()
        self._finished: asyncio.Queue[AsyncConnection] = asyncio.Queue()
        self.address: tuple[str, int] | None = None
        self.accepted = 0  # connections accepted so far, refused ones included
        self.handshakes = 0  # TLS handshakes begun, across connections (stall_nth)

    def next_index(self) -> int:
        self.accepted += 1
        return self.accepted

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (0: a free port); the address actually bound. Raises
        OSError (address in use, no such address) and ValueError (bad TLS parameters)."""
        if self.tls is not None:
            make_context(self.tls.config(), server_side=True)  # bad cert/key: ValueError now
        loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self._server = await loop.create_server(self._protocol, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    def _protocol(self) -> asyncio.Protocol:
        """A new connection's engine, or a 421 when ``max_connections`` are open."""
        limit = self.limits.max_connections
        if sum(not c.closed for c in self.connections) < limit:
            return AsyncConnection(self)
        return RefusedConnection(R.encode(R.too_many_connections(self.config.hostname)),
                                 self.next_index(), f"too many connections (limit {limit})",
                                 self.on_line, self.elapsed)

    def connection_finished(self, connection: AsyncConnection) -> None:
        self._finished.put_nowait(connection)

    def release(self, connection: AsyncConnection) -> None:
        """Forget a connection that has ended (its verdict is out): nothing of it stays,
        and what it kept goes back to the memory budget."""
        if connection.closed and connection in self.connections:
            self.connections.remove(connection)
            connection.hold.release()

    async def next_finished(self) -> AsyncConnection:
        """The next connection to end, in the order they ended."""
        return await self._finished.get()

    @property
    def open_connections(self) -> list[AsyncConnection]:
        return [c for c in self.connections if not c.closed]

    async def wait_all_closed(self, timeout_s: float) -> bool:
        """Wait until every accepted connection has ended; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.open_connections:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            waiters = [asyncio.ensure_future(c.finished.wait()) for c in self.open_connections]
            _, pending = await asyncio.wait(waiters, timeout=left)
            for waiter in pending:
                waiter.cancel()
        return True

    async def close(self) -> None:
        """Stop listening and abort every connection still open."""
        if self._server is not None:
            self._server.close()
        for connection in self.open_connections:
            connection.abort("server stopped")
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def mailbox(self) -> list[ReceivedMail]:
        return [m for c in self.connections for m in c.engine.mailbox]
