"""Tests for stack.pcap: frames, timestamps, determinism, and tshark's dissection."""

from __future__ import annotations

import io
import logging
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emulator.trace import Opaque, Trace, TraceRecord
from stack.pcap import (
    DEFAULT_EPOCH_S,
    PcapStream,
    default_mac,
    frame_bytes,
    pcap_bytes,
    tshark_decode_as,
    write_pcap,
)
from stack.segment import Flags, Segment

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import rdpcap  # noqa: E402

CLIENT = ("10.0.0.2", 49152)
SERVER = ("10.0.0.1", 25)


def seg(
    t_us: int,
    src: tuple[str, int],
    dst: tuple[str, int],
    seq: int,
    ack: int,
    flags: Flags,
    payload: bytes = b"",
    *,
    mss: int | None = None,
    ip_id: int = 0,
    ciphertext: bool = False,
    kind: str = "tx",
) -> TraceRecord:
    segment = Segment(
        src[0], src[1], dst[0], dst[1], seq, ack, flags, 8192, payload, mss, ciphertext,
        ip_id=ip_id,
    )
    return TraceRecord(t_us, "link.wan", kind, segment.trace_fields())


def smtp_exchange(server: tuple[str, int] = SERVER) -> list[TraceRecord]:
    """Handshake, 220 greeting, EHLO, 250, and an orderly close; plus noise records."""
    c, s = CLIENT, server
    syn_ack = Flags.SYN | Flags.ACK
    data = Flags.PSH | Flags.ACK
    fin = Flags.FIN | Flags.ACK
    return [
        seg(0, c, s, 1000, 0, Flags.SYN, mss=1460, ip_id=1),
        TraceRecord(500, "pool", "alloc", {"in_use": 1}),
        seg(1_000, s, c, 5000, 1001, syn_ack, mss=1460, ip_id=1),
        seg(2_000, c, s, 1001, 5001, Flags.ACK, ip_id=2),
        seg(1_003_000, s, c, 5001, 1001, data, b"220 hello\r\n", ip_id=2),
        seg(1_004_000, c, s, 1001, 5012, data, b"EHLO x\r\n", ip_id=3),
        # the link lost this one: still transmitted, so one frame, not two
        seg(1_004_000, c, s, 1001, 5012, data, b"EHLO x\r\n", ip_id=3, kind="drop"),
        seg(1_204_000, c, s, 1001, 5012, data, b"EHLO x\r\n", ip_id=4),
        seg(1_205_000, s, c, 5012, 1009, data, b"250 hello x\r\n", ip_id=3),
        seg(2_000_000, c, s, 1009, 5025, fin, ip_id=5),
        seg(2_001_000, s, c, 5025, 1010, fin, ip_id=4),
        seg(2_002_000, c, s, 1010, 5026, Flags.ACK, ip_id=6),
    ]


def tx_records(records: Sequence[TraceRecord]) -> list[TraceRecord]:
    return [r for r in records if r.kind == "tx"]


def test_frames_carry_the_segment_fields(tmp_path: Path) -> None:
    records = smtp_exchange()
    path = tmp_path / "smtp.pcap"
    assert write_pcap(records, path) == 10
    packets = rdpcap(str(path))
    expected = tx_records(records)
    assert len(packets) == len(expected)
    for pkt, rec in zip(packets, expected, strict=True):
        src_ip, src_port = str(rec.get("src")).split(":")
        dst_ip, dst_port = str(rec.get("dst")).split(":")
        assert pkt[Ether].src == default_mac(src_ip)
        assert pkt[Ether].dst == default_mac(dst_ip)
        assert (pkt[IP].src, pkt[IP].dst, pkt[IP].id) == (src_ip, dst_ip, rec.get("ip_id"))
        tcp = pkt[TCP]
        assert (tcp.sport, tcp.dport) == (int(src_port), int(dst_port))
        assert (tcp.seq, tcp.ack, tcp.window) == (rec.get("seq"), rec.get("ack"), 8192)
        assert str(tcp.flags) == rec.get("flags")
        payload = bytes(tcp.payload) if pkt.haslayer(Raw) else b""
        assert payload == rec.get("payload")
        mss = dict(tcp.options).get("MSS")
        assert mss == rec.get("mss")
        assert pkt.time == Decimal(DEFAULT_EPOCH_S) + Decimal(rec.t_us) / Decimal(1_000_000)


