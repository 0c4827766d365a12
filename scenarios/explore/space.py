"""The search space: how a schedule's mutations are drawn, and how each one shrinks.

:func:`draw` takes a seeded ``random.Random`` and a starting point and returns 1 +
Geometric(0.6) mutations (at most :data:`MAX_MUTATIONS`, 2.4 on average), each from a
dimension chosen by :data:`DIMENSION_WEIGHTS` among those ``--vary`` allows. The values
favour the places where bugs live: reply codes the client must tell apart (odd 2xx and
3xx included), delays exactly at the client's timeout (one second under, at, over) or
spread up to one and a half times it, faults anchored to each command the server takes,
boundary dates, the smallest pools. Expensive schedules (100 kB bodies and attachments,
2,400 bps links) stay in the space at low weight.

:func:`simpler` lists the simpler versions of one mutation, closer to the starting point
and most aggressive first (optional keys dropped, numbers to their smallest, delays and
durations rounded to whole and tenth seconds), for shrinking.

:data:`GENERATOR_VERSION` names this space: a campaign seed replays only with the same
version (it is printed with every result, and workers refuse another one). Bump it on
any change here or in :mod:`scenarios.explore.mutations`.

This module knows the search space; nothing of running or judging.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from scenarios.explore.mutations import DIMENSIONS, Dimension, Mutation, Scalar
from scenarios.explore.start import StartPoint

GENERATOR_VERSION: Final = "v1"
MAX_MUTATIONS: Final = 8
DIMENSION_WEIGHTS: Final[dict[Dimension, float]] = {
    "server": 0.40, "link": 0.20, "job": 0.25, "device": 0.15}

VERBS: Final = ("GREETING", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "DATA_END", "QUIT",
                "RSET")
TLS_VERBS: Final = ("STARTTLS", "AUTH", "AUTH_RESPONSE")
ANCHOR_VERBS: Final = ("GREETING", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "DATA_END", "QUIT")
REPLY_CODES: Final = (421, 450, 451, 452, 454, 500, 501, 503, 530, 535, 550, 552, 553, 554,
                      250, 251, 354, 220, 334)
ACTIONS: Final = ("reply",) * 6 + ("silent", "ignore", "close", "reset", "reply_then_close",
                                   "drop_tls", "trickle")
INJECTED: Final = ("250 surplus\r\n", "554 surplus\r\n", "250-a\r\n250 b\r\n", "garbage\r\n")
TIMER_OF: Final = {"GREETING": "greeting", "EHLO": "ehlo", "STARTTLS": "starttls",
                   "AUTH": "auth", "AUTH_RESPONSE": "auth", "MAIL": "mail", "RCPT": "rcpt",
                   "DATA": "data_init", "BDAT": "bdat", "DATA_END": "data_term",
                   "QUIT": "quit", "RSET": "rset"}
OFFSETS_S: Final = (0.0, 0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05)
RTC_BOUNDARIES: Final = ("unset", "2024-02-29T12:00:00", "2024-12-31T23:59:59",
                         "2025-01-01T00:00:00", "2024-12-01T00:00:00", "2023-03-01T00:00:00",
                         "2038-01-19T03:14:07", "2000-02-29T23:59:59", "1999-12-31T23:59:59",
                         "2099-12-31T23:59:59", "2024-01-31T08:30:00", "2024-03-05T17:45:10")
BODY_OPS: Final = ("blank_line", "only_blank", "dot_line", "long_line", "eight_bit",
                   "crlf_mix", "empty", "no_final_newline", "big", "trailing_blank")
ATTACHMENT_TEXTS: Final = ("a,b\n1,2\n", "line one\n\nline three\n", ".dot\n..two\n",
                           "Grüße\n", "x")
FEATURES: Final = ("pipelining", "chunking", "size", "dsn", "eight_bit_mime")
CAPABILITIES: Final = ("PIPELINING", "CHUNKING", "SIZE", "8BITMIME", "STARTTLS",
                       "ENHANCEDSTATUSCODES")
POOLS: Final = (2, 3, 4, 5, 6, 8, 12)


def draw(rng: random.Random, start: StartPoint,
         vary: Sequence[Dimension] = DIMENSIONS) -> list[Mutation]:
    """One schedule's mutations (see the module docstring)."""
    count = 1
    while count < MAX_MUTATIONS and rng.random() < 0.6:
        count += 1
    allowed = [d for d in DIMENSIONS if d in vary]
    weights = [DIMENSION_WEIGHTS[d] for d in allowed]
    out = []
    for _ in range(count):
        dimension = rng.choices(allowed, weights)[0]
        out.append(_DRAW[dimension](rng, start))
    return out


def _delay(rng: random.Random, start: StartPoint, verb: str) -> float:
    """Log-uniform from 1 ms to 1.5 times the client's timeout for ``verb``; a third of
    the time one second under, at or over it."""
    timeout = start.timeout_s(TIMER_OF.get(verb, "mail"))
    if rng.random() < 0.33:
        return float(max(1.0, timeout + rng.choice((-1, 0, 1))))
    return round(10 ** rng.uniform(-3, math.log10(1.5 * timeout)), 3)


