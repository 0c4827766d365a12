"""Faults anchored to protocol events: ``after = "server:DATA"`` instead of ``at_s``.

A fault written at an absolute virtual time moves relative to the protocol when anything
before it changes: the same ``at_s`` lands before the content on one release and after
it on another (a TLS 1.3 handshake is a round trip shorter than 2.0's RSA suites), or
after a shrinking step removed an earlier delay. A fault anchored to what the server saw
stays where it was meant to be. Keys (any fault verb that takes ``at_s``, and
``drop_after``):

- ``after``: the anchor, ``"server:EVENT"``. EVENT is ``accept`` (the server accepted
  the connection), ``tls`` (the server's side of a TLS handshake completed), or a
  command verb the server took (``MAIL``, ``RCPT``, ``DATA``, ``BDAT``, ``STARTTLS`` ...)
  or one of the pseudo verbs of ``[[server.rules]]``: ``GREETING`` (the banner),
  ``DATA_END`` (the server had the whole content: the final dot, or the last BDAT chunk
  when no rule answers BDAT), ``AUTH_RESPONSE``. A command counts when the server takes
  it, whatever it answers (its reply ledger's ``answer`` record:
  :mod:`scenarios.server.ledger`);
- ``after_nth`` (default 1): the occurrence of the anchor that counts, over every
  connection of the run;
- ``after_s`` (default 0): seconds after the anchor. With 0 the fault happens at the
  instant the server took the command, before its reply leaves; ``at_s`` is refused
  with ``after``.

Counting faults count from the anchor: ``drop_nth``'s ``n``-th segment and
``drop_after``'s ``after_payload_bytes`` are counted from the moment the anchor fires.
An anchor that never happens never fires its fault.

This module knows anchors, trace records and the kernel's scheduling; nothing of the
fault verbs themselves (:mod:`scenarios.format.faults`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, model_validator

from emulator.trace import TraceRecord
from scenarios.format.vocabulary import seconds_to_us
from scenarios.server.ledger import ANSWER_KIND
from smtp.bounds import PositiveCount, Seconds
from smtp.inputwording import Problem, expected, problems_error
from stack.link import Link

SERVER_EVENTS: Final = {"accept": "accept", "tls": "tls_established"}
"""The anchors that are not command verbs, and the server's trace kind of each."""
_ANCHOR_RE: Final = re.compile(r"server:([A-Za-z][A-Za-z0-9_]*)")
_SERVER_SOURCE: Final = "server."


def _check_anchor(value: str) -> str:
    match = _ANCHOR_RE.fullmatch(value)
    if match is None:
        raise expected("server:EVENT (server:accept, server:tls or server:VERB such as "
                       "server:MAIL, server:DATA_END)")
    event = match.group(1)
    return f"server:{event if event in SERVER_EVENTS else event.upper()}"


Anchor = Annotated[str, AfterValidator(_check_anchor)]
"""``server:accept``, ``server:tls`` or ``server:VERB`` (the verb upper-cased)."""


class AnchoredTiming(BaseModel):
    """The timing keys of a fault: ``at_s`` (absolute), or ``after``/``after_nth``/
    ``after_s`` (relative to a protocol event). Subclasses declare ``at_s`` themselves
    (its default and whether it is required differ by verb)."""

    after: Anchor | None = None
    after_nth: PositiveCount = 1
    after_s: Seconds = 0.0

    @model_validator(mode="after")
    def _one_timing(self) -> AnchoredTiming:
        given = self.model_fields_set
        problems: list[Problem] = []
        if self.after is not None and "at_s" in given:
            problems.append((("at_s",), "not with after: after_s is the time from the anchor"))
        if self.after is None:
            problems += [((name,), "only with after (an anchor such as server:DATA)")
                         for name in ("after_nth", "after_s") if name in given]
        if problems:
            raise problems_error(problems)
        return self

    def schedule(self, link: Link, at_us: int, action: Callable[[], object]) -> None:
        """Call ``action`` at ``at_us`` (absolute), or ``after_s`` after the anchor."""
        if self.after is None:
            link.kernel.call_at(at_us, action)
        else:
            when_anchored(link, self.after, self.after_nth, seconds_to_us(self.after_s),
                          action)


def when_anchored(link: Link, anchor: str, nth: int, offset_us: int,
                  action: Callable[[], object]) -> None:
    """Call ``action`` ``offset_us`` after the ``nth`` occurrence of ``anchor`` (see the
    module docstring) in the trace of ``link``'s kernel; never when it does not occur."""
    match = _ANCHOR_RE.fullmatch(anchor)
    if match is None:
        raise ValueError(f"anchor: expected server:EVENT, got {anchor!r}")
    event = match.group(1) if match.group(1) in SERVER_EVENTS else match.group(1).upper()
    kind = SERVER_EVENTS.get(event, ANSWER_KIND)
    verb = None if event in SERVER_EVENTS else event
    seen = 0
    fired = False
    kernel = link.kernel

    def on_record(record: TraceRecord) -> None:
        nonlocal seen, fired
        if fired or record.kind != kind or not record.source.startswith(_SERVER_SOURCE):
            return
        if verb is not None and record.fields.get("verb") != verb:
            return
        seen += 1
        if seen == nth:
            fired = True
            if offset_us:
                kernel.call_later(offset_us, action)
            else:
                action()  # at once: before the server's reply to the anchor leaves

    kernel.trace.subscribe(on_record)
