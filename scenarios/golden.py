"""Golden trace hashes: the ``trace_sha256`` of every catalog scenario on every release.

The file (``tests/scenarios/golden_hashes.toml``, written by ``smtp-hil matrix
--write-golden FILE``, which ``make golden`` runs) holds one line per scenario and
release, so a deliberate change of behaviour is a one-line diff for each run it changes,
and ``tests/scenarios/test_golden_hashes.py`` fails on any other change: a behaviour
nobody meant to change, or a new source of nondeterminism. With the hashes it records
what they were made with: the OpenSSL version (TLS record lengths, and so the hash of a
run with TLS, may differ between OpenSSL versions), the Python version (``email``
folding, ``random``) and the seed.

:func:`judge_entry` says what a comparison means, so a test never passes in silence:

- ``match`` / ``mismatch``: the run was compared;
- ``not comparable``: the run cannot be compared here, with the reason: the hash was
  made with another Python (every run), or another OpenSSL (runs whose trace carries
  TLS ciphertext), or the scenario's trace is not reproducible at all (listed under
  ``[not_reproducible]`` with why, e.g. an ECDSA server certificate, whose signatures
  vary in length from run to run);
- ``missing``: the file has no hash for the run (regenerate it).

This module knows run results, the trace and the file format; it runs nothing.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeAlias

from emulator.userinput import UserInputError
from scenarios.format import Scenario
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import RunResult
from smtp.userfiles import GOLDEN_FILE, UserFileError, parse_toml, read_user_text, shown_path

DEFAULT_PATH: Final = Path("tests/scenarios/golden_hashes.toml")
"""Where ``make golden`` writes the file, relative to the repository."""
REGENERATE: Final = f"`make golden` (`smtp-hil matrix --write-golden {DEFAULT_PATH}`)"
"""How to regenerate the file, as the file and the test messages say it."""

Status: TypeAlias = Literal["match", "mismatch", "not comparable", "missing"]


class GoldenFileError(UserInputError):
    """A golden file that cannot be read: the message names the file and the key."""


def running_openssl() -> str:
    return ssl.OPENSSL_VERSION


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class Entry:
    """One run's hash, and whether its trace carries TLS ciphertext (whose record
    lengths come from OpenSSL)."""

    sha256: str
    tls: bool


@dataclass
class Golden:
    """The contents of a golden file."""

    openssl: str
    python: str
    seed: int
    hashes: dict[tuple[str, str], Entry] = field(default_factory=dict)
    not_reproducible: dict[str, str] = field(default_factory=dict)
    """Scenario name -> why its trace differs from run to run."""


def entry_of(result: RunResult) -> Entry:
    """The golden entry of one run (for RTC variants: the variant the result shows; all
    variants of a scenario share its TLS setup)."""
    return Entry(result.trace_sha256, result.carries_tls)


def golden_of(runs: Iterable[tuple[Scenario, str, Entry]], *, seed: int) -> Golden:
    """The golden file of ``runs`` (scenario, profile, entry), made with this OpenSSL
    and this Python."""
    golden = Golden(openssl=running_openssl(), python=running_python(), seed=seed)
    for scenario, profile, entry in runs:
        why = why_not_reproducible(scenario)
        if why is not None:
            golden.not_reproducible[scenario.name] = why
        else:
            golden.hashes[(scenario.name, profile)] = entry
    return golden


def _quoted(text: str) -> str:
    """A TOML basic string (the same escapes as JSON's for what we write)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(c) < 0x20 for c in escaped):
        raise ValueError(f"control character in {text!r}")
    return f'"{escaped}"'


def format_golden(golden: Golden) -> str:
    """The file's text: a header, ``[made_with]``, ``[not_reproducible]``, then one
    ``[hashes."<scenario>"]`` table per scenario with one line per release."""
    lines = [
        "# Golden trace hashes: trace_sha256 of every catalog scenario on every release.",
        "# tests/scenarios/test_golden_hashes.py compares every run of the matrix with them.",
        "# A deliberate change is a one-line diff per run. Do not edit by hand: regenerate",
        f"# with {REGENERATE}",
        "# and review the diff.",
        "",
        "[made_with]",
        f"openssl = {_quoted(golden.openssl)}",
        f"python = {_quoted(golden.python)}",
        f"seed = {golden.seed}",
        "",
        "[not_reproducible]",
    ]
    lines += [f"{_quoted(name)} = {_quoted(why)}"
              for name, why in sorted(golden.not_reproducible.items())]
    scenarios: dict[str, list[tuple[str, Entry]]] = {}
    for (name, profile), entry in golden.hashes.items():
        scenarios.setdefault(name, []).append((profile, entry))
    for name in sorted(scenarios):
        lines += ["", f"[hashes.{_quoted(name)}]"]
        lines += [f"{_quoted(profile)} = {{ sha256 = {_quoted(entry.sha256)}, "
                  f"tls = {'true' if entry.tls else 'false'} }}"
                  for profile, entry in scenarios[name]]
    return "\n".join(lines) + "\n"


def _table(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise GoldenFileError(f"{where}: [{key}]: expected a table")
    return value


def _string(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise GoldenFileError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value


def parse_golden(text: str, *, source: str) -> Golden:
    """Read a golden file's text; a GoldenFileError names ``source`` and the key."""
    try:
        data = parse_toml(text, source=source)
    except UserFileError as exc:
        raise GoldenFileError(str(exc)) from None
    if "made_with" not in data:
        raise GoldenFileError(f"{source}: [made_with]: missing table")
    made = _table(data, "made_with", source)
    seed = made.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise GoldenFileError(f"{source}: made_with.seed: expected an integer >= 0, "
                              f"got {seed!r}")
    golden = Golden(openssl=_string(made, "openssl", f"{source}: made_with"),
                    python=_string(made, "python", f"{source}: made_with"), seed=seed)
    reasons = _table(data, "not_reproducible", source)
    for name in reasons:
        golden.not_reproducible[name] = _string(reasons, name, f"{source}: not_reproducible")
    for name, profiles in _table(data, "hashes", source).items():
        if not isinstance(profiles, dict):
            raise GoldenFileError(f"{source}: hashes.{name}: expected a table")
        for profile, entry in profiles.items():
            where = f"{source}: hashes.{name}.{profile}"
            if not isinstance(entry, dict) or set(entry) != {"sha256", "tls"} \
                    or not isinstance(entry["tls"], bool):
                raise GoldenFileError(f"{where}: expected {{ sha256 = \"<64 hex digits>\", "
                                      f"tls = true|false }}, got {entry!r}")
            sha = _string(entry, "sha256", where)
            if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise GoldenFileError(f"{where}.sha256: expected 64 lower-case hex digits, "
                                      f"got {sha!r}")
            golden.hashes[(name, profile)] = Entry(sha, entry["tls"])
    unexpected = set(data) - {"made_with", "not_reproducible", "hashes"}
    if unexpected:
        raise GoldenFileError(f"{source}: [{sorted(unexpected)[0]}]: unknown table")
    return golden


def load_golden(path: Path) -> Golden:
    try:
        text = read_user_text(path, GOLDEN_FILE)
    except UserFileError as exc:
        raise GoldenFileError(str(exc)) from None
    return parse_golden(text, source=shown_path(path))


def write_golden(path: Path, results: Iterable[RunResult], *, seed: int) -> Golden:
    """Write the golden file of the matrix ``results`` (run with ``seed``) to ``path``
    and return what it holds; OSError when it cannot be written."""
    golden = golden_of(((r.scenario, r.profile, entry_of(r)) for r in results), seed=seed)
    path.write_text(format_golden(golden), encoding="utf-8")
    return golden


_EITHER: Final = (f"Either the behaviour changed (if that was meant, run {REGENERATE} and "
                  f"commit the one-line diff) or the run is not deterministic")


@dataclass(frozen=True)
class Judgement:
    status: Status
    detail: str


def judge_entry(golden: Golden, name: str, profile: str, got: Entry, *,
                openssl: str | None = None, python: str | None = None) -> Judgement:
    """What the run of ``name`` on ``profile`` (its entry ``got``) says against the file;
    ``openssl`` and ``python`` are the running versions (default: this process's)."""
    openssl = running_openssl() if openssl is None else openssl
    python = running_python() if python is None else python
    run_name = f"{name} on {profile} (seed {golden.seed})"
    if name in golden.not_reproducible:
        return Judgement("not comparable", f"{run_name}: its trace is not reproducible: "
                                           f"{golden.not_reproducible[name]}")
    if python != golden.python:
        return Judgement("not comparable", f"{run_name}: the golden hashes were made with "
                                           f"Python {golden.python}, this is Python {python} "
                                           f"(the email package and random may differ): run "
                                           f"{REGENERATE} here to compare on it")
    want = golden.hashes.get((name, profile))
    if want is None:
        return Judgement("missing", f"{run_name}: no golden hash; run {REGENERATE} and "
                                    f"commit the new lines")
    if want.tls != got.tls:
        now = "now carries" if got.tls else "no longer carries"
        return Judgement("mismatch", f"{run_name}: its trace {now} TLS records (trace hash "
                                     f"{got.sha256}, the golden file has {want.sha256}). "
                                     f"{_EITHER}")
    if want.tls and openssl != golden.openssl:
        return Judgement("not comparable", f"{run_name}: its trace carries TLS records, and "
                                           f"the golden hash was made with {golden.openssl}, "
                                           f"this is {openssl}: TLS record lengths may differ")
    if want == got:
        return Judgement("match", f"{run_name}: {got.sha256}")
    return Judgement("mismatch", f"{run_name}: trace hash {got.sha256}, the golden file has "
                                 f"{want.sha256}. {_EITHER}")


def stale_entries(golden: Golden, runs: Iterable[tuple[str, str]]) -> list[str]:
    """Entries of the file for runs that no longer exist (scenario or release gone)."""
    current = set(runs)
    names = {name for name, _ in current}
    stale = [f"{name} on {profile}" for name, profile in sorted(golden.hashes)
             if (name, profile) not in current]
    stale += [f"{name} (not_reproducible)" for name in sorted(golden.not_reproducible)
              if name not in names]
    return stale
