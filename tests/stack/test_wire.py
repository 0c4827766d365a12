"""The IPv4/TCP codec: the same bytes as the pcap export, checksums, and the way back."""

from __future__ import annotations

import logging
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.trace import TraceRecord
from stack.pcap import frame_bytes
from stack.segment import ETHERNET_HEADER, Flags, Segment
from stack.wire import WireError, decode, encode, internet_checksum

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP  # noqa: E402

SYN = Segment("192.0.2.10", 49153, "198.51.100.25", 25, 0xFFFFFFF0, 0, Flags.SYN, 5840,
              mss=1460, ip_id=1)
DATA = Segment("198.51.100.25", 25, "192.0.2.10", 49153, 7, 0xFFFFFFF1, Flags.PSH | Flags.ACK,
               5840, payload=b"220 mx.example.net ESMTP\r\n", ip_id=3)
FIN = Segment("192.0.2.10", 49153, "198.51.100.25", 25, 100, 200, Flags.FIN | Flags.ACK, 0,
              ip_id=65535)
RST = Segment("198.51.100.25", 25, "192.0.2.10", 49153, 0, 0, Flags.RST, 0)
ODD = Segment("192.0.2.10", 1, "198.51.100.25", 65535, 1, 2, Flags.ACK, 1, payload=b"x")


def _pcap_packet(segment: Segment) -> bytes:
    record = TraceRecord(0, "link", "tx", segment.trace_fields())
    return frame_bytes(record)[ETHERNET_HEADER:]


def _scapy_packet(segment: Segment) -> bytes:
    """The same datagram built by scapy (the reference: checksums computed by scapy)."""
    options = [("MSS", segment.mss)] if segment.mss is not None else []
    packet = IP(src=segment.src_ip, dst=segment.dst_ip, id=segment.ip_id, ttl=64,
                flags="DF") / TCP(sport=segment.src_port, dport=segment.dst_port,
                                  seq=segment.seq & 0xFFFFFFFF, ack=segment.ack & 0xFFFFFFFF,
                                  flags=int(segment.flags), window=segment.window,
                                  options=options)
    if segment.payload:
        packet = packet / segment.payload
    return bytes(packet)


@pytest.mark.parametrize("segment", [SYN, DATA, FIN, RST, ODD], ids=["syn", "data", "fin",
                                                                    "rst", "odd-length"])
def test_encode_gives_scapys_bytes_and_the_pcap_holds_them(segment: Segment) -> None:
    assert encode(segment) == _scapy_packet(segment)
    assert _pcap_packet(segment) == encode(segment)


@pytest.mark.parametrize("segment", [SYN, DATA, FIN, RST, ODD])
def test_decode_gives_the_segment_back(segment: Segment) -> None:
    back = decode(encode(segment))
    assert back == segment
    assert back.ip_id == segment.ip_id


_ips = st.sampled_from(["192.0.2.10", "198.51.100.25", "10.0.0.1", "255.255.255.254"])
_segments = st.builds(
    Segment, src_ip=_ips, src_port=st.integers(1, 65535), dst_ip=_ips,
    dst_port=st.integers(1, 65535), seq=st.integers(0, 2**32 - 1),
    ack=st.integers(0, 2**32 - 1),
    flags=st.sets(st.sampled_from(list(Flags))).map(
        lambda fs: Flags(sum(int(f) for f in fs))),
    window=st.integers(0, 65535), payload=st.binary(max_size=300),
    mss=st.none() | st.integers(0, 65535), ip_id=st.integers(0, 65535))


@given(_segments)
def test_round_trip_and_scapys_bytes_for_any_segment(segment: Segment) -> None:
    packet = encode(segment)
    assert packet == _scapy_packet(segment)
    assert decode(packet) == segment


def _reference_checksum(data: bytes) -> int:
    """RFC 1071 word by word, as the RFC writes it."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(st.binary(max_size=2000) | st.sampled_from([b"", b"\0\0", b"\xff\xff", b"\xff\xff" * 3,
                                                   b"\x00\x01\xff\xfe"]))
def test_checksum_is_rfc_1071(data: bytes) -> None:
    assert internet_checksum(data) == _reference_checksum(data)


def test_checksums_verify_to_zero() -> None:
    packet = encode(DATA)
    assert internet_checksum(packet[:20]) == 0


def _with_byte(packet: bytes, index: int, value: int) -> bytes:
    return packet[:index] + bytes([value]) + packet[index + 1:]


@pytest.mark.parametrize(("mangle", "why"), [
    (lambda p: p[:12], "shorter than an IPv4 header"),
    (lambda p: _with_byte(p, 0, 0x65), "IP version 6"),
    (lambda p: p + b"x", "total length"),
    (lambda p: _with_byte(p, 8, 63), "IPv4 header checksum is wrong"),
    (lambda p: p[:-1] + bytes([p[-1] ^ 1]), "TCP checksum is wrong"),
])
def test_bad_datagrams_are_refused_with_the_reason(mangle, why: str) -> None:
    with pytest.raises(WireError, match=why):
        decode(mangle(encode(DATA)))


def test_options_other_than_mss_are_skipped() -> None:
    # A SYN with NOP, NOP, SACK-permitted (kind 4, length 2) and MSS 1200, as stacks send.
    options = b"\x01\x01\x04\x02" + struct.pack("!BBH", 2, 4, 1200)
    plain = encode(Segment("192.0.2.10", 1000, "198.51.100.25", 25, 5, 0, Flags.SYN, 100))
    ip, tcp = bytearray(plain[:20]), bytearray(plain[20:])
    tcp[12] = (28 // 4) << 4
    tcp[16:18] = b"\0\0"
    tcp += options
    struct.pack_into("!H", ip, 2, 20 + len(tcp))
    struct.pack_into("!H", ip, 10, 0)
    struct.pack_into("!H", ip, 10, internet_checksum(bytes(ip)))
    pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 6, len(tcp))
    struct.pack_into("!H", tcp, 16, internet_checksum(pseudo + bytes(tcp)))
    segment = decode(bytes(ip + tcp))
    assert segment.mss == 1200 and segment.payload == b"" and segment.flags == Flags.SYN


def test_a_bad_option_length_is_refused() -> None:
    packet = bytearray(encode(SYN))
    packet[20 + 21] = 9  # the MSS option claims 9 bytes
    struct.pack_into("!H", packet, 20 + 16, 0)
    pseudo = bytes(packet[12:20]) + struct.pack("!BBH", 0, 6, len(packet) - 20)
    struct.pack_into("!H", packet, 20 + 16, internet_checksum(pseudo + bytes(packet[20:])))
    with pytest.raises(WireError, match="bad length"):
        decode(bytes(packet))
