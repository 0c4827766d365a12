"""Tests of scenarios/server/engine.py: the verbs, framing, TLS and AUTH, observations.

A small pairing helper plays the client: it feeds bytes to the engine and reads back
what the engine asks to send. No network, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.server import replies as R
from scenarios.server.actions import Action, Close, Send, StartTls, sent_bytes
from scenarios.server.engine import ServerEngine, ehlo_name_acceptable
from scenarios.server.rules import ServerConfig, default_capabilities

HOST = "smtp.example.com"
NOW = datetime(2017, 6, 22, 12, 22, tzinfo=UTC)


class Wire:
    """The client end of a pairing: bytes in, the server's replies out (as text)."""

    def __init__(self, **config: Any) -> None:
        self.engine = ServerEngine(ServerConfig(**config))
        self.actions: list[Action] = []

    def connect(self) -> list[str]:
        return self._texts(self.engine.on_connect())

    def send(self, data: bytes, now: datetime | None = None) -> list[str]:
        """Feed ``data`` in one read; one string per Send, without the final CRLF."""
        return self._texts(self.engine.on_data(data, now))

    def send_bytewise(self, data: bytes, now: datetime | None = None) -> bytes:
        """Feed ``data`` one byte per read; everything the server wrote, joined."""
        out = b""
        for i in range(len(data)):
            actions = self.engine.on_data(data[i : i + 1], now)
            self.actions += actions
            out += sent_bytes(actions)
        return out

    def last(self) -> list[Action]:
        return self._last

    def _texts(self, actions: list[Action]) -> list[str]:
        self.actions += actions
        self._last = actions
        return [R.decode(a.data) for a in actions if isinstance(a, Send)]


def greeted(**config: Any) -> Wire:
    wire = Wire(**config)
    wire.connect()
    wire.send(b"EHLO client.example.org\r\n")
    return wire


def in_transaction(**config: Any) -> Wire:
    wire = greeted(**config)
    assert wire.send(b"MAIL FROM:<dev@example.org>\r\n") == [R.S250_SENDER_OK]
    assert wire.send(b"RCPT TO:<ops@example.net>\r\n") == [R.S250_RECIPIENT_OK]
    return wire


SESSION = (
    b"EHLO client.example.org\r\n"
    b"MAIL FROM:<dev@example.org> SIZE=64\r\n"
    b"RCPT TO:<ops@example.net>\r\n"
    b"DATA\r\n"
    b"Subject: t\r\n\r\n..leading dot\r\n.\r\n"
    b"QUIT\r\n"
)


# --- greeting, EHLO, HELO ----------------------------------------------------------------
def test_greeting_names_the_host() -> None:
    assert Wire().connect() == [R.greeting(HOST)] == [f"220 {HOST} ESMTP smtp-hil"]


def test_on_connect_twice_is_an_error() -> None:
    wire = Wire()
    wire.connect()
    with pytest.raises(ValueError, match="on_connect"):
        wire.connect()


def test_ehlo_lists_the_default_capabilities() -> None:
    wire = Wire()
    wire.connect()
    expected = R.ehlo_ok(HOST, default_capabilities(10 * 1024 * 1024, starttls=True))
    assert wire.send(b"EHLO client.example.org\r\n") == [expected]
    assert expected.startswith(f"250-{HOST}\r\n250-PIPELINING\r\n")
    assert wire.engine.observations.ehlo_names == ["client.example.org"]


def test_ehlo_with_configured_capabilities_and_helo() -> None:
    wire = Wire(capabilities=["SIZE 1000", "8BITMIME"])
    wire.connect()
    assert wire.send(b"EHLO a.example\r\n") == [R.ehlo_ok(HOST, ["SIZE 1000", "8BITMIME"])]
    assert wire.send(b"HELO b.example\r\n") == [R.helo_ok(HOST)]
    obs = wire.engine.observations
    assert obs.helo_used and obs.ehlo_names == ["a.example", "b.example"]
    assert wire.send(b"EHLO\r\n") == [R.S501_EHLO_SYNTAX]
    assert wire.send(b"HELO\r\n") == [R.S501_HELO_SYNTAX]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("client.example.com", True),
        ("[192.0.2.10]", True),
        ("[IPv6:2001:db8::1]", True),
        ("192.0.2.10", False),
        ("2001:db8::1", False),
        ("localhost", False),
        ("[999.1.1.1]", False),
        ("bad_name.example", False),
        ("host.123", False),
    ],
)
def test_ehlo_name_check(name: str, ok: bool) -> None:
    assert ehlo_name_acceptable(name) is ok


