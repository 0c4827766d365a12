"""What a server says never crashes the client core (smtp/client.py) and is only taken
as success when RFC 5321 says so.

Each test pairs the core with the scripted server engine in memory (``Pair`` of
test_client_core.py) and has the server say something odd: the client must end the job
with one of its documented events, never raise, and never take a reply for a success
its command does not allow (RFC 5321 4.3.2). The fuzz test of the same boundary is
tests/scenarios/test_replyfuzz.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from scenarios.server.rules import Rule, ServerConfig
from smtp.events import ClientError, CommandAbort, ErrorKind, RecipientRejected, Sent
from smtp.outputs import SendContent
from smtp.profiles import PROFILE_NAMES


def _sibling(name: str) -> ModuleType:
    """A module next to this file (test directories are not packages)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_client_server_input_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from test_client_core import Pair, mail
else:
    _pairing = _sibling("test_client_core")
    Pair, mail = _pairing.Pair, _pairing.mail

HOST = "smtp.example.com"
RELEASES_WITH_SIZE = [name for name in PROFILE_NAMES if name != "1.0"]


@pytest.mark.parametrize("profile", RELEASES_WITH_SIZE)
@pytest.mark.parametrize("param", ["\u00b2", "1\u00b2", "\u00b3\u00b9"])
def test_a_size_parameter_of_non_ascii_digits_is_ignored_and_the_mail_goes(
        profile: str, param: str) -> None:
    # The latin-1 superscripts are digits to str.isdigit() but not to int().
    server = ServerConfig(hostname=HOST, capabilities=("PIPELINING", f"SIZE {param}"))
    pair = Pair([mail()], server=server, profile=profile).run()
    assert [type(e) for e in pair.terminal] == [Sent]
    assert len(pair.mailbox) == 1


# ---- RFC 5321 4.3.2: only the success codes of each command are success --------------

PLAIN = ("SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES")
"""No PIPELINING and no CHUNKING: one command at a time, content with DATA."""


def run_with(*rules: Rule, capabilities: tuple[str, ...] = PLAIN, profile: str = "current",
             jobs: int = 1) -> Pair:
    server = ServerConfig(hostname=HOST, capabilities=capabilities, rules=rules)
    return Pair([mail() for _ in range(jobs)], server=server, profile=profile).run()


def abort(pair: Pair) -> CommandAbort:
    (event,) = pair.terminal
    assert isinstance(event, CommandAbort), event
    return event


ALL_PROFILES = list(PROFILE_NAMES)


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("reply", ["220 mx.example.net HELO client!", "251 ok", "221 bye"])
def test_a_helo_answered_with_anything_but_250_is_not_a_greeting(profile: str,
                                                                 reply: str) -> None:
    # hostile-servers.md row 12 (EAST): EHLO 500, then HELO 220.
    pair = run_with(Rule("EHLO", reply="500 5.5.2 Error: command not recognized"),
                    Rule("HELO", reply=reply), profile=profile)
    event = abort(pair)
    assert (event.command, str(event.reply)) == ("HELO", reply)
    assert pair.commands[:2] == ["EHLO", "HELO"]
    assert "MAIL" not in pair.commands and not pair.mailbox


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("reply", ["220 mx.example.net", "251 ok"])
def test_an_ehlo_answered_with_anything_but_250_is_not_a_greeting(profile: str,
                                                                  reply: str) -> None:
    pair = run_with(Rule("EHLO", reply=reply), profile=profile)
    event = abort(pair)
    assert (event.command, event.reply.code) == ("EHLO", int(reply[:3]))
    assert "MAIL" not in pair.commands and not pair.mailbox


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_a_mail_from_answered_251_is_refused(profile: str) -> None:
    pair = run_with(Rule("MAIL", reply="251 2.1.0 sure"), profile=profile)
    event = abort(pair)
    assert (event.command, event.reply.code) == ("MAIL", 251)
    assert "RCPT" not in pair.commands and not pair.mailbox


