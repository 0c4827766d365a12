"""The scripted server's knobs and fault rules, as plain data, and the rule matcher.

``ServerConfig`` holds the server-wide settings; ``Rule`` overrides how the server answers
one kind of command. Field names are snake_case so a scenario file maps onto them 1:1.

A rule matches a command by ``verb`` (a command verb, ``"*"`` for any command line, or a
pseudo verb: ``GREETING`` for the banner, ``DATA_END`` for the reply after the final dot
or the last BDAT chunk, ``AUTH_RESPONSE`` for each line of a SASL exchange), by
``argument`` (a regex searched in the argument; for ``DATA_END`` in the content, decoded
as latin-1), and by ``in_tls`` (None = either). Every rule counts the commands it matches;
``nth`` (1-based) picks the first one it fires on and ``times`` how often it fires from
there (default: once when ``nth`` is set, else every time). The first rule in the list
that fires wins.

What a rule does:

- ``reply`` replaces the default reply (``None`` keeps it). Lines are separated by
  ``"\\n"`` and each gets ``"\\r\\n"``, unless ``raw`` is set: then the bytes go out exactly
  as given. ``inject`` bytes follow the reply in the same write, always raw.
- ``transition``: whether the command still has its normal effect (MAIL records the
  sender, STARTTLS starts TLS, DATA_END stores the mail, QUIT closes). None means yes when
  the rule keeps the default reply or its reply is 2xx/3xx, no otherwise.
- ``action``: ``reply``; ``trickle`` (the reply ``trickle_bytes`` bytes per write,
  ``trickle_delay_us`` apart, plus a uniform 0..``trickle_jitter_us`` per gap drawn from
  the rule book's seeded generator: hostile-servers.md row 27's "1 byte every 20-60 s");
  ``reply_then_close``; ``drop_tls`` (the reply inside TLS, then ``DropTls``;
  with ``close_notify`` then ``inject`` in plaintext, the only thing the server still
  sends: it reads nothing more); ``ignore`` (no reply, keep serving); ``silent`` (no
  reply, never answer again); ``close`` (FIN, no reply); ``reset`` (RST, no reply);
  ``stop_reading`` (the reply, then the server stops reading from the connection for
  ``stop_reading_us``, or for good when it is None: its TCP receive window fills and
  closes, see :class:`~scenarios.server.actions.StopReading`).
- ``generate`` (a :class:`~scenarios.server.generated.GeneratedReply`) replaces ``reply``
  with a reply made as the socket takes it (a 100 MB line, 10,000 lines, a 1 MB AUTH
  challenge), with ``action`` ``reply`` or ``reply_then_close``.
- ``delay_us`` delays everything the rule sends.

This module knows nothing about sockets, clocks or the protocol state.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, get_args

from emulator.checks import check_optional_int
from scenarios.server import replies
from scenarios.server.actions import (
    DROP_TLS_MODES,
    SEGMENTATIONS,
    Action,
    Close,
    Delay,
    DropTls,
    DropTlsMode,
    Reset,
    Segmentation,
    Send,
    SendGenerated,
    Silence,
    StopReading,
)
from scenarios.server.generated import GeneratedReply

RuleAction: TypeAlias = Literal[
    "reply", "trickle", "reply_then_close", "drop_tls", "ignore", "silent", "close", "reset",
    "stop_reading"
]
RULE_ACTIONS: Final[tuple[str, ...]] = get_args(RuleAction)
PSEUDO_VERBS: Final = frozenset({"GREETING", "DATA_END", "AUTH_RESPONSE"})
_NO_REPLY_ACTIONS: Final = frozenset({"ignore", "silent", "close", "reset"})
_VERB_RE: Final = re.compile(r"\*|[A-Z][A-Z0-9_]*")


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else replies.text_bytes(value)


@dataclass(frozen=True)
class Rule:
    """One override of the server's behaviour (see the module docstring)."""

    verb: str
    argument: str | None = None
    nth: int | None = None
    times: int | None = None
    in_tls: bool | None = None
    reply: str | bytes | None = None
    raw: bool = False
    inject: str | bytes | None = None
    transition: bool | None = None
    action: RuleAction = "reply"
    delay_us: int = 0
    trickle_delay_us: int = 0
    trickle_jitter_us: int = 0
    trickle_bytes: int = 1
    drop_tls_mode: DropTlsMode | None = None
    generate: GeneratedReply | None = None
    stop_reading_us: int | None = None
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.verb, str) or not _VERB_RE.fullmatch(self.verb.upper()):
            raise ValueError(f"Rule.verb: expected a command verb or '*', got {self.verb!r}")
        object.__setattr__(self, "verb", self.verb.upper())
        pattern = None
        if self.argument is not None:
            try:
                pattern = re.compile(self.argument)
            except (re.error, TypeError) as exc:
                msg = f"Rule.argument: not a valid regex ({exc}): {self.argument!r}"
                raise ValueError(msg) from exc
        object.__setattr__(self, "_pattern", pattern)
        check_optional_int("Rule.nth", self.nth, 1)
        check_optional_int("Rule.times", self.times, 1)
        check_optional_int("Rule.delay_us", self.delay_us, 0)
        check_optional_int("Rule.trickle_delay_us", self.trickle_delay_us, 0)
        check_optional_int("Rule.trickle_jitter_us", self.trickle_jitter_us, 0)
        check_optional_int("Rule.trickle_bytes", self.trickle_bytes, 1)
        if self.action not in RULE_ACTIONS:
            raise ValueError(f"Rule.action: expected one of {RULE_ACTIONS}, got {self.action!r}")
        for name in ("reply", "inject"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str | bytes) or not value):
                raise ValueError(f"Rule.{name}: expected non-empty text or bytes, got {value!r}")
            if value is not None and self.action in _NO_REPLY_ACTIONS:
                raise ValueError(f"Rule.{name}: not used with action {self.action!r}")
        if self.transition is False and self.reply is None and self.action not in _NO_REPLY_ACTIONS:
            raise ValueError("Rule.reply: required when transition is false")
        if self.action == "drop_tls" and self.drop_tls_mode not in DROP_TLS_MODES:
            raise ValueError(
                f"Rule.drop_tls_mode: expected one of {DROP_TLS_MODES} with action 'drop_tls',"
                f" got {self.drop_tls_mode!r}"
            )
        if self.action != "drop_tls" and self.drop_tls_mode is not None:
            raise ValueError("Rule.drop_tls_mode: only used with action 'drop_tls'")
        if self.inject is not None and self.drop_tls_mode in ("tcp_close", "rst"):
            raise ValueError(f"Rule.inject: never sent with drop_tls_mode "
                             f"{self.drop_tls_mode!r}: the connection ends first")
        for name in ("trickle_delay_us", "trickle_jitter_us"):
            if self.action != "trickle" and getattr(self, name):
                raise ValueError(f"Rule.{name}: only used with action 'trickle'")
        if self.action != "trickle" and self.trickle_bytes != 1:
            raise ValueError("Rule.trickle_bytes: only used with action 'trickle'")
        if self.generate is not None:
            if not isinstance(self.generate, GeneratedReply):
                raise ValueError(f"Rule.generate: expected a GeneratedReply, got "
                                 f"{self.generate!r}")
            for name in ("reply", "inject"):
                if getattr(self, name) is not None:
                    raise ValueError(f"Rule.{name}: not used with generate (the generated "
                                     "reply is the whole answer)")
            if self.action not in ("reply", "reply_then_close"):
                raise ValueError(f"Rule.generate: only with action 'reply' or "
                                 f"'reply_then_close', not {self.action!r}")
        check_optional_int("Rule.stop_reading_us", self.stop_reading_us, 0)
        if self.action != "stop_reading" and self.stop_reading_us is not None:
            raise ValueError("Rule.stop_reading_us: only used with action 'stop_reading'")

    def matches(self, verb: str, argument: str, in_tls: bool) -> bool:
        if self.verb == "*":
            if verb in PSEUDO_VERBS:
                return False
        elif self.verb != verb:
            return False
        if self.in_tls is not None and self.in_tls != in_tls:
            return False
        return self._pattern is None or self._pattern.search(argument) is not None

    def reply_bytes(self) -> bytes | None:
        """The wire bytes of ``reply`` (None when the rule keeps the default reply); of a
        generated reply, its start (what the engine reads the reply code from)."""
        if self.generate is not None:
            return self.generate.start()
        if self.reply is None:
            return None
        if self.raw:
            return _as_bytes(self.reply)
        text = self.reply if isinstance(self.reply, str) else self.reply.decode("latin-1")
        return replies.encode(text)

    def inject_bytes(self) -> bytes:
        return b"" if self.inject is None else _as_bytes(self.inject)

    def keeps_transition(self) -> bool:
        """Whether the command keeps its normal effect under this rule."""
        if self.transition is not None:
            return self.transition
        if self.action in _NO_REPLY_ACTIONS:
            return False
        wire = self.reply_bytes()
        return wire is None or wire[:1] in (b"2", b"3")

    def answer(self, reply: bytes | None, after: Sequence[Action],
               rng: random.Random | None = None) -> list[Action]:
        """The actions when this rule fires: ``reply``, then ``after``, shaped by
        ``action``, ``delay_us`` and ``inject`` (a subclass may shape them its own way).
        ``rng`` draws a trickle's jitter (None: no jitter)."""
        if self.action == "ignore":
            return []
        out: list[Action] = [Delay(self.delay_us)] if self.delay_us else []
        if self.action in ("silent", "close", "reset"):
            stop: dict[str, Action] = {"silent": Silence(), "close": Close(), "reset": Reset()}
            out.append(stop[self.action])
            return out
        payload = (reply or b"") + (b"" if self.action == "drop_tls" else self.inject_bytes())
        if self.generate is not None:
            out.append(SendGenerated(self.generate))
        elif self.action == "trickle":
            step = self.trickle_bytes
            for i in range(0, len(payload), step):
                gap = self.trickle_delay_us
                if self.trickle_jitter_us and rng is not None:
                    gap += rng.randint(0, self.trickle_jitter_us)
                if i and gap:
                    out.append(Delay(gap))
                out.append(Send(payload[i : i + step]))
        elif payload:
            out.append(Send(payload))
        tail = [a for a in after if not isinstance(a, Close)]
        out.extend(after if self.action in ("reply", "trickle", "stop_reading") else tail)
        if self.action == "stop_reading":
            out.append(StopReading(self.stop_reading_us))
        if self.action == "reply_then_close":
            out.append(Close())
        elif self.action == "drop_tls":
            assert self.drop_tls_mode is not None  # checked in Rule.__post_init__
            out.append(DropTls(self.drop_tls_mode))
            if self.inject is not None:
                out.append(Send(self.inject_bytes()))
        return out


