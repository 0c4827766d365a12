"""Choosing scenarios by keyword expression and by tag, as ``pytest -k`` and ``robot
--include`` choose tests: ``smtp-hil run -k "tls and not starttls"``, ``smtp-hil matrix
--tag pipelining --tag auth``.

A keyword expression (:class:`KeywordExpression`) has pytest's grammar::

    expression := or_expr?
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | word

A word (letters, digits, ``_ - . : + / [ ] \\``) matches a scenario when it is a
substring of the scenario's name or of one of its tags, case ignored, as pytest matches
a test's name and markers. Tags (``--tag``, repeatable) match exactly, and a scenario is
chosen when it has any of them, as Robot's ``--include`` does. Both together: the
scenarios that satisfy both.

A malformed expression, or a selection that chooses nothing, raises
:class:`SelectionError` (the user's bad input) naming the option.

This module knows scenario names and tags (anything with ``name`` and ``tags``); it
loads nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from emulator.userinput import UserInputError


class Selectable(Protocol):
    """What selection reads of a scenario."""

    @property
    def name(self) -> str: ...

    @property
    def tags(self) -> list[str]: ...


S = TypeVar("S", bound=Selectable)


class SelectionError(UserInputError):
    """A ``-k`` expression that does not parse, or a selection that chooses nothing."""


_TOKEN: Final = re.compile(r"\s*(?:(?P<paren>[()])|(?P<word>[\w:+\-./\[\]\\]+)|(?P<bad>\S))")
_KEYWORDS: Final = frozenset({"and", "or", "not"})

Matcher = Callable[[str], bool]
"""Whether a word matches (the scenario is bound by :meth:`KeywordExpression.matches`)."""
Node = Callable[[Matcher], bool]


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "and", "or", "not", "word", "end"
    text: str
    column: int  # 1-based, for the message


def _tokens(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:  # only whitespace left
            break
        column = match.start(match.lastgroup or 0) + 1
        if match["bad"] is not None:
            raise SelectionError(f"-k {expression!r}: unexpected character "
                                 f"{match['bad']!r} at column {column}")
        text = match["paren"] or match["word"]
        kind = text if text in ("(", ")") or text in _KEYWORDS else "word"
        tokens.append(_Token(kind, text, column))
        position = match.end()
    tokens.append(_Token("end", "", len(expression) + 1))
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self, kind: str) -> bool:
        if self.peek().kind == kind:
            self.index += 1
            return True
        return False

    def fail(self, wanted: str) -> SelectionError:
        token = self.peek()
        found = "the end" if token.kind == "end" else repr(token.text)
        return SelectionError(f"-k {self.expression!r}: expected {wanted} at column "
                              f"{token.column}, found {found}")

    def whole(self) -> Node:
        if self.peek().kind == "end":
            return lambda _matches: True  # an empty expression chooses everything
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("'and', 'or' or the end")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.take("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (
            lambda matches: any(part(matches) for part in parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.take("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (
            lambda matches: all(part(matches) for part in parts))

    def not_expr(self) -> Node:
        if self.take("not"):
            inner = self.not_expr()
            return lambda matches: not inner(matches)
        if self.take("("):
            inner = self.or_expr()
            if not self.take(")"):
                raise self.fail("')'")
            return inner
        token = self.peek()
        if token.kind != "word":
            raise self.fail("a word, 'not' or '('")
        self.index += 1
        word = token.text.lower()
        return lambda matches: matches(word)


class KeywordExpression:
    """A parsed ``-k`` expression (module docstring)."""

    def __init__(self, expression: str) -> None:
        self.text = expression
        self._root = _Parser(expression).whole()

    def matches(self, scenario: Selectable) -> bool:
        haystacks = [scenario.name.lower(), *(tag.lower() for tag in scenario.tags)]
        return self._root(lambda word: any(word in hay for hay in haystacks))


def describe(keyword: str | None, tags: Sequence[str]) -> str:
    """The selection as the user typed it: ``-k 'tls' --tag auth``."""
    parts = [f"-k {keyword!r}"] if keyword is not None else []
    parts += [f"--tag {tag}" for tag in tags]
    return " ".join(parts)


def select(scenarios: Sequence[S], keyword: str | None = None,
           tags: Sequence[str] = ()) -> list[S]:
    """The scenarios ``keyword`` (a ``-k`` expression) and ``tags`` (any of them) choose,
    in their order; every one when neither is given. Raises :class:`SelectionError` for
    a malformed expression or when nothing is chosen."""
    if keyword is None and not tags:
        return list(scenarios)
    expression = KeywordExpression(keyword) if keyword is not None else None
    wanted = set(tags)
    chosen = [s for s in scenarios
              if (expression is None or expression.matches(s))
              and (not wanted or wanted.intersection(s.tags))]
    if not chosen:
        known = sorted({tag for s in scenarios for tag in s.tags})
        unknown = sorted(wanted.difference(known))
        hint = (f"; no scenario has the tag{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)} (tags: {', '.join(known) or 'none'})" if unknown else "")
        raise SelectionError(f"{describe(keyword, tags)} selects none of the "
                             f"{len(scenarios)} scenarios{hint}")
    return chosen