def test_checksums_are_correct() -> None:
    for rec in tx_records(smtp_exchange()):
        frame = Ether(frame_bytes(rec))
        ip_sum, tcp_sum = frame[IP].chksum, frame[TCP].chksum
        del frame[IP].chksum
        del frame[TCP].chksum
        rebuilt = Ether(bytes(frame))
        assert (rebuilt[IP].chksum, rebuilt[TCP].chksum) == (ip_sum, tcp_sum)


def test_same_records_give_identical_bytes(tmp_path: Path) -> None:
    first = pcap_bytes(smtp_exchange())
    second = pcap_bytes(smtp_exchange())
    assert first == second
    write_pcap(smtp_exchange(), tmp_path / "a.pcap")
    assert (tmp_path / "a.pcap").read_bytes() == first
    # classic pcap, little endian, microseconds, Ethernet, no time in the global header
    assert first[:4] == bytes.fromhex("d4c3b2a1")
    assert first[8:16] == bytes(8)
    assert int.from_bytes(first[20:24], "little") == 1


def test_epoch_and_macs_are_honoured() -> None:
    records = smtp_exchange()[:1]
    macs = {CLIENT[0]: "AA:BB:CC:00:00:01"}
    pkt = Ether(frame_bytes(records[0], macs))
    assert pkt.src == "aa:bb:cc:00:00:01"
    assert pkt.dst == "02:00:0a:00:00:01"
    data = pcap_bytes(records, epoch_s=42)
    assert int.from_bytes(data[24:28], "little") == 42  # first record's seconds


def test_opaque_ciphertext_is_written_as_its_bytes() -> None:
    ciphertext = bytes.fromhex("1703030005") + b"\x01\x02\x03\x04\x05"
    rec = seg(10, CLIENT, SERVER, 1, 1, Flags.PSH | Flags.ACK, ciphertext, ciphertext=True)
    assert isinstance(rec.get("payload"), Opaque)
    assert bytes(Ether(frame_bytes(rec))[TCP].payload) == ciphertext


def test_empty_input_gives_a_header_only_file() -> None:
    data = pcap_bytes([])
    assert len(data) == 24


def test_source_selects_one_link() -> None:
    other = TraceRecord(5, "link.lan", "tx", dict(smtp_exchange()[0].fields))
    records = [*smtp_exchange(), other]
    assert len(rdpcap_bytes(pcap_bytes(records))) == 11
    assert len(rdpcap_bytes(pcap_bytes(records, source="link.lan"))) == 1


def rdpcap_bytes(data: bytes) -> Any:
    return rdpcap(io.BytesIO(data))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("flags", "SX", "'flags'"),
        ("src", "10.0.0.2", "'src'"),
        ("dst", "host:25", "'dst'"),
        ("window", 70000, "'window'"),
        ("seq", -1, "'seq'"),
        ("payload", "text", "'payload'"),
        ("mss", 1 << 16, "'mss'"),
    ],
)
def test_bad_fields_name_the_field(field: str, value: object, message: str) -> None:
    fields = dict(smtp_exchange()[0].fields)
    fields[field] = value  # type: ignore[assignment]
    with pytest.raises(ValueError, match=message):
        pcap_bytes([TraceRecord(0, "link.wan", "tx", fields)])


def test_bad_macs_and_epoch() -> None:
    with pytest.raises(ValueError, match="macs"):
        pcap_bytes(smtp_exchange(), macs={CLIENT[0]: "nope"})
    with pytest.raises(ValueError, match="epoch_s"):
        pcap_bytes(smtp_exchange(), epoch_s=-1)


def test_sequence_numbers_wrap_modulo_2_32() -> None:
    rec = seg(0, CLIENT, SERVER, (1 << 32) + 7, 1 << 32, Flags.ACK)
    tcp = Ether(frame_bytes(rec))[TCP]
    assert (tcp.seq, tcp.ack) == (7, 0)


def test_tshark_decode_as() -> None:
    assert tshark_decode_as(465) == ["-d", "tcp.port==465,tls"]
    assert tshark_decode_as(2525) == ["-d", "tcp.port==2525,smtp"]
    assert tshark_decode_as(587, tls=True) == ["-d", "tcp.port==587,tls"]
    with pytest.raises(ValueError, match="port"):
        tshark_decode_as(0)


# ---- tshark: the capture opens and dissects without errors ----------------------------


