"""The simulated Ethernet link between hosts, with the faults tests inject into it.

Hosts attach by IPv4 address and get a :class:`LinkPort`; a segment given to
``port.transmit()`` is routed by its destination address and delivered to the receiving
host's callback at ``now + serialisation + latency``. Each direction (sender, receiver)
is one FIFO wire: a frame starts serialising when the previous one in that direction
has left (``busy_until``), so frames never overtake each other. A host many others talk
to can be made a shared port (:meth:`Link.share`): then all frames towards it, from any
host, queue behind each other (and all frames from it), with an optional limit beyond
which frames are lost (:mod:`stack.portqueue`). Hosts come and go (:meth:`Link.detach`).
Frame bytes are the segment's IP length plus the 14-byte Ethernet header.

Every transmitted segment is a ``tx`` trace record (source ``link.<name>``) carrying
:meth:`Segment.trace_fields` with a per-sender ``ip_id`` counter (the pcap export reads
these); a segment that is lost also gets a ``drop`` record with the same fields and the
``reason``. Arming a fault is a ``fault`` record.

Fault verbs (the same names in scenario files, Python and Robot keywords):
``drop_nth``, ``drop_after``, ``inject_rst``, ``hold``/``release``,
``partition``/``repair``, ``set_loss``. Random loss draws from ``kernel.rng`` only.

The paired verbs go by pairs of sides, as turmoil's do: a hold or a partition covers the
frames from ``src`` to ``dst`` (either left out: any host), so one direction between two
hosts, everything a host sends, or everything a host receives. They overlap without
interfering: each :meth:`Link.hold` returns its own :class:`Hold` and each
:meth:`Link.partition` its own :class:`Partition`; :meth:`Link.release` and
:meth:`Link.repair` end that one only (a frame stays held, or lost, while any other still
covers it), and only :meth:`Link.release_all` and :meth:`Link.repair_all` end them all.
A held frame goes out when no hold covers it any more; a frame a partition covers is
lost (a ``drop`` record, reason ``partition``).

This module knows segments, addresses and time. It knows nothing about TCP state,
buffers or what the hosts are.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from emulator.checks import check_int
from emulator.kernel import Kernel
from stack.portqueue import PortQueue
from stack.segment import ETHERNET_HEADER, Flags, Segment

Receiver = Callable[[Segment], None]
_Placed = TypeVar("_Placed", "Hold", "Partition")
_Direction = tuple[str, str]
_Flow = tuple[str, int, str, int]


def check_ipv4(field: str, value: object) -> str:
    """Return ``value`` if it is a dotted IPv4 address, else raise ValueError naming ``field``."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a dotted IPv4 address, got {value!r}")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{field}: expected a dotted IPv4 address, got {value!r}") from None
    return value


@dataclass(slots=True)
class LinkStats:
    """Counters of one link over a run."""

    frames_sent: int = 0
    frames_delivered: int = 0
    frames_dropped: int = 0
    frames_held: int = 0
    bytes_sent: int = 0
    ciphertext_frames: int = 0
    """Frames sent whose payload is TLS ciphertext (hashed by length only)."""


@dataclass(frozen=True, slots=True)
class Hold:
    """One hold placed by :meth:`Link.hold`: its number on this link (1, 2, ... in the
    order placed) and the frames it holds: from ``src`` to ``dst`` (None: any host)."""

    number: int
    src: str | None
    dst: str | None = None

    def covers(self, segment: Segment) -> bool:
        return _between(segment, self.src, self.dst)


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition placed by :meth:`Link.partition`: its number on this link (1, 2, ...
    in the order placed) and the frames it loses: from ``src`` to ``dst`` (None: any
    host)."""

    number: int
    src: str | None
    dst: str | None = None

    def covers(self, segment: Segment) -> bool:
        return _between(segment, self.src, self.dst)


def _between(segment: Segment, src: str | None, dst: str | None) -> bool:
    return (src is None or segment.src_ip == src) and (dst is None or segment.dst_ip == dst)


@dataclass(slots=True)
class _DropNth:
    n: int
    src: str | None
    payload_only: bool
    seen: int = 0


@dataclass(slots=True)
class _DropAfter:
    src: str
    deadline_us: int | None
    payload_budget: int | None
    silent: bool = False


class LinkPort:
    """A host's attachment to the link: what it transmits goes onto the wire."""

    __slots__ = ("ip", "link", "receive")

    def __init__(self, link: Link, ip: str, receive: Receiver) -> None:
        self.link = link
        self.ip = ip
        self.receive = receive

    def transmit(self, segment: Segment) -> None:
        if segment.src_ip != self.ip:
            raise ValueError(
                f"segment src_ip: port {self.ip} cannot send as {segment.src_ip}"
            )
        self.link._transmit(segment)


