"""Tests for stack.tcp: two simulated hosts talking TCP over a faulty link."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from emulator.kernel import Kernel
from emulator.trace import Opaque, TraceRecord
from emulator.units import MS, SECOND
from stack.api import CloseReason, NetworkStack, SocketEvent, SocketState, StreamSocket
from stack.link import Link
from stack.pool import Buffer, BufferPool
from stack.segment import Flags, Segment
from stack.simhost import SimHost
from stack.tcp import TcpSocket, TcpStack
from stack.timers import KernelTimers

CLIENT_IP = "10.0.0.2"
SERVER_IP = "10.0.0.1"
PORT = 25
MIB = 1 << 20


class Peer:
    """One socket's application: records events, reads on READABLE, writes on demand."""

    def __init__(self, sock: TcpSocket, *, read: bool = True) -> None:
        self.sock = sock
        self.read = read
        self.events: list[SocketEvent] = []
        self.data = bytearray()
        self.outgoing = memoryview(b"")
        self.close_when_sent = False
        sock.set_event_handler(self.on_event)

    def on_event(self, event: SocketEvent) -> None:
        self.events.append(event)
        if event is SocketEvent.READABLE and self.read:
            self.drain()
        if event in (SocketEvent.WRITABLE, SocketEvent.CONNECTED):
            self.pump()

    def drain(self) -> None:
        while chunk := self.sock.recv():
            self.data += chunk

    def write(self, data: bytes, *, close: bool = False) -> None:
        self.outgoing = memoryview(data)
        self.close_when_sent = close
        self.pump()

    def pump(self) -> None:
        while self.outgoing:
            n = self.sock.send(bytes(self.outgoing[:65536]))
            if n == 0:
                return
            self.outgoing = self.outgoing[n:]
        if self.close_when_sent:
            self.close_when_sent = False
            self.sock.shutdown_send()


@dataclass
class World:
    kernel: Kernel
    link: Link
    client: SimHost
    server: SimHost
    accepted: list[Peer] = field(default_factory=list)

    def run(self, until_us: int, stop: Callable[[], bool] | None = None) -> None:
        self.kernel.run(until_us=self.kernel.now_us + until_us, stop=stop)

    def connect(self, port: int = PORT) -> Peer:
        peer = Peer(self.client.stack.socket())
        peer.sock.connect(SERVER_IP, port)
        accepted = len(self.accepted)
        self.run(10 * SECOND, stop=lambda: peer.sock.state is SocketState.CLOSED
                 or len(self.accepted) > accepted)
        return peer

    def tx(self, src: str | None = None) -> list[TraceRecord]:
        return [r for r in self.kernel.trace.select("link", "tx")
                if src is None or str(r.get("src")).startswith(src + ":")]

    def tcp(self, kind: str, host: str | None = None) -> list[TraceRecord]:
        return self.kernel.trace.select("tcp" if host is None else f"tcp.{host}", kind)


def make_world(seed: int = 0, *, read: bool = True, client_pool: int | None = None,
               server_pool: int | None = None, client: dict[str, Any] | None = None,
               server: dict[str, Any] | None = None, listen: bool = True) -> World:
    kernel = Kernel(seed=seed)
    link = Link(kernel, name="lan")
    cpool = None if client_pool is None else BufferPool(kernel, count=client_pool, name="cpool")
    spool = None if server_pool is None else BufferPool(kernel, count=server_pool, name="spool")
    world = World(kernel, link,
                  SimHost(kernel, name="client", ip=CLIENT_IP, link=link, pool=cpool,
                          **(client or {})),
                  SimHost(kernel, name="server", ip=SERVER_IP, link=link, pool=spool,
                          **(server or {})))
    if listen:
        world.server.stack.listen(PORT, lambda s: world.accepted.append(Peer(s, read=read)))
    return world


def state_of(sock: TcpSocket) -> SocketState:
    """The state now (a call, so the type checker does not carry an earlier assert)."""
    return sock.state


