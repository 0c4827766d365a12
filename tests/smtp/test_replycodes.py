"""Tests of smtp/replycodes.py: the success codes of RFC 5321 4.3.2, no more."""

from __future__ import annotations

from typing import get_args

import pytest

from smtp.replies import Reply
from smtp.replycodes import SUCCESS, Command, accepts


@pytest.mark.parametrize(("command", "codes"), [
    ("GREETING", {220}), ("EHLO", {250}), ("HELO", {250}), ("STARTTLS", {220}),
    ("AUTH", {235}), ("MAIL", {250}), ("RCPT", {250, 251}), ("DATA", {354}),
    ("DATA_END", {250}), ("BDAT", {250}), ("RSET", {250}), ("VRFY", {250, 251, 252}),
    ("ETRN", {250, 251, 252, 253}), ("QUIT", {221}),
])
def test_only_the_listed_codes_are_success(command: Command, codes: set[int]) -> None:
    accepted = {code for code in range(200, 600) if accepts(command, Reply(code, ("x",)))}
    assert accepted == codes


def test_every_command_has_an_entry() -> None:
    assert set(SUCCESS) == set(get_args(Command))
