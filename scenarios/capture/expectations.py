"""The scenario's ``[expect]``: what a correct client does with the recorded server's answers.

The recorded client may be the buggy one, so its own behaviour is not the expectation.
The server's answers decide, read in order until one ends the job, with the client's
own reply parser (:class:`smtp.replies.ReplyParser`) judging whether a reply is valid:

- nobody listened: ``error`` ``connection_refused``; no greeting: ``timeout`` at
  ``GREETING``; a greeting of 421 or 554: ``service_unavailable``, of any other code but
  220: ``protocol``; a malformed reply, or a second reply to one command (but the content:
  its first reply ends the job): ``error`` ``protocol``;
- a 421 to any command: ``command_abort`` at that command; EHLO or HELO answered with
  anything but 250 (and EHLO not with a code the client falls back to HELO on):
  ``command_abort``;
- STARTTLS not offered when the client quit at once, or EHLO refused and no HELO:
  ``tls_required``; STARTTLS answered with anything but 220, or a failed handshake:
  ``tls_failed``; a handshake the server stopped in the middle of: ``timeout`` at
  ``tls_handshake``; AUTH refused, or a challenge longer than the client reads:
  ``auth_failed``;
- MAIL, DATA or the content refused (any 4xx/5xx), or a refusal right after the 354
  while the content is on its way: ``command_abort`` with the command and code; every
  recipient refused: ``command_abort`` at RCPT;
- a command never answered, or a command whose bytes the server stopped taking (the
  client gave up, the server never ended): ``timeout`` with the command; the connection
  ended before the final reply: ``error`` ``connection_lost``;
- the content accepted: ``sent`` with its code, and the mailbox, body, recipients and
  way (DATA or BDAT) as the server received them; VRFY and ETRN: their result events.

Every choice comes with a sentence for the scenario file, to be reviewed there.
This module knows SMTP and the expectation keys; it writes no files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scenarios.capture.dialogue import Answer, Dialogue, Exchange
from scenarios.capture.facts import ClientFacts, Transaction
from smtp.auth import AUTH_REPLY_LINE_LIMIT
from smtp.errors import RemoteProtocolError
from smtp.opening import HELO_FALLBACK_CODES
from smtp.replies import ReplyParser
from smtp.replycodes import SUCCESS

_COMMAND_OF: dict[str, str] = {"DATA_END": "DATA", "AUTH_RESPONSE": "AUTH"}
"""The command a client names in its event for what the server answers (a pseudo verb)."""


@dataclass
class Expectation:
    """``[expect]`` and ``[expect.server]`` keys, and why (one sentence)."""

    expect: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    why: str = ""


def malformed(answer: Answer, verb: str) -> str | None:
    """Why a correct client refuses ``answer`` (its own parser's words), or None."""
    parser = ReplyParser()
    parser.feed(answer.data)
    count = 0
    try:
        while parser.next_reply() is not None:
            count += 1
    except RemoteProtocolError as exc:
        return exc.reason
    if count > 1 and verb not in ("STARTTLS", "DATA_END"):
        # (after the content, the first reply ends the job: a surplus one comes too late)
        return f"{count} replies to one {verb}"
    return None


def _opening_event(verb: str, code: int, security: str) -> Expectation | None:
    """The event a reply to the greeting, EHLO, HELO or STARTTLS ends the job with, as
    the client's opening (``smtp.opening``) decides, or a 421 to any command (RFC 5321
    3.8: reported on the command it answered); None when the job goes on."""
    if verb == "GREETING":
        if code in SUCCESS["GREETING"]:
            return None
        if code in (421, 554):
            return Expectation({"event": "error", "error_kind": "service_unavailable",
                                "reply_code": code}, why=f"the greeting was {code}")
        return Expectation({"event": "error", "error_kind": "protocol"},
                           why=f"a greeting of {code} is no greeting")
    command = _COMMAND_OF.get(verb, verb)
    if code == 421 and verb != "QUIT":
        return Expectation({"event": "command_abort", "command": command, "reply_code": code},
                           why=f"the server is shutting down (421 to {command})")
    if verb == "EHLO" and code in HELO_FALLBACK_CODES:
        if security == "required":
            return Expectation({"event": "error", "error_kind": "tls_required"},
                               why=f"EHLO refused with {code} and the client needs TLS: no "
                                   f"HELO in plaintext")
        return None  # HELO follows
    if (verb == "EHLO" and code not in SUCCESS["EHLO"]) or (
            verb == "HELO" and code not in SUCCESS["HELO"]):
        return Expectation({"event": "command_abort", "command": verb, "reply_code": code},
                           why=f"{code} is not a success answer to {verb}")
    if verb == "STARTTLS" and code not in SUCCESS["STARTTLS"]:
        return Expectation({"event": "error", "error_kind": "tls_failed"},
                           why=f"STARTTLS refused with {code}: no credentials or mail in "
                               f"plaintext")
    return None


def _event(exchange: Exchange, facts: ClientFacts, dialogue: Dialogue,
           security: str) -> Expectation | None:
    """The event this exchange ends the job with, or None when the job goes on."""
    answer, verb = exchange.answer, exchange.verb
    if answer is None or (not answer.replies and answer.then == "silent"):
        if answer is None and verb != "GREETING":
            return None
        return Expectation({"event": "timeout", "command": _COMMAND_OF.get(verb, verb)},
                           why=f"the server never answered {verb}")
    data = answer.data
    if verb in ("AUTH", "AUTH_RESPONSE") and data.startswith(b"334") \
            and b"\n" not in data[:AUTH_REPLY_LINE_LIMIT]:
        return Expectation({"event": "error", "error_kind": "auth_failed"},
                           why=f"a challenge over {AUTH_REPLY_LINE_LIMIT} octets: the client "
                               f"cancels the exchange")
    if verb == "DATA" and answer.code == 354 and len(answer.replies) > 1 \
            and (final := answer.replies[1].code) is not None and final // 100 != 2:
        return Expectation({"event": "command_abort", "command": "DATA", "reply_code": final},
                           why=f"the server gave up with {final} while the content was on "
                               f"its way")
    problem = malformed(answer, verb) if answer.replies else None
    if problem is not None:
        return Expectation({"event": "error", "error_kind": "protocol"},
                           why=f"the answer to {verb} is malformed: {problem}")
    if answer.replies and not answer.replies[-1].complete:
        return Expectation({"event": "timeout", "command": _COMMAND_OF.get(verb, verb)},
                           why=f"the server's answer to {verb} never ended")
    code = answer.code
    if code is None:
        if answer.then is not None:
            return Expectation({"event": "error", "error_kind": "connection_lost"},
                               why=f"the server ended the connection at {verb}")
        return None
    opening = _opening_event(verb, code, security)
    if opening is not None:
        return opening
    if verb == "STARTTLS":
        tls = dialogue.session.tls
        if tls is not None and tls.stall == "after_first_flight" and tls.version == "TLSv1.3":
            return Expectation({"event": "timeout", "command": "EHLO"},
                               why="the server stopped after its TLS 1.3 first flight: the "
                                   "client is done with the handshake and waits for the "
                                   "answer to EHLO")
        if tls is not None and tls.stall is not None:
            return Expectation({"event": "timeout", "command": "tls_handshake"},
                               why=f"the server stopped in the TLS handshake "
                                   f"({tls.stall.replace('_', ' ')})")
        if tls is not None and tls.handshake_failed:
            return Expectation({"event": "error", "error_kind": "tls_failed"},
                               why="the TLS handshake after STARTTLS failed")
    if verb in ("AUTH", "AUTH_RESPONSE") and code // 100 in (4, 5):
        return Expectation({"event": "error", "error_kind": "auth_failed", "reply_code": code},
                           why=f"the server refused the login with {code}")
    if verb in ("MAIL", "DATA", "DATA_END", "BDAT") and code // 100 in (4, 5):
        command = _COMMAND_OF.get(verb, verb)
        return Expectation({"event": "command_abort", "command": command, "reply_code": code},
                           why=f"the server refused {command} with {code}")
    if verb in ("VRFY", "ETRN"):
        return Expectation({"event": f"{verb.lower()}_result", "reply_code": code},
                           why=f"the server answered {verb} with {code}")
    if answer.then in ("close", "reset", "drop_tls") and verb != "QUIT":
        return Expectation({"event": "error", "error_kind": "connection_lost"},
                           why=f"the server ended the connection after {verb}")
    return None


def _rcpt_refusal(transaction: Transaction) -> Expectation | None:
    codes = [r.code for r in transaction.recipients]
    if codes and all(c is not None and c // 100 in (4, 5) for c in codes):
        return Expectation({"event": "command_abort", "command": "RCPT",
                            "reply_code": codes[-1]},
                           why="the server refused every recipient")
    return None


def _sent(transaction: Transaction) -> Expectation:
    expect: dict[str, Any] = {"event": "sent", "mailbox_count": 1, "body_exact": True}
    if transaction.final_code is not None:
        expect["reply_code"] = transaction.final_code
    refused = [r.address for r in transaction.recipients
               if r.code is not None and r.code // 100 in (4, 5)]
    if refused:
        expect["recipients_rejected"] = refused
    server: dict[str, Any] = {
        "envelope_recipients": [r.address for r in transaction.recipients
                                if r.code is not None and r.code // 100 == 2],
        "via": transaction.via or "DATA",
    }
    return Expectation(expect, server, why=f"the server accepted the mail with "
                                           f"{transaction.final_code}")


def expectation(dialogue: Dialogue, facts: ClientFacts, security: str) -> Expectation:
    """The expectations for the imported scenario (see the module docstring)."""
    session = dialogue.session
    if session.refused:
        return Expectation({"event": "error", "error_kind": "connection_refused"},
                           why="nobody listened: the server side answered the SYN with RST")
    if security == "required" and facts.starttls_code != 220 and not (
            session.tls is not None and session.tls.implicit):
        return Expectation({"event": "error", "error_kind": "tls_required"},
                           why="the server offered no STARTTLS and the client quit: it "
                               "required TLS")
    tls = session.tls
    if tls is not None and tls.implicit and tls.handshake_failed:  # before any greeting
        if tls.stall is not None:
            return Expectation({"event": "timeout", "command": "tls_handshake"},
                               why=f"the server stopped in the TLS handshake "
                                   f"({tls.stall.replace('_', ' ')})")
        return Expectation({"event": "error", "error_kind": "tls_failed"},
                           why="the TLS handshake (implicit TLS) failed")
    forged = next((e for e in session.endings if e.forged and e.side == "server"), None)
    transactions = iter(facts.transactions)
    current: Transaction | None = None
    for exchange in dialogue.exchanges:
        if exchange.discarded:
            continue
        if exchange.verb == "MAIL":
            current = next(transactions, None)
        if exchange.verb in ("DATA", "BDAT", "QUIT", "RSET") and current is not None:
            refusal = _rcpt_refusal(current)
            if refusal is not None:
                return refusal
        if forged is not None and exchange.unit is not None \
                and exchange.unit.arrival_us > forged.t_us:
            break
        found = _event(exchange, facts, dialogue, security)
        if found is not None:
            return _with_server(found, facts, session)
        if exchange.verb in ("DATA_END", "BDAT") and current is not None \
                and current.final_code is not None and current.final_code // 100 == 2 \
                and (exchange.verb == "DATA_END" or (exchange.unit is not None
                     and exchange.unit.line.upper().rstrip().endswith("LAST"))):
            return _with_server(_sent(current), facts, session)
    if forged is not None:
        return Expectation({"event": "error", "error_kind": "connection_lost"},
                           why="a reset reached the client on the way (the server did not "
                               "send it)")
    if current is not None and (refusal := _rcpt_refusal(current)) is not None:
        return refusal
    last = next((e for e in reversed(dialogue.exchanges) if not e.discarded), None)
    if session.ending("server") is None and last is not None and last.unit is not None \
            and not last.unit.complete and last.answer is None:
        command = _COMMAND_OF.get(last.verb, last.verb)
        return Expectation({"event": "timeout", "command": command},
                           why=f"the server stopped taking {command}'s bytes and never "
                               f"answered: the client gave up")
    if session.ending("server") is not None or session.ending("client") is not None:
        return Expectation({"event": "error", "error_kind": "connection_lost"},
                           why="the connection ended before the job did")
    return Expectation({"event": "timeout"}, why="the recording ends before the job does")


def _with_server(found: Expectation, facts: ClientFacts, session: Any) -> Expectation:
    if session.tls is not None and not session.tls.handshake_failed:
        found.server.setdefault("tls_used", True)
    return found
