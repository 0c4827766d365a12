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
from scenarios.server.spool import MailContent
from scenarios.verdict.bodies import decoded_digest, digest_of, received_text_body
from scenarios.verdict.mimeskeleton import Skeleton, full_payload, skeleton
from scenarios.verdict.serverchecks import body_problem
from smtp.message import Attachment, MailJob, MessageBuilder


def _text(body: str, cte: str = "base64") -> bytes:
    return ("Content-Type: application/octet-stream\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n{body}").encode()


def _part(body: str, cte: str = "base64") -> tuple[Skeleton, EmailMessage]:
    shape = skeleton(_text(body, cte))
    return shape, shape.message


def _reference(body: str, cte: str = "base64") -> tuple[int, str | None]:
    parsed = email.message_from_bytes(_text(body, cte), _class=EmailMessage,
                                      policy=email.policy.default)
    data = parsed.get_payload(decode=True)
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
    shape, part = _part(body + "\r\n")
    assert decoded_digest(part, shape) == _reference(body + "\r\n")


def test_a_long_payload_is_decoded_block_by_block_to_the_same_digest() -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB blocks of base64
    body = "\r\n".join(base64.encodebytes(data).decode().splitlines()) + "\r\n"
    shape, part = _part(body)
    assert len(shape.runs) == 1  # the 4,500 lines stood in for by one marker
    assert decoded_digest(part, shape) == digest_of([data]) == _reference(body)


def test_other_transfer_encodings_and_multiparts_go_through_the_email_package() -> None:
    shape, part = _part("caf=C3=A9 =\r\nau lait\r\n", cte="quoted-printable")
    assert decoded_digest(part, shape) == digest_of(["café au lait\r\n".encode()])
    multipart = EmailMessage()
    multipart.make_mixed()
    assert decoded_digest(multipart, shape) == (0, None)


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
                        stored=MailContent.of(content), via="BDAT")
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
    shape, part = _part(first + "QUJD\r\n")
    assert decoded_digest(part, shape) == _reference(first + "QUJD\r\n")


_LINES = st.one_of(
    st.just("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="),          # base64-alphabet lines
    st.just("AAAA"), st.just("+/+/"),
    st.just("plain text: with a colon"), st.just(""), st.just(" folded"),
    st.just("--b1"), st.just("--b1--"), st.just("--b2"), st.just("--b2--"),
    st.just("Content-Type: multipart/mixed; boundary=b2"),
    st.just("Content-Type: application/octet-stream"),
    st.just("Content-Transfer-Encoding: base64"),
)


@given(lines=st.lists(st.tuples(_LINES, st.integers(min_value=1, max_value=40)), max_size=12),
       ending=st.sampled_from(["\r\n", "\n"]))
def test_the_skeleton_parses_to_the_tree_the_whole_content_gives(
        lines: list[tuple[str, int]], ending: str) -> None:
    """Any mix of base64 runs, boundaries (of two nestings), headers and text: the
    skeleton's tree, runs put back, is the email package's tree of the content."""
    head = ["Subject: x", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=b1",
            "", "--b1", "Content-Type: text/plain", ""]
    body = [line for line, times in lines for _ in range(times)]
    content = ending.join(head + body + ["--b1--", ""]).encode()
    whole = email.message_from_bytes(content, _class=EmailMessage, policy=email.policy.default)
    shape = skeleton(content)
    parts, expected = list(shape.message.walk()), list(whole.walk())
    assert len(parts) == len(expected)
    for part, want in zip(parts, expected, strict=True):
        assert part.get_content_type() == want.get_content_type()
        assert part.is_multipart() == want.is_multipart()
        assert [type(d) for d in part.defects] == [type(d) for d in want.defects]
        if not part.is_multipart():
            full_payload(shape, part)
            assert part.get_payload() == want.get_payload()


def test_a_mail_with_a_large_attachment_is_judged_from_its_skeleton() -> None:
    """The text body and the attachment as the email package gives them from the whole
    content, but the skeleton holds one marker for the attachment's lines."""
    sent = bytes(range(256)) * 2000
    _job, mail = _mail_with(sent, sent)
    shape = skeleton(mail.content)
    assert len(shape.runs) == 1 and len(shape.message.as_bytes()) < 2000
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    assert received_text_body(mail, shape) == received_text_body(mail) == (
        text.get_payload(decode=True)) == b"Hello\r\n"
    attachment = next(iter(shape.message.iter_attachments()))
    assert decoded_digest(attachment, shape) == digest_of([sent])