def _reply(code: int) -> str:
    return f"{code} {'4.0.0' if code < 500 else '5.0.0'} explore says {code}"


def draw_server(rng: random.Random, start: StartPoint) -> Mutation:
    roll = rng.random()
    if roll < 0.8:
        return _draw_rule(rng, start)
    if roll < 0.9:
        return Mutation.of("capability", remove=rng.choice(CAPABILITIES))
    knob = rng.choice(("segmentation", "coalesce", "send_during_data", "max_size"))
    if knob == "segmentation":
        return Mutation.of("server_knob", segmentation=rng.choice(
            ("byte_by_byte", "line_by_line", "coalesced")))
    if knob == "coalesce":
        return Mutation.of("server_knob", coalesce_replies=True)
    if knob == "send_during_data":
        return Mutation.of("server_knob", send_during_data=rng.choice(
            ("250 OK", "421 4.3.0 bye", "x")))
    return Mutation.of("server_knob", max_size=rng.choice((100, 1000)))


def _draw_rule(rng: random.Random, start: StartPoint) -> Mutation:
    verbs = VERBS + (TLS_VERBS if start.tls else ("AUTH",))
    verb = rng.choice(verbs)
    action = rng.choice(ACTIONS)
    p: dict[str, Scalar] = {"verb": verb, "action": action}
    if rng.random() < 0.3:
        p["nth"] = rng.choice((1, 1, 2, 3))
    if start.tls and rng.random() < 0.5:
        p["in_tls"] = rng.random() < 0.5
    if action == "drop_tls":
        p["in_tls"] = True
        p["drop_tls_mode"] = rng.choice(("tcp_close", "rst", "close_notify"))
    if action in ("reply", "reply_then_close", "trickle") and rng.random() < 0.8:
        p["reply"] = _reply(rng.choice(REPLY_CODES))
    if action == "trickle":
        p["trickle_delay_s"] = rng.choice((0.001, 0.1, 1.0, 5.0))
    if action in ("reply", "reply_then_close") and rng.random() < 0.15:
        p["inject"] = rng.choice(INJECTED)
    if action not in ("silent", "ignore") and rng.random() < 0.35:
        p["delay_s"] = _delay(rng, start, verb)
    return Mutation.of("rule", **p)


def draw_link(rng: random.Random, start: StartPoint) -> Mutation:
    fault = rng.choice(("drop_nth", "drop_nth", "drop_after", "inject_rst", "hold",
                        "partition", "set_loss", "latency", "bandwidth", "loss"))
    side = rng.choice(("device", "server"))
    verbs = ANCHOR_VERBS + (("STARTTLS", "AUTH") if start.tls else ())
    anchor = f"server:{rng.choice(verbs)}"
    offset = rng.choice(OFFSETS_S)
    if fault == "latency":
        return Mutation.of("link", latency_ms=rng.choice((0.1, 5.0, 50.0, 200.0, 1000.0)))
    if fault == "bandwidth":
        return Mutation.of("link", bandwidth_bps=rng.choice((2400, 9600, 64000)))
    if fault == "loss":
        return Mutation.of("link", loss=rng.choice((0.01, 0.05, 0.2)))
    anchored = rng.random() < 0.5
    if fault == "drop_nth":
        return Mutation.of("fault", fault="drop_nth", n=int(1 + rng.expovariate(1 / 8)),
                           src=side, payload_only=rng.random() < 0.5,
                           after=anchor if anchored else None)
    if fault == "drop_after":
        return Mutation.of("fault", fault="drop_after", src=side,
                           after_payload_bytes=int(rng.expovariate(1 / 600)),
                           after=anchor if anchored else None)
    timing: dict[str, Scalar] = {"after": anchor, "after_s": offset or None}
    if fault == "inject_rst":
        return Mutation.of("fault", fault="inject_rst", towards=side, **timing)
    verb = anchor.split(":", 1)[1]
    duration = None if rng.random() < 0.3 else _delay(rng, start, verb)
    if fault == "hold":
        return Mutation.of("fault", fault="hold", src=rng.choice((side, None)),
                           duration_s=duration, **timing)
    if fault == "partition":
        return Mutation.of("fault", fault="partition", src=rng.choice((side, None)),
                           duration_s=duration, **timing)
    return Mutation.of("fault", fault="set_loss", src=rng.choice((side, None)),
                       probability=rng.choice((0.05, 0.1, 0.3, 0.5, 0.9)), **timing)


