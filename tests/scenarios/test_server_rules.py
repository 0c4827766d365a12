"""Tests of scenarios/server/rules.py: rules as data, the matcher, the fault actions,
and each rule action applied by the engine."""

from __future__ import annotations

from typing import Any

import pytest

from scenarios.server import replies as R
from scenarios.server.actions import (
    Action,
    Close,
    Delay,
    DropTls,
    Reset,
    Send,
    Silence,
    StartTls,
    segment,
    sent_bytes,
)
from scenarios.server.engine import ServerEngine
from scenarios.server.rules import Rule, RuleBook, ServerConfig, apply_rule

HOST = "smtp.example.com"


def engine(*rules: Rule, **config: Any) -> ServerEngine:
    server = ServerEngine(ServerConfig(rules=list(rules), **config))
    server.on_connect()
    return server


def texts(actions: list[Action]) -> list[str]:
    return [R.decode(a.data) for a in actions if isinstance(a, Send)]


def ehlo(server: ServerEngine) -> None:
    server.on_data(b"EHLO client.example.org\r\n")


# --- Rule as data ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"verb": "MAIL FROM"}, "Rule.verb"),
        ({"verb": ""}, "Rule.verb"),
        ({"verb": "MAIL", "argument": "(unclosed"}, "Rule.argument"),
        ({"verb": "MAIL", "nth": 0}, "Rule.nth"),
        ({"verb": "MAIL", "times": -1}, "Rule.times"),
        ({"verb": "MAIL", "delay_us": -5}, "Rule.delay_us"),
        ({"verb": "MAIL", "action": "explode"}, "Rule.action"),
        ({"verb": "MAIL", "action": "close", "reply": "221 bye"}, "Rule.reply"),
        ({"verb": "MAIL", "action": "silent", "inject": "x"}, "Rule.inject"),
        ({"verb": "MAIL", "reply": ""}, "Rule.reply"),
        ({"verb": "MAIL", "transition": False}, "Rule.reply"),
        ({"verb": "MAIL", "action": "drop_tls"}, "Rule.drop_tls_mode"),
        ({"verb": "MAIL", "drop_tls_mode": "rst"}, "Rule.drop_tls_mode"),
        ({"verb": "MAIL", "trickle_delay_us": 5}, "Rule.trickle_delay_us"),
        ({"verb": "MAIL", "action": "drop_tls", "drop_tls_mode": "tcp_close", "inject": "x"},
         "Rule.inject: never sent with drop_tls_mode 'tcp_close'"),
        ({"verb": "MAIL", "action": "drop_tls", "drop_tls_mode": "rst", "inject": "x"},
         "Rule.inject: never sent with drop_tls_mode 'rst'"),
    ],
)
def test_bad_rules_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rule(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hostname": "two words"}, "ServerConfig.hostname"),
        ({"capabilities": "PIPELINING"}, "ServerConfig.capabilities"),
        ({"capabilities": ["SIZE\r\n250 X"]}, "ServerConfig.capabilities"),
        ({"credentials": {"u": 1}}, "ServerConfig.credentials"),
        ({"segmentation": "random"}, "ServerConfig.segmentation"),
        ({"max_size": -1}, "ServerConfig.max_size"),
        ({"rules": [{"verb": "MAIL"}]}, "ServerConfig.rules"),
        ({"send_during_data": ""}, "ServerConfig.send_during_data"),
    ],
)
def test_bad_config_names_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**fields)


def test_config_lists_become_tuples_and_tls_capabilities_default() -> None:
    config = ServerConfig(capabilities=["PIPELINING", "STARTTLS", "SIZE 5"])
    assert config.capabilities == ("PIPELINING", "STARTTLS", "SIZE 5")
    assert config.ehlo_capabilities(tls=True) == ("PIPELINING", "SIZE 5")
    assert "SIZE 10485760" in ServerConfig().ehlo_capabilities(tls=False)
    assert "STARTTLS" not in ServerConfig(starttls=False).ehlo_capabilities(tls=False)


def test_reply_encoding_normal_and_raw() -> None:
    assert Rule(verb="EHLO", reply="250-a\n250 b").reply_bytes() == b"250-a\r\n250 b\r\n"
    assert Rule(verb="EHLO", reply="250-a\r\n250 b\r\n").reply_bytes() == b"250-a\r\n250 b\r\n"
    assert Rule(verb="NOOP", reply="250 OK\n", raw=True).reply_bytes() == b"250 OK\n"
    assert (
        Rule(verb="NOOP", reply="250-\xff\x00\n250 ok").reply_bytes()
        == b"250-\xff\x00\r\n250 ok\r\n"
    )
    assert Rule(verb="NOOP", reply=b"250 x", raw=True).reply_bytes() == b"250 x"


