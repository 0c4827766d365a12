"""scenarios/server/readpolicy.py: a read-only parse with READ_POLICY reads exactly as
one with ``email.policy.default``, and makes each header object once."""

from __future__ import annotations

import email.parser
import email.policy
from email.message import EmailMessage

from scenarios.server.readpolicy import LONGEST, READ_POLICY

MAIL = (b"From: Pump 7 <pump7@example.com>\r\n"
        b"To: ops@example.net, \"Night, shift\" <night@example.net>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from pump 7\r\n"
        b"Date: Tue, 29 Feb 2028 23:59:59 -0000\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Pressure: nominal=0D=0A.dot line\r\n\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=\"log.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"AAECAwQF\r\n--b1--\r\n")


def _parse(policy: email.policy.EmailPolicy) -> EmailMessage:
    message = email.parser.BytesParser(_class=EmailMessage, policy=policy).parsebytes(MAIL)
    assert isinstance(message, EmailMessage)
    return message


def _reading(message: EmailMessage) -> list[object]:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return [
        [(k, str(v)) for k, v in message.items()],
        str(message["Subject"]), message["To"].addresses, message["Date"].datetime,
        [p.get_content_type() for p in message.walk()],
        [str(d) for p in message.walk() for d in p.defects],
        body.get_payload(decode=True),
        [(a.get_filename(), a.get_payload(decode=True)) for a in message.iter_attachments()],
    ]


def test_a_mail_reads_the_same_as_with_the_default_policy() -> None:
    assert _reading(_parse(READ_POLICY)) == _reading(_parse(email.policy.default))
    # read again from the remembered headers: still the same
    assert _reading(_parse(READ_POLICY)) == _reading(_parse(email.policy.default))


def test_each_header_object_is_made_once_and_long_ones_every_time() -> None:
    factory = READ_POLICY.header_factory
    assert factory("Subject", "hello") is factory("Subject", "hello")
    assert factory("Subject", "hello") is not factory("subject", "hello")
    long = "x" * (LONGEST + 1)
    assert factory("Subject", long) is not factory("Subject", long)
    assert factory("Subject", long) == email.policy.default.header_factory("Subject", long)