class Link:
    """A point-to-multipoint Ethernet segment with latency, bandwidth and faults."""

    def __init__(self, kernel: Kernel, *, name: str = "link", latency_us: int = 500,
                 bandwidth_bps: int = 100_000_000, mtu: int = 1500) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        self.kernel = kernel
        self.name = name
        self.source = f"link.{name}"
        self.latency_us = check_int("latency_us", latency_us, 0)
        self.bandwidth_bps = check_int("bandwidth_bps", bandwidth_bps, 1)
        self.mtu = check_int("mtu", mtu, 576, 65535)
        self.stats = LinkStats()
        self._ports: dict[str, LinkPort] = {}
        self._busy_until: dict[_Direction, int] = {}
        self._shared: dict[str, tuple[PortQueue, PortQueue]] = {}
        self._ip_ids: dict[str, int] = {}
        self._last_seen: dict[_Flow, Segment] = {}
        # faults
        self._drop_nth: list[_DropNth] = []
        self._drop_after: list[_DropAfter] = []
        self._loss: dict[str | None, float] = {}
        self._holds: list[Hold] = []
        self._holds_placed = 0
        self._held: list[Segment] = []
        self._partitions: list[Partition] = []
        self._partitions_placed = 0

    # ---- hosts ------------------------------------------------------------------

    def attach(self, ip: str, receive: Receiver) -> LinkPort:
        """Attach a host at ``ip``; frames for it are given to ``receive``."""
        check_ipv4("ip", ip)
        if ip in self._ports:
            raise ValueError(f"ip: {ip} is already attached to link {self.name}")
        port = LinkPort(self, ip, receive)
        self._ports[ip] = port
        return port

    def detach(self, ip: str) -> None:
        """Take the host at ``ip`` off the link (a device that is done); frames on the way
        to it are lost (``drop`` records, reason ``detached``)."""
        if self._ports.pop(ip, None) is None:
            raise ValueError(f"ip: {ip} is not attached to link {self.name}")

    def share(self, ip: str, *, queue_frames: int | None = None) -> None:
        """Make ``ip``'s attachment a shared port (a server many hosts talk to): every
        frame towards it waits behind every other frame towards it, from any host, and
        every frame from it behind the others from it, each direction clocked out at the
        link's bandwidth. With ``queue_frames``, a frame that finds that many queued is
        lost (``drop``, reason ``queue full``). Without :meth:`share` each pair of hosts
        has a wire of its own. :meth:`port_queues` shows how full the queues got."""
        check_ipv4("ip", ip)
        self._shared[ip] = (PortQueue(queue_frames), PortQueue(queue_frames))

    def port_queues(self, ip: str) -> tuple[PortQueue, PortQueue]:
        """The shared port of ``ip``: its inbound and its outbound queue."""
        queues = self._shared.get(ip)
        if queues is None:
            raise ValueError(f"ip: {ip} is not a shared port of link {self.name}")
        return queues

    def serialisation_us(self, frame_bytes: int) -> int:
        """Time to clock ``frame_bytes`` onto the wire (rounded up to a microsecond)."""
        return -(-frame_bytes * 8 * 1_000_000 // self.bandwidth_bps)

    # ---- faults -----------------------------------------------------------------

    def drop_nth(self, n: int, *, src: str | None = None, payload_only: bool = False) -> None:
        """Lose the ``n``-th segment (1-based, counted from now) sent by ``src`` (any host
        when None); with ``payload_only`` only segments carrying payload count."""
        check_int("n", n, 1)
        if src is not None:
            check_ipv4("src", src)
        self._drop_nth.append(_DropNth(n, src, bool(payload_only)))
        self._fault("drop_nth", n=n, src=src, payload_only=bool(payload_only))

    def drop_after(self, *, src: str, time_us: int | None = None,
                   payload_bytes: int | None = None) -> None:
        """Make ``src`` a silent peer: everything it sends is lost once ``time_us`` has
        passed (measured from now) or once it has sent ``payload_bytes`` more payload
        bytes (the segment that would cross the limit is the first one lost), whichever
        comes first. With neither given, the silence starts now."""
        check_ipv4("src", src)
        if time_us is not None:
            check_int("time_us", time_us, 0)
        if payload_bytes is not None:
            check_int("payload_bytes", payload_bytes, 0)
        deadline = None if time_us is None else self.kernel.now_us + time_us
        silent = time_us is None and payload_bytes is None
        self._drop_after.append(_DropAfter(src, deadline, payload_bytes, silent))
        self._fault("drop_after", src=src, time_us=time_us, payload_bytes=payload_bytes)

    def inject_rst(self, *, towards: str) -> Segment:
        """Forge an RST as if from the other end of ``towards``'s latest connection and
        deliver it to ``towards`` behind the frames already in flight. Its sequence
        number follows the last segment seen from the other end, its ack the last one
        seen from ``towards``. Returns the forged segment."""
        check_ipv4("towards", towards)
        flow = self._latest_flow(towards)
        if flow is None:
            raise ValueError(f"towards: no segment to or from {towards} seen on link "
                             f"{self.name}")
        local_ip, local_port, peer_ip, peer_port = flow
        from_peer = self._last_seen.get((peer_ip, peer_port, local_ip, local_port))
        from_local = self._last_seen.get(flow)
        if from_peer is not None:
            seq = (from_peer.seq + from_peer.seq_space()) & 0xFFFFFFFF
        else:
            assert from_local is not None
            seq = from_local.ack
        ack = 0
        flags = Flags.RST
        if from_local is not None:
            ack = (from_local.seq + from_local.seq_space()) & 0xFFFFFFFF
            flags |= Flags.ACK
        rst = Segment(peer_ip, peer_port, local_ip, local_port, seq, ack, flags, 0,
                      ip_id=self._next_ip_id(peer_ip))
        self._fault("inject_rst", towards=towards, src=f"{peer_ip}:{peer_port}",
                    dst=f"{local_ip}:{local_port}", seq=seq, ack=ack)
        self.kernel.emit(self.source, "tx", **rst.trace_fields())
        self.stats.frames_sent += 1
        self._schedule(rst)
        return rst

    @property
    def holds(self) -> list[Hold]:
        """The holds in force, in the order they were placed."""
        return list(self._holds)

    def hold(self, *, src: str | None = None, dst: str | None = None) -> Hold:
        """Queue the frames ``src`` sends to ``dst`` (None: any host) until this hold is
        released (:meth:`release` with the returned :class:`Hold`, or
        :meth:`release_all`)."""
        src, dst = self._pair(src, dst)
        self._holds_placed += 1
        placed = Hold(self._holds_placed, src, dst)
        self._holds.append(placed)
        self._fault("hold", hold=placed.number, src=src, **self._dst_field(dst))
        return placed

    def release(self, hold: Hold | None = None) -> None:
        """End ``hold`` only (None: the one hold in force): the held frames no other hold
        covers go out, in the order they were sent; frames another hold still covers
        stay held."""
        if hold is not None and not isinstance(hold, Hold):
            raise ValueError(f"hold: expected a Hold from Link.hold, got {hold!r}")
        placed = self._the_only("hold", self._holds) if hold is None else (
            self.active_hold(hold.number))
        self._holds.remove(placed)
        self._fault("release", hold=placed.number, frames=self._deliver_unheld())

    def active_hold(self, number: int) -> Hold:
        """The hold in force numbered ``number``; ValueError when there is none."""
        return self._active("hold", self._holds, number)

    def release_all(self) -> None:
        """End every hold; deliver every held frame in the order they were sent."""
        count = len(self._holds)
        self._holds.clear()
        self._fault("release_all", holds=count, frames=self._deliver_unheld())

    def _is_held(self, segment: Segment) -> bool:
        return any(h.covers(segment) for h in self._holds)

    def _deliver_unheld(self) -> int:
        """Send on the held frames no hold covers any more; how many went."""
        going = [seg for seg in self._held if not self._is_held(seg)]
        self._held = [seg for seg in self._held if self._is_held(seg)]
        for segment in going:
            self._schedule(segment)
        return len(going)

    @property
    def partitions(self) -> list[Partition]:
        """The partitions in force, in the order they were placed."""
        return list(self._partitions)

    def partition(self, *, src: str | None = None, dst: str | None = None) -> Partition:
        """Lose every frame ``src`` sends to ``dst`` (None: any host; both None: every
        frame, both ways) until this partition is repaired (:meth:`repair` with the
        returned :class:`Partition`, or :meth:`repair_all`)."""
        src, dst = self._pair(src, dst)
        self._partitions_placed += 1
        placed = Partition(self._partitions_placed, src, dst)
        self._partitions.append(placed)
        self._fault("partition", partition=placed.number, src=src, **self._dst_field(dst))
        return placed

    def repair(self, partition: Partition | None = None) -> None:
        """End ``partition`` only (None: the one partition in force): the frames it
        covered get through again unless another partition covers them too."""
        if partition is not None and not isinstance(partition, Partition):
            raise ValueError(f"partition: expected a Partition from Link.partition, got "
                             f"{partition!r}")
        placed = self._the_only("partition", self._partitions) if partition is None else (
            self.active_partition(partition.number))
        self._partitions.remove(placed)
        self._fault("repair", partition=placed.number)

    def active_partition(self, number: int) -> Partition:
        """The partition in force numbered ``number``; ValueError when there is none."""
        return self._active("partition", self._partitions, number)

    def repair_all(self) -> None:
        """End every partition."""
        count = len(self._partitions)
        self._partitions.clear()
        self._fault("repair_all", partitions=count)

    def _pair(self, src: str | None, dst: str | None) -> tuple[str | None, str | None]:
        if src is not None:
            check_ipv4("src", src)
        if dst is not None:
            check_ipv4("dst", dst)
        return src, dst

    @staticmethod
    def _dst_field(dst: str | None) -> dict[str, str]:
        """``dst`` as a fault record field, only when one is named (so the records of
        the one-sided forms are as they always were)."""
        return {} if dst is None else {"dst": dst}

    def _active(self, what: str, placed: Sequence[_Placed], number: int) -> _Placed:
        for one in placed:
            if one.number == number:
                return one
        active = ", ".join(str(p.number) for p in placed) or "none"
        raise ValueError(f"{what}: {what} {number} is not active on link {self.name} "
                         f"(active: {active})")

    def _the_only(self, what: str, placed: Sequence[_Placed]) -> _Placed:
        if len(placed) != 1:
            active = ", ".join(str(p.number) for p in placed) or "none"
            raise ValueError(f"{what}: name the {what} to end: {len(placed)} in force on "
                             f"link {self.name} (active: {active})")
        return placed[0]

    def set_loss(self, probability: float, *, src: str | None = None) -> None:
        """Lose each frame from ``src`` (every host when None) with ``probability``."""
        if (not isinstance(probability, int | float) or isinstance(probability, bool)
                or not 0.0 <= probability <= 1.0):
            raise ValueError(f"probability: expected a number 0..1, got {probability!r}")
        if src is not None:
            check_ipv4("src", src)
        self._loss[src] = float(probability)
        self._fault("set_loss", probability=str(float(probability)), src=src)

    # ---- the wire ---------------------------------------------------------------

    def _transmit(self, segment: Segment) -> None:
        if segment.ip_id:  # already stamped: the same object sent again gets a copy
            segment = dataclasses.replace(segment)
        segment.ip_id = self._next_ip_id(segment.src_ip)
        st = self.stats
        st.frames_sent += 1
        frame_bytes = segment.wire_length + ETHERNET_HEADER
        st.bytes_sent += frame_bytes
        if segment.ciphertext:
            st.ciphertext_frames += 1
        fields = segment.trace_fields()
        self.kernel.emit_fields(self.source, "tx", fields)
        flow = (segment.src_ip, segment.src_port, segment.dst_ip, segment.dst_port)
        self._last_seen.pop(flow, None)  # re-insert: dict order is recency order
        self._last_seen[flow] = segment
        reason = self._loss_reason(segment, frame_bytes - ETHERNET_HEADER)
        if reason is not None:
            st.frames_dropped += 1
            self.kernel.emit(self.source, "drop", reason=reason, **fields)
            return
        if self._holds and self._is_held(segment):
            st.frames_held += 1
            self._held.append(segment)
            return
        self._schedule(segment, frame_bytes)

    def _loss_reason(self, segment: Segment, wire_length: int) -> str | None:
        """Why this frame is lost, or None. Every armed counter sees every frame."""
        src = segment.src_ip
        reason: str | None = None
        for fault in list(self._drop_nth) if self._drop_nth else ():
            if fault.src is not None and fault.src != src:
                continue
            if fault.payload_only and not segment.payload:
                continue
            fault.seen += 1
            if fault.seen == fault.n:
                self._drop_nth.remove(fault)
                reason = reason or f"drop_nth {fault.n}"
        for after in self._drop_after:
            if after.src != src:
                continue
            if not after.silent:
                if after.deadline_us is not None and self.kernel.now_us >= after.deadline_us:
                    after.silent = True
                elif after.payload_budget is not None:
                    if len(segment.payload) > after.payload_budget:
                        after.silent = True
                    else:
                        after.payload_budget -= len(segment.payload)
            if after.silent:
                reason = reason or "drop_after"
        if reason is not None:
            return reason
        if self._partitions and any(p.covers(segment) for p in self._partitions):
            return "partition"
        if segment.dst_ip not in self._ports:
            return "no route"
        if wire_length > self.mtu:
            return f"exceeds mtu {self.mtu}"
        if not self._loss:
            return None
        probability = self._loss.get(src, self._loss.get(None, 0.0))
        if probability > 0.0 and self.kernel.rng.random() < probability:
            return "loss"
        return None

    def _schedule(self, segment: Segment, frame_bytes: int | None = None) -> None:
        """Put ``segment`` on its wire (``frame_bytes``: its size with the Ethernet
        header, when the caller has it already)."""
        now = self.kernel.now_us
        if frame_bytes is None:
            frame_bytes = segment.wire_length + ETHERNET_HEADER
        clock_out = -(-frame_bytes * 8 * 1_000_000 // self.bandwidth_bps)  # serialisation_us
        queue = self._queue_for(segment) if self._shared else None
        if queue is None:  # a wire of its own for this pair of hosts
            direction = (segment.src_ip, segment.dst_ip)
            busy_until = self._busy_until.get(direction, 0)
            done = (now if now > busy_until else busy_until) + clock_out
            self._busy_until[direction] = done
        else:
            admitted = queue.admit(now, clock_out)
            if admitted is None:
                self.stats.frames_dropped += 1
                self.kernel.emit(self.source, "drop", reason="queue full",
                                 **segment.trace_fields())
                return
            done = admitted
        self.kernel.call_at(done + self.latency_us, self._deliver, segment)

    def _queue_for(self, segment: Segment) -> PortQueue | None:
        """The shared port queue a frame goes through (towards a shared host, else from
        one), or None."""
        if not self._shared:
            return None
        inbound = self._shared.get(segment.dst_ip)
        if inbound is not None:
            return inbound[0]
        outbound = self._shared.get(segment.src_ip)
        return outbound[1] if outbound is not None else None

    def _deliver(self, segment: Segment) -> None:
        port = self._ports.get(segment.dst_ip)
        if port is None:  # its host was detached while the frame was on the wire
            self.stats.frames_dropped += 1
            self.kernel.emit(self.source, "drop", reason="detached", **segment.trace_fields())
            return
        self.stats.frames_delivered += 1
        port.receive(segment)

    def _next_ip_id(self, ip: str) -> int:
        n = (self._ip_ids.get(ip, 0) % 0xFFFF) + 1
        self._ip_ids[ip] = n
        return n

    def _latest_flow(self, ip: str) -> _Flow | None:
        """The flow (ip, port, peer ip, peer port) of ``ip``'s most recent segment."""
        latest: _Flow | None = None
        for flow in self._last_seen:  # oldest first: the last match is the latest
            if flow[0] == ip:
                latest = flow
            elif flow[2] == ip:
                latest = (flow[2], flow[3], flow[0], flow[1])
        return latest

    def _fault(self, verb: str, **fields: str | int | bool | None) -> None:
        self.kernel.emit(self.source, "fault", verb=verb, **fields)
