"""Export the link's segment records as a classic pcap file (Ethernet/IPv4/TCP).

Input is trace records: every ``tx`` record of a ``link`` source (``link`` or
``link.<name>``) is one frame, built with scapy from the record's fields as
:meth:`stack.segment.Segment.trace_fields` writes them (``src``/``dst`` as
``"ip:port"``, ``seq``, ``ack``, ``flags`` letters ``SFRPA``, ``window``, ``mss``,
``ip_id``, ``payload`` as bytes or :class:`emulator.trace.Opaque` ciphertext). A
segment the link later drops still has its ``tx`` record: the sender transmitted it,
so it is in the capture; the extra ``drop`` record is not a frame of its own.

Timestamps are ``epoch_s`` plus the record's virtual ``t_us`` (microsecond precision).
MAC addresses are ``02:00:`` followed by the four IP bytes unless given. IP and TCP
checksums are computed by scapy. The file is a pure function of its input: little
endian, fixed snap length, no wall-clock field, so the same records give the same bytes
on every machine.

This module knows trace records and frame formats. It knows nothing about kernels,
sockets or how the segments were produced. scapy is imported on first use, with its
import-time warnings silenced.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from emulator.trace import FieldValue, Opaque, TraceKind, TraceRecord

DLT_EN10MB = 1  # pcap link type: Ethernet
SNAPLEN = 65535
DEFAULT_EPOCH_S = 1_700_000_000
LINK_SOURCE = "link"
TX_KIND: Final[TraceKind] = "tx"

_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_U32 = 0xFFFFFFFF

# Ports whose SMTP traffic is TLS from the first byte (implicit TLS, RFC 8314).
IMPLICIT_TLS_PORTS = frozenset({465})


def _scapy() -> Any:
    """Import the scapy layers we need, quietly (no route/IPv6 warnings at import)."""
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    logging.getLogger("scapy.loading").setLevel(logging.ERROR)
    # start-up: scapy takes about 230 ms to import (python -X importtime), and only a
    # pcap needs it; the loggers above must be quiet before it loads
    import scapy.layers.inet as inet
    import scapy.layers.l2 as l2
    import scapy.utils as utils

    return l2, inet, utils


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
    where = f"trace record at {record.t_us}us from {record.source}: field {name!r}"
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f"{where}: expected 'a.b.c.d:port', got {value!r}")
    host, _, port_text = value.rpartition(":")
    try:
        ip = str(ipaddress.IPv4Address(host))
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{where}: expected 'a.b.c.d:port', got {value!r}") from None
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"{where}: port {port} out of range 0..65535")
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
    raise ValueError(
        f"trace record at {record.t_us}us from {record.source}: field 'payload': "
        f"expected bytes or Opaque, got {type(value).__name__}"
    )


def _mss(record: TraceRecord) -> int | None:
    if record.get("mss") is None:
        return None
    return _int_field(record, "mss", 0xFFFF)


def _mac_for(ip: str, macs: Mapping[str, str] | None) -> str:
    if macs is not None and ip in macs:
        mac = macs[ip]
        if not isinstance(mac, str) or not _MAC_RE.match(mac):
            raise ValueError(f"macs[{ip!r}]: expected 'xx:xx:xx:xx:xx:xx', got {mac!r}")
        return mac.lower()
    return default_mac(ip)


def frame_bytes(record: TraceRecord, macs: Mapping[str, str] | None = None) -> bytes:
    """One link ``tx`` record as an Ethernet frame with correct IP and TCP checksums."""
    l2, inet, _ = _scapy()
    src_ip, src_port = _endpoint(record, "src")
    dst_ip, dst_port = _endpoint(record, "dst")
    mss = _mss(record)
    options = [("MSS", mss)] if mss is not None else []
    frame = (
        l2.Ether(src=_mac_for(src_ip, macs), dst=_mac_for(dst_ip, macs))
        / inet.IP(
            src=src_ip,
            dst=dst_ip,
            id=_int_field(record, "ip_id", 0xFFFF),
            ttl=64,
            flags="DF",
        )
        / inet.TCP(
            sport=src_port,
            dport=dst_port,
            seq=_int_field(record, "seq", _U32, wrap=True),
            ack=_int_field(record, "ack", _U32, wrap=True),
            flags=_flags(record),
            window=_int_field(record, "window", 0xFFFF),
            options=options,
        )
    )
    payload = _payload(record)
    if payload:
        frame = frame / payload
    return bytes(frame)


def _timestamp(record: TraceRecord, epoch_s: int) -> tuple[int, int]:
    if not isinstance(record.t_us, int) or record.t_us < 0:
        raise ValueError(
            f"trace record from {record.source}: t_us: expected a non-negative integer, "
            f"got {record.t_us!r}"
        )
    return epoch_s + record.t_us // 1_000_000, record.t_us % 1_000_000


def _write(
    records: Iterable[TraceRecord],
    out: io.BytesIO,
    epoch_s: int,
    macs: Mapping[str, str] | None,
    source: str | None,
) -> int:
    if not isinstance(epoch_s, int) or isinstance(epoch_s, bool) or epoch_s < 0:
        raise ValueError(f"epoch_s: expected a non-negative integer, got {epoch_s!r}")
    _, _, utils = _scapy()
    writer = utils.PcapWriter(
        out, linktype=DLT_EN10MB, endianness="<", nano=False, snaplen=SNAPLEN, sync=True
    )
    writer.write_header(None)
    count = 0
    for record in segment_records(records, source):
        sec, usec = _timestamp(record, epoch_s)
        # Raw bytes with an explicit time: scapy never falls back to the wall clock.
        writer.write_packet(frame_bytes(record, macs), sec=sec, usec=usec)
        count += 1
    return count


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
    out = io.BytesIO()
    count = _write(records, out, epoch_s, macs, source)
    Path(path).write_bytes(out.getvalue())
    return count


def tshark_decode_as(port: int, *, tls: bool | None = None) -> list[str]:
    """tshark arguments that dissect TCP ``port`` as SMTP or, for implicit TLS, as TLS.

    ``tls=None`` picks TLS for the implicit-TLS ports (465) and SMTP otherwise. SMTP
    with STARTTLS stays ``smtp``: the SMTP dissector hands over to TLS itself.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 0xFFFF:
        raise ValueError(f"port: expected 1..65535, got {port!r}")
    use_tls = port in IMPLICIT_TLS_PORTS if tls is None else tls
    return ["-d", f"tcp.port=={port},{'tls' if use_tls else 'smtp'}"]
