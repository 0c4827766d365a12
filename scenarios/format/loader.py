"""Reading a scenario file: TOML text in, a validated :class:`Scenario` out, or a
:class:`ScenarioError` listing every problem.

The file is read through :mod:`smtp.userfiles` (a regular file of at most 1 MiB, TOML
nested at most 32 deep) and validated by the models of this package; pydantic's
findings are worded by :mod:`smtp.inputwording`, one line per problem, each naming the
file and the dotted key: ``x.toml: device.pool_buffers: expected an integer >= 2, got
1``.

This module knows files and the error lines; the keys are the section modules'.
"""

from __future__ import annotations

from os import PathLike, fspath
from pathlib import Path

from pydantic import ValidationError

from emulator.userinput import UserInputError
from scenarios.format.scenario import Scenario
from smtp.inputwording import describe
from smtp.userfiles import SCENARIO_FILE, UserFileError, parse_toml, read_user_text, shown_path


class ScenarioError(UserInputError):
    """A scenario file is unusable. One line per problem, each naming the file and the
    dotted key: ``x.toml: expect.event: expected one of sent, ..., got 'snet'``."""


def load_scenario(path: str | PathLike[str]) -> Scenario:
    """Read (``smtp.userfiles``: a regular file of at most 1 MiB) and validate the scenario
    file at ``path``."""
    try:
        text = read_user_text(path, SCENARIO_FILE)
    except UserFileError as exc:
        raise ScenarioError(exc.problems) from None
    return parse_scenario(text, source=shown_path(path))


def load_catalog_file(path: str | PathLike[str]) -> Scenario:
    """``load_scenario``, and the scenario's name must be the file's stem."""
    scenario = load_scenario(path)
    stem = Path(fspath(path)).stem
    if scenario.name != stem:
        raise ScenarioError([f"{fspath(path)}: scenario.name: expected {stem!r} "
                             f"(the file name), got {scenario.name!r}"])
    return scenario


def parse_scenario(text: str, *, source: str) -> Scenario:
    """Validate TOML ``text``; ``source`` is the file name used in error messages."""
    try:
        data = parse_toml(text, source=source)
    except UserFileError as exc:
        raise ScenarioError(exc.problems) from None
    try:
        return Scenario.model_validate(data, context={"source": source})
    except ValidationError as exc:
        raise ScenarioError([f"{source}: {line}" for err in exc.errors()
                             for line in describe(err, Scenario)]) from None