def payload(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def close_both(world: World, client: Peer) -> None:
    client.sock.close()
    world.run(5 * SECOND, stop=lambda: bool(world.accepted) and world.accepted[0].sock.peer_closed)
    world.accepted[0].sock.close()
    world.run(60 * SECOND, stop=lambda: not world.client.stack.connections
              and not world.server.stack.connections)


# ---- connection set-up ---------------------------------------------------------------


def test_handshake_connects_and_agrees_on_the_smaller_mss() -> None:
    world = make_world(server={"mss": 536})
    client = world.connect()
    assert client.sock.state is SocketState.ESTABLISHED
    assert client.events == [SocketEvent.CONNECTED]
    (server,) = world.accepted
    assert server.events == [SocketEvent.CONNECTED]
    assert client.sock.local_address == (CLIENT_IP, 49152)
    assert client.sock.remote_address == (SERVER_IP, PORT)
    assert server.sock.remote_address == (CLIENT_IP, 49152)
    syn, syn_ack, ack = world.tx()[:3]
    assert (syn.get("flags"), syn.get("mss")) == ("S", 1460)
    assert (syn_ack.get("flags"), syn_ack.get("mss")) == ("SA", 536)
    assert syn_ack.get("ack") == (int(syn.get("seq")) + 1) % 2**32  # type: ignore[arg-type]
    assert (ack.get("flags"), ack.get("mss")) == ("A", None)
    client.write(payload(2000))
    world.run(SECOND)
    sizes = [len(r.get("payload")) for r in world.tx(CLIENT_IP)  # type: ignore[arg-type]
             if r.get("payload")]
    assert sizes == [536, 536, 536, 392]
    assert server.data == payload(2000)


def test_ephemeral_ports_are_sequential() -> None:
    world = make_world(client={"first_ephemeral_port": 50000})
    ports = [world.connect().sock.local_port for _ in range(3)]
    assert ports == [50000, 50001, 50002]


def test_send_before_connected_accepts_nothing() -> None:
    world = make_world()
    sock = world.client.stack.socket()
    sock.connect(SERVER_IP, PORT)
    assert sock.state is SocketState.CONNECTING
    assert sock.send(b"early") == 0
    with pytest.raises(RuntimeError, match="already used"):
        sock.connect(SERVER_IP, PORT)


def test_connection_refused_by_rst() -> None:
    world = make_world(listen=False)
    client = world.connect()
    assert client.sock.state is SocketState.CLOSED
    assert client.sock.close_reason is CloseReason.REFUSED
    assert client.events == [SocketEvent.CLOSED]
    assert world.server.stack.stats.no_socket == 1
    assert [r.get("flags") for r in world.tx()] == ["S", "RA"]
    assert world.client.pool.in_use == 0


def test_connect_timeout_against_a_silent_peer() -> None:
    world = make_world(client={"max_retries": 4})
    world.link.drop_after(src=SERVER_IP)
    client = world.connect()
    world.run(10 * 60 * SECOND, stop=lambda: client.sock.state is SocketState.CLOSED)
    assert client.sock.close_reason is CloseReason.TIMEOUT
    assert client.events == [SocketEvent.CLOSED]
    syns = [r for r in world.tx(CLIENT_IP) if r.get("flags") == "S"]
    assert len(syns) == 5  # the first try and max_retries retransmissions
    # backoff 1 + 2 + 4 + 8 + 16 seconds of virtual time
    assert world.kernel.now_us == 31 * SECOND
    assert client.sock.close_detail == "after 4 retransmissions (no ACK for 31.0 s)"
    assert [r.get("state") for r in world.tcp("timeout", "client")] == ["SYN_SENT"]
    assert world.client.pool.in_use == 0


# ---- data transfer ------------------------------------------------------------------


def test_one_mib_each_way_arrives_byte_exact() -> None:
    world = make_world()
    client = world.connect()
    server = world.accepted[0]
    up, down = payload(MIB, 1), payload(MIB, 2)
    client.write(up)
    server.write(down)
    world.run(60 * SECOND, stop=lambda: len(server.data) == MIB and len(client.data) == MIB)
    assert server.data == up
    assert client.data == down
    assert world.client.stack.stats.retransmissions == 0
    close_both(world, client)
    assert world.client.pool.in_use == world.server.pool.in_use == 0


def test_each_send_is_its_own_segment() -> None:
    world = make_world(client={"mss": 1000})
    client = world.connect()
    client.sock.send(b"a" * 2500)
    client.sock.send(b"b" * 10)
    client.sock.send(b"c" * 10)
    world.run(SECOND)
    data = [r for r in world.tx(CLIENT_IP) if r.get("payload")]
    assert [(len(r.get("payload")), r.get("flags")) for r in data] == [  # type: ignore[arg-type]
        (1000, "A"), (1000, "A"), (500, "PA"), (10, "PA"), (10, "PA")]
    assert world.accepted[0].data == b"a" * 2500 + b"b" * 10 + b"c" * 10


def test_received_data_holds_its_buffer_until_read() -> None:
    world = make_world(read=False, server_pool=8)
    client = world.connect()
    server = world.accepted[0]
    client.write(payload(3 * 1460))
    world.run(SECOND)
    assert server.sock.rx_buffered == 3 * 1460
    assert world.server.pool.in_use == 3
    assert len(server.sock.recv(1000)) == 1000
    assert world.server.pool.in_use == 3  # the first segment is not fully read yet
    assert len(server.sock.recv(460)) == 460
    assert world.server.pool.in_use == 2
    server.drain()
    assert world.server.pool.in_use == 0
    assert server.data == payload(3 * 1460)[1460:]


def test_zero_window_then_persist_probe_recovers_a_lost_window_update() -> None:
    world = make_world(read=False)
    client = world.connect()
    server = world.accepted[0]
    data = payload(20_000)
    client.write(data)
    world.run(5 * SECOND)
    assert server.sock.rx_buffered == 4 * 1460  # the whole window, then nothing
    assert [r.get("window") for r in world.tx(SERVER_IP)][-1] == 0
    assert world.tcp("probe", "client")  # the persist timer probes the zero window
    assert client.sock.state is SocketState.ESTABLISHED
    world.link.drop_nth(1, src=SERVER_IP)  # the window update when reading is lost
    server.read = True
    server.drain()
    probes = len(world.tcp("probe", "client"))
    world.run(60 * SECOND, stop=lambda: len(server.data) == len(data))
    assert server.data == data
    assert len(world.tcp("probe", "client")) > probes
    assert world.link.stats.frames_dropped == 1


def test_window_update_resumes_a_stalled_sender() -> None:
    world = make_world(read=False)
    client = world.connect()
    server = world.accepted[0]
    data = payload(50_000)
    client.write(data)
    world.run(SECOND)
    assert world.tx(SERVER_IP)[-1].get("window") == 0
    before = len(world.tx(SERVER_IP))
    server.read = True
    server.drain()
    update = world.tx(SERVER_IP)[before]  # sent by recv() itself, not by a probe reply
    assert (update.t_us, update.get("flags"), update.get("window")) == (
        world.kernel.now_us, "A", 4 * 1460)
    world.run(SECOND, stop=lambda: len(server.data) == len(data))
    assert server.data == data


# ---- loss and retransmission --------------------------------------------------------


def test_dropped_segment_is_retransmitted() -> None:
    world = make_world()
    client = world.connect()
    world.link.drop_nth(3, src=CLIENT_IP, payload_only=True)
    data = payload(100_000)
    client.write(data)
    world.run(30 * SECOND, stop=lambda: len(world.accepted[0].data) == len(data))
    assert world.accepted[0].data == data
    (drop,) = world.kernel.trace.select("link", "drop")
    assert drop.get("reason") == "drop_nth 3"
    assert world.client.stack.stats.retransmissions >= 1
    assert world.server.stack.stats.out_of_order_dropped >= 1
    assert world.tcp("retransmit", "client")[0].get("seq") == drop.get("seq")


def test_lost_segment_at_the_tail_waits_for_the_rto() -> None:
    world = make_world()
    client = world.connect()
    world.link.drop_nth(1, src=CLIENT_IP, payload_only=True)
    client.write(b"only segment")
    world.run(10 * SECOND, stop=lambda: bool(world.accepted[0].data))
    assert world.accepted[0].data == b"only segment"
    assert [r.get("rto_us") for r in world.tcp("rto", "client")] == [400 * MS]
    assert world.kernel.now_us >= 200 * MS


def run_lossy(seed: int) -> tuple[bytes, bytes, str]:
    world = make_world(seed)
    world.link.set_loss(0.1)
    client = world.connect()
    server = world.accepted[0]
    up, down = payload(64 * 1024, 3), payload(32 * 1024, 4)
    client.write(up, close=True)
    server.write(down)
    world.run(600 * SECOND, stop=lambda: server.sock.peer_closed
              and len(client.data) == len(down))
    server.sock.close()
    world.run(600 * SECOND, stop=lambda: not world.client.stack.connections
              and not world.server.stack.connections)
    assert world.link.stats.frames_dropped > 0
    assert world.client.pool.in_use == world.server.pool.in_use == 0
    return bytes(server.data), bytes(client.data), world.kernel.trace.sha256()


def test_ten_percent_loss_is_byte_exact_and_seeded() -> None:
    up1, down1, sha1 = run_lossy(1)
    assert up1 == payload(64 * 1024, 3)
    assert down1 == payload(32 * 1024, 4)
    up2, down2, sha2 = run_lossy(2)
    assert (up2, down2) == (up1, down1)
    assert sha2 != sha1
    assert run_lossy(1)[2] == sha1


def test_silent_peer_mid_stream_times_out_after_retries() -> None:
    world = make_world(client={"max_retries": 5})
    client = world.connect()
    client.write(payload(3000))
    world.run(SECOND)
    world.link.drop_after(src=SERVER_IP)
    client.write(payload(3000, 9))
    world.run(30 * 60 * SECOND, stop=lambda: client.sock.state is SocketState.CLOSED)
    assert client.sock.close_reason is CloseReason.TIMEOUT
    assert client.events[-1] is SocketEvent.CLOSED
    assert len(world.tcp("retransmit", "client")) == 5
    assert [r.get("retries") for r in world.tcp("timeout", "client")] == [5]
    detail = client.sock.close_detail
    assert detail is not None and detail.startswith("after 5 retransmissions (no ACK for ")
    assert world.client.pool.in_use == 0
    assert world.kernel.now_us < 30 * 60 * SECOND


# ---- closing ------------------------------------------------------------------------


def test_orderly_close_from_both_sides() -> None:
    world = make_world(client={"time_wait_us": 3 * SECOND})
    client = world.connect()
    server = world.accepted[0]
    server.read = False
    client.write(b"last words")
    client.sock.close()
    assert client.sock.state is SocketState.CLOSING
    world.run(SECOND)
    assert client.sock.tcp_state == "FIN_WAIT_2"
    assert server.events[-2:] == [SocketEvent.READABLE, SocketEvent.CLOSED]
    assert server.sock.peer_closed and server.sock.close_reason is CloseReason.FIN
    assert server.sock.state is SocketState.ESTABLISHED  # it may still send
    assert server.sock.recv() == b"last words"
    assert server.sock.recv() == b""
    server.sock.close()
    assert server.sock.tcp_state == "LAST_ACK"
    world.run(SECOND)
    assert state_of(server.sock) is SocketState.CLOSED
    assert client.sock.tcp_state == "TIME_WAIT"
    assert state_of(client.sock) is SocketState.CLOSED
    assert client.sock.close_reason is CloseReason.FIN
    assert client.events == [SocketEvent.CONNECTED, SocketEvent.READABLE, SocketEvent.CLOSED]
    world.run(3 * SECOND)
    assert client.sock.tcp_state == "CLOSED"
    assert not world.client.stack.connections and not world.server.stack.connections
    states = [(r.get("from"), r.get("to")) for r in world.tcp("state", "client")]
    assert states == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"),
                      ("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"),
                      ("FIN_WAIT_2", "TIME_WAIT"), ("TIME_WAIT", "CLOSED")]
    assert world.client.pool.in_use == world.server.pool.in_use == 0


