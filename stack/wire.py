"""IPv4/TCP wire bytes for the link's segments, and back: a struct-based codec.

``encode(segment)`` gives the IPv4 datagram (no Ethernet header) that :mod:`stack.pcap`
writes for the same segment (the pcap's frames are this codec's datagrams): version 4,
header length 20, TOS 0, the segment's IP ID, don't-fragment set, TTL 64, protocol 6,
correct header checksum; a TCP header with data offset 5 (6 with the MSS option, which
only SYN segments carry), the segment's flags, window, urgent pointer 0, and a correct
checksum over the pseudo-header. Both are tested byte for byte against scapy. ``decode``
parses a datagram a C firmware sent, checks both checksums, and returns the
:class:`~stack.segment.Segment` it carries; a datagram it cannot take is a
:class:`WireError` saying why.

What a ``Segment`` cannot hold is not kept: the IP TTL, DF and IP options, TCP options
other than MSS (NOP, end-of-list and unknown kinds are skipped by their length), the
urgent pointer. The link stamps its own IP ID on every segment it carries, so the pcap
of a C firmware's run shows the firmware's TCP exactly (ports, sequence numbers, flags,
window, MSS, payload) with the link's IP header conventions.

This module knows IPv4 and TCP header layouts and the Internet checksum. It knows
nothing about links, stacks or firmware.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from typing import Final

from stack.segment import IPV4_HEADER, TCP_HEADER, Flags, Segment

TTL: Final = 64
"""The TTL of every encoded datagram (the pcap's)."""
DONT_FRAGMENT: Final = 0x4000
PROTOCOL_TCP: Final = 6
MSS_OPTION: Final = 2
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_FLAG_MASK: Final = int(Flags.FIN | Flags.SYN | Flags.RST | Flags.PSH | Flags.ACK)


class WireError(ValueError):
    """A datagram that is not a well-formed IPv4/TCP packet; the message says why."""


def internet_checksum(data: bytes) -> int:
    """RFC 1071: the one's complement of the one's complement sum of 16-bit words.

    The sum is taken as one big number: 2**16 is 1 modulo 0xFFFF, so the big-endian
    words' one's complement sum is the number modulo 0xFFFF (0xFFFF for a non-zero
    multiple, as end-around carries give it); one C-level operation instead of a word
    at a time."""
    if len(data) % 2:
        data += b"\0"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, tcp_length: int) -> bytes:
    return src + dst + struct.pack("!BBH", 0, PROTOCOL_TCP, tcp_length)


@functools.lru_cache(maxsize=1024)
def _packed(ip: str) -> bytes:
    """An address's four bytes (a run has a handful of addresses: parsed once each)."""
    return ipaddress.IPv4Address(ip).packed


def encode(segment: Segment) -> bytes:
    """The IPv4 datagram of ``segment``, byte for byte what the pcap holds."""
    src = _packed(segment.src_ip)
    dst = _packed(segment.dst_ip)
    options = b"" if segment.mss is None else struct.pack("!BBH", MSS_OPTION, 4, segment.mss)
    header_length = TCP_HEADER + len(options)
    tcp = _TCP.pack(segment.src_port, segment.dst_port, segment.seq & 0xFFFFFFFF,
                    segment.ack & 0xFFFFFFFF, (header_length // 4) << 4,
                    int(segment.flags) & _FLAG_MASK, segment.window, 0, 0)
    segment_bytes = tcp + options + segment.payload
    checksum = internet_checksum(_pseudo_header(src, dst, len(segment_bytes)) + segment_bytes)
    segment_bytes = segment_bytes[:16] + struct.pack("!H", checksum) + segment_bytes[18:]
    total = IPV4_HEADER + len(segment_bytes)
    ip = _IP.pack(0x45, 0, total, segment.ip_id, DONT_FRAGMENT, TTL, PROTOCOL_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", internet_checksum(ip)) + ip[12:]
    return ip + segment_bytes


def _mss_option(options: bytes) -> int | None:
    mss = None
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:  # end of option list
            break
        if kind == 1:  # no-operation
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            raise WireError(f"TCP option {kind} at offset {i} has a bad length")
        length = options[i + 1]
        if kind == MSS_OPTION:
            if length != 4:
                raise WireError(f"TCP MSS option of length {length}, expected 4")
            mss = int.from_bytes(options[i + 2:i + 4], "big")
        i += length
    return mss


def decode(packet: bytes) -> Segment:
    """The segment in an IPv4/TCP datagram; :class:`WireError` when it is not one."""
    if len(packet) < IPV4_HEADER:
        raise WireError(f"{len(packet)} bytes: shorter than an IPv4 header")
    (version_ihl, _tos, total, ip_id, fragment, _ttl, protocol, _checksum, src,
     dst) = _IP.unpack_from(packet)
    if version_ihl >> 4 != 4:
        raise WireError(f"IP version {version_ihl >> 4}, expected 4")
    ihl = (version_ihl & 0x0F) * 4
    if ihl < IPV4_HEADER or ihl > len(packet):
        raise WireError(f"IPv4 header length {ihl} does not fit the {len(packet)}-byte packet")
    if total != len(packet):
        raise WireError(f"IPv4 total length {total}, but the packet has {len(packet)} bytes")
    if internet_checksum(packet[:ihl]) != 0:
        raise WireError("IPv4 header checksum is wrong")
    if fragment & 0x3FFF:
        raise WireError("IPv4 fragments are not supported")
    if protocol != PROTOCOL_TCP:
        raise WireError(f"IP protocol {protocol}, expected 6 (TCP)")
    tcp = packet[ihl:]
    if len(tcp) < TCP_HEADER:
        raise WireError(f"{len(tcp)} bytes of TCP: shorter than a TCP header")
    if internet_checksum(_pseudo_header(src, dst, len(tcp)) + tcp) != 0:
        raise WireError("TCP checksum is wrong")
    src_port, dst_port, seq, ack, offset, flags, window, _sum, _urgent = _TCP.unpack_from(tcp)
    data_offset = (offset >> 4) * 4
    if data_offset < TCP_HEADER or data_offset > len(tcp):
        raise WireError(f"TCP data offset {data_offset} does not fit {len(tcp)} bytes")
    return Segment(
        src_ip=str(ipaddress.IPv4Address(src)), src_port=src_port,
        dst_ip=str(ipaddress.IPv4Address(dst)), dst_port=dst_port, seq=seq, ack=ack,
        flags=Flags(flags & _FLAG_MASK), window=window, payload=bytes(tcp[data_offset:]),
        mss=_mss_option(tcp[TCP_HEADER:data_offset]), ip_id=ip_id)
