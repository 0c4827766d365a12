"""Message building: headers round-trip through email's parser, Bcc stays out, injection is
refused naming the field, output is deterministic and large attachments stream."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from smtp.message import (
    CHUNK_LIMIT,
    Attachment,
    MailJob,
    MessageBuilder,
    MessageInputError,
    truncate_at_first_blank_line,
)

DATE = "Thu, 29 Feb 2024 23:59:59 +0000"


def build(job: MailJob, **kwargs: object) -> MessageBuilder:
    args: dict[str, object] = {"date_header": DATE, "message_id_domain": "device.example.com",
                               "message_id_seq": 7, "boundary_seed": 42}
    args.update(kwargs)
    return MessageBuilder(job, **args)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def simple_job(**kwargs: object) -> MailJob:
    fields: dict[str, object] = {"sender": "dev@example.com", "to": ("ops@example.com",),
                                 "subject": "Alarm", "body": "Pump 3 stopped.\n"}
    fields.update(kwargs)
    return MailJob(**fields)  # type: ignore[arg-type]


# --- headers ---------------------------------------------------------------------------


def test_headers_parse_back_to_the_same_values() -> None:
    job = simple_job(to=("a@example.com", "b@example.org"), cc=("c@example.com",),
                     bcc=("hidden@example.com",), reply_to=("desk@example.com",),
                     subject="Grüße vom Gerät: Temperatur über 80 °C", sender_name="Gerät 7")
    msg = parse(build(job).to_bytes())
    assert msg["From"].addresses[0].display_name == "Gerät 7"
    assert msg["From"].addresses[0].addr_spec == "dev@example.com"
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@example.com", "b@example.org"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["c@example.com"]
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["desk@example.com"]
    assert str(msg["Subject"]) == "Grüße vom Gerät: Temperatur über 80 °C"
    assert str(msg["Date"]) == DATE
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert not msg.defects


def test_header_order_and_raw_form() -> None:
    raw = build(simple_job()).to_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")
    names = [line.split(":", 1)[0] for line in head if not line.startswith(" ")]
    assert names == ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                     "Content-Type", "Content-Transfer-Encoding"]


def test_non_ascii_subject_is_rfc2047_encoded() -> None:
    raw = build(simple_job(subject="Störung")).to_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"Subject: =?utf-8?" in head


def test_bcc_never_appears_but_is_an_envelope_recipient() -> None:
    job = simple_job(bcc=("hidden@example.com",))
    raw = build(job).to_bytes()
    assert b"hidden" not in raw
    assert b"Bcc" not in raw
    assert job.envelope_recipients() == ("ops@example.com", "hidden@example.com")


def test_envelope_recipients_keep_order_and_drop_duplicates() -> None:
    job = simple_job(to=("a@x.example", "b@x.example"), cc=("a@X.EXAMPLE", "c@x.example"),
                     bcc=("b@x.example", "d@x.example"))
    assert job.envelope_recipients() == ("a@x.example", "b@x.example", "c@x.example",
                                         "d@x.example")


def test_only_bcc_recipients_leaves_out_the_to_header() -> None:
    job = simple_job(to=(), bcc=("hidden@example.com",))
    msg = parse(build(job).to_bytes())
    assert msg["To"] is None
    assert job.envelope_recipients() == ("hidden@example.com",)


def test_date_header_is_written_verbatim_even_when_wrong() -> None:
    buggy = "Thu, 00 Jan 2024 00:00:00 +0000"  # what a pre-2.4 release writes on 1 Dec
    raw = build(simple_job(), date_header=buggy).to_bytes()
    assert f"\r\nDate: {buggy}\r\n".encode() in raw


def test_message_id_is_derived_from_the_inputs() -> None:
    b = build(simple_job(), message_id_seq=12, message_id_domain="pump7.example.com")
    assert b.message_id.startswith("<12.")
    assert b.message_id.endswith("@pump7.example.com>")
    assert parse(b.to_bytes())["Message-ID"] == b.message_id
    other = build(simple_job(), message_id_seq=13, message_id_domain="pump7.example.com")
    assert other.message_id != b.message_id


def test_non_ascii_addresses_need_smtputf8_and_are_written_raw() -> None:
    job = simple_job(to=("jürgen@example.com",))
    assert job.needs_smtputf8
    b = build(job)
    assert b.needs_smtputf8
    assert "To: jürgen@example.com\r\n".encode() in b.to_bytes()
    assert not simple_job().needs_smtputf8


# --- body encodings --------------------------------------------------------------------


def test_line_ends_are_normalised_to_crlf() -> None:
    raw = build(simple_job(body="a\nb\rc\r\nd")).to_bytes()
    assert raw.endswith(b"\r\n\r\na\r\nb\r\nc\r\nd")
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert b"\r" not in body.replace(b"\r\n", b"")


def test_ascii_body_is_7bit_and_round_trips() -> None:
    b = build(simple_job(body="line 1\n\nline 3\n.\n"))
    assert b.text_transfer_encoding == "7bit"
    assert not b.needs_8bitmime
    assert parse(b.to_bytes()).get_content() == "line 1\r\n\r\nline 3\r\n.\r\n"


def test_non_ascii_body_is_quoted_printable_without_8bitmime() -> None:
    text = "Temperatur über 80 °C\nTabs\tand trailing space \n"
    b = build(simple_job(body=text))
    assert b.text_transfer_encoding == "quoted-printable"
    assert not b.needs_8bitmime
    raw = b.to_bytes()
    assert raw.isascii()
    assert parse(raw).get_content() == text.replace("\n", "\r\n")


def test_non_ascii_body_is_8bit_when_the_server_offers_8bitmime() -> None:
    text = "Temperatur über 80 °C\n"
    b = build(simple_job(body=text), eight_bit_ok=True)
    assert b.text_transfer_encoding == "8bit"
    assert b.needs_8bitmime
    assert parse(b.to_bytes()).get_content() == text.replace("\n", "\r\n")


def test_overlong_line_forces_quoted_printable_and_lines_stay_short() -> None:
    text = "x" * 2000 + "\nend"
    for eight_bit_ok in (False, True):
        b = build(simple_job(body=text), eight_bit_ok=eight_bit_ok)
        assert b.text_transfer_encoding == "quoted-printable"
        raw = b.to_bytes()
        assert max(len(line) for line in raw.split(b"\r\n")) <= 78
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert parse(raw).get_content() == text.replace("\n", "\r\n")


def test_exactly_998_octet_lines_stay_7bit() -> None:
    assert build(simple_job(body="y" * 998)).text_transfer_encoding == "7bit"


def test_a_line_is_bounded_by_any_line_end_kind() -> None:
    for before, after in (("a\r", "\nb"), ("a\n", "\rb"), ("a\r\n", ""), ("", "\r\n")):
        fits = build(simple_job(body=before + "y" * 998 + after))
        assert fits.text_transfer_encoding == "7bit", (before, after)
        too_long = build(simple_job(body=before + "y" * 999 + after))
        assert too_long.text_transfer_encoding == "quoted-printable", (before, after)


def test_bytes_body_with_nul_is_quoted_printable() -> None:
    b = build(simple_job(body=b"a\x00b\r\n"))
    assert b.text_transfer_encoding == "quoted-printable"
    assert parse(b.to_bytes()).get_payload(decode=True) == b"a\x00b\r\n"


# --- multipart -------------------------------------------------------------------------


def test_two_attachments_round_trip_byte_exact(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 700 + b"tail"
    on_disk = tmp_path / "Messwerte März.csv"
    on_disk.write_bytes(b"t,v\r\n" + b"0,1\r\n" * 40_000)

    def pieces() -> Iterator[bytes]:
        yield blob[:1]
        yield blob[1:100_000]
        yield blob[100_000:]

    job = simple_job(body="See attached.\n", attachments=(
        Attachment("dump.bin", "application/octet-stream", pieces),
        Attachment.from_path(on_disk)))
    b = build(job)
    raw = b.to_bytes()
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.get_boundary() == b.boundary
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/octet-stream",
                                                     "text/csv"]
    assert parts[0].get_content() == "See attached.\r\n"
    assert parts[1].get_filename() == "dump.bin"
    assert parts[1].get_payload(decode=True) == blob
    assert parts[2].get_filename() == "Messwerte März.csv"
    assert parts[2].get_payload(decode=True) == on_disk.read_bytes()
    assert b"filename*=utf-8''Messwerte%20M%C3%A4rz.csv" in raw
    assert not msg.defects and not any(p.defects for p in parts)


def test_base64_lines_are_76_characters() -> None:
    job = simple_job(attachments=(Attachment("a.bin", "application/octet-stream",
                                             b"\xff" * 100_000),))
    raw = build(job).to_bytes()
    part = raw.split(b"Content-Transfer-Encoding: base64\r\n\r\n", 1)[1]
    lines = part.split(b"\r\n--")[0].split(b"\r\n")
    assert all(len(line) == 76 for line in lines[:-1])
    assert 0 < len(lines[-1]) <= 76
    assert base64.b64decode(b"".join(lines)) == b"\xff" * 100_000


def test_empty_attachment_and_empty_body() -> None:
    job = simple_job(body="", attachments=(Attachment("empty.txt", "text/plain", b""),))
    parts = list(parse(build(job).to_bytes()).iter_parts())
    assert parts[0].get_content() == ""
    assert parts[1].get_payload(decode=True) == b""


def test_boundary_avoids_text_that_contains_it() -> None:
    first = build(simple_job(attachments=(Attachment("a", "text/plain", b"x"),))).boundary
    assert first is not None
    job = simple_job(body=f"--{first}\nquoted boundary\n",
                     attachments=(Attachment("a", "text/plain", b"x"),))
    b = build(job)
    assert b.boundary not in (None, first)
    parts = list(parse(b.to_bytes()).iter_parts())
    assert len(parts) == 2
    assert parts[0].get_content() == f"--{first}\r\nquoted boundary\r\n"


def test_output_is_deterministic() -> None:
    job = simple_job(attachments=(Attachment("a.bin", "application/octet-stream", b"abc"),))
    assert build(job).to_bytes() == build(job).to_bytes()
    assert build(job).to_bytes() != build(job, boundary_seed=43).to_bytes()


def test_large_attachment_streams_in_bounded_chunks_and_flat_memory() -> None:
    size = 20 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB

    def generate() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    job = simple_job(attachments=(Attachment("big.bin", "application/octet-stream", generate),))
    builder = build(job)
    digest = hashlib.sha256()
    total = largest = 0
    tracemalloc.start()
    try:
        for chunk in builder.chunks():
            largest = max(largest, len(chunk))
            total += len(chunk)
            digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert largest <= CHUNK_LIMIT
    assert total > size * 4 // 3
    assert peak < 4 * 1024 * 1024


def test_chunks_can_be_produced_twice() -> None:
    job = simple_job(attachments=(Attachment("a.bin", "application/octet-stream",
                                             lambda: iter([b"abc", b"def"])),))
    b = build(job)
    assert b.to_bytes() == b.to_bytes()


def test_from_path_guesses_type_and_reads_lazily(tmp_path: Path) -> None:
    path = tmp_path / "report.PDF"
    att = Attachment.from_path(path)  # the file need not exist until the mail is built
    assert (att.filename, att.content_type) == ("report.PDF", "application/pdf")
    path.write_bytes(b"%PDF")
    assert b"".join(att.iter_content()) == b"%PDF"
    assert Attachment.from_path(tmp_path / "x.unknownext").content_type == \
        "application/octet-stream"


# --- refused input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subject": "hi\r\nBcc: victim@example.com"}, "subject: contains a line break"),
        ({"subject": "hi\nthere"}, "subject: contains a line break"),
        ({"subject": "hi\rthere"}, "subject: contains a line break"),
        ({"subject": "hi\u2028there"}, "subject: contains a line break"),
        ({"subject": "hi\x00"}, "subject: contains a NUL byte"),
        ({"sender_name": "Dev\r\nBcc: v@example.com"}, "sender_name: contains a line break"),
        ({"to": ("ok@example.com", "a@example.com\r\nRCPT TO:<v@example.com>")},
         r"to\[1\]: contains a line break"),
        ({"cc": ("a@example.com\n",)}, r"cc\[0\]: contains a line break"),
        ({"bcc": ("a\x00@example.com",)}, r"bcc\[0\]: contains a NUL byte"),
        ({"sender": "dev@example.com\r"}, "sender: contains a line break"),
        ({"reply_to": ("Desk <desk@example.com>",)},
         r"reply_to\[0\]: expected an address local@domain"),
        ({"to": ("no-at-sign",)}, r"to\[0\]: expected an address local@domain"),
        ({"to": ("a..b@example.com",)}, r"to\[0\]: expected an address"),
        ({"to": ("x" * 65 + "@example.com",)}, r"to\[0\]: local part longer than 64"),
        ({"to": "ops@example.com"}, "to: expected a tuple of addresses, got str"),
        ({"to": ()}, "to: expected at least one recipient"),
        ({"attachments": (Attachment("a\r\nb.txt", "text/plain", b""),)},
         r"attachments\[0\].filename: contains a line break"),
        ({"attachments": (Attachment("a.txt", "text/plain\r\nX: y", b""),)},
         r"attachments\[0\].content_type: contains a line break"),
        ({"attachments": (Attachment("a.txt", "text", b""),)},
         r"attachments\[0\].content_type: expected type/subtype"),
        ({"dsn_notify": ("SUCCESS", "NEVER")}, "dsn_notify: NEVER cannot be combined"),
        ({"dsn_notify": ("SOMETIMES",)}, r"dsn_notify\[0\]: expected one of NEVER"),
        ({"dsn_ret": "ALL"}, "dsn_ret: expected FULL or HDRS"),
        ({"dsn_envid": "id\r\n"}, "dsn_envid: contains a line break"),
        ({"dsn_envid": "x" * 101}, "dsn_envid: expected up to 100"),
    ],
)
def test_bad_job_is_refused_naming_the_field(fields: dict[str, object], message: str) -> None:
    job = simple_job(**fields)
    with pytest.raises(MessageInputError, match=message):
        job.validate()
    with pytest.raises(MessageInputError, match=message):
        build(job)


def test_every_problem_is_listed_one_per_line() -> None:
    job = simple_job(subject="a\nb", to=("x\r@example.com",), dsn_ret="NO")
    with pytest.raises(MessageInputError) as info:
        job.validate()
    assert str(info.value).splitlines() == [
        "to[0]: contains a line break", "subject: contains a line break",
        "dsn_ret: expected FULL or HDRS, got 'NO'"]


def test_valid_job_passes() -> None:
    job = simple_job(to=("a@[192.0.2.1]", "o'brien+tag@mail.example.com"),
                     dsn_notify=("SUCCESS", "FAILURE"), dsn_ret="HDRS", dsn_envid="job-1",
                     dsn_orcpt=True)
    job.validate()
    msg = parse(build(job).to_bytes())
    assert [a.addr_spec for a in msg["To"].addresses] == list(job.to)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"date_header": "Thu\r\nBcc: x"}, "date_header: contains a line break"),
        ({"date_header": ""}, "date_header: expected a non-empty string"),
        ({"message_id_domain": "a b"}, "message_id_domain: expected an ASCII domain"),
        ({"message_id_domain": "dev>x"}, "message_id_domain"),
        ({"message_id_seq": -1}, "message_id_seq: expected an integer >= 0"),
        ({"boundary_seed": "7"}, "boundary_seed: expected an integer >= 0"),
    ],
)
def test_bad_builder_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MessageInputError, match=message):
        build(simple_job(), **kwargs)


def test_non_bytes_chunk_from_a_source_is_refused() -> None:
    job = simple_job(attachments=(Attachment("a", "text/plain",
                                             lambda: iter(["text"])),))  # type: ignore[list-item]
    with pytest.raises(MessageInputError, match=r"attachments\[0\].source: expected chunks"):
        build(job).to_bytes()


# --- the pre-2.5 truncation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"Hello\r\n\r\nSecond paragraph\r\n", b"Hello\r\n"),
        (b"Hello\n\nSecond", b"Hello\r\n"),
        (b"a\r\nb\r\n\nc", b"a\r\nb\r\n"),
        (b"a\r\rb", b"a\r\n"),
        (b"no blank line\r\nat all", b"no blank line\r\nat all"),
        (b"\r\nstarts blank", b""),
        (b"", b""),
        (b"line with spaces\r\n  \r\nkept", b"line with spaces\r\n  \r\nkept"),
    ],
)
def test_truncate_at_first_blank_line(body: bytes, expected: bytes) -> None:
    assert truncate_at_first_blank_line(body) == expected


def test_truncated_job_still_builds() -> None:
    job = simple_job(body=b"Alarm\r\n\r\nDetails follow")
    cut = replace(job, body=truncate_at_first_blank_line(b"Alarm\r\n\r\nDetails follow"))
    assert parse(build(cut).to_bytes()).get_content() == "Alarm\r\n"
    assert parse(build(job).to_bytes()).get_content() == "Alarm\r\n\r\nDetails follow"


def test_address_character_classes_are_the_rfc_sets_for_every_code_point() -> None:
    """The classes are written as the ASCII characters they leave out (a class spanning
    U+10FFFF costs 25 ms to compile at start-up); they must be exactly atext plus
    non-ASCII, letters and digits plus non-ASCII, and that plus the hyphen."""
    import re

    import smtp.message as message

    pairs = [
        (message._ATOM.rstrip("+"), r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]"),
        (message._LET_DIG, r"[A-Za-z0-9\u0080-\U0010ffff]"),
        (message._LET_DIG_HYPHEN, r"[A-Za-z0-9\u0080-\U0010ffff-]"),
    ]
    for written, meant in pairs:
        ours, reference = re.compile(written), re.compile(meant)
        differ = [hex(c) for c in range(0x110000)
                  if bool(ours.fullmatch(chr(c))) != bool(reference.fullmatch(chr(c)))]
        assert differ == [], (written, differ[:5])