def test_half_close_peer_keeps_sending_after_our_fin() -> None:
    world = make_world()
    client = world.connect()
    server = world.accepted[0]
    client.sock.send(b"QUIT\r\n")
    client.sock.shutdown_send()
    world.run(SECOND)
    assert server.sock.peer_closed
    reply = payload(30_000)
    server.write(reply, close=True)
    world.run(10 * SECOND, stop=lambda: client.sock.state is SocketState.CLOSED)
    assert server.data == b"QUIT\r\n"
    assert client.data == reply
    assert client.sock.close_reason is CloseReason.FIN
    assert client.sock.recv() == b""


def test_simultaneous_close_goes_through_closing() -> None:
    world = make_world()
    client = world.connect()
    server = world.accepted[0]
    client.sock.close()
    server.sock.close()
    world.run(10 * SECOND)
    client_states = [r.get("to") for r in world.tcp("state", "client")]
    assert "CLOSING" in client_states and client_states[-1] == "CLOSED"
    assert not world.client.stack.connections and not world.server.stack.connections


def test_fin_wait_2_gives_up_when_the_peer_never_closes() -> None:
    world = make_world(client={"fin_wait_2_us": 5 * SECOND})
    client = world.connect()
    client.sock.close()
    world.run(10 * SECOND)
    assert client.sock.close_reason is CloseReason.TIMEOUT
    assert client.sock.close_detail == "waiting for the peer's FIN (idle for 5.0 s)"
    assert not world.client.stack.connections