def tshark(*args: str) -> str:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("tshark not installed: apt-get install tshark")
    result = subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


CHECK_SUMS = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]


def assert_no_expert_errors(path: Path, *extra: str) -> None:
    expert = tshark("-r", str(path), *CHECK_SUMS, *extra, "-q", "-z", "expert")
    assert "Malformed" not in expert, expert
    assert "Errors" not in expert, expert
    assert "Warnings" not in expert, expert


def test_tshark_dissects_smtp(tmp_path: Path) -> None:
    path = tmp_path / "smtp.pcap"
    write_pcap(smtp_exchange(), path)
    follow = tshark("-r", str(path), "-q", "-z", "follow,tcp,ascii,0")
    assert "220 hello" in follow
    assert "EHLO x" in follow
    smtp = tshark(
        "-r", str(path), "-Y", "smtp", "-T", "fields",
        "-e", "smtp.req.command", "-e", "smtp.response.code",
    )
    lines = [line.split("\t") for line in smtp.splitlines()]
    assert ["", "220"] in lines
    assert ["EHLO", ""] in lines
    assert ["", "250"] in lines
    sums = tshark("-r", str(path), *CHECK_SUMS, "-T", "fields",
                  "-e", "ip.checksum.status", "-e", "tcp.checksum.status")
    assert set(sums.split()) == {"1"}  # 1 = good
    assert_no_expert_errors(path)


def test_tshark_dissects_smtp_on_any_port_with_decode_as(tmp_path: Path) -> None:
    path = tmp_path / "smtp2525.pcap"
    write_pcap(smtp_exchange(("10.0.0.1", 2525)), path)
    smtp = tshark("-r", str(path), *tshark_decode_as(2525), "-Y", "smtp.req.command",
                  "-T", "fields", "-e", "smtp.req.command")
    assert smtp.split() == ["EHLO"]
    retransmitted = tshark("-r", str(path), "-Y", "tcp.analysis.retransmission",
                           "-T", "fields", "-e", "tcp.payload")
    assert retransmitted.split() == [b"EHLO x\r\n".hex()]  # the lost segment's resend


