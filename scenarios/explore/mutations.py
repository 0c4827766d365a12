"""One change to a starting scenario, as plain data: what a schedule is made of.

A :class:`Mutation` is a kind and its parameters (JSON scalars). It applies to the
scenario as a TOML-shaped document (what ``tomllib`` reads), so the mutated scenario goes
through the format's own validation and writes back out as a file that says exactly what
ran. Mutations are independent of one another (any subset applies: delta debugging
removes some), and each knows its simpler versions, closer to the starting point, for
shrinking (:func:`simpler`).

The kinds, by the dimension ``--vary`` names:

- ``server``: ``rule`` (one ``[[server.rules]]`` entry, placed before the starting
  point's own rules), ``server_knob`` (a ``[server]`` key: segmentation, coalesced
  replies, bytes sent during the content, a SIZE limit), ``capability`` (an extension
  left out of the EHLO reply);
- ``link``: ``fault`` (one ``[[link.faults]]`` entry, anchored to a protocol event when
  timed), ``link`` (latency, bandwidth or random loss);
- ``job``: ``body`` (an edit of the body: blank lines, dot lines, a long line, 8-bit
  text, CR/LF mixes, empty, no final line end, big), ``attachment``, ``recipients``;
- ``device``: ``rtc``, ``drift``, ``pool``, ``feature`` (a ``[device.config.features]``
  key), ``security``.

This module knows the scenario file's keys; nothing of running or judging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias, get_args

Doc: TypeAlias = dict[str, Any]
Scalar: TypeAlias = str | int | float | bool | None

MutationKind: TypeAlias = Literal[
    "rule", "server_knob", "capability", "fault", "link", "body", "attachment", "recipients",
    "rtc", "drift", "pool", "feature", "security"]
MUTATION_KINDS: Final[tuple[MutationKind, ...]] = get_args(MutationKind)
Dimension: TypeAlias = Literal["server", "link", "job", "device"]
DIMENSIONS: Final[tuple[Dimension, ...]] = get_args(Dimension)
DIMENSION_OF: Final[dict[MutationKind, Dimension]] = {
    "rule": "server", "server_knob": "server", "capability": "server",
    "fault": "link", "link": "link",
    "body": "job", "attachment": "job", "recipients": "job",
    "rtc": "device", "drift": "device", "pool": "device", "feature": "device",
    "security": "device",
}

DEFAULT_CAPABILITIES: Final = ("PIPELINING", "SIZE 10485760", "ETRN", "STARTTLS",
                               "AUTH PLAIN LOGIN CRAM-MD5 ANONYMOUS XOAUTH2",
                               "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING")
"""The scripted server's EHLO list when a scenario gives none (its ``max_size`` aside)."""
BIG_ROW: Final = "00:00;pressure_bar=4.0;temperature_c=38;flow_l_min=12.0;valve=open"


@dataclass(frozen=True, slots=True)
class Mutation:
    """One change: ``kind`` and its parameters, sorted by name."""

    kind: MutationKind
    params: tuple[tuple[str, Scalar], ...]

    @classmethod
    def of(cls, kind: MutationKind, **params: Scalar) -> Mutation:
        """A mutation; parameters that are None are left out."""
        return cls(kind, tuple(sorted((k, v) for k, v in params.items() if v is not None)))

    @property
    def p(self) -> dict[str, Scalar]:
        return dict(self.params)

    @property
    def dimension(self) -> Dimension:
        return DIMENSION_OF[self.kind]

    def with_params(self, **changes: Scalar) -> Mutation:
        """This mutation with parameters changed (None: left out)."""
        merged = {**self.p, **changes}
        return Mutation.of(self.kind, **merged)

    def to_json(self) -> dict[str, Scalar]:
        return {"kind": self.kind, **self.p}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Mutation:
        kind = data.get("kind")
        if kind not in MUTATION_KINDS:
            raise ValueError(f"mutation kind: expected one of {', '.join(MUTATION_KINDS)}, "
                             f"got {kind!r}")
        return cls.of(kind, **{k: v for k, v in data.items() if k != "kind"})

    def __str__(self) -> str:
        return describe(self)


def describe(m: Mutation) -> str:
    """The change in the words of the scenario file (for comments and summaries)."""
    p = m.p
    rest = ", ".join(f"{k} = {_toml(v)}" for k, v in m.params
                     if k not in ("fault", "op", "verb", "what"))
    if m.kind == "rule":
        return f"[[server.rules]] verb = {_toml(p['verb'])}, {rest}"
    if m.kind == "fault":
        return f"[[link.faults]] fault = {_toml(p['fault'])}, {rest}"
    if m.kind == "body":
        return f"job.body: {p['op']}" + (f" ({rest})" if rest else "")
    if m.kind == "attachment":
        return f"[[job.attachments]] {rest}"
    if m.kind == "recipients":
        return f"job.{p['field']}: +{p['n']} recipient(s)" + (
            ", the first refused by the server" if p.get("reject") else "")
    if m.kind == "capability":
        return f"server.capabilities without {p['remove']}"
    if m.kind == "feature":
        return f"device.config.features.{p['name']} = {_toml(p['value'])}"
    if m.kind == "security":
        return f"device.config.server.security = {_toml(p['value'])}"
    if m.kind == "rtc":
        return f"device.rtc = {p['value']}"
    if m.kind == "drift":
        return f"device.rtc_drift_ppm = {p['ppm']}"
    if m.kind == "pool":
        return f"device.pool_buffers = {p['buffers']}"
    section = "server" if m.kind == "server_knob" else "link"
    return ", ".join(f"{section}.{k} = {_toml(v)}" for k, v in m.params)