def test_abort_sends_rst_and_frees_everything() -> None:
    world = make_world(read=False, client_pool=16, server_pool=16)
    client = world.connect()
    server = world.accepted[0]
    server.sock.send(b"unread reply")
    hold = world.link.hold(src=CLIENT_IP)  # keep the client's data unacknowledged
    client.sock.send(payload(3000))
    world.run(10 * MS)
    assert world.client.pool.in_use == 3  # two queued segments and one received
    client.sock.abort()
    assert world.client.pool.in_use == 0
    assert client.sock.state is SocketState.CLOSED
    assert client.sock.close_reason is CloseReason.LOCAL
    assert client.events == [SocketEvent.CONNECTED, SocketEvent.READABLE]  # no event
    world.link.release(hold)
    world.run(SECOND)
    assert server.sock.state is SocketState.CLOSED
    assert server.sock.close_reason is CloseReason.RST
    assert server.events[-1] is SocketEvent.CLOSED
    abort_rst = next(r for r in world.tx(CLIENT_IP) if "R" in str(r.get("flags")))
    assert abort_rst.get("flags") == "RA"
    assert world.tcp("rst", "server")[0].get("direction") == "in"
    server.sock.close()  # releases the data it never read
    assert world.server.pool.in_use == 0


@pytest.mark.parametrize("towards", [CLIENT_IP, SERVER_IP])
def test_injected_rst_resets_the_connection(towards: str) -> None:
    world = make_world()
    client = world.connect()
    server = world.accepted[0]
    client.sock.send(b"hello")
    world.run(SECOND)
    world.link.inject_rst(towards=towards)
    world.run(SECOND)
    victim, other = (client, server) if towards == CLIENT_IP else (server, client)
    assert victim.sock.close_reason is CloseReason.RST
    assert victim.events[-1] is SocketEvent.CLOSED
    assert other.sock.state is SocketState.ESTABLISHED
    assert (world.client.stack.stats.rsts_accepted + world.server.stack.stats.rsts_accepted
            == 1)


