"""The arguments of MAIL FROM and RCPT TO: the path, the ESMTP parameters and their checks.

``parse_mail_from`` and ``parse_rcpt_to`` split a command's argument (``FROM:<a@b> SIZE=9``)
into a ``PathArgument``, or None on bad syntax (the caller answers 501). ``check_mail_params``
checks SIZE, BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461) and
AUTH (RFC 4954 5); ``check_rcpt_params`` checks NOTIFY and ORCPT (RFC 3461). A check gives
the reply for the first bad parameter (501 for a bad value, 555 for an unknown one) and the
EHLO keywords that the parameters before it rely on, so the caller can note a parameter used
without its extension being advertised.

This module knows the reply texts for bad parameters and nothing about sessions, what was
advertised, rules, observations, sockets or time. Limits (the server's maximum size) are
the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from scenarios.server import replies as R

Params = dict[str, str | None]
"""ESMTP parameters: upper-case keyword to value (None for a bare keyword)."""

_MAIL_RE: Final = re.compile(r"FROM:( *)<([^<>]*)>(.*)", re.IGNORECASE)
_RCPT_RE: Final = re.compile(r"TO:( *)<([^<>]*)>(.*)", re.IGNORECASE)
_PARAM_RE: Final = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)(?:=(\S*))?")
_DSN_NOTIFY: Final = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_BODY_TYPES: Final = {"7BIT": None, "8BITMIME": "8BITMIME", "BINARYMIME": "BINARYMIME"}
"""BODY value to the EHLO keyword it needs (7BIT needs none)."""


@dataclass(frozen=True)
class PathArgument:
    """A parsed ``FROM:<address> params`` or ``TO:<address> params``."""

    address: str
    params: Params
    space_after_colon: bool
    """``FROM: <a@b>``: RFC 5321 allows no space there, though many servers accept it."""


@dataclass(frozen=True)
class ParamCheck:
    """What checking a command's parameters found."""

    problem: str | None
    """The reply for the first bad or unknown parameter; None when all are good."""
    extensions: tuple[str, ...]
    """EHLO keywords used by the parameters checked before any problem, in order."""


def parse_params(text: str) -> Params | None:
    """ESMTP parameters ``KEY[=VALUE] ...`` (keys upper-case), or None on bad syntax."""
    params: Params = {}
    for token in text.split():
        match = _PARAM_RE.fullmatch(token)
        if match is None or match[1].upper() in params:
            return None
        params[match[1].upper()] = match[2]
    return params


def parse_mail_from(argument: str) -> PathArgument | None:
    """MAIL's argument; the null reverse-path ``<>`` is allowed. None on bad syntax."""
    return _parse_path(_MAIL_RE, argument, allow_empty=True)


def parse_rcpt_to(argument: str) -> PathArgument | None:
    """RCPT's argument; the address must not be empty. None on bad syntax."""
    return _parse_path(_RCPT_RE, argument, allow_empty=False)


def _parse_path(pattern: re.Pattern[str], argument: str, allow_empty: bool) -> PathArgument | None:
    match = pattern.fullmatch(argument)
    params = parse_params(match[3]) if match else None
    if match is None or params is None or not (allow_empty or match[2]):
        return None
    return PathArgument(match[2], params, bool(match[1]))


def declared_size(params: Params) -> int | None:
    """MAIL's ``SIZE=`` value (after ``check_mail_params`` passed), None when absent."""
    return int(params["SIZE"] or 0) if "SIZE" in params else None


def check_mail_params(params: Params) -> ParamCheck:
    """The parameters of MAIL FROM (see the module docstring)."""
    return _check(params, _MAIL_KEYWORDS, _judge_mail_param)


def check_rcpt_params(params: Params) -> ParamCheck:
    """The parameters of RCPT TO (see the module docstring)."""
    return _check(params, _RCPT_KEYWORDS, _judge_rcpt_param)


_Judge = Callable[[str, str | None], tuple[bool, str | None]]
_MAIL_KEYWORDS: Final = frozenset({"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH"})
_RCPT_KEYWORDS: Final = frozenset({"NOTIFY", "ORCPT"})


def _check(params: Params, known: frozenset[str], judge: _Judge) -> ParamCheck:
    """555 for the first unknown keyword, 501 for the first bad value, in the client's order."""
    extensions: list[str] = []
    for key, value in params.items():
        if key not in known:
            return ParamCheck(R.S555_UNSUPPORTED_PARAMETER, tuple(extensions))
        good, extension = judge(key, value)
        if not good:
            return ParamCheck(R.S501_BAD_PARAMETER, tuple(extensions))
        if extension is not None:
            extensions.append(extension)
    return ParamCheck(None, tuple(extensions))


def _judge_mail_param(key: str, value: str | None) -> tuple[bool, str | None]:
    """Whether a MAIL parameter's value is good, and the EHLO keyword the parameter needs."""
    upper = (value or "").upper()
    if key == "SIZE":
        return value is not None and value.isdigit(), "SIZE"
    if key == "BODY":
        return value is not None and upper in _BODY_TYPES, _BODY_TYPES.get(upper)
    if key == "SMTPUTF8":
        return value is None, "SMTPUTF8"
    if key == "RET":
        return value is not None and upper in ("FULL", "HDRS"), "DSN"
    return bool(value), "DSN" if key == "ENVID" else "AUTH"


def _judge_rcpt_param(key: str, value: str | None) -> tuple[bool, str | None]:
    """Whether a RCPT parameter's value is good; both need DSN."""
    if key == "NOTIFY":
        items = set((value or "").upper().split(","))
        return items == {"NEVER"} or (bool(items) and items <= _DSN_NOTIFY), "DSN"
    return value is not None and ";" in value, "DSN"
