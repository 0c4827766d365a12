"""What a server says never crashes the client core (smtp/client.py) and is only taken
as success when RFC 5321 says so.

Each test pairs the core with the scripted server engine in memory (``Pair`` of
test_client_core.py) and has the server say something odd: the client must end the job
with one of its documented events, never raise, and never take a reply for a success
its command does not allow (RFC 5321 4.3.2). The fuzz test of the same boundary is
tests/scenarios/test_replyfuzz.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from scenarios.server.rules import ServerConfig
from smtp.events import Sent
from smtp.profiles import PROFILE_NAMES


def _sibling(name: str) -> ModuleType:
    """A module next to this file (test directories are not packages)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_client_server_input_{name}", path)
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
RELEASES_WITH_SIZE = [name for name in PROFILE_NAMES if name != "1.0"]


@pytest.mark.parametrize("profile", RELEASES_WITH_SIZE)
@pytest.mark.parametrize("param", ["\u00b2", "1\u00b2", "\u00b3\u00b9"])
def test_a_size_parameter_of_non_ascii_digits_is_ignored_and_the_mail_goes(
        profile: str, param: str) -> None:
    # The latin-1 superscripts are digits to str.isdigit() but not to int().
    server = ServerConfig(hostname=HOST, capabilities=("PIPELINING", f"SIZE {param}"))
    pair = Pair([mail()], server=server, profile=profile).run()
    assert [type(e) for e in pair.terminal] == [Sent]
    assert len(pair.mailbox) == 1