# ---- the buffer pool ----------------------------------------------------------------


def test_sender_with_four_buffers_completes() -> None:
    world = make_world(client_pool=4)
    client = world.connect()
    data = payload(200_000)
    first = client.sock.send(data)
    assert 0 < first < len(data)
    assert client.sock.send(b"more") == 0  # nothing free: accepts nothing
    client.outgoing = memoryview(data)[first:]
    world.run(60 * SECOND, stop=lambda: len(world.accepted[0].data) == len(data))
    assert world.accepted[0].data == data
    assert SocketEvent.WRITABLE in client.events
    pool = world.client.pool
    assert pool.stats.peak_in_use == 4
    assert world.client.stack.stats.short_sends > 1
    close_both(world, client)
    assert pool.in_use == 0


def test_ack_waits_for_a_buffer_when_unread_data_fills_the_pool() -> None:
    world = make_world(read=False, server_pool=3)
    client = world.connect()
    server = world.accepted[0]
    client.write(payload(4 * 1460))
    world.run(SECOND)
    stats = world.server.stack.stats
    assert world.server.pool.in_use == 3
    assert stats.acks_deferred >= 1
    assert world.server.pool.stats.frames_dropped >= 1  # the NIC found no buffer
    server.read = True
    server.drain()
    world.run(10 * SECOND, stop=lambda: len(server.data) == 4 * 1460)
    assert server.data == payload(4 * 1460)


def test_connect_waits_for_a_buffer() -> None:
    kernel = Kernel()
    link = Link(kernel)
    pool = BufferPool(kernel, count=2)
    client = SimHost(kernel, name="client", ip=CLIENT_IP, link=link, pool=pool)
    server = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    server.stack.listen(PORT, lambda s: None)
    hog = pool.alloc("test")
    sock = client.stack.socket()
    sock.connect(SERVER_IP, PORT)
    assert client.stack.stats.segments_deferred == 1
    kernel.run(until_us=500 * MS)
    assert sock.state is SocketState.CONNECTING and not link.stats.frames_sent
    assert hog is not None
    hog.free()
    kernel.run(until_us=2 * SECOND)
    assert state_of(sock) is SocketState.ESTABLISHED


def test_close_defers_the_fin_until_a_buffer_frees() -> None:
    world = make_world(client_pool=3)
    client = world.connect()
    hold = world.link.hold(src=CLIENT_IP)
    assert client.sock.send(payload(5000)) == 2 * 1460  # one buffer stays for input
    client.sock.close()
    assert [r.get("what") for r in world.tcp("deferred", "client")] == ["FIN"]
    world.run(10 * MS)
    world.link.release(hold)
    world.run(5 * SECOND, stop=lambda: client.sock.tcp_state == "FIN_WAIT_2")
    assert world.accepted[0].sock.peer_closed
    assert world.accepted[0].data == payload(5000)[:2 * 1460]


