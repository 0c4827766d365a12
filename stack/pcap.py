"""Export the link's segment records as a classic pcap file (Ethernet/IPv4/TCP).

Input is trace records: every ``tx`` record of a ``link`` source (``link`` or
``link.<name>``) is one frame, built from the record's fields as
:meth:`stack.segment.Segment.trace_fields` writes them (``src``/``dst`` as
``"ip:port"``, ``seq``, ``ack``, ``flags`` letters ``SFRPA``, ``window``, ``mss``,
``ip_id``, ``payload`` as bytes or :class:`emulator.trace.Opaque` ciphertext). A
segment the link later drops still has its ``tx`` record: the sender transmitted it,
so it is in the capture; the extra ``drop`` record is not a frame of its own.

Frames are an Ethernet header and the IPv4 datagram of :func:`stack.wire.encode` (the
struct-based codec the C firmware's packets go through; its bytes and this file's frames
are tested byte for byte against scapy's, and tshark dissects them). Timestamps are
``epoch_s`` plus the record's virtual ``t_us`` (microsecond precision). MAC addresses are
``02:00:`` followed by the four IP bytes unless given. The file is a pure function of its
input: little endian, fixed snap length, no wall-clock field, so the same records give
the same bytes on every machine.

:class:`PcapStream` writes frames to an open file as records come (subscribe it to a
trace: the capture of a long run is on disk as the run goes, never in memory);
:func:`write_pcap` and :func:`pcap_bytes` write a finished list of records the same way.

This module knows trace records and frame formats. It knows nothing about kernels,
sockets or how the segments were produced.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, Final

from emulator.trace import Elided, FieldValue, Opaque, TraceKind, TraceRecord
from stack.segment import Segment
from stack.wire import encode

DLT_EN10MB = 1  # pcap link type: Ethernet
SNAPLEN = 65535
DEFAULT_EPOCH_S = 1_700_000_000
LINK_SOURCE = "link"
TX_KIND: Final[TraceKind] = "tx"
PCAP_MAGIC: Final = 0xA1B2C3D4  # microsecond timestamps
ETHERTYPE_IPV4: Final = 0x0800

_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_U32 = 0xFFFFFFFF
_FILE_HEADER = struct.Struct("<IHHiIII")  # magic, version 2.4, zone, sigfigs, snaplen, type
_FRAME_HEADER = struct.Struct("<IIII")  # seconds, microseconds, captured, original length

# Ports whose SMTP traffic is TLS from the first byte (implicit TLS, RFC 8314).
IMPLICIT_TLS_PORTS = frozenset({465})


def default_mac(ip: str) -> str:
    """The deterministic MAC of a host: ``02:00:`` + its four IPv4 bytes in hex."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:00:" + ":".join(f"{b:02x}" for b in packed)


def is_link_tx(record: TraceRecord, source: str | None = None) -> bool:
    """True when ``record`` is a transmitted segment (of link ``source`` when given)."""
    if record.kind != TX_KIND:
        return False
    if source is not None:
        return record.source == source
    return record.source == LINK_SOURCE or record.source.startswith(LINK_SOURCE + ".")


def segment_records(
    records: Iterable[TraceRecord], source: str | None = None
) -> Iterator[TraceRecord]:
    """The records that become frames, in trace order."""
    return (r for r in records if is_link_tx(r, source))


def _endpoint(record: TraceRecord, name: str) -> tuple[str, int]:
    value = record.get(name)
    parsed = _parse_endpoint(value) if isinstance(value, str) else None
    if isinstance(parsed, tuple):
        return parsed
    problem = parsed or f"expected 'a.b.c.d:port', got {value!r}"
    raise ValueError(f"trace record at {record.t_us}us from {record.source}: field {name!r}: "
                     f"{problem}")


@functools.lru_cache(maxsize=1024)
def _parse_endpoint(value: str) -> tuple[str, int] | str | None:
    """``"a.b.c.d:port"`` as (address, port); else what is wrong with the port, or None
    (a run has a handful of endpoints: parsed once each)."""
    if ":" not in value:
        return None
    host, _, port_text = value.rpartition(":")
    try:
        ip = str(ipaddress.IPv4Address(host))
        port = int(port_text)
    except ValueError:
        return None
    if not 0 <= port <= 0xFFFF:
        return f"port {port} out of range 0..65535"
    return ip, port


def _int_field(record: TraceRecord, name: str, upper: int, *, wrap: bool = False) -> int:
    value = record.get(name)
    where = f"trace record at {record.t_us}us from {record.source}: field {name!r}"
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where}: expected a non-negative integer, got {value!r}")
    if wrap:
        return value & upper  # sequence space is modulo 2**32
    if value > upper:
        raise ValueError(f"{where}: expected 0..{upper}, got {value}")
    return value


def _flags(record: TraceRecord) -> int:
    value = record.get("flags")
    if not isinstance(value, str) or any(c not in _FLAG_BITS for c in value):
        raise ValueError(
            f"trace record at {record.t_us}us from {record.source}: field 'flags': "
            f"expected letters from 'SFRPA', got {value!r}"
        )
    bits = 0
    for letter in value:
        bits |= _FLAG_BITS[letter]
    return bits


def _payload(record: TraceRecord) -> bytes:
    value: FieldValue = record.get("payload", b"")
    if value is None:
        return b""
    if isinstance(value, Opaque):
        return value.data
    if isinstance(value, bytes):
        return value
    if isinstance(value, Elided):
        raise ValueError(
            f"trace record at {record.t_us}us from {record.source}: field 'payload': the "
            f"trace kept only its length and digest (Trace keep_bytes): write the capture "
            f"as the run goes (PcapStream subscribed to the trace)")
    raise ValueError(
        f"trace record at {record.t_us}us from {record.source}: field 'payload': "
        f"expected bytes or Opaque, got {type(value).__name__}"
    )