@pytest.mark.parametrize("profile", [p for p in ALL_PROFILES if p not in ("1.0", "2.0")])
def test_a_pipelined_mail_from_answered_220_is_refused(profile: str) -> None:
    # 2.0 loses a failed pipelined MAIL without a word (its own scenario); 1.0 does not
    # pipeline.
    pair = run_with(Rule("MAIL", reply="220 2.1.0 sure"),
                    capabilities=("PIPELINING", *PLAIN), profile=profile)
    event = abort(pair)
    assert (event.command, event.reply.code) == ("MAIL", 220)
    # The DATA of the group got 354: RFC 2920 has the client end it with a lone dot.
    assert not any(isinstance(out, SendContent) for out in pair.outputs)
    assert [m.content for m in pair.mailbox] == [b""]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_a_recipient_answered_252_is_not_accepted(profile: str) -> None:
    pair = run_with(Rule("RCPT", reply="252 2.1.5 cannot verify"), profile=profile)
    rejected = [e for e in pair.events if isinstance(e, RecipientRejected)]
    assert [(e.address, e.reply.code) for e in rejected] == [("ops@example.net", 252)]
    event = abort(pair)
    assert (event.command, event.reply.code) == ("RCPT", 252)
    assert "DATA" not in pair.commands and not pair.mailbox


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_a_recipient_answered_251_is_accepted(profile: str) -> None:
    pair = run_with(Rule("RCPT", reply="251 2.1.5 will forward"), profile=profile)
    (event,) = pair.terminal
    assert isinstance(event, Sent) and event.accepted == ("ops@example.net",)


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("reply", ["251 2.0.0 queued?", "220 ready", "235 ok"])
def test_content_answered_with_anything_but_250_is_not_sent(profile: str, reply: str) -> None:
    pair = run_with(Rule("DATA_END", reply=reply), profile=profile)
    event = abort(pair)
    assert (event.command, event.reply.code) == ("DATA", int(reply[:3]))


@pytest.mark.parametrize("profile", [p for p in ALL_PROFILES if p != "1.0"])
@pytest.mark.parametrize("reply", ["251 2.0.0 queued?", "220 ready"])
def test_the_last_bdat_answered_with_anything_but_250_is_not_sent(profile: str,
                                                                  reply: str) -> None:
    pair = run_with(Rule("DATA_END", reply=reply), capabilities=("CHUNKING", *PLAIN),
                    profile=profile)
    event = abort(pair)
    assert (event.command, event.reply.code) == ("BDAT", int(reply[:3]))


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_an_rset_answered_220_does_not_start_the_next_job(profile: str) -> None:
    pair = run_with(Rule("RCPT", reply="550 5.1.1 no such user"),
                    Rule("RSET", reply="220 whatever"), profile=profile, jobs=2)
    first, second = pair.terminal
    assert isinstance(first, CommandAbort) and first.command == "RCPT"
    assert isinstance(second, CommandAbort) and (second.command, second.reply.code) == \
        ("RSET", 220)
    assert pair.commands.count("MAIL") == 1


# ---- a reply that began before its command was sent answers nothing -------------------
# Found by the reply fuzzer (bench/fuzz_replies.py, seed 0, input 26345): a surplus
# "220 ..." whose first bytes came with the EHLO reply and whose end came after STARTTLS
# was sent was taken as the answer to STARTTLS.


@pytest.mark.parametrize(("verb", "then"), [("EHLO", "STARTTLS"), ("MAIL", "RCPT"),
                                            ("GREETING", "EHLO")])
def test_a_reply_begun_before_the_command_was_sent_is_unsolicited(verb: str,
                                                                  then: str) -> None:
    # The server writes the start of one more reply right after the real one, in the
    # same write; the rest comes with its answer to the next command.
    capabilities = ("STARTTLS", *PLAIN) if then == "STARTTLS" else PLAIN
    server = ServerConfig(hostname=HOST, capabilities=capabilities,
                          rules=(Rule(verb, inject=b"220 2.0.0 go ahe"),))
    pair = Pair([mail()], server=server, security="starttls").run()
    (event,) = pair.terminal
    assert isinstance(event, ClientError) and event.kind is ErrorKind.PROTOCOL, event
    assert event.detail.startswith("unsolicited reply: 220 2.0.0 go ahe") \
        and event.detail.endswith(f"arrived before {then} was sent"), event.detail
    assert not pair.tls and not pair.mailbox


def test_a_reply_split_across_reads_still_answers_its_command() -> None:
    # The same bytes in many reads, but every reply begun after its command: no error.
    server = ServerConfig(hostname=HOST, capabilities=("PIPELINING", *PLAIN))
    pair = Pair([mail(to=("a@example.net", "b@example.net"))], server=server,
                delivery="bytewise").run()
    assert [type(e) for e in pair.terminal] == [Sent]