def test_persist_gives_up_when_probes_go_unanswered() -> None:
    world = make_world(read=False, client={"max_retries": 3})
    client = world.connect()
    client.write(payload(20_000))
    world.run(SECOND)
    world.link.drop_after(src=SERVER_IP)
    world.run(10 * 60 * SECOND, stop=lambda: client.sock.state is SocketState.CLOSED)
    assert client.sock.close_reason is CloseReason.TIMEOUT
    assert [r.get("probes") for r in world.tcp("probe", "client")][-3:] == [1, 2, 3]
    assert client.sock.close_detail == ("after 3 window probes (the peer's receive window "
                                        "stayed closed)")
    assert world.client.pool.in_use == 0


def test_reset_all_forgets_without_sending_or_freeing() -> None:
    world = make_world(read=False, client_pool=8)
    client = world.connect()
    client.read = False
    world.accepted[0].sock.send(b"unread")
    world.run(SECOND)
    in_use = world.client.pool.in_use
    assert in_use == 1
    sent = world.link.stats.frames_sent
    world.client.stack.reset_all("watchdog")
    assert world.link.stats.frames_sent == sent
    assert world.client.pool.in_use == in_use
    assert client.sock.state is SocketState.CLOSED
    assert client.sock.close_reason is CloseReason.RESET
    assert not world.client.stack.connections
    world.client.pool.reclaim_all("reset")
    world.accepted[0].sock.send(b"anyone there?")
    world.run(SECOND)
    assert world.accepted[0].sock.close_reason is CloseReason.RST  # answered with RST
    assert client.sock.recv() == b""
    assert client.sock.send(b"x") == 0


def test_after_a_reset_the_same_port_reconnects_past_the_stale_connection() -> None:
    world = make_world()
    old = world.connect()
    world.client.stack.reset_all("watchdog")
    world.client.pool.reclaim_all("reset")
    new = world.connect()  # same ephemeral port: the server still has the old one
    assert new.sock.local_port == old.sock.local_port == 49152
    world.run(5 * SECOND, stop=lambda: len(world.accepted) == 2)
    # the new SYN got a challenge ACK, the client answered RST, then retransmitted
    assert world.accepted[0].sock.close_reason is CloseReason.RST
    assert new.sock.state is SocketState.ESTABLISHED
    assert world.accepted[1].sock.state is SocketState.ESTABLISHED
    new.write(b"hello again")
    world.run(SECOND)
    assert world.accepted[1].data == b"hello again"


# ---- TLS marking and determinism -----------------------------------------------------


def test_ciphertext_flag_marks_later_segments_and_survives_retransmission() -> None:
    world = make_world()
    client = world.connect()
    world.link.drop_nth(1, src=CLIENT_IP, payload_only=True)
    client.sock.send(b"STARTTLS\r\n")
    client.sock.set_ciphertext(True)
    client.sock.send(b"\x16\x03\x01 hello")
    world.run(5 * SECOND)
    data = [r for r in world.tx(CLIENT_IP) if r.get("payload")]
    kinds = [(type(r.get("payload")), r.get("seq")) for r in data]
    plain_seq = data[0].get("seq")
    assert kinds[0] == (bytes, plain_seq)
    assert (bytes, plain_seq) in kinds[2:]  # the retransmission is still plaintext
    assert all(isinstance(r.get("payload"), Opaque) for r in data if r.get("seq") != plain_seq)
    assert world.accepted[0].data == b"STARTTLS\r\n\x16\x03\x01 hello"


def test_same_seed_gives_the_same_trace() -> None:
    def run(seed: int) -> str:
        world = make_world(seed)
        client = world.connect()
        client.write(payload(50_000), close=True)
        world.run(10 * SECOND)
        return world.kernel.trace.sha256()

    assert run(5) == run(5)
    assert run(5) != run(6)  # the ISNs come from the seeded generator


# ---- one stack alone: input ownership and validation ---------------------------------


def lone_stack(**options: Any) -> tuple[TcpStack, BufferPool, list[Segment]]:
    kernel = Kernel()
    pool = BufferPool(kernel, count=4)
    stack = TcpStack(kernel, name="dut", ip=CLIENT_IP, pool=pool,
                     timers=KernelTimers(kernel), **options)
    sent: list[Segment] = []
    stack.attach(sent.append)
    return stack, pool, sent


def rx(pool: BufferPool) -> Buffer:
    buf = pool.alloc("rx")
    assert buf is not None
    return buf


def test_segment_to_a_closed_port_is_freed_and_answered_with_rst() -> None:
    stack, pool, sent = lone_stack()
    stack.input(Segment(SERVER_IP, 25, CLIENT_IP, 4000, 1000, 0, Flags.SYN, 8192, mss=1460),
                rx(pool))
    stack.input(Segment(SERVER_IP, 25, CLIENT_IP, 4000, 5, 777, Flags.ACK, 8192, b"xy"),
                rx(pool))
    stack.input(Segment(SERVER_IP, 25, CLIENT_IP, 4000, 5, 777, Flags.RST, 0), rx(pool))
    assert pool.in_use == 0
    assert [(s.flags, s.seq, s.ack) for s in sent] == [
        (Flags.RST | Flags.ACK, 0, 1001), (Flags.RST, 777, 0)]
    assert stack.stats.no_socket == 2