def test_strict_server_rejects_bare_ip_in_ehlo() -> None:
    wire = Wire(ehlo_reject_bare_ip=True)
    wire.connect()
    assert wire.send(b"EHLO 192.0.2.10\r\n") == [R.S501_EHLO_BARE_IP]
    assert wire.send(b"MAIL FROM:<a@example.org>\r\n") == [R.S503_HELO_FIRST]
    assert wire.send(b"EHLO [192.0.2.10]\r\n")[0].startswith("250-")
    assert wire.engine.observations.ehlo_names == ["192.0.2.10", "[192.0.2.10]"]


def test_lenient_server_accepts_bare_ip() -> None:
    wire = Wire()
    wire.connect()
    assert wire.send(b"EHLO 192.0.2.10\r\n")[0].startswith("250-")


# --- a whole transaction -------------------------------------------------------------------
def test_data_is_dot_unstuffed_and_stored_byte_exact() -> None:
    wire = in_transaction()
    assert wire.send(b"DATA\r\n") == [R.S354_START_DATA]
    content = (
        b"Date: Thu, 22 Jun 2017 12:22:00 +0000\r\nSubject: dots\r\n\r\n"
        b"..\r\n...two\r\n..leading\r\n\r\n\r\nafter blank lines\r\n"
    )
    assert wire.send(content + b".\r\n") == [R.queued_as("HIL000001")]
    (mail,) = wire.engine.mailbox
    assert mail.content == (
        b"Date: Thu, 22 Jun 2017 12:22:00 +0000\r\nSubject: dots\r\n\r\n"
        b".\r\n..two\r\n.leading\r\n\r\n\r\nafter blank lines\r\n"
    )
    assert mail.sender == "dev@example.org"
    assert mail.recipient_addresses == ["ops@example.net"]
    assert mail.via == "DATA" and mail.queue_id == "HIL000001"
    assert mail.header("subject") == "dots"
    assert mail.body == b".\r\n..two\r\n.leading\r\n\r\n\r\nafter blank lines\r\n"
    obs = wire.engine.observations
    assert obs.mail_count == 1 and obs.data_bytes == len(mail.content)
    assert obs.dot_stuffing_violations == []
    assert obs.date_headers == ["Thu, 22 Jun 2017 12:22:00 +0000"]


def test_unstuffed_leading_dot_is_noted() -> None:
    wire = in_transaction()
    wire.send(b"DATA\r\n")
    wire.send(b"line\r\n.hidden\r\n.\r\n")
    assert wire.engine.mailbox[0].content == b"line\r\nhidden\r\n"
    assert wire.engine.observations.dot_stuffing_violations == [b".hidden"]


def test_empty_content_and_first_line_dot() -> None:
    wire = in_transaction()
    wire.send(b"DATA\r\n")
    assert wire.send(b".\r\n") == [R.queued_as("HIL000001")]
    assert wire.engine.mailbox[0].content == b""


def test_smuggling_lookalikes_do_not_end_data() -> None:
    wire = in_transaction()
    wire.send(b"DATA\r\n")
    smuggled = b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@example.org>\r\n"
    assert wire.send(smuggled) == []
    assert wire.send(b".\r\n") == [R.queued_as("HIL000001")]
    assert wire.engine.mailbox[0].content == smuggled
    obs = wire.engine.observations
    assert obs.bare_lf_in_data and obs.data_line_endings.bare_lf == 2
    assert obs.eod_lookalikes == [b"hi\n.\nMAIL FROM:<evil@example.org>"]
    assert obs.commands == ["EHLO", "MAIL", "RCPT", "DATA"]


def test_whole_session_byte_by_byte_matches_one_read() -> None:
    one, split = Wire(), Wire()
    one.connect()
    split.connect()
    whole = sent_bytes(one.engine.on_data(SESSION))
    assert split.send_bytewise(SESSION) == whole
    assert one.engine.mailbox == split.engine.mailbox
    assert split.engine.mailbox[0].content == b"Subject: t\r\n\r\n.leading dot\r\n"
    assert split.engine.closed and not split.engine.observations.pipelined
    assert one.engine.observations.pipelined


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(SESSION) - 1), max_size=12))
def test_any_split_gives_the_same_replies_and_mail(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(SESSION)]
    wire = Wire()
    wire.connect()
    out = b"".join(
        sent_bytes(wire.engine.on_data(SESSION[a:b])) for a, b in itertools.pairwise(bounds)
    )
    reference = Wire()
    reference.connect()
    assert out == sent_bytes(reference.engine.on_data(SESSION))
    assert wire.engine.mailbox[0].content == b"Subject: t\r\n\r\n.leading dot\r\n"


