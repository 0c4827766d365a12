"""Starting points: the scenarios an exploration mutates, as TOML-shaped documents.

A starting point is a catalog name (``pipelining``) or a scenario file's path. It is read
and validated like any scenario (a bad file is the user's error, named as ``smtp-hil
run`` names it), then kept as the document ``tomllib`` reads, with what no longer
applies taken out: ``[[scenario.reproduces]]`` (the explorer judges by invariants, not by
the catalog's expectations), ``[expect]`` down to its event (kept only so the document
stays a valid scenario), and the time limit raised to :data:`TIME_LIMIT_S` so that a
hang can be told from a slow run.

This module knows scenario files and the client's timeouts; nothing of mutations.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from scenarios.catalog import catalog_path, load_named
from scenarios.format import Scenario, load_scenario
from smtp.timers import RFC5321_TIMEOUTS_S

TIME_LIMIT_S: Final = 7200.0
"""Virtual seconds an explored run may take: room for every timeout, the longest delay
the space draws (1.5 times a timeout) and a hang to show itself."""


@dataclass(frozen=True)
class StartPoint:
    """One starting scenario: its name (the catalog name, or the file's stem), where it
    came from, its document, and what the search space reads of it."""

    name: str
    source: str
    doc: dict[str, Any]
    tls: bool
    """The device uses TLS (STARTTLS or implicit): TLS verbs join the space."""
    timeouts_s: dict[str, float]

    def timeout_s(self, timer: str) -> float:
        """The client's timeout ``timer`` in this scenario, in seconds."""
        defaults = {str(name): seconds for name, seconds in RFC5321_TIMEOUTS_S.items()}
        return self.timeouts_s.get(timer, float(defaults.get(timer, 300)))


def load_start(name_or_path: str) -> StartPoint:
    """The starting point a catalog name or a scenario file's path names (ScenarioError
    when it does not exist or does not validate)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file() or "/" in name_or_path:
        scenario = load_scenario(path)
        text = path.read_text(encoding="utf-8-sig")
        return _start(scenario, path.stem, str(path), tomllib.loads(text))
    scenario = load_named(name_or_path)
    file = catalog_path() / f"{name_or_path}.toml"
    return _start(scenario, name_or_path, f"catalog:{name_or_path}",
                  tomllib.loads(file.read_text(encoding="utf-8")))


def _start(scenario: Scenario, name: str, source: str, doc: dict[str, Any]) -> StartPoint:
    meta = dict(doc.get("scenario", {}))
    meta.pop("reproduces", None)
    meta["time_limit_s"] = max(TIME_LIMIT_S, scenario.meta.time_limit_s)
    doc = {**doc, "scenario": meta, "expect": {"event": scenario.expect.event}}
    security = scenario.device.config.get("server", {}).get("security", "starttls")
    tls = security != "none" or scenario.server.implicit_tls
    configured = scenario.device.config.get("timeouts", {})
    timeouts = {str(k): float(v) for k, v in configured.items() if isinstance(v, int | float)}
    return StartPoint(name=name, source=source, doc=doc, tls=bool(tls), timeouts_s=timeouts)