def test_rst_is_not_sent_without_a_free_buffer() -> None:
    stack, pool, sent = lone_stack()
    hogs = [rx(pool) for _ in range(3)]
    stack.input(Segment(SERVER_IP, 25, CLIENT_IP, 4000, 1, 0, Flags.SYN, 8192), rx(pool))
    assert sent == [Segment(CLIENT_IP, 4000, SERVER_IP, 25, 0, 2, Flags.RST | Flags.ACK, 0)]
    hogs.append(rx(pool))
    stack.input(Segment(SERVER_IP, 25, CLIENT_IP, 4000, 1, 0, Flags.SYN, 8192), None)
    assert stack.stats.rsts_not_sent == 1
    assert len(sent) == 1


def test_listen_and_unlisten() -> None:
    stack, pool, sent = lone_stack()
    stack.listen(25, lambda s: None)
    assert stack.listening_ports == [25]
    with pytest.raises(ValueError, match="port: 25 already"):
        stack.listen(25, lambda s: None)
    stack.input(Segment(SERVER_IP, 4000, CLIENT_IP, 25, 99, 0, Flags.SYN, 8192, mss=1460),
                rx(pool))
    assert [s.flag_names() for s in sent] == ["SA"]
    assert sent[0].ack == 100 and sent[0].mss == 1460
    assert pool.in_use == 1  # the SYN-ACK holds its buffer until acknowledged
    stack.unlisten(25)
    with pytest.raises(ValueError, match="port: nothing listens on 25"):
        stack.unlisten(25)


def test_stack_and_socket_satisfy_the_socket_api() -> None:
    stack, _, _ = lone_stack()
    network: NetworkStack = stack
    sock: StreamSocket = network.socket()
    assert sock.state is SocketState.CLOSED and sock.close_reason is None
    assert not sock.peer_closed and sock.recv() == b""


def test_stack_not_attached_says_so() -> None:
    kernel = Kernel()
    stack = TcpStack(kernel, name="x", ip=CLIENT_IP, pool=BufferPool(kernel, count=None),
                     timers=KernelTimers(kernel))
    with pytest.raises(RuntimeError, match="attach"):
        stack.socket().connect(SERVER_IP, 25)


@pytest.mark.parametrize(("options", "message"), [
    ({"mss": 0}, "mss: expected an integer 88..65495, got 0"),
    ({"mss": 1500}, "mss: 1500 makes 1554-byte frames"),
    ({"ip": "10.0.0"}, "ip: expected a dotted IPv4 address"),
    ({"ip": 17}, "ip: expected a dotted IPv4 address"),
    ({"name": ""}, "name: expected a non-empty string"),
    ({"rx_window": 1000}, "rx_window: expected an integer 1460..65535, got 1000"),
    ({"rx_window": 70000}, "rx_window: expected an integer 1460..65535"),
    ({"initial_rto_us": 100}, "initial_rto_us: expected an integer 200000..60000000"),
    ({"min_rto_us": 0}, "min_rto_us: expected an integer >= 1"),
    ({"max_rto_us": 1000}, "max_rto_us: expected an integer >= 200000"),
    ({"max_retries": 0}, "max_retries: expected an integer 1..64"),
    ({"time_wait_us": -1}, "time_wait_us: expected an integer >= 0"),
    ({"first_ephemeral_port": 0}, "first_ephemeral_port: expected an integer 1..65535"),
    ({"first_ephemeral_port": 70000}, "first_ephemeral_port: expected an integer 1..65535"),
    ({"tx_reserve": 4}, "tx_reserve: expected an integer 0..3"),
    ({"pool": None}, "pool: expected a BufferPool"),
    ({"timers": object()}, "timers: expected a TimerService"),
])
def test_bad_arguments_name_the_field(options: dict[str, Any], message: str) -> None:
    kernel = Kernel()
    args: dict[str, Any] = {"name": "dut", "ip": CLIENT_IP,
                            "pool": BufferPool(kernel, count=4),
                            "timers": KernelTimers(kernel)}
    args.update(options)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        TcpStack(kernel, **args)