def test_transition_defaults() -> None:
    assert Rule(verb="MAIL", delay_us=5).keeps_transition()
    assert Rule(verb="MAIL", reply="250 fine").keeps_transition()
    assert not Rule(verb="MAIL", reply="550 no").keeps_transition()
    assert not Rule(verb="MAIL", action="close").keeps_transition()
    assert Rule(verb="MAIL", reply="550 no", transition=True).keeps_transition()


# --- the matcher -----------------------------------------------------------------------------
def test_nth_and_times() -> None:
    book = RuleBook(
        [Rule(verb="RCPT", nth=2, reply="550 a"), Rule(verb="RCPT", nth=4, times=2, reply="550 b")]
    )
    fired = [book.match("RCPT", "TO:<x>", False) for _ in range(7)]
    assert [r.reply if r else None for r in fired] == [
        None,
        "550 a",
        None,
        "550 b",
        "550 b",
        None,
        None,
    ]


def test_times_without_nth_and_every_time() -> None:
    book = RuleBook([Rule(verb="NOOP", times=2, reply="250 a"), Rule(verb="NOOP", reply="250 b")])
    assert [r.reply for r in (book.match("NOOP", "", False) for _ in range(4)) if r] == [
        "250 a",
        "250 a",
        "250 b",
        "250 b",
    ]


def test_argument_regex_tls_filter_and_star() -> None:
    book = RuleBook(
        [
            Rule(verb="RCPT", argument=r"(?i)<bad@", reply="550 bad"),
            Rule(verb="EHLO", in_tls=True, action="ignore"),
            Rule(verb="*", reply="421 busy"),
        ]
    )
    assert book.match("RCPT", "TO:<BAD@example.net>", False) == Rule(
        verb="RCPT", argument=r"(?i)<bad@", reply="550 bad"
    )
    assert book.match("EHLO", "x", False) == Rule(verb="*", reply="421 busy")
    assert book.match("EHLO", "x", True) == Rule(verb="EHLO", in_tls=True, action="ignore")
    assert book.match("DATA_END", "", False) is None
    assert book.match("GREETING", "", False) is None


def test_counting_is_per_rule_even_when_an_earlier_rule_wins() -> None:
    book = RuleBook(
        [Rule(verb="MAIL", times=1, reply="451 a"), Rule(verb="MAIL", nth=2, reply="452 b")]
    )
    assert book.match("MAIL", "", False) == Rule(verb="MAIL", times=1, reply="451 a")
    assert book.match("MAIL", "", False) == Rule(verb="MAIL", nth=2, reply="452 b")


# --- apply_rule --------------------------------------------------------------------------------
def test_apply_rule_shapes() -> None:
    reply = b"250 ok\r\n"
    assert apply_rule(None, reply, [StartTls()]) == [Send(reply), StartTls()]
    assert apply_rule(Rule(verb="X", delay_us=7), reply, []) == [Delay(7), Send(reply)]
    trickled = apply_rule(Rule(verb="X", action="trickle", trickle_delay_us=3), b"ab\r\n", [])
    assert trickled == [
        Send(b"a"),
        Delay(3),
        Send(b"b"),
        Delay(3),
        Send(b"\r"),
        Delay(3),
        Send(b"\n"),
    ]
    assert apply_rule(Rule(verb="X", inject="x\r\n"), reply, []) == [Send(reply + b"x\r\n")]
    assert apply_rule(Rule(verb="X", action="reply_then_close"), reply, [Close()]) == [
        Send(reply),
        Close(),
    ]
    drop = Rule(verb="X", action="drop_tls", drop_tls_mode="close_notify", inject="250 OK\r\n")
    assert apply_rule(drop, reply, []) == [
        Send(reply),
        DropTls("close_notify"),
        Send(b"250 OK\r\n"),
    ]
    assert apply_rule(Rule(verb="X", action="ignore"), reply, [Close()]) == []
    assert apply_rule(Rule(verb="X", action="silent", delay_us=2), reply, []) == [
        Delay(2),
        Silence(),
    ]
    assert apply_rule(Rule(verb="X", action="close"), reply, []) == [Close()]
    assert apply_rule(Rule(verb="X", action="reset"), reply, []) == [Reset()]