def client_hello() -> bytes:
    """A real TLS ClientHello from OpenSSL (content varies; its structure does not)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="mail.example")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_tshark_dissects_implicit_tls_on_465(tmp_path: Path) -> None:
    server = ("10.0.0.1", 465)
    hello = client_hello()
    records = [
        *smtp_exchange(server)[:4],
        seg(3_000, CLIENT, server, 1001, 5001, Flags.PSH | Flags.ACK, hello,
            ciphertext=True, ip_id=3),
        seg(4_000, server, CLIENT, 5001, 1001 + len(hello), Flags.ACK, ip_id=2),
    ]
    path = tmp_path / "smtps.pcap"
    write_pcap(records, path)
    out = tshark("-r", str(path), *tshark_decode_as(465), "-Y", "tls.handshake.type == 1",
                 "-T", "fields", "-e", "tls.handshake.extensions_server_name")
    assert out.split() == ["mail.example"]
    assert_no_expert_errors(path, *tshark_decode_as(465))


def test_trace_records_from_a_trace_object() -> None:
    trace = Trace()
    for rec in smtp_exchange():
        trace.record(rec.t_us, rec.source, rec.kind, **rec.fields)
    assert pcap_bytes(trace) == pcap_bytes(smtp_exchange())


# ---- records from the real simulated link -------------------------------------------


def test_capture_of_a_link_run(tmp_path: Path) -> None:
    """Segments sent through stack.link (with its ip_id counter and a forged RST)."""
    from emulator.kernel import Kernel
    from stack import link as link_module

    kernel = Kernel(seed=1)
    link = link_module.Link(kernel, name="wan")
    received: list[Segment] = []
    ports = {
        CLIENT[0]: link.attach(CLIENT[0], received.append),
        SERVER[0]: link.attach(SERVER[0], received.append),
    }
    sent = []
    for rec in tx_records(smtp_exchange())[:5]:
        src_ip, src_port = str(rec.get("src")).split(":")
        dst_ip, dst_port = str(rec.get("dst")).split(":")
        payload = rec.get("payload")
        assert isinstance(payload, bytes)
        mss = rec.get("mss")
        segment = Segment(
            src_ip, int(src_port), dst_ip, int(dst_port), int(str(rec.get("seq"))),
            int(str(rec.get("ack"))), Flags(_flag_bits(str(rec.get("flags")))), 8192,
            payload, mss if isinstance(mss, int) else None,
        )
        sent.append(segment)
        kernel.call_at(rec.t_us, ports[src_ip].transmit, segment)
    kernel.run()
    link.inject_rst(towards=CLIENT[0])
    kernel.run()

    path = tmp_path / "link.pcap"
    assert write_pcap(kernel.trace, path) == len(sent) + 1
    packets = rdpcap(str(path))
    for pkt, segment in zip(packets, sent, strict=False):
        assert (pkt[TCP].seq, pkt[TCP].ack) == (segment.seq, segment.ack)
        assert bytes(pkt[TCP].payload) == segment.payload
    assert [p[IP].id for p in packets[:5]] == [1, 1, 2, 2, 3]  # per-sender counters
    assert str(packets[-1][TCP].flags) in ("R", "RA")
    assert pcap_bytes(kernel.trace) == path.read_bytes()


def _flag_bits(letters: str) -> int:
    bits = {"F": Flags.FIN, "S": Flags.SYN, "R": Flags.RST, "P": Flags.PSH, "A": Flags.ACK}
    value = 0
    for letter in letters:
        value |= bits[letter]
    return value


# ---- the writer against scapy's, and the stream against the finished file --------------


def _scapy_pcap(records: Sequence[TraceRecord], epoch_s: int = DEFAULT_EPOCH_S) -> bytes:
    """The reference: every frame built by scapy, written by scapy's PcapWriter."""
    from scapy.utils import PcapWriter

    out = io.BytesIO()
    writer = PcapWriter(out, linktype=1, endianness="<", nano=False, snaplen=65535, sync=True)
    writer.write_header(None)
    for rec in tx_records(records):
        src_ip, src_port = str(rec.get("src")).split(":")
        dst_ip, dst_port = str(rec.get("dst")).split(":")
        mss = rec.get("mss")
        payload = rec.get("payload")
        data = payload.data if isinstance(payload, Opaque) else payload
        assert isinstance(data, bytes)
        frame = Ether(src=default_mac(src_ip), dst=default_mac(dst_ip)) / IP(
            src=src_ip, dst=dst_ip, id=rec.get("ip_id"), ttl=64, flags="DF") / TCP(
            sport=int(src_port), dport=int(dst_port), seq=int(str(rec.get("seq"))) & 0xFFFFFFFF,
            ack=int(str(rec.get("ack"))) & 0xFFFFFFFF, flags=_flag_bits(str(rec.get("flags"))),
            window=rec.get("window"), options=[("MSS", mss)] if mss is not None else [])
        if data:
            frame = frame / data
        writer.write_packet(bytes(frame), sec=epoch_s + rec.t_us // 1_000_000,
                            usec=rec.t_us % 1_000_000)
    return out.getvalue()


def test_the_file_is_byte_for_byte_what_scapy_writes() -> None:
    records = [*smtp_exchange(),
               seg(3_000_001, CLIENT, SERVER, 1, 2, Flags.PSH | Flags.ACK, client_hello(),
                   ciphertext=True, ip_id=9),
               seg(3_000_002, CLIENT, SERVER, 0xFFFFFFFF, 0, Flags.RST, ip_id=65535)]
    assert pcap_bytes(records) == _scapy_pcap(records)
    assert pcap_bytes(records, epoch_s=7) == _scapy_pcap(records, epoch_s=7)


def test_a_stream_subscribed_to_a_trace_writes_the_finished_file(tmp_path: Path) -> None:
    trace = Trace()
    path = tmp_path / "live.pcap"
    with path.open("wb") as out:
        stream = PcapStream(out)
        trace.subscribe(stream)
        for rec in smtp_exchange():
            trace.record(rec.t_us, rec.source, rec.kind, **rec.fields)
    assert stream.frames == 10
    assert path.read_bytes() == pcap_bytes(smtp_exchange())


def test_a_bad_record_leaves_no_half_written_file(tmp_path: Path) -> None:
    bad = TraceRecord(9, "link.wan", "tx", {**smtp_exchange()[0].fields, "flags": "X"})
    path = tmp_path / "bad.pcap"
    with pytest.raises(ValueError, match="'flags'"):
        write_pcap([*smtp_exchange(), bad], path)
    assert not path.exists()