def test_bad_socket_calls_name_the_field() -> None:
    stack, _, _ = lone_stack()
    sock = stack.socket()
    with pytest.raises(ValueError, match="host: expected a dotted IPv4 address"):
        sock.connect("mail.example.com", 25)
    with pytest.raises(ValueError, match=r"port: expected a port number 1\.\.65535, got 0"):
        sock.connect(SERVER_IP, 0)
    with pytest.raises(ValueError, match="max_bytes: expected a positive integer"):
        sock.recv(0)
    with pytest.raises(ValueError, match=r"port: expected an integer 1\.\.65535"):
        stack.listen(0, lambda s: None)


def test_data_arriving_after_a_full_close_is_discarded_and_its_buffers_returned() -> None:
    world = make_world()
    client = world.connect()
    server = world.accepted[0]
    client.sock.close()
    world.run(SECOND)
    server.write(payload(20_000), close=True)
    world.run(30 * SECOND, stop=lambda: not world.client.stack.connections)
    assert client.data == b""
    assert world.client.pool.in_use == 0


def test_a_pure_ack_borrows_a_buffer_for_its_instant_on_the_link_record() -> None:
    """A pure ACK (and an RST) holds a buffer only while it goes out: a traced pool lends
    it, the count in use is on the segment's link record, and no alloc/free pair is
    written; an untraced pool's segments carry nothing."""
    world = make_world(client_pool=4)
    client = world.connect()
    world.run(SECOND)
    world.accepted[0].write(b"220 hello\r\n")
    client.write(b"EHLO x\r\n")
    world.run(SECOND)
    assert client.data == b"220 hello\r\n" and world.accepted[0].data == b"EHLO x\r\n"
    sent = [r for r in world.kernel.trace.select("link.lan", "tx")]
    mine = [r for r in sent if str(r.get("src")).startswith(CLIENT_IP)]
    pure_acks = [r for r in mine if r.get("flags") == "A"]
    assert pure_acks and {r.get("pool_in_use") for r in pure_acks} <= {1, 2}  # + the EHLO's
    assert all("pool_in_use" not in r.fields for r in mine if r.get("flags") != "A")
    allocs = [r.get("purpose") for r in world.kernel.trace.select("cpool", "alloc")]
    assert allocs.count("tx") == len(mine) - len(pure_acks)  # SYN and the EHLO segment
    assert allocs.count("rx") == sum(1 for r in sent if str(r.get("dst")).startswith(CLIENT_IP))
    theirs = [r for r in sent if str(r.get("src")).startswith(SERVER_IP)]
    assert any(r.get("flags") == "A" for r in theirs)
    assert all("pool_in_use" not in r.fields for r in theirs)  # an untraced pool


def test_a_send_that_takes_nothing_after_a_timeout_still_sends_the_rest_of_the_window() -> (
        None):
    # A send() right after a short one returns 0 at once when nothing has reached the
    # stack since (no buffer, nothing to send). A timeout in between goes back to the
    # head of the queue and resends only that one: a send() then still runs output(),
    # which resends the rest of the window at that instant, as before the shortcut.
    world = make_world(client_pool=4)
    client = world.connect()
    world.link.drop_nth(1, src=CLIENT_IP, payload_only=True)
    first = client.sock.send(payload(20_000))
    assert first == 3 * 1460  # every buffer but the reserve
    assert client.sock.send(b"more") == 0
    world.run(10 * SECOND, stop=lambda: bool(world.tcp("rto", "client")))
    now = world.kernel.now_us
    assert [r.get("seq") for r in world.tcp("retransmit", "client")] == [
        world.tx(CLIENT_IP)[-1].get("seq")]  # the head only
    assert client.sock.send(b"again") == 0
    resent = [r for r in world.tcp("retransmit", "client") if r.t_us == now]
    assert len(resent) == 3  # the head, then the two segments behind it
    assert world.client.stack.stats.short_sends == 3


def test_tx_blocked_is_recorded_when_sending_stops_not_at_every_retry() -> None:
    world = make_world(client_pool=4)
    client = world.connect()
    data = payload(200_000)
    first = client.sock.send(data)
    assert 0 < first < len(data)
    assert client.sock.send(b"more") == 0 and client.sock.send(b"again") == 0
    assert len(world.tcp("tx_blocked", "client")) == 1
    assert world.client.stack.stats.short_sends == 3
    client.outgoing = memoryview(data)[first:]
    world.run(60 * SECOND, stop=lambda: len(world.accepted[0].data) == len(data))
    writable = client.events.count(SocketEvent.WRITABLE)
    assert writable >= 1
    # one record per stop: each WRITABLE ended one, and the first came before any
    assert len(world.tcp("tx_blocked", "client")) == writable