def test_mail_and_rcpt_parameters_are_recorded() -> None:
    wire = greeted()
    mail = b"MAIL FROM:<d@example.org> SIZE=12 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314\r\n"
    assert wire.send(mail) == [R.S250_SENDER_OK]
    rcpt = b"RCPT TO:<o@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;o@example.net\r\n"
    assert wire.send(rcpt) == [R.S250_RECIPIENT_OK]
    wire.send(b"DATA\r\nSubject: p\r\n\r\nbody\r\n.\r\n")
    (received,) = wire.engine.mailbox
    assert received.mail_params == {
        "SIZE": "12",
        "BODY": "8BITMIME",
        "SMTPUTF8": None,
        "RET": "HDRS",
        "ENVID": "QQ314",
    }
    (recipient,) = received.recipients
    assert recipient.notify == ("SUCCESS", "FAILURE")
    assert recipient.orcpt == "rfc822;o@example.net"
    assert wire.engine.observations.used_without_advertisement == []
    assert wire.engine.observations.sizes[0].declared == 12


def test_unadvertised_extensions_are_noted() -> None:
    wire = greeted(capabilities=["8BITMIME"])
    wire.send(b"MAIL FROM:<d@example.org> SIZE=10 RET=FULL\r\n")
    wire.send(b"RCPT TO:<o@example.net> NOTIFY=NEVER\r\n")
    assert wire.engine.observations.used_without_advertisement == ["SIZE", "DSN"]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"MAIL FROM:d@example.org\r\n", R.S501_MAIL_SYNTAX),
        (b"MAIL TO:<d@example.org>\r\n", R.S501_MAIL_SYNTAX),
        (b"MAIL FROM:<d@example.org> SIZE=big\r\n", R.S501_BAD_PARAMETER),
        (b"MAIL FROM:<d@example.org> BODY=9BIT\r\n", R.S501_BAD_PARAMETER),
        (b"MAIL FROM:<d@example.org> XFOO=1\r\n", R.S555_UNSUPPORTED_PARAMETER),
        (b"MAIL FROM:<d@example.org> SIZE=99999999999\r\n", R.S552_SIZE_EXCEEDED),
    ],
)
def test_mail_from_errors(command: bytes, reply: str) -> None:
    wire = greeted()
    assert wire.send(command) == [reply]
    assert wire.send(b"RCPT TO:<o@example.net>\r\n") == [R.S503_NEED_MAIL]


def test_space_after_colon_is_accepted_and_noted() -> None:
    wire = greeted()
    assert wire.send(b"MAIL FROM: <d@example.org>\r\n") == [R.S250_SENDER_OK]
    assert wire.engine.observations.space_after_colon


def test_rcpt_errors_and_rejects() -> None:
    wire = greeted(rcpt_reject={"Gone@Example.net": R.S550_NO_SUCH_USER})
    assert wire.send(b"RCPT TO:<o@example.net>\r\n") == [R.S503_NEED_MAIL]
    wire.send(b"MAIL FROM:<d@example.org>\r\n")
    assert wire.send(b"RCPT TO:<>\r\n") == [R.S501_RCPT_SYNTAX]
    assert wire.send(b"RCPT TO:<o@example.net> NOTIFY=SOMETIMES\r\n") == [R.S501_BAD_PARAMETER]
    assert wire.send(b"RCPT TO:<gone@example.net>\r\n") == [R.S550_NO_SUCH_USER]
    assert wire.send(b"DATA\r\n") == [R.S503_NEED_RCPT]


def test_sequence_errors() -> None:
    wire = Wire()
    wire.connect()
    assert wire.send(b"MAIL FROM:<d@example.org>\r\n") == [R.S503_HELO_FIRST]
    assert wire.send(b"DATA\r\n") == [R.S503_HELO_FIRST]
    wire.send(b"EHLO c.example\r\n")
    assert wire.send(b"DATA\r\n") == [R.S503_NEED_MAIL]
    wire.send(b"MAIL FROM:<d@example.org>\r\n")
    assert wire.send(b"MAIL FROM:<d@example.org>\r\n") == [R.S503_NESTED_MAIL]
    assert wire.send(b"DATA now\r\n") == [R.S501_NO_ARGUMENTS]


def test_rset_noop_vrfy_etrn_unknown() -> None:
    wire = in_transaction(
        vrfy={"known@example.net": R.S250_VRFY_OK, "gone@example.net": R.S550_NO_SUCH_USER}
    )
    assert wire.send(b"RSET\r\n") == [R.S250_OK]
    assert wire.send(b"RCPT TO:<o@example.net>\r\n") == [R.S503_NEED_MAIL]
    assert wire.send(b"RSET now\r\n") == [R.S501_NO_ARGUMENTS]
    assert wire.send(b"NOOP\r\n") == [R.S250_OK]
    assert wire.send(b"VRFY <known@example.net>\r\n") == [R.S250_VRFY_OK]
    assert wire.send(b"VRFY gone@example.net\r\n") == [R.S550_NO_SUCH_USER]
    assert wire.send(b"VRFY who@example.net\r\n") == [R.S252_CANNOT_VRFY]
    assert wire.send(b"VRFY\r\n") == [R.S501_VRFY_SYNTAX]
    assert wire.send(b"ETRN example.org\r\n") == [R.S250_ETRN_STARTED]
    assert wire.send(b"ETRN\r\n") == [R.S501_ETRN_SYNTAX]
    assert wire.send(b"XYZZY\r\n") == [R.S500_UNKNOWN]
    assert wire.send(b"\r\n") == [R.S500_UNKNOWN]
    obs = wire.engine.observations
    assert obs.unknown_commands == ["XYZZY", ""]
    assert obs.commands[-3:] == ["ETRN", "XYZZY", ""]


