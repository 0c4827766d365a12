"""``body_exact`` on attachments: compared streamed (length and SHA-256 on both sides),
and exactly as strict as comparing ``get_payload(decode=True)`` with the bytes sent."""

from __future__ import annotations

import base64
import email.policy
from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from scenarios.format.expect import Expect
from scenarios.server.mailbox import ReceivedMail
from scenarios.verdict.bodies import decoded_digest, digest_of
from scenarios.verdict.serverchecks import body_problem
from smtp.message import Attachment, MailJob, MessageBuilder


def _part(body: str, cte: str = "base64") -> EmailMessage:
    text = ("Content-Type: application/octet-stream\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n{body}")
    parsed = email.message_from_string(text, _class=EmailMessage, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _reference(part: EmailMessage) -> tuple[int, str | None]:
    data = part.get_payload(decode=True)
    return digest_of([data]) if isinstance(data, bytes) else (0, None)


@given(data=st.binary(max_size=300), width=st.sampled_from([4, 60, 76, 1000]),
       damage=st.sampled_from(["none", "unpadded", "bad char", "inner pad", "non-ascii",
                               "bare cr", "space"]),
       where=st.integers(min_value=0, max_value=10_000))
def test_the_streamed_digest_is_that_of_the_email_packages_decoding(
        data: bytes, width: int, damage: str, where: int) -> None:
    encoded = base64.b64encode(data).decode()
    at = where % (len(encoded) + 1)
    if damage == "unpadded":
        encoded = encoded.rstrip("=")
    elif damage == "bad char":
        encoded = encoded[:at] + "!" + encoded[at:]
    elif damage == "inner pad":
        encoded = encoded[:at] + "==" + encoded[at:]
    elif damage == "non-ascii":
        encoded = encoded[:at] + "é" + encoded[at:]
    elif damage == "space":
        encoded = encoded[:at] + " " + encoded[at:]
    separator = "\r" if damage == "bare cr" else "\r\n"
    body = separator.join(encoded[i:i + width] for i in range(0, len(encoded), width))
    part = _part(body + "\r\n")
    assert decoded_digest(part) == _reference(part)


def test_a_long_payload_is_decoded_block_by_block_to_the_same_digest() -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB blocks of base64
    part = _part("\r\n".join(base64.encodebytes(data).decode().splitlines()) + "\r\n")
    assert decoded_digest(part) == digest_of([data]) == _reference(part)


def test_other_transfer_encodings_and_multiparts_go_through_the_email_package() -> None:
    part = _part("caf=C3=A9 =\r\nau lait\r\n", cte="quoted-printable")
    assert decoded_digest(part) == digest_of(["café au lait\r\n".encode()])
    multipart = EmailMessage()
    multipart.make_mixed()
    assert decoded_digest(multipart) == (0, None)


def _mail_with(attachment: bytes, sent: bytes) -> tuple[MailJob, ReceivedMail]:
    received = MailJob(sender="a@example.com", to=("b@example.net",), body="Hello\r\n",
                       attachments=(Attachment("dump.bin", "application/octet-stream",
                                               attachment),))
    content = MessageBuilder(received, date_header="Mon, 2 Jun 2025 00:00:00 +0000",
                             message_id_domain="example.com", message_id_seq=1,
                             boundary_seed=0).to_bytes()
    job = MailJob(sender="a@example.com", to=("b@example.net",), body="Hello\r\n",
                  attachments=(Attachment("dump.bin", "application/octet-stream", sent),))
    mail = ReceivedMail(sender="a@example.com", recipients=(), mail_params={},
                        content=content, via="BDAT")
    return job, mail


def test_an_attachment_one_byte_off_fails_body_exact_and_the_same_bytes_pass() -> None:
    expect = Expect(event="sent", body_exact=True)
    sent = bytes(range(256)) * 400
    job, mail = _mail_with(sent, sent)
    assert body_problem(expect, job, [mail]) is None
    off = sent[:-1] + b"\x00"
    job, mail = _mail_with(off, sent)
    assert body_problem(expect, job, [mail]) == (
        "attachment dump.bin: server received 102400 bytes differing from the 102400 sent")
    job, mail = _mail_with(sent + b"!", sent)
    assert body_problem(expect, job, [mail]) == (
        "attachment dump.bin: server received 102401 bytes differing from the 102400 sent")


def test_padding_at_the_end_of_a_block_with_more_after_it_is_the_email_packages_call() -> None:
    first = base64.b64encode(b"x" * 49_151).decode()  # 65,536 characters, ending in "="
    assert len(first) == 65_536 and first.endswith("=")
    part = _part(first + "QUJD\r\n")
    assert decoded_digest(part) == _reference(part)