def _mss(record: TraceRecord) -> int | None:
    if record.get("mss") is None:
        return None
    return _int_field(record, "mss", 0xFFFF)


def _mac_for(ip: str, macs: Mapping[str, str] | None) -> bytes:
    if macs is not None and ip in macs:
        mac = macs[ip]
        if not isinstance(mac, str) or not _MAC_RE.match(mac):
            raise ValueError(f"macs[{ip!r}]: expected 'xx:xx:xx:xx:xx:xx', got {mac!r}")
        return bytes.fromhex(mac.replace(":", ""))
    return _default_mac_bytes(ip)


@functools.lru_cache(maxsize=1024)
def _default_mac_bytes(ip: str) -> bytes:
    return b"\x02\x00" + ipaddress.IPv4Address(ip).packed


def frame_bytes(record: TraceRecord, macs: Mapping[str, str] | None = None) -> bytes:
    """One link ``tx`` record as an Ethernet frame with correct IP and TCP checksums."""
    src_ip, src_port = _endpoint(record, "src")
    dst_ip, dst_port = _endpoint(record, "dst")
    segment = Segment(
        src_ip, src_port, dst_ip, dst_port,
        _int_field(record, "seq", _U32, wrap=True), _int_field(record, "ack", _U32, wrap=True),
        _flags(record), _int_field(record, "window", 0xFFFF), _payload(record), _mss(record),
        ip_id=_int_field(record, "ip_id", 0xFFFF))
    ethernet = _mac_for(dst_ip, macs) + _mac_for(src_ip, macs) + ETHERTYPE_IPV4.to_bytes(2, "big")
    return ethernet + encode(segment)


def _timestamp(record: TraceRecord, epoch_s: int) -> tuple[int, int]:
    if not isinstance(record.t_us, int) or record.t_us < 0:
        raise ValueError(
            f"trace record from {record.source}: t_us: expected a non-negative integer, "
            f"got {record.t_us!r}"
        )
    return epoch_s + record.t_us // 1_000_000, record.t_us % 1_000_000


def _check_epoch(epoch_s: object) -> None:
    if not isinstance(epoch_s, int) or isinstance(epoch_s, bool) or epoch_s < 0:
        raise ValueError(f"epoch_s: expected a non-negative integer, got {epoch_s!r}")


class PcapStream:
    """Writes the link ``tx`` records it is given as frames to ``out``, as they come.

    The file header goes out at once. Call the stream with each record (or subscribe it
    to a trace: ``trace.subscribe(stream)``); records that are not link ``tx`` records
    (of ``source``, when given) are skipped. ``frames`` counts what was written. The
    caller opens and closes ``out`` (a binary file or buffer)."""

    def __init__(self, out: BinaryIO, *, epoch_s: int = DEFAULT_EPOCH_S,
                 macs: Mapping[str, str] | None = None, source: str | None = None) -> None:
        _check_epoch(epoch_s)
        self._out = out
        self._epoch_s = epoch_s
        self._macs = macs
        self._source = source
        self.frames = 0
        out.write(_FILE_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, DLT_EN10MB))

    def __call__(self, record: TraceRecord) -> None:
        if not is_link_tx(record, self._source):
            return
        sec, usec = _timestamp(record, self._epoch_s)
        frame = frame_bytes(record, self._macs)
        self._out.write(_FRAME_HEADER.pack(sec, usec, min(len(frame), SNAPLEN), len(frame)))
        self._out.write(frame[:SNAPLEN])
        self.frames += 1


def _write(records: Iterable[TraceRecord], out: BinaryIO, epoch_s: int,
           macs: Mapping[str, str] | None, source: str | None) -> int:
    stream = PcapStream(out, epoch_s=epoch_s, macs=macs, source=source)
    for record in records:
        stream(record)
    return stream.frames


def pcap_bytes(
    records: Iterable[TraceRecord],
    *,
    epoch_s: int = DEFAULT_EPOCH_S,
    macs: Mapping[str, str] | None = None,
    source: str | None = None,
) -> bytes:
    """The pcap file for ``records`` as bytes (see :func:`write_pcap`)."""
    out = io.BytesIO()
    _write(records, out, epoch_s, macs, source)
    return out.getvalue()


def write_pcap(
    records: Iterable[TraceRecord],
    path: str | Path,
    *,
    epoch_s: int = DEFAULT_EPOCH_S,
    macs: Mapping[str, str] | None = None,
    source: str | None = None,
) -> int:
    """Write the link ``tx`` records as a pcap file at ``path``; return the frame count.

    ``epoch_s`` is the capture time of virtual time 0. ``macs`` maps an IP to the MAC
    to use for it. ``source`` keeps only one link's records (e.g. ``"link.wan"``);
    by default every ``link``/``link.*`` source is captured.
    """
    _check_epoch(epoch_s)
    try:
        with open(path, "wb") as out:
            return _write(records, out, epoch_s, macs, source)
    except ValueError:
        Path(path).unlink(missing_ok=True)  # no half-written capture left behind
        raise


def tshark_decode_as(port: int, *, tls: bool | None = None) -> list[str]:
    """tshark arguments that dissect TCP ``port`` as SMTP or, for implicit TLS, as TLS.

    ``tls=None`` picks TLS for the implicit-TLS ports (465) and SMTP otherwise. SMTP
    with STARTTLS stays ``smtp``: the SMTP dissector hands over to TLS itself.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 0xFFFF:
        raise ValueError(f"port: expected 1..65535, got {port!r}")
    use_tls = port in IMPLICIT_TLS_PORTS if tls is None else tls
    return ["-d", f"tcp.port=={port},{'tls' if use_tls else 'smtp'}"]