def test_etrn_refused_per_config() -> None:
    wire = greeted(etrn_reply=R.S458_ETRN_UNABLE)
    assert wire.send(b"ETRN example.org\r\n") == [R.S458_ETRN_UNABLE]


def test_quit_replies_then_closes_and_ignores_the_rest() -> None:
    wire = greeted()
    assert wire.send(b"QUIT\r\nNOOP\r\n") == [R.S221_BYE]
    assert wire.last() == [Send(R.encode(R.S221_BYE)), Close()]
    assert wire.engine.closed
    assert wire.send(b"NOOP\r\n") == []
    assert wire.engine.observations.pipelining_violations == ["QUIT not last in group"]


def test_too_long_line_gets_500_and_the_session_goes_on() -> None:
    wire = greeted()
    assert wire.send(b"NOOP " + b"x" * 600) == [R.S500_LINE_TOO_LONG]
    assert wire.send(b"y" * 100 + b"\r\n") == []
    assert wire.send(b"NOOP\r\n") == [R.S250_OK]
    assert wire.send(b"VRFY " + b"z" * 520 + b"\r\nNOOP\r\n") == [R.S500_LINE_TOO_LONG, R.S250_OK]
    assert wire.engine.observations.lines_too_long == 2


def test_line_endings_in_commands_are_counted() -> None:
    wire = Wire()
    wire.connect()
    assert wire.send(b"EHLO c.example\n")[0].startswith("250-")
    wire.send(b"NOOP\r\nNO\rOP\r\n")
    counts = wire.engine.observations.command_line_endings
    assert (counts.crlf, counts.bare_lf, counts.bare_cr) == (2, 1, 1)


def test_on_close_mid_data_keeps_the_partial_content() -> None:
    wire = in_transaction()
    wire.send(b"DATA\r\nSubject: cut\r\n\r\npart")
    wire.engine.on_close("fin")
    obs = wire.engine.observations
    assert obs.close_reason == "fin" and obs.unfinished_content == b"Subject: cut\r\n\r\n"
    assert wire.engine.closed and wire.engine.mailbox == []


def test_transcript_has_reads_and_writes_in_order() -> None:
    wire = Wire()
    wire.connect()
    wire.send(b"NOOP\r\n")
    assert wire.engine.transcript == [
        ("S", R.encode(R.greeting(HOST))),
        ("C", b"NOOP\r\n"),
        ("S", R.encode(R.S250_OK)),
    ]


def test_require_auth() -> None:
    wire = greeted(require_auth=True)
    assert wire.send(b"MAIL FROM:<d@example.org>\r\n") == [R.S530_AUTH_REQUIRED]


# --- BDAT ----------------------------------------------------------------------------------
def test_bdat_takes_exact_byte_counts_without_unstuffing() -> None:
    wire = in_transaction()
    chunk1 = b"Subject: b\r\n\r\n.\r\n"
    chunk2 = b"..x\nbare lf\r\n"
    assert wire.send(b"BDAT %d\r\n" % len(chunk1) + chunk1) == [R.bdat_received(len(chunk1))]
    assert wire.send(b"BDAT %d LAST\r\n" % len(chunk2)) == []
    assert wire.send(chunk2[:5]) == []
    assert wire.send(chunk2[5:] + b"NOOP\r\n") == [R.queued_as("HIL000001"), R.S250_OK]
    (mail,) = wire.engine.mailbox
    assert mail.content == chunk1 + chunk2 and mail.via == "BDAT"
    assert wire.engine.observations.commands[-3:] == ["BDAT", "BDAT", "NOOP"]


def test_bdat_zero_last_and_sequence_errors() -> None:
    wire = greeted()
    assert wire.send(b"BDAT 3\r\nabc") == [R.S503_NEED_MAIL]
    wire.send(b"MAIL FROM:<d@example.org>\r\nRCPT TO:<o@example.net>\r\n")
    assert wire.send(b"BDAT 4\r\nab\r\n") == [R.bdat_received(4)]
    assert wire.send(b"DATA\r\n") == [R.S503_DATA_AFTER_BDAT]
    assert wire.send(b"BDAT x\r\n") == [R.S501_BDAT_SYNTAX]
    assert wire.send(b"BDAT 0 LAST\r\n") == [R.queued_as("HIL000001")]
    assert wire.engine.mailbox[0].content == b"ab\r\n"
    assert wire.send(b"BDAT 1 LAST\r\nz") == [R.S503_NEED_MAIL]