class RuleBook:
    """The rules of one connection (or one server) with their match counters, and one
    random generator per rule for what a rule draws (a trickle's jitter), seeded from
    ``seed`` and the rule's place: the same seed gives the same draws."""

    def __init__(self, rules: Sequence[Rule], *, seed: int = 0) -> None:
        self._rules = tuple(rules)
        self._seen = [0] * len(self._rules)
        self._fired = [0] * len(self._rules)
        self._seed = seed
        self._rngs: dict[int, random.Random] = {}

    def rng_for(self, rule: Rule) -> random.Random:
        """The generator of ``rule`` (one of this book's rules)."""
        index = next(i for i, r in enumerate(self._rules) if r is rule)
        rng = self._rngs.get(index)
        if rng is None:
            rng = self._rngs[index] = random.Random(f"smtp-hil rule {self._seed}:{index}")
        return rng

    def match(self, verb: str, argument: str, in_tls: bool) -> Rule | None:
        """Count this command for every rule it matches; return the first that fires."""
        chosen: Rule | None = None
        for index, rule in enumerate(self._rules):
            if not rule.matches(verb, argument, in_tls):
                continue
            self._seen[index] += 1
            if chosen is None and self._fires(index, rule):
                self._fired[index] += 1
                chosen = rule
        return chosen

    def reads_argument(self, verb: str) -> bool:
        """Whether a rule for ``verb`` looks at its argument (has a pattern): the end of a
        mail's content is then worth decoding to text for it."""
        return any(rule.verb in (verb, "*") and rule.argument is not None
                   for rule in self._rules)

    def _fires(self, index: int, rule: Rule) -> bool:
        if self._seen[index] < (rule.nth or 1):
            return False
        limit = rule.times if rule.times is not None else (1 if rule.nth is not None else None)
        return limit is None or self._fired[index] < limit