def test_segment_keeps_other_actions_as_boundaries() -> None:
    actions: list[Action] = [Send(b"a"), Send(b"b"), Delay(1), Send(b"c"), StartTls()]
    assert segment(actions, "coalesced") == [Send(b"ab"), Delay(1), Send(b"c"), StartTls()]
    assert segment(actions, "normal") == actions
    assert segment([Send(b"xy")], "byte_by_byte") == [Send(b"x"), Send(b"y")]
    with pytest.raises(ValueError, match="segmentation"):
        segment(actions, "weird")  # type: ignore[arg-type]


# --- each action through the engine ------------------------------------------------------------
def test_greeting_override_and_silent_greeting() -> None:
    server = ServerEngine(
        ServerConfig(rules=[Rule(verb="GREETING", reply="554 No SMTP service here")])
    )
    assert texts(server.on_connect()) == ["554 No SMTP service here"]
    silent = ServerEngine(ServerConfig(rules=[Rule(verb="GREETING", action="silent")]))
    assert silent.on_connect() == [Silence()]
    assert silent.on_data(b"EHLO c.example\r\n") == []
    assert silent.transcript == [("C", b"EHLO c.example\r\n")]


def test_shared_rulebook_counts_across_connections() -> None:
    config = ServerConfig(rules=[Rule(verb="GREETING", nth=1, action="close")])
    book = RuleBook(config.rules)
    first, second = ServerEngine(config, book), ServerEngine(config, book)
    assert first.on_connect() == [Close()]
    assert texts(second.on_connect()) == [R.greeting(HOST)]
    assert ServerEngine(config).on_connect() == [Close()]


def test_rejected_mail_has_no_effect() -> None:
    server = engine(Rule(verb="MAIL", reply="550 5.7.1 Sender rejected"))
    ehlo(server)
    group = b"MAIL FROM:<d@example.org>\r\nRCPT TO:<o@example.net>\r\nDATA\r\n"
    assert texts(server.on_data(group)) == [
        "550 5.7.1 Sender rejected",
        R.S503_NEED_MAIL,
        R.S503_NEED_MAIL,
    ]


def test_custom_positive_reply_keeps_the_effect() -> None:
    server = engine(Rule(verb="MAIL", reply="250 sure"))
    ehlo(server)
    assert texts(server.on_data(b"MAIL FROM:<d@example.org>\r\n")) == ["250 sure"]
    assert texts(server.on_data(b"RCPT TO:<o@example.net>\r\n")) == [R.S250_RECIPIENT_OK]


def test_nth_recipient_rejected() -> None:
    server = engine(Rule(verb="RCPT", nth=2, reply="452 4.5.3 Too many recipients"))
    ehlo(server)
    group = (
        b"MAIL FROM:<d@e.org>\r\nRCPT TO:<a@e.net>\r\nRCPT TO:<b@e.net>\r\nRCPT TO:<c@e.net>\r\n"
    )
    assert texts(server.on_data(group))[1:] == [
        R.S250_RECIPIENT_OK,
        "452 4.5.3 Too many recipients",
        R.S250_RECIPIENT_OK,
    ]
    server.on_data(b"DATA\r\nx\r\n.\r\n")
    assert server.mailbox[0].recipient_addresses == ["a@e.net", "c@e.net"]


def test_starttls_reply_with_injected_bytes_in_the_same_write() -> None:
    inject = "250-example.org\r\n250 AUTH LOGIN\r\n"
    server = engine(Rule(verb="STARTTLS", reply="220 Ready to start TLS", inject=inject))
    ehlo(server)
    actions = server.on_data(b"STARTTLS\r\n")
    assert actions == [Send(b"220 Ready to start TLS\r\n" + inject.encode()), StartTls()]


def test_starttls_220_without_transition_stays_plaintext() -> None:
    server = engine(Rule(verb="STARTTLS", reply="220 EHLO client!", transition=False))
    ehlo(server)
    assert server.on_data(b"STARTTLS\r\n") == [Send(b"220 EHLO client!\r\n")]
    assert texts(server.on_data(b"\x16\x03\x01\x00\x05hello\r\n")) == [R.S500_UNKNOWN]


def test_starttls_refused_by_rule_and_commands_after_it() -> None:
    server = engine(Rule(verb="STARTTLS", reply="454 4.7.0 TLS not available"))
    ehlo(server)
    assert texts(server.on_data(b"STARTTLS\r\n")) == ["454 4.7.0 TLS not available"]
    server.on_data(b"MAIL FROM:<d@example.org>\r\nQUIT\r\n")
    assert server.observations.commands_after_failed_starttls == ["MAIL", "QUIT"]


