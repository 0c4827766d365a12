"""Tests for stack.simhost: a host's wiring between link, pool and stack."""

from __future__ import annotations

import pytest

from emulator.kernel import Kernel
from emulator.units import SECOND
from stack.api import SocketState
from stack.link import Link
from stack.pool import BufferPool
from stack.segment import Flags, Segment
from stack.simhost import SimHost
from stack.tcp import TcpSocket


def test_hosts_connect_through_the_link_with_unbounded_pools() -> None:
    kernel = Kernel()
    link = Link(kernel)
    server = SimHost(kernel, name="server", ip="10.0.0.1", link=link, mss=1000)
    client = SimHost(kernel, name="client", ip="10.0.0.2", link=link)
    accepted: list[TcpSocket] = []
    server.stack.listen(25, accepted.append)
    sock = client.stack.socket()
    sock.connect("10.0.0.1", 25)
    kernel.run(until_us=SECOND)
    assert sock.state is SocketState.ESTABLISHED
    assert accepted[0].state is SocketState.ESTABLISHED
    assert server.pool.count is None and server.stack.config.mss == 1000
    assert server.pool.stats.allocations > 0  # the same accounting as on the board
    assert (server.pool.in_use, client.pool.in_use) == (0, 0)
    assert server.timers.kernel is kernel


def test_frames_finding_the_pool_empty_are_dropped_and_counted() -> None:
    kernel = Kernel()
    link = Link(kernel)
    pool = BufferPool(kernel, count=2)
    host = SimHost(kernel, name="server", ip="10.0.0.1", link=link, pool=pool, tx_reserve=0)
    peer = link.attach("10.0.0.9", lambda seg: None)
    hogs = [pool.alloc("test"), pool.alloc("test")]
    peer.transmit(Segment("10.0.0.9", 5, "10.0.0.1", 25, 0, 0, Flags.SYN, 1000))
    kernel.run()
    assert pool.stats.frames_dropped == 1
    assert host.stack.stats.segments_received == 0
    for buf in hogs:
        assert buf is not None
        buf.free()
    peer.transmit(Segment("10.0.0.9", 5, "10.0.0.1", 25, 0, 0, Flags.SYN, 1000))
    kernel.run()
    assert host.stack.stats.segments_received == 1  # answered with RST, buffer freed
    assert pool.in_use == 0


def test_bad_host_arguments_name_the_field() -> None:
    kernel = Kernel()
    link = Link(kernel)
    with pytest.raises(ValueError, match="ip: expected a dotted IPv4 address"):
        SimHost(kernel, name="s", ip="localhost", link=link)
    with pytest.raises(ValueError, match="link: expected a Link"):
        SimHost(kernel, name="s", ip="10.0.0.1", link=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"mss: expected an integer 88\.\.65495"):
        SimHost(kernel, name="s", ip="10.0.0.1", link=link, mss=1)
