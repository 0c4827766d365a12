"""One seeded STARTTLS-shaped run of the simulated world, for the determinism tests.

A board task connects to a server host, trades a few plaintext lines (greeting, EHLO,
STARTTLS, 220), switches both ends to TLS (RSA test certificates, the certificate checked
against the board's RTC set to 2025), sends some KiB up, receives some KiB down and
closes. The server side runs on socket callbacks. Random link loss is optional.

Imported, :func:`run_starttls` returns a :class:`RunResult`. Run as a script it prints
that result as one JSON line, so a test can compare runs made in separate processes
(with different ``PYTHONHASHSEED`` values)::

    python tests/emulator/_determinism_run.py --seed 1 [--loss 0.05]

Its name does not start with ``test_``: pytest does not collect it. It knows the board,
the link, server hosts, TLS and the test PKI; the exchange only looks like SMTP.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from emulator.board import Board
from emulator.kernel import Kernel
from emulator.rtc import Rtc
from emulator.units import MINUTE, SECOND
from stack.api import SocketEvent, SocketState, StreamSocket, TaskContext, TaskRequest, Wait
from stack.link import Link
from stack.simhost import SimHost
from stack.tcp import TcpSocket
from stack.tls.certs import default_test_pki
from stack.tls.config import TlsConfig, client_verifier, make_context
from stack.tls.session import TlsSocket

BOARD_IP = "192.0.2.10"
SERVER_IP = "198.51.100.25"
SMTP_PORT = 25
SERVER_NAME = "smtp.example.test"
RTC_START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
UP_BYTES = 6 * 1024
DOWN_BYTES = 5 * 1024
RUN_LIMIT_US = 10 * MINUTE
CHUNK = 4096

Steps = Generator[TaskRequest, bool | None, None]


def pattern(length: int, salt: int) -> bytes:
    """Deterministic test bytes (no OS randomness): ``length`` bytes shaped by ``salt``."""
    return bytes((i * 31 + salt + i // 251) & 0xFF for i in range(length))


@dataclass(frozen=True)
class RunResult:
    """What one run produced: the trace hash and whether everything arrived intact."""

    seed: int
    loss: float
    sha256: str
    records: int
    end_us: int
    tls_up: bool  # both ends reached CONNECTED
    up_exact: bool  # the server got exactly the board's bytes
    down_exact: bool  # the board got exactly the server's bytes
    frames_dropped: int
    retransmissions: int


@dataclass
class _Outcome:
    client_connected: bool = False
    server_connected: bool = False
    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)


def _tls_socket(kernel: Kernel, raw: StreamSocket, config: TlsConfig, *, server_side: bool,
                clock: Callable[[], datetime] | None = None) -> TlsSocket:
    source = "tls.server" if server_side else "tls.board"
    return TlsSocket(
        raw,
        make_context(config, server_side=server_side),
        server_side=server_side,
        server_hostname=config.server_name,
        verify=None if clock is None else client_verifier(config, clock),
        on_trace=lambda kind, fields: kernel.emit(source, kind, **fields),
    )


class _StarttlsServer:
    """The server end: plaintext lines, then TLS; echoes nothing, sends DOWN_BYTES back."""

    def __init__(self, kernel: Kernel, config: TlsConfig, outcome: _Outcome) -> None:
        self.kernel = kernel
        self.config = config
        self.outcome = outcome
        self.down = pattern(DOWN_BYTES, 7)
        self.sent = 0
        self.raw: TcpSocket | None = None
        self.tls: TlsSocket | None = None
        self.lines = bytearray()

    def on_accept(self, sock: TcpSocket) -> None:
        self.raw = sock
        sock.set_event_handler(self._on_plain)
        sock.send(b"220 smtp.example.test ESMTP\r\n")

    def _on_plain(self, _event: SocketEvent) -> None:
        raw = self.raw
        assert raw is not None
        self.lines += raw.recv()
        while b"\r\n" in self.lines and self.tls is None:
            line, _, rest = bytes(self.lines).partition(b"\r\n")
            self.lines = bytearray(rest)
            if line.startswith(b"EHLO "):
                raw.send(b"250-smtp.example.test\r\n250 STARTTLS\r\n")
            elif line == b"STARTTLS":
                raw.send(b"220 2.0.0 Ready to start TLS\r\n")
                self.tls = _tls_socket(self.kernel, raw, self.config, server_side=True)
                self.tls.set_event_handler(self._on_tls)
                self.tls.start()
            else:
                raw.send(b"500 5.5.1 unrecognised\r\n")

    def _on_tls(self, event: SocketEvent) -> None:
        tls = self.tls
        assert tls is not None
        if event is SocketEvent.CONNECTED:
            self.outcome.server_connected = True
        while chunk := tls.recv(CHUNK):
            self.outcome.up += chunk
        if len(self.outcome.up) >= UP_BYTES:
            while self.sent < len(self.down):
                accepted = tls.send(self.down[self.sent:self.sent + CHUNK])
                if accepted == 0:
                    return  # WRITABLE brings us back
                self.sent += accepted


def _wait_until(condition: Callable[[], bool]) -> Steps:
    while not condition():
        yield Wait(10 * SECOND)


def _read_reply(sock: TcpSocket, inbox: bytearray) -> Generator[TaskRequest, bool | None, bytes]:
    """Read one complete (possibly multi-line) reply: the last line has a space at [3]."""
    while True:
        inbox += sock.recv()
        lines = bytes(inbox).split(b"\r\n")
        complete = lines[:-1]
        if complete and len(complete[-1]) >= 4 and complete[-1][3:4] == b" ":
            reply = bytes(inbox)
            inbox.clear()
            return reply
        if sock.state is SocketState.CLOSED:
            return bytes(inbox)
        yield Wait(10 * SECOND)


def _client_factory(board: Board, config: TlsConfig, outcome: _Outcome
                    ) -> Callable[[TaskContext], Steps]:
    up = pattern(UP_BYTES, 3)

    def client(ctx: TaskContext) -> Steps:
        raw = ctx.stack.socket()
        assert isinstance(raw, TcpSocket)
        raw.set_event_handler(lambda _event: ctx.wake())
        raw.connect(SERVER_IP, SMTP_PORT)
        inbox = bytearray()
        for command in (None, b"EHLO board.example\r\n", b"STARTTLS\r\n"):
            if command is not None:
                raw.send(command)
            reply = yield from _read_reply(raw, inbox)
            ctx.log("reply", text=reply.decode("ascii", "replace"))
            if not reply.startswith((b"220", b"250")):
                return
        tls = _tls_socket(board.kernel, raw, config, server_side=False, clock=board.rtc.now)
        tls.set_event_handler(lambda _event: ctx.wake())
        tls.start()
        yield from _wait_until(lambda: tls.state is not SocketState.CONNECTING)
        if tls.state is not SocketState.ESTABLISHED:
            return
        outcome.client_connected = True
        offset = 0
        while offset < len(up):
            accepted = tls.send(up[offset:offset + CHUNK])
            offset += accepted
            if accepted == 0:
                yield Wait(10 * SECOND)
        while len(outcome.down) < DOWN_BYTES and tls.state is SocketState.ESTABLISHED:
            chunk = tls.recv(CHUNK)
            if chunk:
                outcome.down += chunk
            else:
                yield Wait(10 * SECOND)
        tls.shutdown()
        yield from _wait_until(lambda: tls.state is SocketState.CLOSED)
        ctx.log("done", up=len(up), down=len(outcome.down))

    return client


def run_starttls(seed: int, *, loss: float = 0.0) -> RunResult:
    """Run the STARTTLS exchange once with ``seed`` (and link ``loss``); see module doc."""
    pki = default_test_pki()
    client_config = TlsConfig(ca_pem=pki.ca.cert_pem, server_name=SERVER_NAME)
    server_config = TlsConfig(cert_chain=(pki.leaf.cert_pem, pki.leaf.key_pem))
    kernel = Kernel(seed=seed)
    link = Link(kernel, latency_us=500, bandwidth_bps=10_000_000)
    board = Board(kernel, ip=BOARD_IP, rtc=Rtc(kernel, start=RTC_START, name="board.rtc"))
    board.attach(link)
    server = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    if loss:
        link.set_loss(loss)
    outcome = _Outcome()
    smtp_server = _StarttlsServer(kernel, server_config, outcome)
    server.stack.listen(SMTP_PORT, smtp_server.on_accept)
    board.spawn("client", _client_factory(board, client_config, outcome))
    kernel.run(until_us=RUN_LIMIT_US)
    last_record = kernel.trace.records[-1].t_us if len(kernel.trace) else 0
    return RunResult(
        seed=seed,
        loss=loss,
        sha256=kernel.trace.sha256(),
        records=len(kernel.trace),
        end_us=last_record,
        tls_up=outcome.client_connected and outcome.server_connected,
        up_exact=bytes(outcome.up) == pattern(UP_BYTES, 3),
        down_exact=bytes(outcome.down) == pattern(DOWN_BYTES, 7),
        frames_dropped=link.stats.frames_dropped,
        retransmissions=board.stack.stats.retransmissions + server.stack.stats.retransmissions,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--loss", type=float, default=0.0)
    args = parser.parse_args(argv)
    result = run_starttls(args.seed, loss=args.loss)
    print(json.dumps(asdict(result), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