# --- pipelining and segmentation -----------------------------------------------------------
GROUP = b"MAIL FROM:<d@example.org>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"


def test_pipelined_group_gets_one_send_per_reply_by_default() -> None:
    wire = greeted()
    replies = wire.send(GROUP)
    assert replies == [R.S250_SENDER_OK, R.S250_RECIPIENT_OK, R.S250_RECIPIENT_OK]
    obs = wire.engine.observations
    assert obs.pipelined and not obs.pipelined_without_advertisement
    assert obs.pipelining_violations == []


def test_pipelined_group_coalesced_into_one_send() -> None:
    for config in ({"coalesce_replies": True}, {"segmentation": "coalesced"}):
        wire = greeted(**config)
        actions = wire.engine.on_data(GROUP)
        expected = R.S250_SENDER_OK, R.S250_RECIPIENT_OK, R.S250_RECIPIENT_OK
        assert actions == [Send(b"".join(R.encode(text) for text in expected))]


def test_pipelining_without_advertisement_and_group_rules() -> None:
    wire = greeted(capabilities=["8BITMIME"])
    wire.send(b"MAIL FROM:<d@example.org>\r\nRCPT TO:<a@example.net>\r\nDATA\r\nSubject: x\r\n")
    obs = wire.engine.observations
    assert obs.pipelined and obs.pipelined_without_advertisement
    assert obs.pipelining_violations == ["DATA not last in group"]
    assert "PIPELINING" in obs.used_without_advertisement


def test_byte_by_byte_segmentation_splits_every_write() -> None:
    wire = Wire(segmentation="byte_by_byte")
    actions = wire.engine.on_connect()
    banner = R.encode(R.greeting(HOST))
    assert actions == [Send(banner[i : i + 1]) for i in range(len(banner))]


# --- STARTTLS and TLS ----------------------------------------------------------------------
def test_starttls_discards_plaintext_sent_in_the_same_read() -> None:
    wire = greeted()
    assert wire.send(b"STARTTLS\r\nEHLO injected.example\r\n") == [R.S220_TLS_READY]
    assert wire.last()[-1] == StartTls()
    assert wire.send(b"MAIL FROM:<x@example.org>\r\n") == []
    obs = wire.engine.observations
    assert obs.plaintext_after_starttls == b"EHLO injected.example\r\nMAIL FROM:<x@example.org>\r\n"
    assert obs.pipelining_violations == ["STARTTLS not last in group"]
    assert wire.engine.on_tls_established("TLS_AES_256_GCM_SHA384", "TLSv1.3") == []
    assert (obs.tls_established, obs.tls_cipher, obs.tls_version) == (
        True,
        "TLS_AES_256_GCM_SHA384",
        "TLSv1.3",
    )
    assert obs.ehlo_names == ["client.example.org"]


def test_session_resets_after_tls_and_capabilities_change() -> None:
    wire = greeted(capabilities_tls=["AUTH LOGIN"])
    wire.send(b"STARTTLS\r\n")
    wire.engine.on_tls_established("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2")
    assert wire.send(b"MAIL FROM:<d@example.org>\r\n") == [R.S503_HELO_FIRST]
    assert wire.send(b"EHLO client.example.org\r\n") == [R.ehlo_ok(HOST, ["AUTH LOGIN"])]
    assert wire.send(b"STARTTLS\r\n") == [R.S503_TLS_ACTIVE]


def test_default_capabilities_after_tls_drop_starttls() -> None:
    wire = greeted()
    wire.send(b"STARTTLS\r\n")
    wire.engine.on_tls_established("c", "TLSv1.3")
    (reply,) = wire.send(b"EHLO client.example.org\r\n")
    assert "STARTTLS" not in reply and "AUTH PLAIN" in reply


def test_starttls_not_offered_then_commands_are_noted() -> None:
    wire = greeted(starttls=False)
    assert wire.send(b"STARTTLS\r\n") == [R.S502_NOT_IMPLEMENTED]
    wire.send(b"AUTH PLAIN AHUAcA==\r\nQUIT\r\n")
    obs = wire.engine.observations
    assert obs.commands_after_failed_starttls == ["AUTH", "QUIT"]
    assert "STARTTLS" in obs.used_without_advertisement


def test_tls_failure_closes_and_is_noted() -> None:
    wire = greeted()
    wire.send(b"STARTTLS\r\n")
    assert wire.engine.on_tls_failed("no shared cipher") == [Close()]
    assert wire.engine.observations.tls_failure == "no shared cipher"
    assert wire.engine.closed


def test_tls_established_without_request_is_an_error() -> None:
    wire = greeted()
    with pytest.raises(ValueError, match="did not ask for TLS"):
        wire.engine.on_tls_established("c", "v")


