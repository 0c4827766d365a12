"""The expectations a scripted server can judge on its own: the mailbox, the body, the
headers, and ``[expect.server]`` (what it observed of the client).

Each function judges one of them from what the server saw (:class:`~scenarios.record.
ServerSide` and the mails it received) and returns a sentence when it does not hold,
None when it does (or is not asked). The run's verdict (:mod:`scenarios.verdict.client`)
and the server-side verdict facing a real client (:mod:`scenarios.verdict.server`) both
use them, so a real client is judged by the very same words.

This module knows expectations, received mails and the server's observations; nothing
of the device, the trace or virtual time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from scenarios.format import Expect, ServerExpect
from scenarios.record import ServerSide
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.server.names import ehlo_name_acceptable
from scenarios.verdict.bodies import content_difference
from smtp.jobs import Job
from smtp.message import MailJob


def mailbox_count_problem(expect: Expect, mailbox: Sequence[ReceivedMail]) -> str | None:
    wanted = expect.mailbox_count
    if wanted is None or len(mailbox) == wanted:
        return None
    return f"expected {wanted} mail(s) in the server's mailbox, found {len(mailbox)}"


def body_problem(expect: Expect, job: Job, mailbox: Sequence[ReceivedMail]) -> str | None:
    """``body_exact``: the first mail's body and attachments are the job's."""
    if not expect.body_exact or not isinstance(job, MailJob):
        return None
    if not mailbox:
        return "body_exact: the server received no mail"
    return content_difference(job, mailbox[0])


def headers_problem(expect: Expect, mailbox: Sequence[ReceivedMail]) -> str | None:
    """``headers_present``, ``headers_absent``, ``headers_match`` on the first mail."""
    if not (expect.headers_present or expect.headers_absent or expect.headers_match):
        return None
    if not mailbox:
        return "headers: the server received no mail"
    mail = mailbox[0]
    missing = [h for h in expect.headers_present if mail.header(h) is None]
    extra = [h for h in expect.headers_absent if mail.header(h) is not None]
    problems = []
    if missing:
        problems.append(f"header(s) missing: {', '.join(missing)}")
    if extra:
        problems.append(f"header(s) that must not be there: {', '.join(extra)}")
    for header, pattern in expect.headers_match.items():
        value = mail.header(header)
        if value is None or not re.search(pattern, value):
            problems.append(f"{header} is {value!r}, which does not match {pattern!r}")
    return "; ".join(problems) or None


def _no_ehlo_after_tls(observations: Sequence[Observations]) -> str:
    """What the client did instead of EHLO after the TLS handshake, in plain words."""
    after_tls = [o for o in observations if o.tls_established]
    if not after_tls:
        return "no TLS session was established, so there was no EHLO after STARTTLS"
    first = next((o.first_command_after_tls for o in after_tls
                  if o.first_command_after_tls is not None), None)
    if first is None:
        return "the client closed the connection after the TLS handshake without a command"
    return f"the client's first command after the TLS handshake was {first}, not EHLO"


def server_problem(wanted: ServerExpect, side: ServerSide,
                   mailbox: Sequence[ReceivedMail]) -> str | None:
    """``[expect.server]``: what the server observed of the client, one sentence per
    observation that differs."""
    problems: list[str] = []
    observations = side.observations

    def want(name: str, actual: bool, violation: str, unexpected: str | None = None) -> None:
        """``violation``: what went wrong when the expectation is true and fails;
        ``unexpected``: when it is false and fails (defaults to "not expected: ...")."""
        value = getattr(wanted, name)
        if value is not None and value != actual:
            problems.append(violation if value else (unexpected or f"not expected: {violation}"))

    names = [n for o in observations for n in o.ehlo_names]
    bad_names = [n for n in names if not ehlo_name_acceptable(n)]
    want("ehlo_name_valid", bool(names) and not bad_names,
         f"EHLO name(s) not a domain or address literal: {bad_names or names}")
    want("no_auth_in_plaintext", not any(o.auth_in_plaintext for o in observations),
         "the client sent AUTH in plaintext")
    after = [c for o in observations for c in o.commands_after_failed_starttls
             if c.upper() != "QUIT"]
    want("no_commands_after_failed_starttls", not after,
         f"commands after a failed STARTTLS: {after}")
    want("tls_used", any(o.tls_established for o in observations), "TLS was not used",
         "TLS was used")
    want("pipelined", any(o.pipelined for o in observations), "the client did not pipeline",
         "the client pipelined")
    ehlo_again = any(o.first_command_after_tls == "EHLO" for o in observations)
    want("ehlo_after_starttls", ehlo_again, _no_ehlo_after_tls(observations),
         "the client sent EHLO again after STARTTLS")
    bare = any(o.command_line_endings.bare_lf or o.command_line_endings.bare_cr
               or o.bare_lf_in_data or o.bare_cr_in_data for o in observations)
    want("no_bare_line_endings", not bare, "the client sent a bare CR or LF")
    stuffing = [v for o in observations for v in o.dot_stuffing_violations]
    want("dot_stuffing_correct", not stuffing, f"unstuffed lines starting with '.': {stuffing}")
    unadvertised = [u for o in observations for u in o.used_without_advertisement]
    unadvertised += ["PIPELINING" for o in observations if o.pipelined_without_advertisement]
    want("no_unadvertised_extensions", not unadvertised,
         f"extensions used without being advertised: {unadvertised}")
    logins = [(o.authenticated_user, o.auth_mechanisms[-1]) for o in observations
              if o.authenticated_user is not None and o.auth_mechanisms]
    mechanism = wanted.auth_mechanism
    if mechanism is not None and mechanism not in [m for _, m in logins]:
        seen = [m for o in observations for m in o.auth_mechanisms] or "no AUTH"
        problems.append(f"expected a successful AUTH {mechanism}, the server saw {seen}")
    user = wanted.authenticated_as
    if user is not None and not any(u == user and m != "ANONYMOUS" for u, m in logins):
        seen = ", ".join(f"{u} ({m})" for u, m in logins)
        problems.append(f"expected a login as {user} with the configured credentials, "
                        + (f"the server saw a login as {seen}" if seen
                           else "the client did not log in"))
    if wanted.envelope_recipients is not None or wanted.via is not None:
        if not mailbox:
            problems.append("the server accepted no mail to look at its envelope")
        else:
            first = mailbox[0]
            got = first.recipient_addresses
            if wanted.envelope_recipients is not None and got != wanted.envelope_recipients:
                problems.append(f"expected envelope recipients {wanted.envelope_recipients}, "
                                f"the server got {got}")
            if wanted.via is not None and first.via != wanted.via:
                problems.append(f"expected the content via {wanted.via}, it came via "
                                f"{first.via}")
    if wanted.commands is not None:
        seen = [verb for o in observations for verb in o.commands]
        if seen != wanted.commands:
            problems.append(f"expected the commands {', '.join(wanted.commands)}; the server "
                            f"received {', '.join(v or '(empty line)' for v in seen)}")
    if wanted.commands_absent is not None:
        banned = {verb.upper() for verb in wanted.commands_absent}
        sent = list(dict.fromkeys(v for o in observations for v in o.commands if v in banned))
        if sent:
            problems.append(f"the client sent {', '.join(sent)}, which it must never send here")
    unknown = [c for o in observations for c in o.unknown_commands]
    want("no_unknown_commands", not unknown,
         f"command lines the server does not know: {unknown[:5]}"
         + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
         + " (message data sent as commands?)")
    long_lines = sum(o.data_lines_too_long for o in observations)
    want("no_long_lines", not long_lines,
         f"{long_lines} content line(s) over 1000 octets including CRLF (RFC 5321 4.5.3.1.6)")
    generated = [g for o in observations for g in o.generated_replies]
    abandoned = [g for g in generated if g.abandoned]
    if wanted.reply_abandoned is not None and not generated:
        problems.append("reply_abandoned: the server sent no generated reply")
    else:
        whole = next((g.total for g in generated if not g.abandoned), 0)
        gave_up = abandoned[0].sent if abandoned else 0
        want("reply_abandoned", bool(abandoned),
             f"the client read the whole generated reply ({whole} octets) instead of "
             "giving up", f"the client gave up on a generated reply after {gave_up} octets")
    open_connections = sum(not c.closed for c in side.connections)
    want("connections_closed", not open_connections,
         f"{open_connections} connection(s) still open at the end of the run")
    if wanted.mail_count is not None:
        count = sum(o.mail_count for o in observations)
        if count != wanted.mail_count:
            problems.append(f"expected the server to receive {wanted.mail_count} mail(s), "
                            f"it received {count}")
    return "; ".join(problems) or None
