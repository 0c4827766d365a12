"""A shrunk failure as a standalone scenario file: TOML with comments, via ``tomlkit``.

The file is the starting point with the shrunk mutations applied (so it says exactly
what ran), a new ``[scenario]`` (its name, a title, the releases that fail it in
``[[scenario.reproduces]]``), and an ``[expect]`` that captures the correct behaviour:
what ``current`` does on it (its terminal event, command, reply code, error kind and
mailbox count) and, under ``invariants``, the invariant(s) broken, judged by the very
definitions the explorer used. Comments at the top say which invariant broke, on which
release, with which sentence, the command that found it, and each change from the
starting point.

A string is written as a multi-line string only when it reads back the same (TOML lets
a parser drop a first newline and normalise line ends in multi-line strings), otherwise
as one escaped line: a body with CRs survives the round trip. Files are never
overwritten (``-2``, ``-3`` ... suffixes) and appear whole (written to a temporary name,
then renamed).

This module knows tomlkit and the scenario file's sections; nothing of running.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

SECTIONS = ("scenario", "device", "link", "server", "job", "expect")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def scenario_name(*parts: str) -> str:
    """A scenario (and file) name from ``parts``: ``explore-pipelining-hang-2_0``."""
    text = "-".join(_NAME_UNSAFE.sub("_", p.replace(".", "_")).strip("_") for p in parts if p)
    return text or "explore"


def render(doc: Mapping[str, Any], header: Sequence[str]) -> str:
    """The TOML text of ``doc`` with ``header`` as comment lines at the top."""
    out = tomlkit.document()
    for line in header:
        for piece in line.splitlines() or [""]:
            out.add(tomlkit.comment(piece))
    out.add(tomlkit.nl())
    for key in SECTIONS:
        value = doc.get(key)
        if value:
            out.add(key, _table(value))
    return tomlkit.dumps(out)


def _table(data: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    nested = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    arrays = {k: v for k, v in data.items() if _array_of_tables(v)}
    for key, value in data.items():
        if key not in nested and key not in arrays:
            table.add(key, _value(value))
    for key, value in nested.items():
        table.add(key, _table(value))
    for key, value in arrays.items():
        aot = AoT([])
        for item in value:
            aot.append(_table(item))
        table.add(key, aot)
    return table


def _array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping)
                                                           for v in value)


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(_value(v) for v in value)
        return array
    if isinstance(value, datetime):
        return tomlkit.item(value)
    return value


def _string(value: str) -> Any:
    if "\n" in value:
        multi = tomlkit.string(value, multiline=True)
        if _reads_back(multi.as_string(), value):
            return multi
    return tomlkit.string(value)


def _reads_back(rendered: str, value: str) -> bool:
    try:
        return bool(tomllib.loads(f"x = {rendered}\n")["x"] == value)
    except tomllib.TOMLDecodeError:
        return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_new(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``folder/name.toml`` (``name-2.toml`` ... when taken), whole:
    a temporary file, then a rename that refuses to replace."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o666 & ~_umask())  # as open() would make it, not mkstemp's 0600
    number = 1
    while True:
        path = folder / (f"{name}.toml" if number == 1 else f"{name}-{number}.toml")
        try:
            os.link(temporary, path)  # fails if the name exists: never overwrites
        except FileExistsError:
            number += 1
            continue
        os.unlink(temporary)
        return path