def draw_job(rng: random.Random, _start: StartPoint) -> Mutation:
    what = rng.choice(("body", "body", "body", "attachment", "recipients"))
    if what == "body":
        op = rng.choice(BODY_OPS)
        p: dict[str, Scalar] = {"op": op}
        if op in ("blank_line", "dot_line", "long_line", "eight_bit", "crlf_mix", "big"):
            p["at"] = round(rng.random(), 3)
        if op in ("blank_line", "only_blank", "dot_line", "trailing_blank", "crlf_mix"):
            p["n"] = rng.choice((1, 2, 3, 5))
        if op == "long_line":
            p["length"] = rng.choice((998, 999, 1000, 1001, 5000))
        if op == "big":
            p["size"] = rng.choice((2000, 6500, 20000, 100000))
        return Mutation.of("body", **p)
    if what == "attachment":
        if rng.random() < 0.5:
            return Mutation.of("attachment", text=rng.choice(ATTACHMENT_TEXTS))
        return Mutation.of("attachment", size=rng.choice((1, 57, 3000, 10000, 100000)))
    return Mutation.of("recipients", field=rng.choice(("to", "cc", "bcc")),
                       n=rng.choice((1, 2, 3)), reject=rng.random() < 0.3)


def draw_device(rng: random.Random, _start: StartPoint) -> Mutation:
    what = rng.choice(("rtc", "rtc", "drift", "pool", "pool", "feature", "feature",
                       "security"))
    if what == "rtc":
        if rng.random() < 0.6:
            return Mutation.of("rtc", value=rng.choice(RTC_BOUNDARIES))
        when = datetime(1971, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(4_000_000_000))
        return Mutation.of("rtc", value=when.strftime("%Y-%m-%dT%H:%M:%S"))
    if what == "drift":
        return Mutation.of("drift", ppm=rng.choice((-500000, -100, 100, 50000, 500000)))
    if what == "pool":
        return Mutation.of("pool", buffers=rng.choice(POOLS))
    if what == "feature":
        name = rng.choice((*FEATURES, "chunk_size"))
        if name == "chunk_size":
            return Mutation.of("feature", name=name, value=rng.choice((1, 7, 64, 512, 1000)))
        return Mutation.of("feature", name=name, value=rng.random() < 0.5)
    return Mutation.of("security", value=rng.choice(("none", "starttls", "required")))


_DRAW: Final = {"server": draw_server, "link": draw_link, "job": draw_job,
                "device": draw_device}


# ---- shrinking a mutation ---------------------------------------------------------------

def _rounded(value: float) -> list[float]:
    """Whole seconds, then tenths, when they differ from ``value`` (and stay above 0)."""
    out: list[float] = []
    for r in (float(round(value)), round(value, 1)):
        if r > 0 and r != value and r not in out:
            out.append(r)
    return out


def simpler(m: Mutation) -> list[Mutation]:
    """Simpler versions of ``m``, closer to the starting point, most aggressive first."""
    p = m.p
    out: list[Mutation] = []

    def candidate(**changes: Scalar) -> None:
        c = m.with_params(**changes)
        if c != m and c not in out:
            out.append(c)

    if m.kind == "rule":
        for key in ("inject", "nth", "delay_s", "trickle_delay_s"):
            if key in p:
                candidate(**{key: None})
        if "in_tls" in p and p.get("action") != "drop_tls":
            candidate(in_tls=None)
        reply = p.get("reply")
        if isinstance(reply, str) and len(reply) > 3:
            candidate(reply=reply[:3])
        for key in ("delay_s", "trickle_delay_s"):
            value = p.get(key)
            if isinstance(value, float | int):
                for r in _rounded(float(value)):
                    candidate(**{key: r})
    elif m.kind == "fault":
        if p.get("after_s"):
            candidate(after_s=None)
        duration = p.get("duration_s")
        if isinstance(duration, float | int):
            candidate(duration_s=None)
            for r in _rounded(float(duration)):
                candidate(duration_s=r)
        n = p.get("n")
        if isinstance(n, int) and n > 1:
            candidate(n=1)
            candidate(n=n // 2)
        size = p.get("after_payload_bytes")
        if isinstance(size, int) and size > 0:
            candidate(after_payload_bytes=0)
            candidate(after_payload_bytes=size // 2)
        if p.get("src") is not None and p["fault"] in ("hold", "partition", "set_loss"):
            candidate(src=None)
        if p.get("payload_only"):
            candidate(payload_only=None)
    elif m.kind == "body":
        if p.get("at"):
            candidate(at=0.0)
        n = p.get("n")
        if isinstance(n, int) and n > 1:
            candidate(n=1)
        size = p.get("size")
        if isinstance(size, int) and size > 2000:
            candidate(size=2000)
        length = p.get("length")
        if isinstance(length, int) and length > 998:
            candidate(length=998)
    elif m.kind == "attachment":
        size = p.get("size")
        if isinstance(size, int):
            for smaller in (1, 57, 3000):
                if smaller < size:
                    candidate(size=smaller)
    elif m.kind == "recipients":
        n = p.get("n")
        if isinstance(n, int) and n > 1:
            candidate(n=1)
        if p.get("reject"):
            candidate(reject=False)
    elif m.kind == "pool":
        buffers = p.get("buffers")
        if isinstance(buffers, int):
            for larger in (12, 8, 6):
                if larger > buffers:
                    candidate(buffers=larger)
    elif m.kind == "link":
        loss = p.get("loss")
        if isinstance(loss, float) and loss > 0.01:
            candidate(loss=0.01)
    return out