def _toml(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    return repr(value)


# ---- applying ---------------------------------------------------------------------------

def _copied(value: Any) -> Any:
    """A deep copy of a TOML document: its dicts and lists copied, its scalars (str,
    numbers, bool, dates and times: all immutable) shared. ``copy.deepcopy`` did the
    same with a memo and a dispatch per value, a third of building a schedule."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(item) for item in value)
    return value


def apply(base: Doc, mutations: list[Mutation]) -> Doc:
    """``base`` (not changed) with ``mutations`` applied, in order."""
    doc: Doc = _copied(base)
    device = doc.setdefault("device", {})
    config = device.setdefault("config", {})
    server = doc.setdefault("server", {})
    link = doc.setdefault("link", {})
    job = doc["job"]
    rules: list[Doc] = []
    for m in mutations:
        p = m.p
        kind = m.kind
        if kind == "rule":
            rules.append(_first("verb", p))
        elif kind == "fault":
            link.setdefault("faults", []).append(_first("fault", p))
        elif kind == "link":
            link.update(p)
        elif kind == "server_knob":
            server.update(p)
        elif kind == "capability":
            _remove_capability(server, str(p["remove"]))
        elif kind == "body":
            job["body"] = edit_body(str(job.get("body", "")), p)
        elif kind == "attachment":
            attachments = job.setdefault("attachments", [])
            suffix = "txt" if "text" in p else "bin"
            attachments.append({"filename": f"explore{len(attachments)}.{suffix}", **p})
        elif kind == "recipients":
            field = str(p["field"])
            added = [f"r{i}-{field}@example.net" for i in range(int(p["n"] or 1))]
            job[field] = [*job.get(field, []), *added]
            if p.get("reject"):
                server.setdefault("rcpt_reject", {})[added[0]] = "550 5.1.1 No such user"
        elif kind == "rtc":
            value = str(p["value"])
            device["rtc"] = value if value == "unset" else datetime.fromisoformat(
                value).replace(tzinfo=UTC)
            device.pop("rtc_variants", None)
            server.pop("clock", None)
        elif kind == "drift":
            device["rtc_drift_ppm"] = p["ppm"]
        elif kind == "pool":
            device["pool_buffers"] = p["buffers"]
        elif kind == "feature":
            config.setdefault("features", {})[str(p["name"])] = p["value"]
        elif kind == "security":
            config.setdefault("server", {})["security"] = p["value"]
    if rules:
        server["rules"] = [*rules, *server.get("rules", [])]
    return doc


def _first(key: str, table: dict[str, Scalar]) -> Doc:
    """``table`` with ``key`` first, as a person writes it (``verb = ...`` on top)."""
    return {key: table[key], **{k: v for k, v in table.items() if k != key}}


def _remove_capability(server: Doc, keyword: str) -> None:
    capabilities = server.get("capabilities")
    if capabilities is None:
        capabilities = [c for c in DEFAULT_CAPABILITIES
                        if c != "STARTTLS" or server.get("starttls", True)]
    server["capabilities"] = [c for c in capabilities if c.split()[0].upper() != keyword]


def edit_body(body: str, p: Mapping[str, Scalar]) -> str:
    """The job's body after one ``body`` mutation."""
    op, n = p["op"], int(p.get("n") or 1)
    if op == "only_blank":
        return "\n" * n
    if op == "empty":
        return ""
    if op == "no_final_newline":
        return body.rstrip("\r\n")
    if op == "trailing_blank":
        return body + "\n" * n
    lines = body.split("\n")
    at = min(int(float(p.get("at") or 0.0) * len(lines)), max(len(lines) - 1, 0))
    inserted: list[str]
    if op == "blank_line":
        inserted = [""] * n
    elif op == "dot_line":
        inserted = [".", "..", ".hidden"][:n]
    elif op == "long_line":
        inserted = ["L" * int(p.get("length") or 998)]
    elif op == "eight_bit":
        inserted = ["Grüße aus der Pumpstation, 41 °C"]
    elif op == "crlf_mix":
        inserted = ["bare\rcr", "crlf\r", "lf"][:max(n, 1)]
    elif op == "big":
        inserted = [BIG_ROW] * (int(p.get("size") or 2000) // (len(BIG_ROW) + 1))
    else:
        raise ValueError(f"body op: unknown {op!r}")
    lines[at:at] = inserted
    return "\n".join(lines)