def test_implicit_tls_greets_after_the_handshake() -> None:
    wire = Wire(implicit_tls=True)
    assert wire.connect() == []
    assert wire.last() == [StartTls()]
    actions = wire.engine.on_tls_established("c", "TLSv1.3")
    assert actions == [Send(R.encode(R.greeting(HOST)))]
    (reply,) = wire.send(b"EHLO c.example\r\n")
    assert "STARTTLS" not in reply


# --- AUTH ----------------------------------------------------------------------------------
def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


CREDS = {"tim": "tanstaaftanstaaf", "user@example.com": "ya29.token"}


def test_auth_plain_initial_response() -> None:
    wire = greeted(credentials=CREDS)
    assert wire.send(b"AUTH PLAIN " + b64(b"\0tim\0tanstaaftanstaaf") + b"\r\n") == [R.S235_AUTH_OK]
    obs = wire.engine.observations
    assert obs.authenticated_user == "tim" and obs.auth_mechanisms == ["PLAIN"]
    assert obs.auth_in_plaintext
    assert wire.send(b"AUTH PLAIN =\r\n") == [R.S503_ALREADY_AUTHENTICATED]


def test_auth_plain_after_empty_challenge_and_failure() -> None:
    wire = greeted(credentials=CREDS)
    assert wire.send(b"AUTH PLAIN\r\n") == [R.S334_EMPTY]
    assert wire.send(b64(b"\0tim\0wrong") + b"\r\n") == [R.S535_AUTH_FAILED]
    assert wire.engine.observations.auth_failures == 1
    assert wire.send(b"NOOP\r\n") == [R.S250_OK]


def test_auth_login() -> None:
    wire = greeted(credentials=CREDS)
    assert wire.send(b"AUTH LOGIN\r\n") == [R.S334_USERNAME]
    assert wire.send(b64(b"tim") + b"\r\n") == [R.S334_PASSWORD]
    assert wire.send(b64(b"tanstaaftanstaaf") + b"\r\n") == [R.S235_AUTH_OK]
    assert wire.engine.observations.commands == ["EHLO", "AUTH"]


def test_auth_login_with_initial_user_and_wrong_password() -> None:
    wire = greeted(credentials=CREDS)
    assert wire.send(b"AUTH LOGIN " + b64(b"tim") + b"\r\n") == [R.S334_PASSWORD]
    assert wire.send(b64(b"nope") + b"\r\n") == [R.S535_AUTH_FAILED]


def test_auth_cram_md5_rfc_2195_vector() -> None:
    wire = greeted(credentials=CREDS)
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    assert wire.send(b"AUTH CRAM-MD5\r\n") == ["334 " + b64(challenge).decode()]
    # RFC 2195 section 2: user "tim", secret "tanstaaftanstaaf".
    response = b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    assert base64.b64decode(response) == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert wire.send(response + b"\r\n") == [R.S235_AUTH_OK]


def test_auth_cram_md5_wrong_digest_and_own_challenge() -> None:
    wire = greeted(credentials=CREDS, cram_md5_challenge="<42.1@smtp.example.com>")
    assert wire.send(b"AUTH CRAM-MD5\r\n") == ["334 " + b64(b"<42.1@smtp.example.com>").decode()]
    digest = hmac.new(b"tanstaaftanstaaf", b"<other>", hashlib.md5).hexdigest().encode()
    assert wire.send(b64(b"tim " + digest) + b"\r\n") == [R.S535_AUTH_FAILED]


def test_auth_anonymous() -> None:
    wire = greeted()
    assert wire.send(b"AUTH ANONYMOUS " + b64(b"trace") + b"\r\n") == [R.S235_AUTH_OK]
    refusing = greeted(allow_anonymous=False)
    assert refusing.send(b"AUTH ANONYMOUS\r\n") == [R.S334_EMPTY]
    assert refusing.send(b64(b"trace") + b"\r\n") == [R.S535_AUTH_FAILED]


def test_auth_xoauth2_success_and_failure() -> None:
    good = b"user=user@example.com\x01auth=Bearer ya29.token\x01\x01"
    wire = greeted(credentials=CREDS)
    assert wire.send(b"AUTH XOAUTH2 " + b64(good) + b"\r\n") == [R.S235_AUTH_OK]
    bad = b"user=user@example.com\x01auth=Bearer expired\x01\x01"
    wire = greeted(credentials=CREDS)
    assert wire.send(b"AUTH XOAUTH2 " + b64(bad) + b"\r\n") == [R.S334_XOAUTH2_ERROR]
    assert wire.send(b"\r\n") == [R.S535_AUTH_FAILED]
    assert wire.engine.observations.authenticated_user is None


