"""The catalog: one scenario file per field bug, feature, robustness or security case.

Each ``*.toml`` file beside this module is a scenario named after its file stem. This
module only finds and loads them; the format is :mod:`scenarios.format`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from scenarios.format import Scenario, ScenarioError, load_catalog_file

DEFAULT_SCENARIO: Final = "starttls"
"""The scenario an emulated device's session uses when none is named (``smtp-hil board``,
the Robot board, :func:`scenarios.session.open_session`): a correct server with STARTTLS
and AUTH."""


def catalog_path() -> Path:
    return Path(__file__).resolve().parent


def catalog_names(path: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (path or catalog_path()).glob("*.toml"))


def load_named(name: str, path: Path | None = None) -> Scenario:
    """The catalog scenario ``name``; ScenarioError names the known ones otherwise."""
    folder = path or catalog_path()
    file = folder / f"{name}.toml"
    if not file.is_file():
        known = ", ".join(catalog_names(folder)) or "none"
        raise ScenarioError([f"no scenario named {name!r} in the catalog (known: {known})"])
    return load_catalog_file(file)


def load_catalog(path: Path | None = None) -> list[Scenario]:
    return [load_named(name, path) for name in catalog_names(path)]
