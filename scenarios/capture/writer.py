"""The imported scenario as a commented TOML file (written with ``tomlkit``).

From a session, its dialogue, the client's facts and the expectation, :func:`scenario_toml`
writes every section: ``[scenario]``; ``[device]`` (RTC from the capture's first frame,
EHLO name, device configuration: security, AUTH mechanism and user, features left
unused, timeouts the client gave up at); ``[link]`` (the delay the TCP handshake shows,
frames lost on the way as ``drop_nth``, forged resets as ``inject_rst``); ``[server]``
(host name, port, capabilities, TLS version and cipher, and one ``[[server.replay]]``
entry per answer, each with the client's line as a comment); ``[job]`` and ``[expect]``.

Secrets are never copied: AUTH lines show as ``(credentials not copied)`` and both sides
get :data:`PLACEHOLDER_PASSWORD`. This module knows the scenario format's keys and
TOML; it reads no capture.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import tomlkit
from tomlkit.items import Table

from scenarios.capture.certificate import certificate_finding
from scenarios.capture.dialogue import Answer, Dialogue, Exchange
from scenarios.capture.expectations import Expectation
from scenarios.capture.facts import ClientFacts
from scenarios.capture.generated import Recognised, generate_keys, recognise
from scenarios.capture.mailjob import job_from_transaction
from scenarios.capture.model import Session

PLACEHOLDER_PASSWORD: Final = "not-the-recorded-password"
PLACEHOLDER_TOKEN: Final = "not-the-recorded-token"
DEFAULT_PORTS: Final = {False: 25, True: 465}
_VERB: Final = re.compile(r"[A-Z][A-Z0-9_]*")
_DOMAIN: Final = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)$")
_TIMEOUT_KEYS: Final = {
    "GREETING": "greeting", "EHLO": "ehlo", "HELO": "ehlo", "STARTTLS": "starttls",
    "AUTH": "auth", "AUTH_RESPONSE": "auth", "MAIL": "mail", "RCPT": "rcpt",
    "DATA": "data_init", "DATA_END": "data_term", "BDAT": "data_block", "RSET": "rset",
    "QUIT": "quit", "VRFY": "vrfy", "ETRN": "etrn",
}
_DEFAULT_TIMEOUTS: Final = {"greeting": 300, "ehlo": 300, "starttls": 120, "auth": 300,
                            "mail": 300, "rcpt": 300, "data_init": 120, "data_term": 600,
                            "data_block": 180, "rset": 120, "quit": 60, "vrfy": 300,
                            "etrn": 300}


def _add(table: Table, key: str, value: Any, comment: str | None = None) -> None:
    """``table[key] = value``, with a comment after it on its line."""
    item = tomlkit.item(value)
    if comment:
        item.comment(comment)
    table.add(key, item)


def _seconds(us: int) -> float:
    """Microseconds as seconds, to the microsecond (a pcap's time stamps are to the
    microsecond: a jittered trickle's gaps are kept exactly)."""
    return us / 1_000_000


def _text(data: bytes) -> str:
    return data.decode("latin-1")


def _reply_value(data: bytes) -> tuple[str, bool]:
    """The reply as a TOML value: CRLF-terminated printable lines joined with LF (the
    format adds the CRLFs back), or else the exact bytes with ``raw = true``."""
    text = _text(data)
    lines = text.split("\r\n")
    if (text.endswith("\r\n") and len(lines) >= 2 and lines[-2] != ""
            and all(line.isprintable() and "\r" not in line and "\n" not in line
                    for line in lines[:-1])):
        return "\n".join(lines[:-1]), False
    return text, True


def _comment_for(exchange: Exchange, session: Session) -> str:
    unit = exchange.unit
    if unit is None:
        return "the greeting"
    when = f" (sent at {unit.t_us / 1e6:.6f} s)"
    if unit.verb == "AUTH_RESPONSE" or (unit.verb == "AUTH" and len(unit.line.split()) > 2):
        shown = "AUTH " + unit.line.split()[1] if unit.verb == "AUTH" else "a SASL line"
        return f"C: {shown} (credentials not copied){when}"
    if unit.kind == "content":
        return f"C: the message, {len(unit.data)} bytes, up to the final dot{when}"
    if unit.kind == "bdat":
        return f"C: {unit.line} and its {len(unit.data)} bytes{when}"
    line = unit.line if len(unit.line) <= 90 else unit.line[:87] + "..."
    return f"C: {line}{when}"


def _generated(exchange: Exchange, session: Session) -> Recognised | None:
    """The generated reply an answer too large to write out is, if it is one (one reply,
    sent alone, nothing done after it). An answer without its end is one only when its
    last segment was full (the server was still sending when the capture's bytes stop;
    a write that ended leaves a short last segment, and is written out as it is)."""
    answer = exchange.answer
    if exchange.unit is None or answer is None or len(answer.replies) != 1 \
            or answer.then is not None or answer.join_previous or not answer.writes:
        return None
    complete = answer.replies[0].complete
    mss = session.server_mss
    if not complete and (mss is None or len(answer.writes[-1][1]) % mss):
        return None
    return recognise(answer.data, complete)


def _same_answer(one: Answer | None, other: Answer | None) -> bool:
    """Whether two answers replay the same way (same bytes, writes, delays, no ending)."""
    if one is None or other is None:
        return one is other
    if one.then is not None or other.then is not None or one.join_previous \
            or other.join_previous:
        return False
    gaps = [[b[0] - a[0] for a, b in zip(x.writes, x.writes[1:], strict=False)]
            for x in (one, other)]
    return (one.data == other.data and [len(d) for _, d in one.writes]
            == [len(d) for _, d in other.writes] and one.delay_us
            == other.delay_us and gaps[0] == gaps[1])


class _Writer:
    def __init__(self, session: Session, dialogue: Dialogue, facts: ClientFacts,
                 expectation: Expectation, name: str, security: str) -> None:
        self.session = session
        self.dialogue = dialogue
        self.facts = facts
        self.expectation = expectation
        self.name = name
        self.security = security
        self.doc = tomlkit.document()
        self.byte_by_byte = self._byte_by_byte()
        self.generated: list[tuple[Exchange, Recognised]] = []

    def _byte_by_byte(self) -> bool:
        server = self.session.side_pieces("server")
        return len(server) >= 8 and all(len(p.data) == 1 for p in server)

    def text(self, header: list[str]) -> str:
        for line in header:
            self.doc.add(tomlkit.comment(line))
        self.doc.add(tomlkit.nl())
        self._scenario()
        self._device()
        self._link()
        self._server()
        self._job()
        self._expect()
        return tomlkit.dumps(self.doc)

    # -- sections
    def _scenario(self) -> None:
        table = tomlkit.table()
        table.add("name", self.name)
        host = self._server_hostname() or "the server"
        table.add("title", f"Replay of a recorded session with {host}")
        table.add("description", tomlkit.string(
            f"Imported from {self.session.source} by smtp-hil import. The scripted server "
            f"answers with the recorded server's bytes; the job is the recorded mail.",
            multiline=False))
        table.add("tags", ["imported"])
        limit = max(3600, int(self.session.end_us / 1e6 * 2) + 600)
        table.add("time_limit_s", limit)
        self.doc.add("scenario", table)

    def _device(self) -> None:
        table = tomlkit.table()
        rtc = self._rtc()
        if rtc is not None:
            _add(table, "rtc", rtc, "when the capture starts (the device's own clock may differ)")
        name = self.facts.ehlo_name
        if name is not None and _DOMAIN.match(name):
            _add(table, "domain", name, "the client's EHLO name")
        elif name is not None:
            _add(table, "domain", "", f"the client said EHLO {name}: not a domain or address "
                                    f"literal")
        config = tomlkit.table(is_super_table=True)
        config.add("server", self._security_table())
        auth = self._auth_table()
        if auth is not None:
            config.add("auth", auth)
        features = self._features_table()
        if features is not None:
            config.add("features", features)
        timeouts = self._timeouts_table()
        if timeouts is not None:
            config.add("timeouts", timeouts)
        table.add("config", config)
        self.doc.add("device", table)

    def _rtc(self) -> datetime | str | None:
        for transaction in self.facts.transactions:
            if re.search(rb"(?im)^Date:.*\b1970\b", transaction.content[:4096]):
                return "unset"
        if self.session.start_epoch_us is None:
            return None
        return datetime.fromtimestamp(self.session.start_epoch_us // 1_000_000, tz=UTC)

    def _security_table(self) -> Table:
        table = tomlkit.table()
        why = {"tls": "TLS from the first byte (implicit TLS)",
               "starttls": "the client used STARTTLS",
               "none": "the server offered STARTTLS and the client did not use it",
               "required": "no STARTTLS offered (or EHLO refused) and the client quit: "
                           "it requires TLS"}
        _add(table, "security", self.security, why.get(self.security))
        return table

    def _auth_table(self) -> Table | None:
        mechanism = self.facts.auth_mechanism
        if mechanism is None:
            return None
        table = tomlkit.table()
        if mechanism != "ANONYMOUS":
            table.add("username", self.facts.auth_user or "user")
        if mechanism == "XOAUTH2":
            table.add("oauth_token", PLACEHOLDER_TOKEN)
        elif mechanism != "ANONYMOUS":
            _add(table, "password", PLACEHOLDER_PASSWORD, "the recorded password is not copied")
        if mechanism in ("PLAIN", "LOGIN", "CRAM-MD5", "ANONYMOUS", "XOAUTH2"):
            table.add("mechanism", mechanism)
        return table

    def _features_table(self) -> Table | None:
        facts = self.facts
        table = tomlkit.table()
        transactions = facts.transactions
        if facts.advertised("PIPELINING") and transactions and not facts.pipelined and any(
                t.recipients for t in transactions):
            _add(table, "pipelining", False, "offered, but the client waited for each reply")
        via = {t.via for t in transactions}
        if "BDAT" in via:
            sizes = [s for t in transactions for s in t.chunk_sizes[:-1]]
            if sizes:
                table.add("chunk_size", max(sizes))
        elif facts.advertised("CHUNKING") and "DATA" in via:
            _add(table, "chunking", False, "offered, but the client sent DATA")
        if facts.advertised("SIZE") and transactions and all(
                "SIZE" not in t.params for t in transactions):
            table.add("size", False)
        return table if table else None

    def _timeouts_table(self) -> Table | None:
        """A timeout the client gave up at, when it is not the default."""
        if not self.session.timed:
            return None
        for exchange in self.dialogue.exchanges:
            answer = exchange.answer
            waited_from = None
            if exchange.unit is None and (answer is None or not answer.replies):
                waited_from = 0
            elif exchange.unit is not None and (answer is None or answer.then == "silent"
                                                or (answer.replies
                                                    and not answer.replies[-1].complete)):
                waited_from = exchange.unit.t_us
            if waited_from is None:
                continue
            gave_up = self._client_next_after(waited_from)
            key = _TIMEOUT_KEYS.get(exchange.verb)
            if gave_up is None or key is None:
                return None
            seconds = round((gave_up - waited_from) / 1e6)
            if abs(seconds - _DEFAULT_TIMEOUTS[key]) <= 1 or seconds <= 0:
                return None
            table = tomlkit.table()
            _add(table, key, seconds, f"the client gave up waiting for the answer to "
                                      f"{exchange.verb} after this long")
            return table
        return None

    def _client_next_after(self, t_us: int) -> int | None:
        later = [p.t_us for p in self.session.side_pieces("client") if p.t_us > t_us]
        ends = [e.t_us for e in self.session.endings if e.side == "client" and e.t_us > t_us]
        candidates = later[:1] + ends[:1]
        return min(candidates) if candidates else None

    def _link(self) -> None:
        table = tomlkit.table()
        link = self.session.link
        if link is not None:
            latency_ms = round(link.latency_us / 1000, 1)
            _add(table, "latency_ms", latency_ms, "half the round trip the TCP handshake shows")
            if link.bandwidth_bps is not None:
                bps = int(float(f"{link.bandwidth_bps:.2g}"))
                _add(table, "bandwidth_bps", bps, "the speed that best explains the server's "
                     "acknowledgements")
        faults = tomlkit.aot()
        for ending in self.session.endings:
            if ending.forged:
                fault = tomlkit.table()
                fault.add(tomlkit.comment(f"a reset that the {ending.side}'s own later frames "
                                          f"show it did not send"))
                fault.add("fault", "inject_rst")
                fault.add("towards", "device" if ending.side == "server" else "server")
                fault.add("at_s", ending.t_us / 1e6)
                faults.append(fault)
        for loss in self.session.losses:
            fault = tomlkit.table()
            fault.add(tomlkit.comment(f"frame {loss.frame} of the capture never arrived"))
            fault.add("fault", "drop_nth")
            fault.add("src", "device" if loss.side == "client" else "server")
            fault.add("n", loss.index)
            faults.append(fault)
        if faults:
            table.add("faults", faults)
        if table:
            self.doc.add("link", table)

    def _server_hostname(self) -> str | None:
        greeting = self.facts.greeting
        if greeting:
            words = greeting[0][4:].split()
            if words and re.fullmatch(r"[A-Za-z0-9.-]+", words[0]) and "." in words[0]:
                return words[0]
        return None

    def _server(self) -> None:
        session, facts = self.session, self.facts
        table = tomlkit.table()
        implicit = session.tls is not None and session.tls.implicit
        if session.refused:
            _add(table, "listen", False, "the server side answered the client's SYN with RST")
        port = session.server[1] if session.server is not None else None
        if port is not None and port != DEFAULT_PORTS[implicit]:
            table.add("port", port)
        hostname = self._server_hostname()
        if hostname is not None:
            table.add("hostname", hostname)
        table.add("implicit_tls", implicit)
        table.add("starttls", facts.starttls_code == 220 or (
            facts.starttls_offered and facts.starttls_code is None))
        if facts.capabilities is not None:
            table.add("capabilities", facts.capabilities)
        if facts.capabilities_tls is not None:
            table.add("capabilities_tls", facts.capabilities_tls)
        self._server_tls(table)
        self._server_auth(table)
        if self.byte_by_byte:
            _add(table, "segmentation", "byte_by_byte", "the recorded server sent every "
                 "byte in a segment of its own, TLS handshake included")
        steps = self._replay()
        if steps:
            table.add("replay", steps)
        if self.generated:
            table.add("rules", self._generated_rules())
        self.doc.add("server", table)

    def _generated_rules(self) -> Any:
        """A ``[[server.rules]]`` entry with ``generate`` for each answer too large to
        write out (``scenarios/capture/generated.py``)."""
        rules = tomlkit.aot()
        for exchange, found in self.generated:
            rule = tomlkit.table()
            answer = exchange.answer
            assert answer is not None
            size = len(answer.data)
            rule.add(tomlkit.comment(f"{_comment_for(exchange, self.session)}: {size} bytes "
                                     f"recorded, too large to write out: generated"))
            if not found.whole:
                rule.add(tomlkit.comment("the client hung up before the reply ended: how far "
                                         "it went on is not in the capture; generated one "
                                         "64 KiB chunk beyond what it shows"))
            rule.add("verb", exchange.verb)
            if found.reply.kind == "challenge":
                _add(rule, "transition", True, "a 334: the exchange goes on")
            if answer.delay_us and self.session.timed:
                rule.add("delay_s", _seconds(answer.delay_us))
            rule.add("generate", generate_keys(found.reply))
            rules.append(rule)
        return rules

    def _server_tls(self, table: Table) -> None:
        tls = self.session.tls
        if tls is not None and tls.certificate is not None and self.session.start_epoch_us \
                is not None:
            at = datetime.fromtimestamp(self.session.start_epoch_us / 1e6, tz=UTC)
            found = certificate_finding(tls.certificate, at, tls.server_name)
            if found is not None and found.kind != "valid":
                section = tomlkit.table()
                section.add(tomlkit.comment(f"the client refused the recorded certificate: "
                                            f"{found.why}"))
                section.add("kind", found.kind)
                for key, value in found.keys.items():
                    section.add(key, value)
                table.add("certificate", section)
        if tls is not None and tls.stall is not None:
            _add(table, "tls_stall", tls.stall, "where the recorded server stopped in the "
                 "TLS handshake (its records show it; the connection stayed up)")
        if tls is None or tls.version is None:
            return
        if tls.cipher is not None and "ECDSA" in tls.cipher:
            table.add("tls_cert", "ecdsa")
        if tls.version != "TLSv1.3":
            _add(table, "tls_max_version", tls.version, f"the recorded session used {tls.version}")
            if tls.cipher is not None:
                _add(table, "tls_ciphers", tls.cipher, "the one suite the recorded server chose")

    def _server_auth(self, table: Table) -> None:
        facts = self.facts
        mechanism = facts.auth_mechanism
        if mechanism in ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"):
            secret = PLACEHOLDER_TOKEN if mechanism == "XOAUTH2" else PLACEHOLDER_PASSWORD
            table.add("credentials", {facts.auth_user or "user": secret})
        if facts.auth_challenge is not None:
            table.add("cram_md5_challenge", facts.auth_challenge)

    def _replay(self) -> Any:
        """One entry per answer; a run of one verb's occurrences answered alike (BDAT
        chunks) is one entry with ``times``."""
        runs: list[tuple[Exchange, int, int]] = []  # (first exchange, its nth, how many)
        counts: dict[str, int] = {}
        for exchange in self.dialogue.exchanges:
            if exchange.discarded:
                continue
            verb = exchange.verb
            counts[verb] = counts.get(verb, 0) + 1
            if not _VERB.fullmatch(verb):
                continue
            generated = _generated(exchange, self.session)
            if generated is not None:
                self.generated.append((exchange, generated))
                continue
            if runs and runs[-1][0].verb == verb and runs[-1][1] + runs[-1][2] == counts[verb] \
                    and _same_answer(runs[-1][0].answer, exchange.answer):
                first, nth, times = runs[-1]
                runs[-1] = (first, nth, times + 1)
            else:
                runs.append((exchange, counts[verb], 1))
        steps = tomlkit.aot()
        written: dict[str, int] = {}
        for exchange, nth, times in runs:
            verb, answer = exchange.verb, exchange.answer
            step = tomlkit.table()
            comment = _comment_for(exchange, self.session)
            if times > 1:
                comment += f", and the next {times - 1} like it"
            step.add(tomlkit.comment(comment))
            if answer is None:
                step.add(tomlkit.comment("never answered: the server ignores it"))
            step.add("on", verb)
            if written.get(verb, 0) + 1 != nth:
                step.add("nth", nth)
            written[verb] = nth + times - 1
            if times > 1:
                step.add("times", times)
            if answer is not None:
                self._answer(step, answer)
            steps.append(step)
        return steps

    def _answer(self, step: Table, answer: Answer) -> None:
        data = answer.data
        if data:
            value, raw = _reply_value(data)
            step.add("reply", tomlkit.string(value, multiline="\n" in value and not raw))
            if raw:
                step.add("raw", True)
            sizes = [len(d) for _, d in answer.writes]
            gapped = any(b[0] != a[0] for a, b in zip(answer.writes, answer.writes[1:],
                                                      strict=False))
            if len(sizes) > 1 and (gapped or not self.byte_by_byte):
                if all(s == 1 for s in sizes):
                    step.add("write_size", 1)
                else:
                    step.add("writes", sizes)
        timed = self.session.timed
        if answer.delay_us and timed:
            step.add("delay_s", _seconds(answer.delay_us))
        gaps = [b[0] - a[0] for a, b in zip(answer.writes, answer.writes[1:], strict=False)
                if timed]
        if any(gaps):
            if len(set(gaps)) == 1:
                step.add("gaps_s", _seconds(gaps[0]))
            else:
                step.add("gaps_s", [_seconds(g) for g in gaps])
        if answer.join_previous:
            step.add("join_previous", True)
        if answer.then is not None:
            step.add("then", answer.then)
            if answer.then_delay_us and timed:
                step.add("then_delay_s", _seconds(answer.then_delay_us))
            if answer.drop_tls_mode is not None:
                step.add("drop_tls_mode", answer.drop_tls_mode)
            if answer.inject is not None:
                _add(step, "inject", _text(answer.inject), "sent in the clear after the alert")

    def _job(self) -> None:
        facts = self.facts
        table = tomlkit.table()
        notes: list[str] = []
        if facts.transactions:
            job, notes = job_from_transaction(facts.transactions[0])
            if len(facts.transactions) > 1:
                notes.append(f"the session had {len(facts.transactions)} mails: this is the "
                             f"first")
            if not any(job.get(k) for k in ("to", "cc", "bcc")):
                job["to"] = ["postmaster@example.net"]
                notes.append("no recipient was recorded: postmaster@example.net stands in")
        elif facts.vrfy is not None:
            job = {"kind": "vrfy", "address": facts.vrfy[0] or "postmaster"}
        elif facts.etrn is not None:
            job = {"kind": "etrn", "node": facts.etrn[0] or "example.com"}
        else:
            domain = facts.ehlo_name if facts.ehlo_name and "." in facts.ehlo_name \
                and not facts.ehlo_name.startswith("[") else "device.example.com"
            job = {"from": f"device@{domain}", "to": ["postmaster@example.net"],
                   "subject": "Stand-in mail", "body": "The recording has no mail.\n"}
            notes.append("the recording has no mail: this job stands in for the device's")
        for note in notes:
            table.add(tomlkit.comment(note))
        for key, value in job.items():
            if key == "body":
                table.add(key, tomlkit.string(value, multiline=True))
            elif key == "attachments":
                attachments = tomlkit.aot()
                for item in value:
                    entry = tomlkit.table()
                    for k, v in item.items():
                        entry.add(k, v)
                    attachments.append(entry)
                table.add(key, attachments)
            else:
                table.add(key, value)
        self.doc.add("job", table)

    def _expect(self) -> None:
        expectation = self.expectation
        table = tomlkit.table()
        table.add(tomlkit.comment(f"{expectation.why}; review: this is what a correct "
                                  f"client does with these answers"))
        for key, value in expectation.expect.items():
            table.add(key, value)
        unanswered = any(t.content_complete and t.final_code is None
                         for t in self.facts.transactions)
        if "mailbox_count" not in expectation.expect and unanswered:
            table.add(tomlkit.comment("no mailbox_count: the server never answered a mail's "
                                      "content, so the recording cannot tell whether it kept "
                                      "it"))
        elif "mailbox_count" not in expectation.expect:
            accepted = sum(1 for t in self.facts.transactions
                           if t.final_code is not None and t.final_code // 100 == 2)
            table.add("mailbox_count", accepted)
        if expectation.server:
            server = tomlkit.table()
            for key, value in expectation.server.items():
                server.add(key, value)
            table.add("server", server)
        self.doc.add("expect", table)


def scenario_toml(session: Session, dialogue: Dialogue, facts: ClientFacts,
                  expectation: Expectation, *, name: str, security: str,
                  header: list[str]) -> str:
    """The scenario file's text (see the module docstring)."""
    return _Writer(session, dialogue, facts, expectation, name, security).text(header)
