"""The protocol core and its helpers import no sockets, clocks or random numbers.

DESIGN principle 3: the client core consumes bytes and events and returns actions; only
its drivers (smtp/task.py over the socket API, smtp/hostclient.py over OS sockets) touch
the world.
"""

import ast
from pathlib import Path

import pytest

SMTP = Path(__file__).parents[2] / "smtp"
SANS_IO = ["auth", "client", "commands", "datastream", "errors", "events", "expectations",
           "extensions", "jobs", "message", "opening", "outputs", "phases", "profiles",
           "replies", "replycodes", "rtcdate", "timers", "transaction"]
FORBIDDEN = {"socket", "ssl", "select", "selectors", "time", "random", "secrets", "uuid",
             "asyncio", "emulator", "stack"}
PURE = {"emulator.checks"}
"""Modules of a forbidden package that import nothing and read nothing (checked below)."""


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names
                         if alias.name not in PURE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module not in PURE:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", SANS_IO)
def test_module_imports_no_io_clock_or_randomness(module: str) -> None:
    used = _imports(SMTP / f"{module}.py") & FORBIDDEN
    assert not used, f"smtp/{module}.py imports {sorted(used)}"


@pytest.mark.parametrize("module", sorted(PURE))
def test_the_pure_modules_import_nothing_but_future_annotations(module: str) -> None:
    path = Path(__file__).parents[2].joinpath(*module.split(".")).with_suffix(".py")
    assert _imports(path) <= {"__future__"}, f"{module} imports {sorted(_imports(path))}"
