"""Reading a pcap or pcapng file with tshark: per-frame TCP/TLS fields and followed streams.

tshark (Wireshark's command line) does what a capture reader must get right and this
project does not hand-write: TCP reassembly in sequence order (retransmissions dropped),
STARTTLS and implicit TLS dissection, TLS 1.2/1.3 decryption with an NSS key log, pcap
and pcapng. Three calls, each returning plain data:

- :func:`frames`: one :class:`Frame` per TCP frame (``-T fields``): stream index, time,
  endpoints, relative seq/ack, length, flags, and the TLS record and handshake facts
  tshark decoded in it;
- :func:`follow_tcp`: the payload of one stream per segment (``-z follow,tcp,yaml``),
  each with its frame number;
- :func:`follow_tls`: the decrypted application data of one stream per TLS record
  (``-z follow,tls,yaml``); its peer table can be wrong, so directions are taken from
  the frame numbers by the caller.

Failures become :class:`~scenarios.capture.problems.CaptureError` lines that say what is
wrong with the file: not a capture, cut short, damaged; tshark missing. This module
knows tshark's options and output formats; it knows nothing about SMTP.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import yaml

from scenarios.capture.problems import CaptureError

TIMEOUT_S: Final = 600
_FIELDS: Final = (
    "frame.number", "tcp.stream", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport",
    "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.seq", "tcp.ack", "tcp.len", "tcp.flags",
    "tls.record.content_type", "tls.handshake.type", "tls.alert_message.desc",
    "tls.handshake.ciphersuite", "tls.handshake.extensions.supported_version",
    "tls.handshake.version", "tcp.options.mss_val", "tls.record.opaque_type",
)
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


@dataclass(frozen=True, slots=True)
class Frame:
    """One TCP frame as tshark decoded it (sequence numbers relative to each side's ISN)."""

    number: int
    stream: int
    t_us: int
    """Capture time, microseconds since the Unix epoch."""
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    length: int
    flags: int
    tls_content_types: tuple[int, ...] = ()
    tls_handshake_types: tuple[int, ...] = ()
    tls_alerts: tuple[int, ...] = ()
    tls_ciphersuites: tuple[int, ...] = ()
    tls_versions: tuple[int, ...] = ()
    """Versions from ``supported_versions`` (TLS 1.3) or else the handshake version."""
    mss: int | None = None
    """The MSS option (in SYN and SYN-ACK): the largest segment this side accepts."""

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def end_seq(self) -> int:
        """The sequence number right after this frame (SYN and FIN count one)."""
        return self.seq + self.length + int(self.has(SYN)) + int(self.has(FIN))


@dataclass(frozen=True, slots=True)
class FollowedChunk:
    """One piece of a followed stream: its frame, tshark's peer index and the bytes."""

    frame: int
    peer: int
    data: bytes


def tshark_path() -> str:
    found = shutil.which("tshark")
    if found is None:
        raise CaptureError("tshark is not installed: smtp-hil import reads pcap and pcapng "
                           "files with it (Debian: apt-get install tshark)")
    return found


def _preferences(keylog: Path | None, decode_as: Sequence[str]) -> list[str]:
    args = ["-o", "tcp.relative_sequence_numbers:TRUE", "-o", "tcp.analyze_sequence_numbers:TRUE"]
    if keylog is not None:
        args += ["-o", f"tls.keylog_file:{keylog}"]
    for rule in decode_as:
        args += ["-d", rule]
    return args


def _run(capture: Path, args: list[str]) -> str:
    command = [tshark_path(), "-n", "-r", str(capture), *args]
    env = {**os.environ, "LC_ALL": "C"}
    try:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        raise CaptureError(f"{capture}: tshark did not finish reading it within "
                           f"{TIMEOUT_S} s") from None
    except OSError as exc:
        raise CaptureError(f"cannot run tshark: {exc.strerror or exc}") from None
    _check_stderr(capture, done.stderr.decode("utf-8", "replace"), done.returncode)
    return done.stdout.decode("utf-8", "replace")


def _check_stderr(capture: Path, stderr: str, status: int) -> None:
    text = " ".join(line for line in stderr.splitlines() if "Running as user" not in line)
    if "isn't a capture file" in text or "unknown file format" in text.lower():
        raise CaptureError(f"{capture}: not a pcap or pcapng capture file: give the capture "
                           f"itself, or use --format transcript or --format swaks for a "
                           f"dialogue in text")
    if "cut short" in text:
        raise CaptureError(f"{capture}: the capture is truncated (cut short in the middle of "
                           f"a packet): copy the whole file again from where it was taken")
    if "damaged or corrupt" in text or "corrupted" in text:
        raise CaptureError(f"{capture}: the capture file is damaged ({_first_line(text)}): "
                           f"copy it again from where it was taken")
    if status != 0:
        raise CaptureError(f"{capture}: tshark cannot read it: {_first_line(text) or status}")


def _first_line(text: str) -> str:
    return text.strip().split("tshark: ")[-1].strip().rstrip(".")


def _ints(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if part:
            out.append(int(part, 0))
    return tuple(out)


def _time_us(text: str) -> int:
    try:
        return int((Decimal(text) * 1_000_000).to_integral_value())
    except InvalidOperation:
        raise CaptureError(f"tshark gave a frame time that is not a number: {text!r}") from None


def _frame(values: list[str]) -> Frame | None:
    record = dict(zip(_FIELDS, values, strict=False))
    if not record.get("tcp.stream"):
        return None
    versions = _ints(record.get("tls.handshake.extensions.supported_version", ""))
    return Frame(
        number=int(record["frame.number"]), stream=int(record["tcp.stream"]),
        t_us=_time_us(record["frame.time_epoch"]),
        src=(record.get("ip.src") or record.get("ipv6.src") or "?", int(record["tcp.srcport"])),
        dst=(record.get("ip.dst") or record.get("ipv6.dst") or "?", int(record["tcp.dstport"])),
        seq=int(record.get("tcp.seq") or 0), ack=int(record.get("tcp.ack") or 0),
        length=int(record.get("tcp.len") or 0), flags=int(record.get("tcp.flags") or "0", 0),
        # TLS 1.3 records show their outer type as opaque_type when not decrypted.
        tls_content_types=(_ints(record.get("tls.record.content_type", ""))
                           + _ints(record.get("tls.record.opaque_type", ""))),
        tls_handshake_types=_ints(record.get("tls.handshake.type", "")),
        tls_alerts=_ints(record.get("tls.alert_message.desc", "")),
        tls_ciphersuites=_ints(record.get("tls.handshake.ciphersuite", "")),
        tls_versions=versions or _ints(record.get("tls.handshake.version", "")),
        mss=int(record["tcp.options.mss_val"]) if record.get("tcp.options.mss_val") else None,
    )


def _parse_frames(text: str) -> list[Frame]:
    out = []
    for line in text.splitlines():
        if not line or not line[0].isdigit():
            continue
        frame = _frame(line.split("\t"))
        if frame is not None:
            out.append(frame)
    return out


def frames(capture: Path, *, keylog: Path | None = None,
           decode_as: Sequence[str] = ()) -> list[Frame]:
    """Every TCP frame of ``capture``, in file order."""
    args = [*_preferences(keylog, decode_as), "-T", "fields", "-E", "separator=/t",
            "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in _FIELDS:
        args += ["-e", name]
    return _parse_frames(_run(capture, args))


def _follow(capture: Path, kind: str, stream: int, keylog: Path | None,
            decode_as: Sequence[str]) -> list[FollowedChunk]:
    text = _run(capture, [*_preferences(keylog, decode_as), "-q",
                          "-z", f"follow,{kind},yaml,{stream}"])
    start = text.find("peers:")
    if start < 0:
        return []
    try:
        document: Any = yaml.load(text[start:], Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise CaptureError(f"{capture}: tshark's follow output is not YAML: {exc}") from None
    chunks = []
    for entry in (document or {}).get("packets") or []:
        data = entry.get("data", b"")
        if isinstance(data, str):
            data = data.encode("latin-1")
        chunks.append(FollowedChunk(int(entry["packet"]), int(entry["peer"]), bytes(data)))
    return chunks


def follow_tcp(capture: Path, stream: int, *, keylog: Path | None = None,
               decode_as: Sequence[str] = ()) -> list[FollowedChunk]:
    """The payload of TCP stream ``stream`` per segment, in sequence order."""
    return _follow(capture, "tcp", stream, keylog, decode_as)


def follow_tls(capture: Path, stream: int, *, keylog: Path | None,
               decode_as: Sequence[str] = ()) -> list[FollowedChunk]:
    """The decrypted application data of stream ``stream`` per TLS record."""
    return _follow(capture, "tls", stream, keylog, decode_as)


def handshake_facts(capture: Path, stream: int, *, keylog: Path | None,
                    decode_as: Sequence[str] = ()) -> tuple[bytes | None, str | None]:
    """The server's (first) certificate, DER, and the server name the client asked for
    (SNI) in TCP stream ``stream``, when tshark can read them (the certificate of TLS
    1.3 only with the key log's handshake secrets)."""
    text = _run(capture, [*_preferences(keylog, decode_as), "-Y", f"tcp.stream=={stream}",
                          "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
                          "-e", "tls.handshake.certificate",
                          "-e", "tls.handshake.extensions_server_name"])
    certificate = name = None
    for line in text.splitlines():
        values = line.split("\t")
        if len(values) < 2:
            continue
        if certificate is None and values[0]:
            try:
                certificate = bytes.fromhex(values[0].replace(":", ""))
            except ValueError:
                certificate = None
        if name is None and values[1]:
            name = values[1]
    return certificate, name