def test_pipelined_fake_replies_after_starttls_curl_test980() -> None:
    fake = "454 currently unavailable\r\n235 Authenticated\r\n250 2.1.0 Sender ok\r\n"
    server = engine(Rule(verb="STARTTLS", reply=fake, raw=True))
    ehlo(server)
    assert sent_bytes(server.on_data(b"STARTTLS\r\n")) == fake.encode()
    assert server.observations.commands == ["EHLO", "STARTTLS"]


def test_data_end_refusal_keeps_mail_out_of_the_mailbox() -> None:
    server = engine(Rule(verb="DATA_END", reply="451 4.3.0 Try again later"))
    ehlo(server)
    out = server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\nDATA\r\nhello\r\n.\r\n")
    assert texts(out)[-1] == "451 4.3.0 Try again later"
    assert server.mailbox == []
    assert [m.content for m in server.observations.refused_mail] == [b"hello\r\n"]
    assert texts(server.on_data(b"RCPT TO:<o@e.net>\r\n")) == [R.S503_NEED_MAIL]


def test_data_end_argument_matches_content() -> None:
    server = engine(Rule(verb="DATA_END", argument="spam", reply="554 5.7.1 Looks like spam"))
    ehlo(server)
    for body, expected in (
        (b"spam spam\r\n", "554 5.7.1 Looks like spam"),
        (b"ham\r\n", R.queued_as("HIL000001")),
    ):
        out = server.on_data(
            b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\nDATA\r\n" + body + b".\r\n"
        )
        assert texts(out)[-1] == expected


def test_data_end_silent_never_answers() -> None:
    server = engine(Rule(verb="DATA_END", action="silent"))
    ehlo(server)
    out = server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n")
    assert out[-1] == Silence()
    assert server.on_data(b"QUIT\r\n") == []
    assert server.observations.mail_count == 1 and server.mailbox == []


def test_delay_before_the_data_end_reply() -> None:
    server = engine(Rule(verb="DATA_END", delay_us=600_000_000))
    ehlo(server)
    out = server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\nDATA\r\nx\r\n.\r\n")
    assert out[-2:] == [Delay(600_000_000), Send(R.encode(R.queued_as("HIL000001")))]
    assert len(server.mailbox) == 1


def test_trickled_ehlo_reply() -> None:
    server = engine(Rule(verb="EHLO", action="trickle", trickle_delay_us=30_000_000))
    out = server.on_data(b"EHLO c.example\r\n")
    sends = [a for a in out if isinstance(a, Send)]
    assert all(len(a.data) == 1 for a in sends)
    assert sent_bytes(out).startswith(b"250-smtp.example.com\r\n")
    assert out.count(Delay(30_000_000)) == len(sends) - 1
    assert server.session.advertises("PIPELINING")


def test_reply_then_close_and_close_and_reset() -> None:
    server = engine(Rule(verb="MAIL", reply="421 4.3.0 shutting down", action="reply_then_close"))
    ehlo(server)
    assert server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\n") == [
        Send(b"421 4.3.0 shutting down\r\n"),
        Close(),
    ]
    assert server.closed
    closing = engine(Rule(verb="RCPT", action="close"))
    ehlo(closing)
    assert closing.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\n")[-1:] == [Close()]
    resetting = engine(Rule(verb="DATA", action="reset"))
    ehlo(resetting)
    assert resetting.on_data(b"DATA\r\n") == [Reset()] and resetting.closed


def test_ignore_skips_one_command_and_serving_goes_on() -> None:
    server = engine(Rule(verb="EHLO", in_tls=True, action="ignore"))
    ehlo(server)
    server.on_data(b"STARTTLS\r\n")
    server.on_tls_established("c", "TLSv1.3")
    assert server.on_data(b"EHLO c.example\r\n") == []
    assert texts(server.on_data(b"NOOP\r\n")) == [R.S250_OK]
    assert not server.session.greeted