def apply_rule(rule: Rule | None, reply: bytes | None, after: Sequence[Action],
               rng: random.Random | None = None) -> list[Action]:
    """The actions for one answer: ``reply`` (already the rule's or the default), then
    ``after`` (what the command itself does next: StartTls, Close, unsolicited Sends),
    shaped by ``rule`` (see :meth:`Rule.answer`; ``rng`` is the rule's generator)."""
    if rule is None:
        return ([Send(reply)] if reply else []) + list(after)
    return rule.answer(reply, after, rng)


def default_capabilities(max_size: int | None, starttls: bool) -> tuple[str, ...]:
    """What EHLO lists when the scenario does not say: every extension the engine has."""
    return (
        "PIPELINING",
        f"SIZE {max_size}" if max_size is not None else "SIZE",
        "ETRN",
        *(("STARTTLS",) if starttls else ()),
        "AUTH PLAIN LOGIN CRAM-MD5 ANONYMOUS XOAUTH2",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
    )


@dataclass(frozen=True)
class ServerConfig:
    """Server-wide settings of one scripted server.

    ``capabilities`` None means :func:`default_capabilities`; ``capabilities_tls`` None
    means the same list without STARTTLS. ``starttls`` says whether the server does
    STARTTLS at all (whether EHLO lists it is up to ``capabilities``). ``credentials``
    maps a user name to its password (PLAIN, LOGIN, CRAM-MD5) or bearer token (XOAUTH2).
    ``rcpt_reject`` and ``vrfy`` map an address (any case) to a reply text.
    ``date_tolerance_hours`` refuses mail whose Date header is missing or further than
    that from the ``now`` the driver gives ``on_data``. ``send_during_data`` is sent right
    after the 354 and again each time content arrives, ``send_during_data_times`` times in
    all. ``coalesce_replies`` sends the replies to one read in one write (so does
    ``segmentation="coalesced"``); ``"byte_by_byte"`` splits every write into single bytes.
    """

    hostname: str = "smtp.example.com"
    capabilities: Sequence[str] | None = None
    capabilities_tls: Sequence[str] | None = None
    starttls: bool = True
    implicit_tls: bool = False
    max_size: int | None = 10 * 1024 * 1024
    credentials: Mapping[str, str] = field(default_factory=dict)
    allow_anonymous: bool = True
    cram_md5_challenge: str = "<1896.697170952@postoffice.reston.mci.net>"
    require_auth: bool = False
    rcpt_reject: Mapping[str, str] = field(default_factory=dict)
    vrfy: Mapping[str, str] = field(default_factory=dict)
    vrfy_default: str = replies.S252_CANNOT_VRFY
    etrn_reply: str = replies.S250_ETRN_STARTED
    date_tolerance_hours: int | None = None
    send_during_data: str | bytes | None = None
    send_during_data_times: int = 1
    ehlo_reject_bare_ip: bool = False
    max_line_length: int = 512
    coalesce_replies: bool = False
    segmentation: Segmentation = "normal"
    rules: Sequence[Rule] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.hostname, str) or not self.hostname or " " in self.hostname:
            raise ValueError(f"ServerConfig.hostname: expected a host name, got {self.hostname!r}")
        for name in ("capabilities", "capabilities_tls", "rules"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                    raise ValueError(f"ServerConfig.{name}: expected a list, got {value!r}")
                object.__setattr__(self, name, tuple(value))
        for name in ("capabilities", "capabilities_tls"):
            for item in getattr(self, name) or ():
                if not isinstance(item, str) or not item or "\r" in item or "\n" in item:
                    raise ValueError(f"ServerConfig.{name}: bad capability line {item!r}")
        if not all(isinstance(rule, Rule) for rule in self.rules):
            raise ValueError("ServerConfig.rules: expected a list of Rule")
        check_optional_int("ServerConfig.max_size", self.max_size, 0)
        check_optional_int("ServerConfig.date_tolerance_hours", self.date_tolerance_hours, 0)
        check_optional_int("ServerConfig.send_during_data_times", self.send_during_data_times, 0)
        check_optional_int("ServerConfig.max_line_length", self.max_line_length, 3)
        for name in ("credentials", "rcpt_reject", "vrfy"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError(f"ServerConfig.{name}: expected a table of text to text")
        if self.segmentation not in SEGMENTATIONS:
            raise ValueError(
                f"ServerConfig.segmentation: expected one of {SEGMENTATIONS},"
                f" got {self.segmentation!r}"
            )
        if self.send_during_data is not None and (
            not isinstance(self.send_during_data, str | bytes) or not self.send_during_data
        ):
            raise ValueError("ServerConfig.send_during_data: expected non-empty text or bytes")

    def ehlo_capabilities(self, tls: bool) -> tuple[str, ...]:
        """The capability lines EHLO lists, before or after TLS."""
        if tls and self.capabilities_tls is not None:
            return tuple(self.capabilities_tls)
        base = (
            tuple(self.capabilities)
            if self.capabilities is not None
            else default_capabilities(self.max_size, self.starttls)
        )
        return tuple(c for c in base if c.upper() != "STARTTLS") if tls else base

    @property
    def size_limit(self) -> int | None:
        """The largest message the server takes, in octets; None: no fixed maximum
        (``max_size`` None, or 0, which ``SIZE 0`` advertises as such: RFC 1870 4)."""
        return self.max_size or None

    def send_during_data_bytes(self) -> bytes | None:
        return None if self.send_during_data is None else _as_bytes(self.send_during_data)
