"""Tests for stack.link: timing, ordering, trace records and every fault verb."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.kernel import Kernel
from emulator.units import MS
from stack.link import Link
from stack.segment import Flags, Segment

A = "10.0.0.1"
B = "10.0.0.2"
C = "10.0.0.3"


class Host:
    def __init__(self, link: Link, ip: str) -> None:
        self.ip = ip
        self.got: list[tuple[int, Segment]] = []
        self.kernel = link.kernel
        self.port = link.attach(ip, lambda seg: self.got.append((self.kernel.now_us, seg)))

    def send(self, dst: str, seq: int = 0, payload: bytes = b"", *, ack: int = 0,
             flags: Flags = Flags.ACK, sport: int = 1000, dport: int = 25) -> Segment:
        seg = Segment(self.ip, sport, dst, dport, seq, ack, flags, 4096, payload)
        self.port.transmit(seg)
        return seg

    def post(self, dst: str, seq: int) -> None:
        self.send(dst, seq)

    @property
    def seqs(self) -> list[int]:
        return [seg.seq for _, seg in self.got]


def setup(**options: Any) -> tuple[Kernel, Link, Host, Host]:
    kernel = Kernel(seed=options.pop("seed", 0))
    link = Link(kernel, name="wan", **options)
    return kernel, link, Host(link, A), Host(link, B)


def records(kernel: Kernel, kind: str) -> list[dict[str, object]]:
    return [dict(r.fields) for r in kernel.trace.select("link.wan", kind)]


def test_delivery_time_is_serialisation_plus_latency() -> None:
    kernel, link, a, b = setup(latency_us=1000, bandwidth_bps=10_000_000)
    a.send(B, 1, b"x" * 1460)  # 1514-byte frame: 1211.2 us at 10 Mbit/s, rounded up
    a.send(B, 2, b"")  # 54 bytes queue behind it: 43.2 -> 44 us
    kernel.run()
    assert [t for t, _ in b.got] == [1212 + 1000, 1212 + 44 + 1000]
    assert link.serialisation_us(1514) == 1212


def test_directions_are_independent_fifo_wires() -> None:
    kernel, link, a, b = setup(latency_us=100, bandwidth_bps=1_000_000)
    a.send(B, 1, b"x" * 1000)
    b.send(A, 7, b"")
    a.send(B, 2, b"")
    kernel.run()
    assert b.seqs == [1, 2]
    # B's small frame did not wait for A's big one
    assert a.got[0][0] == link.serialisation_us(54) + 100
    assert b.got[1][0] > b.got[0][0]


def test_every_segment_is_traced_with_a_per_sender_ip_id() -> None:
    kernel, link, a, b = setup()
    a.send(B, 1, b"hello")
    a.send(B, 2)
    b.send(A, 9)
    kernel.run()
    tx = records(kernel, "tx")
    assert [(r["src"], r["ip_id"]) for r in tx] == [
        (f"{A}:1000", 1), (f"{A}:1000", 2), (f"{B}:1000", 1)]
    assert tx[0]["payload"] == b"hello" and tx[0]["flags"] == "A"
    assert [seg.ip_id for _, seg in b.got] == [1, 2]
    assert link.stats.frames_sent == link.stats.frames_delivered == 3


def test_drop_nth_loses_only_that_segment_and_says_why() -> None:
    kernel, link, a, b = setup()
    link.drop_nth(2, src=A, payload_only=True)
    a.send(B, 1, b"data")
    a.send(B, 2)  # no payload: not counted
    b.send(A, 3, b"data")  # other sender: not counted
    a.send(B, 4, b"data")
    a.send(B, 5, b"data")
    kernel.run()
    assert b.seqs == [1, 2, 5]
    (drop,) = records(kernel, "drop")
    assert (drop["reason"], drop["seq"], drop["ip_id"]) == ("drop_nth 2", 4, 3)
    (fault,) = records(kernel, "fault")
    assert fault == {"verb": "drop_nth", "n": 2, "src": A, "payload_only": True}


def test_drop_nth_without_src_counts_every_sender() -> None:
    kernel, link, a, b = setup()
    link.drop_nth(2)
    a.send(B, 1)
    b.send(A, 2)
    a.send(B, 3)
    kernel.run()
    assert (b.seqs, a.seqs) == ([1, 3], [])


def test_drop_after_time_silences_a_sender() -> None:
    kernel, link, a, b = setup()
    kernel.run(until_us=1000)
    link.drop_after(src=A, time_us=5 * MS)
    a.send(B, 1)
    kernel.call_at(6 * MS - 1, a.post, B, 2)
    kernel.call_at(6 * MS, a.post, B, 3)
    kernel.call_at(7 * MS, b.post, A, 4)
    kernel.run()
    assert b.seqs == [1, 2]
    assert a.seqs == [4]
    assert [r["reason"] for r in records(kernel, "drop")] == ["drop_after"]


def test_drop_after_payload_bytes_cuts_at_the_segment_crossing_the_limit() -> None:
    kernel, link, a, b = setup()
    link.drop_after(src=A, payload_bytes=10)
    a.send(B, 1, b"x" * 6)
    a.send(B, 2, b"x" * 4)
    a.send(B, 3)
    a.send(B, 4, b"x")
    a.send(B, 5)  # silent from now on, pure ACKs included
    kernel.run()
    assert b.seqs == [1, 2, 3]


def test_drop_after_without_a_limit_is_silence_now() -> None:
    kernel, link, a, b = setup()
    link.drop_after(src=B)
    a.send(B, 1)
    b.send(A, 2)
    kernel.run()
    assert (b.seqs, a.seqs) == ([1], [])


def test_hold_then_release_delivers_in_order() -> None:
    kernel, link, a, b = setup(latency_us=100)
    hold = link.hold(src=A)
    a.send(B, 1)
    a.send(B, 2)
    b.send(A, 3)  # not held
    kernel.run(until_us=10 * MS)
    assert (b.seqs, a.seqs) == ([], [3])
    link.release(hold)
    a.send(B, 4)
    kernel.run()
    assert b.seqs == [1, 2, 4]
    assert all(t > 10 * MS for t, _ in b.got)
    assert records(kernel, "fault") == [
        {"verb": "hold", "hold": 1, "src": A},
        {"verb": "release", "hold": 1, "frames": 2},
    ]


def test_a_release_ends_only_its_own_hold() -> None:
    kernel, link, a, b = setup(latency_us=100)
    everyone = link.hold()
    only_a = link.hold(src=A)
    only_b = link.hold(src=B)
    assert (everyone.number, only_a.number, only_b.number) == (1, 2, 3)
    assert link.holds == [everyone, only_a, only_b]
    a.send(B, 1)
    b.send(A, 2)
    link.release(only_a)  # A's frames are still held by `everyone`
    kernel.run(until_us=10 * MS)
    assert (b.seqs, a.seqs) == ([], [])
    link.release(everyone)  # A is free now; B is still held by its own hold
    kernel.run(until_us=20 * MS)
    assert (b.seqs, a.seqs) == ([1], [])
    b.send(A, 3)
    link.release(only_b)
    kernel.run()
    assert a.seqs == [2, 3]
    assert link.holds == []
    with pytest.raises(ValueError, match="hold: hold 3 is not active"):
        link.release(only_b)


def test_release_all_ends_every_hold_and_says_so() -> None:
    kernel, link, a, b = setup(latency_us=100)
    link.hold(src=A)
    link.hold(src=B)
    a.send(B, 1)
    b.send(A, 2)
    link.release_all()
    kernel.run()
    assert (b.seqs, a.seqs, link.holds) == ([1], [2], [])
    assert records(kernel, "fault")[-1] == {"verb": "release_all", "holds": 2, "frames": 2}


def test_partition_drops_both_ways_until_repair() -> None:
    kernel, link, a, b = setup()
    link.partition()
    a.send(B, 1)
    b.send(A, 2)
    link.repair()
    a.send(B, 3)
    kernel.run()
    assert (b.seqs, a.seqs) == ([3], [])
    assert [r["reason"] for r in records(kernel, "drop")] == ["partition", "partition"]


def test_a_repair_ends_only_its_own_partition() -> None:
    kernel, link, a, b = setup()
    everyone = link.partition()
    from_a = link.partition(src=A)
    assert (everyone.number, from_a.number, link.partitions) == (1, 2, [everyone, from_a])
    link.repair(everyone)  # A's frames are still lost to its own partition
    a.send(B, 1)
    b.send(A, 2)
    kernel.run()
    assert (b.seqs, a.seqs) == ([], [2])
    link.repair(from_a)
    a.send(B, 3)
    kernel.run()
    assert b.seqs == [3]
    assert records(kernel, "fault") == [
        {"verb": "partition", "partition": 1, "src": None},
        {"verb": "partition", "partition": 2, "src": A},
        {"verb": "repair", "partition": 1},
        {"verb": "repair", "partition": 2},
    ]
    with pytest.raises(ValueError, match="partition: partition 2 is not active"):
        link.repair(from_a)


def test_a_partition_between_a_pair_cuts_one_direction_only() -> None:
    kernel, link, a, b = setup()
    c = Host(link, C)
    link.partition(src=A, dst=B)
    a.send(B, 1)
    a.send(C, 2)
    b.send(A, 3)
    kernel.run()
    assert (b.seqs, c.seqs, a.seqs) == ([], [2], [3])
    assert records(kernel, "fault") == [
        {"verb": "partition", "partition": 1, "src": A, "dst": B}]


def test_repair_without_a_partition_needs_exactly_one_in_force() -> None:
    _, link, _, _ = setup()
    with pytest.raises(ValueError, match=r"name the partition to end: 0 in force"):
        link.repair()
    link.partition(src=A)
    link.partition(src=B)
    with pytest.raises(ValueError, match=r"2 in force on link wan \(active: 1, 2\)"):
        link.repair()
    link.repair_all()
    assert link.partitions == []


def test_a_hold_between_a_pair_holds_one_direction_only() -> None:
    kernel, link, a, b = setup(latency_us=100)
    c = Host(link, C)
    placed = link.hold(src=A, dst=B)
    a.send(B, 1)
    a.send(C, 2)
    b.send(A, 3)
    kernel.run(until_us=10 * MS)
    assert (b.seqs, c.seqs, a.seqs) == ([], [2], [3])
    link.release(placed)
    kernel.run()
    assert b.seqs == [1]
    assert records(kernel, "fault") == [
        {"verb": "hold", "hold": 1, "src": A, "dst": B},
        {"verb": "release", "hold": 1, "frames": 1},
    ]


def test_unknown_destination_and_oversize_frames_are_dropped() -> None:
    kernel, _, a, b = setup(mtu=576)
    a.send(C, 1)
    a.send(B, 2, b"x" * 537)
    a.send(B, 3, b"x" * 536)
    kernel.run()
    assert b.seqs == [3]
    assert [r["reason"] for r in records(kernel, "drop")] == ["no route", "exceeds mtu 576"]


def lossy_run(seed: int, probability: float = 0.3) -> tuple[list[int], str]:
    kernel, link, a, b = setup(seed=seed)
    link.set_loss(probability, src=A)
    for i in range(200):
        a.send(B, i)
        b.send(A, i)
    kernel.run()
    assert len(a.got) == 200  # B's frames are not affected
    return b.seqs, kernel.trace.sha256()


def test_set_loss_is_seeded() -> None:
    got1, sha1 = lossy_run(1)
    got2, sha2 = lossy_run(2)
    assert 100 < len(got1) < 180
    assert got1 != got2 and sha1 != sha2
    assert lossy_run(1) == (got1, sha1)
    assert len(lossy_run(1, 0.0)[0]) == 200
    assert lossy_run(1, 1.0)[0] == []


def test_inject_rst_follows_the_latest_segments_of_the_flow() -> None:
    kernel, link, a, b = setup()
    a.send(B, 1000, b"hello", ack=5000, sport=49152)
    b.send(A, 5000, b"250 ok\r\n", ack=1005, sport=25, dport=49152)
    kernel.run()
    rst = link.inject_rst(towards=A)
    kernel.run()
    assert (rst.src_ip, rst.src_port, rst.dst_ip, rst.dst_port) == (B, 25, A, 49152)
    assert (rst.seq, rst.ack, rst.flags) == (5008, 1005, Flags.RST | Flags.ACK)
    assert a.got[-1][1] == rst
    rst_b = link.inject_rst(towards=B)
    kernel.run()
    assert (rst_b.src_port, rst_b.seq, rst_b.ack) == (49152, 1005, 5008)
    assert b.got[-1][1] == rst_b
    assert [r["flags"] for r in records(kernel, "tx")][-2:] == ["RA", "RA"]
    with pytest.raises(ValueError, match=r"towards: no segment to or from 10\.0\.0\.3"):
        link.inject_rst(towards=C)


def test_port_refuses_a_foreign_source_address() -> None:
    _, _, a, _ = setup()
    with pytest.raises(ValueError, match="src_ip"):
        a.port.transmit(Segment(B, 1, A, 2, 0, 0, Flags.ACK, 0))


@pytest.mark.parametrize(("options", "message"), [
    ({"latency_us": -1}, "latency_us: expected an integer >= 0, got -1"),
    ({"mtu": 575}, "mtu: expected an integer 576..65535, got 575"),
    ({"bandwidth_bps": 0}, "bandwidth_bps: expected an integer >= 1"),
    ({"name": ""}, "name: expected a non-empty string"),
])
def test_bad_link_settings_name_the_field(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Link(Kernel(), **options)


def test_bad_fault_arguments_name_the_field() -> None:
    _, link, _, _ = setup()
    with pytest.raises(ValueError, match=r"probability: expected a number 0..1, got 1.5"):
        link.set_loss(1.5)
    with pytest.raises(ValueError, match="probability"):
        link.set_loss(-0.1)
    with pytest.raises(ValueError, match="n: expected an integer >= 1, got 0"):
        link.drop_nth(0)
    with pytest.raises(ValueError, match="src: expected a dotted IPv4 address"):
        link.drop_after(src="server")
    with pytest.raises(ValueError, match="time_us: expected an integer >= 0"):
        link.drop_after(src=A, time_us=-5)
    with pytest.raises(ValueError, match=r"ip: 10\.0\.0\.1 is already attached"):
        link.attach(A, lambda seg: None)
    with pytest.raises(ValueError, match="ip: expected a dotted IPv4 address"):
        link.attach("10.0.0.256", lambda seg: None)


def test_a_shared_port_queues_every_host_behind_the_others_and_drops_past_its_limit() -> None:
    """Two hosts sending to one shared server: their frames take turns on the server's
    port (not a wire each), and the third frame waiting is lost when the limit is 2."""
    from stack.segment import Flags, Segment

    kernel = Kernel()
    link = Link(kernel, name="lan", latency_us=0, bandwidth_bps=8_000_000)  # 1 byte/us
    got: list[tuple[int, str]] = []
    server = link.attach("10.0.0.1", lambda s: got.append((kernel.now_us, s.src_ip)))
    a = link.attach("10.0.1.1", lambda s: None)
    b = link.attach("10.0.1.2", lambda s: None)
    assert server is not None

    def frame(src: str) -> Segment:
        return Segment(src, 1000, "10.0.0.1", 25, 1, 1, Flags.ACK, 100, bytes(946))

    a.transmit(frame("10.0.1.1"))
    b.transmit(frame("10.0.1.2"))
    kernel.run()
    assert [t for t, _ in got] == [1000, 1000]  # each on its own wire: side by side
    got.clear()
    link.share("10.0.0.1", queue_frames=2)
    a.transmit(frame("10.0.1.1"))
    b.transmit(frame("10.0.1.2"))
    a.transmit(frame("10.0.1.1"))  # finds two queued: lost
    kernel.run()
    start = 1000
    assert got == [(start + 1000, "10.0.1.1"), (start + 2000, "10.0.1.2")]
    inbound, _ = link.port_queues("10.0.0.1")
    assert (inbound.peak, inbound.dropped, link.stats.frames_dropped) == (2, 1, 1)
    drops = kernel.trace.select("link.lan", "drop")
    assert [d.get("reason") for d in drops] == ["queue full"]


def test_a_detached_host_is_gone_and_frames_on_the_way_to_it_are_dropped() -> None:
    from stack.segment import Flags, Segment

    kernel = Kernel()
    link = Link(kernel, name="lan")
    a = link.attach("10.0.1.1", lambda s: None)
    link.attach("10.0.0.1", lambda s: None)
    a.transmit(Segment("10.0.1.1", 1, "10.0.0.1", 25, 1, 1, Flags.ACK, 0))
    link.detach("10.0.0.1")
    kernel.run()
    assert [d.get("reason") for d in kernel.trace.select("link.lan", "drop")] == ["detached"]
    with pytest.raises(ValueError, match="not attached"):
        link.detach("10.0.0.1")
    link.attach("10.0.0.1", lambda s: None)  # the address may be used again