def test_drop_tls_close_notify_then_the_inject_and_nothing_more() -> None:
    rule = Rule(verb="MAIL", action="drop_tls", drop_tls_mode="close_notify", inject="250 OK\r\n")
    server = engine(rule)
    ehlo(server)
    server.on_data(b"STARTTLS\r\n")
    server.on_tls_established("c", "TLSv1.3")
    ehlo(server)
    # The pipelined rest of the group comes in the same read: after its close_notify the
    # server takes none of it (no reply, no mail).
    assert server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<a@b.org>\r\nBDAT 3 LAST\r\n"
                          b"x\r\n") == [
        Send(R.encode(R.S250_SENDER_OK)),
        DropTls("close_notify"),
        Send(b"250 OK\r\n"),
    ]
    assert not server.session.tls_active and server.closed
    assert server.on_data(b"RCPT TO:<a@b.org>\r\n") == []
    assert server.mailbox == [] and server.observations.commands == ["EHLO", "STARTTLS",
                                                                     "EHLO", "MAIL"]
    tcp = engine(
        Rule(
            verb="DATA",
            action="drop_tls",
            drop_tls_mode="tcp_close",
            transition=False,
            reply="354 go",
        )
    )
    assert tcp.on_data(b"DATA\r\n") == [Send(b"354 go\r\n"), DropTls("tcp_close")]
    assert tcp.closed
    # Outside TLS there is no close_notify to send: the session goes on.
    plain = engine(Rule(verb="MAIL", action="drop_tls", drop_tls_mode="close_notify"))
    ehlo(plain)
    assert plain.on_data(b"MAIL FROM:<d@e.org>\r\n") == [
        Send(R.encode(R.S250_SENDER_OK)), DropTls("close_notify")]
    assert not plain.closed
    assert texts(plain.on_data(b"RCPT TO:<a@b.org>\r\n")) == [R.S250_RECIPIENT_OK]


def test_ehlo_override_changes_what_counts_as_advertised() -> None:
    server = engine(
        Rule(verb="EHLO", reply="250-mx.example\n250 AUTH LOGIN"), credentials={"u": "p"}
    )
    assert texts(server.on_data(b"EHLO c.example\r\n")) == ["250-mx.example\r\n250 AUTH LOGIN"]
    assert server.session.advertised == ("AUTH LOGIN",)
    assert texts(server.on_data(b"AUTH PLAIN AHUAcA==\r\n")) == [R.S504_AUTH_MECHANISM]
    server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\n")
    assert server.observations.pipelined_without_advertisement


def test_endless_auth_challenges() -> None:
    server = engine(Rule(verb="AUTH_RESPONSE", reply="334 again", transition=False))
    ehlo(server)
    assert texts(server.on_data(b"AUTH LOGIN\r\n")) == [R.S334_USERNAME]
    for _ in range(3):
        assert texts(server.on_data(b"dXNlcg==\r\n")) == ["334 again"]
    assert texts(server.on_data(b"*\r\n")) == ["334 again"]
    assert server.observations.commands == ["EHLO", "AUTH"]


def test_bdat_rule_answers_the_last_chunk() -> None:
    server = engine(Rule(verb="BDAT", argument="LAST", reply="250 took it", transition=True))
    ehlo(server)
    out = server.on_data(b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\nBDAT 3 LAST\r\nabc")
    assert texts(out)[-1] == "250 took it"
    assert server.mailbox[0].content == b"abc" and server.mailbox[0].via == "BDAT"


def test_bdat_last_without_bdat_rule_uses_data_end_rules() -> None:
    server = engine(Rule(verb="DATA_END", reply="552 5.3.4 too big"))
    ehlo(server)
    out = server.on_data(
        b"MAIL FROM:<d@e.org>\r\nRCPT TO:<o@e.net>\r\nBDAT 2\r\nabBDAT 1 LAST\r\nc"
    )
    assert texts(out)[-2:] == [R.bdat_received(2), "552 5.3.4 too big"]
    assert server.mailbox == [] and server.observations.refused_mail[0].content == b"abc"


def test_raw_reply_with_bare_lf() -> None:
    server = engine(Rule(verb="NOOP", reply="250 OK\n", raw=True))
    assert server.on_data(b"NOOP\r\n") == [Send(b"250 OK\n")]


def test_client_cannot_speak_pseudo_verbs() -> None:
    server = engine(Rule(verb="GREETING", reply="554 go away", nth=2), Rule(verb="*", argument="x"))
    sent = b"GREETING\r\nDATA_END\r\nAUTH_RESPONSE x\r\n"
    assert texts(server.on_data(sent)) == [R.S500_UNKNOWN, R.S500_UNKNOWN, R.S500_UNKNOWN]
    assert server.observations.unknown_commands == ["GREETING", "DATA_END", "AUTH_RESPONSE"]


def test_star_rule_answers_every_command_line() -> None:
    server = engine(Rule(verb="*", reply="421 4.3.2 System not accepting network messages"))
    assert len(texts(server.on_data(b"EHLO c.example\r\nNOOP\r\nFOO\r\n"))) == 3
    assert server.observations.unknown_commands == ["FOO"]