def test_auth_errors() -> None:
    wire = Wire(credentials=CREDS)
    wire.connect()
    assert wire.send(b"AUTH PLAIN\r\n") == [R.S503_EHLO_FIRST]
    wire.send(b"EHLO c.example\r\n")
    assert wire.send(b"AUTH GSSAPI\r\n") == [R.S504_AUTH_MECHANISM]
    assert wire.send(b"AUTH PLAIN not-base64!\r\n") == [R.S501_AUTH_BAD_BASE64]
    assert wire.send(b"AUTH LOGIN\r\n") == [R.S334_USERNAME]
    assert wire.send(b"*\r\n") == [R.S501_AUTH_CANCELLED]
    assert wire.send(b"NOOP\r\n") == [R.S250_OK]
    assert greeted(capabilities=["SIZE"]).send(b"AUTH PLAIN\r\n") == [R.S503_AUTH_NOT_ENABLED]


def test_auth_inside_tls_is_not_plaintext() -> None:
    wire = greeted(credentials=CREDS)
    wire.send(b"STARTTLS\r\n")
    wire.engine.on_tls_established("c", "TLSv1.3")
    wire.send(b"EHLO c.example\r\n")
    assert wire.send(b"AUTH PLAIN " + b64(b"\0tim\0tanstaaftanstaaf") + b"\r\n") == [R.S235_AUTH_OK]
    assert not wire.engine.observations.auth_in_plaintext


# --- SIZE, Date, unsolicited data ----------------------------------------------------------
def test_content_over_max_size_is_refused() -> None:
    wire = in_transaction(max_size=10)
    wire.send(b"DATA\r\n")
    assert wire.send(b"0123456789abc\r\n.\r\n") == [R.S552_SIZE_EXCEEDED]
    obs = wire.engine.observations
    assert wire.engine.mailbox == [] and len(obs.refused_mail) == 1
    assert obs.sizes[0].declared is None and obs.sizes[0].actual == 15


def test_max_size_zero_is_no_fixed_maximum() -> None:
    """RFC 1870 4: "SIZE 0" advertises no fixed maximum, so a server with ``max_size = 0``
    takes any declared size and any content (it refused every mail with 552: found by
    smtp-hil explore, which shrank a pipelined-MAIL case to exactly this setting)."""
    wire = Wire(max_size=0)
    wire.connect()
    assert "SIZE 0" in wire.send(b"EHLO client.example.org\r\n")[0]
    assert wire.send(b"MAIL FROM:<dev@example.org> SIZE=5000\r\n") == [R.S250_SENDER_OK]
    assert wire.send(b"RCPT TO:<ops@example.net>\r\n") == [R.S250_RECIPIENT_OK]
    wire.send(b"DATA\r\n")
    assert wire.send(b"Subject: s\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\n") == [
        R.queued_as("HIL000001")]
    assert len(wire.engine.mailbox) == 1


def mail_with_date(wire: Wire, date: str | None, now: datetime) -> list[str]:
    header = b"" if date is None else b"Date: " + date.encode() + b"\r\n"
    for command in (b"MAIL FROM:<d@example.org>\r\n", b"RCPT TO:<o@example.net>\r\n", b"DATA\r\n"):
        wire.send(command, now)
    return wire.send(header + b"Subject: d\r\n\r\nx\r\n.\r\n", now)


def test_date_tolerance_against_the_given_now() -> None:
    wire = Wire(date_tolerance_hours=2)
    wire.engine.on_connect()
    wire.send(b"EHLO c.example\r\n", NOW)
    assert mail_with_date(wire, None, NOW) == [R.S554_DATE_MISSING]
    assert mail_with_date(wire, "Sat, 22 Jan 2000 12:22:00 +0000", NOW) == [
        R.S554_DATE_OUT_OF_RANGE
    ]
    assert mail_with_date(wire, "Thu, 22 Jun 2017 14:00:00 +0200", NOW) == [
        R.queued_as("HIL000001")
    ]
    later = NOW + timedelta(hours=3)
    assert mail_with_date(wire, "Thu, 22 Jun 2017 12:22:00 +0000", later) == [
        R.S554_DATE_OUT_OF_RANGE
    ]
    assert wire.engine.observations.date_headers == [
        None,
        "Sat, 22 Jan 2000 12:22:00 +0000",
        "Thu, 22 Jun 2017 14:00:00 +0200",
        "Thu, 22 Jun 2017 12:22:00 +0000",
    ]
    with pytest.raises(ValueError, match="now is required"):
        wire.send(b"NOOP\r\n")


