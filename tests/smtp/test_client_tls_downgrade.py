"""The ``tls_downgraded`` event: ``security = "starttls"`` going on in plaintext says so.

Opportunistic STARTTLS keeps its policy (no STARTTLS offered: the mail still goes, in
plaintext, with no password in clear), but the application hears about it: one
non-terminal ``tls_downgraded`` event before anything else of the session, naming why
(STARTTLS not offered, or EHLO refused so that HELO has no extensions). Only ``current``
has the event (it is not in the changelog); 2.0 to 2.5 go on without a word, and 1.0 has
no STARTTLS at all. The core is paired with the scripted engine (``Pair`` of
test_client_core.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from scenarios.server.rules import Rule, ServerConfig
from smtp.events import (
    Connected,
    DowngradeReason,
    Sent,
    TlsDowngraded,
    TlsEstablished,
    describe,
    is_terminal,
)
from smtp.profiles import PROFILE_NAMES
from smtp.replies import Reply


def _sibling(name: str) -> ModuleType:
    """A module next to this file (test directories are not packages)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_client_tls_downgrade_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from test_client_core import Pair, mail
else:
    _pairing = _sibling("test_client_core")
    Pair, mail = _pairing.Pair, _pairing.mail

HOST = "smtp.example.com"
STRIPPED = ServerConfig(hostname=HOST, starttls=False,
                        capabilities=("PIPELINING", "SIZE 10485760", "8BITMIME"))
OFFERED = ServerConfig(hostname=HOST, capabilities=("PIPELINING", "STARTTLS", "8BITMIME"))
SILENT_RELEASES = [name for name in PROFILE_NAMES if name not in ("1.0", "current")]


def downgrades(pair: Pair) -> list[TlsDowngraded]:
    return [e for e in pair.events if isinstance(e, TlsDowngraded)]


def test_starttls_not_offered_is_told_before_the_mail_goes_in_plaintext() -> None:
    pair = Pair([mail()], server=STRIPPED, security="starttls").run()
    assert [type(e) for e in pair.events] == [Connected, TlsDowngraded, Sent]
    (event,) = downgrades(pair)
    assert (event.reason, event.reply) == (DowngradeReason.NOT_OFFERED, None)
    assert describe(event) == "tls_downgraded not_offered"
    assert not is_terminal(event)
    assert not pair.tls and len(pair.mailbox) == 1


def test_ehlo_refused_and_helo_fallback_is_a_downgrade_with_the_refusal() -> None:
    refusal = "502 5.5.1 Error: command not implemented"
    server = ServerConfig(hostname=HOST, rules=(Rule("EHLO", reply=refusal),))
    pair = Pair([mail()], server=server, security="starttls").run()
    assert pair.commands[:2] == ["EHLO", "HELO"]
    (event,) = downgrades(pair)
    assert (event.reason, event.reply) == (DowngradeReason.EHLO_REFUSED,
                                           Reply(502, ("5.5.1 Error: command not implemented",)))
    assert describe(event) == f"tls_downgraded ehlo_refused {refusal}"
    assert isinstance(pair.terminal[-1], Sent)


@pytest.mark.parametrize(("security", "server"), [
    ("none", STRIPPED),  # plaintext was asked for: nothing was downgraded
    ("starttls", OFFERED),  # STARTTLS offered and used
])
def test_no_downgrade_is_told_when_there_was_none(security: str,
                                                  server: ServerConfig) -> None:
    pair = Pair([mail()], server=server, security=security).run()
    assert downgrades(pair) == []
    assert isinstance(pair.terminal[-1], Sent)
    assert pair.tls == (security == "starttls")
    if pair.tls:
        assert any(isinstance(e, TlsEstablished) for e in pair.events)


def test_required_tls_is_a_failure_not_a_downgrade() -> None:
    pair = Pair([mail()], server=STRIPPED, security="required").run()
    assert downgrades(pair) == []
    assert not pair.mailbox


@pytest.mark.parametrize("profile", SILENT_RELEASES)
def test_releases_before_ours_go_on_in_plaintext_without_a_word(profile: str) -> None:
    pair = Pair([mail()], server=STRIPPED, security="starttls", profile=profile).run()
    assert downgrades(pair) == []
    assert isinstance(pair.terminal[-1], Sent)


def test_one_downgrade_per_session_whatever_the_number_of_jobs() -> None:
    pair = Pair([mail(), mail(subject="second")], server=STRIPPED, security="starttls").run()
    assert len(downgrades(pair)) == 1
    assert [type(e) for e in pair.terminal] == [Sent, Sent]