def test_send_during_data_after_354_and_per_content_read() -> None:
    wire = in_transaction(send_during_data=b"250 unexpected\r\n", send_during_data_times=3)
    assert wire.send(b"DATA\r\n") == [R.S354_START_DATA, "250 unexpected"]
    assert wire.send(b"line one\r\n") == ["250 unexpected"]
    assert wire.send(b"line two\r\n") == ["250 unexpected"]
    assert wire.send(b"line three\r\n.\r\n") == [R.queued_as("HIL000001")]
    assert wire.engine.observations.send_during_data_count == 3
    assert wire.engine.mailbox[0].content == b"line one\r\nline two\r\nline three\r\n"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b"EHLO c.example\r\n",
                    b"MAIL FROM:<a@b.c>\r\n",
                    b"RCPT TO:<d@e.f>\r\n",
                    b"DATA\r\n",
                    b"BDAT 5 LAST\r\n",
                    b"AUTH PLAIN\r\n",
                    b"AUTH XOAUTH2\r\n",
                    b".\r\n",
                    b"STARTTLS\r\n",
                ]
            ),
        ),
        max_size=20,
    )
)
def test_arbitrary_client_bytes_never_raise(chunks: list[bytes]) -> None:
    wire = Wire(credentials=CREDS)
    wire.connect()
    for chunk in chunks:
        for action in wire.engine.on_data(chunk):
            assert not isinstance(action, Send) or action.data


def test_the_message_fed_in_blocks_is_the_message_parsed_at_once() -> None:
    """ReceivedMail.message feeds the parser 64 KiB at a time (a whole-content parse
    peaks at 7-8 times the content); the tree must be the one parsebytes gives, whatever
    the block boundaries cut (CR and LF of one line end apart, a boundary line, base64)."""
    import email.parser
    import email.policy
    from email.message import EmailMessage

    from scenarios.server import mailbox
    from scenarios.server.mailbox import ReceivedMail
    from scenarios.server.spool import MailContent

    base64_lines = b"".join(b"QUJD" * 19 + b"\r\n" for _ in range(4000))
    content = (b"From: a@example.com\r\nSubject: blocks\r\nMIME-Version: 1.0\r\n"
               b'Content-Type: multipart/mixed; boundary="=_b"\r\n\r\n'
               b"--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nline\rbare\nend\r\n"
               b"--=_b\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + base64_lines + b"--=_b--\r\n")
    whole = email.parser.BytesParser(_class=EmailMessage,
                                     policy=email.policy.default).parsebytes(content)
    for block in (1, 7, 65536):
        original = mailbox.PARSE_BLOCK
        mailbox.PARSE_BLOCK = block
        try:
            fed = ReceivedMail(sender="a@example.com", recipients=(), mail_params={},
                               stored=MailContent.of(content), via="DATA").message
        finally:
            mailbox.PARSE_BLOCK = original
        assert fed.as_bytes() == whole.as_bytes()
        assert [p.get_payload(decode=True) for p in fed.walk()] == \
            [p.get_payload(decode=True) for p in whole.walk()]
        assert [type(d) for d in fed.defects] == [type(d) for d in whole.defects]


def test_a_large_mail_is_spooled_and_read_back_as_it_came() -> None:
    """DATA content over the spool's memory limit goes to its file: the mailbox still
    gives the same bytes, headers, Date and size, and the verdict reads it in blocks."""
    from scenarios.server.spool import IN_MEMORY_LIMIT

    wire = in_transaction()
    head = b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\nSubject: big\r\n\r\n"
    body = b"".join(b".line %07d\r\n" % i for i in range(IN_MEMORY_LIMIT // 10))
    assert wire.send(b"DATA\r\n") == [R.S354_START_DATA]
    stuffed = (head + body).replace(b"\r\n.", b"\r\n..")
    replies = [r for at in range(0, len(stuffed), 65_536)
               for r in wire.send(stuffed[at:at + 65_536])]
    assert replies + wire.send(b".\r\n") == [R.queued_as("HIL000001")]
    (mail,) = wire.engine.mailbox
    assert not mail.stored.in_memory and mail.size == len(head) + len(body)
    assert mail.content == head + body and mail.header("Subject") == "big"
    assert mail.date_header == "Mon, 03 Jun 2024 10:00:00 +0000"
    assert mail.stored.sha256 == hashlib.sha256(head + body).hexdigest()


def test_bdat_line_ends_split_between_two_spool_blocks_are_not_bare() -> None:
    from scenarios.server.spool import READ_BLOCK

    wire = in_transaction()
    content = b"Subject: b\r\n\r\n" + b"x" * (READ_BLOCK - 15) + b"\r\nend\r\n"
    assert content[READ_BLOCK - 1:READ_BLOCK + 1] == b"\r\n"  # a CRLF over the boundary
    assert wire.send(b"BDAT %d LAST\r\n" % len(content) + content) == [
        R.queued_as("HIL000001")]
    obs = wire.engine.observations
    assert not obs.bare_cr_in_data and not obs.bare_lf_in_data
    wire = in_transaction()
    bare = content.replace(b"end\r\n", b"end\n")
    wire.send(b"BDAT %d LAST\r\n" % len(bare) + bare)
    assert wire.engine.observations.bare_lf_in_data
