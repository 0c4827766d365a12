"""Device-under-test files: an SMTP client program, described for ``run --dut``.

A DUT file (TOML) describes an external SMTP client: the argument list to start it, with
placeholders, and how to read its result. ``scenarios/outside/dut/*.toml`` ship curl, msmtp,
swaks and a standard-library ``smtplib`` script::

    [client]
    name = "curl"
    description = "curl's SMTP support"
    program = "curl"                  # looked up on PATH; default: command[0]
    command = ["curl", "-sS", "--mail-from", "{sender}",
               ["--mail-rcpt", "{recipient}"],          # repeated per recipient
               "--upload-file", "{message_file}"]
    after = []                        # appended last (positional arguments)
    stdin = "none"                    # or "message": the message on standard input
    success_exit_codes = [0]          # exit statuses meaning "delivered"

    [client.security]                 # by the scenario's [device.config.server] security
    none = ["--url", "smtp://{host}:{port}/{helo_name}"]
    starttls = [...]                  # STARTTLS when offered
    required = [...]                  # STARTTLS or give up
    tls = [...]                       # implicit TLS

    [client.auth]                     # when the scenario's device has credentials
    args = ["--netrc-file", "{netrc_file}"]
    env = {}                          # environment variables for the program

    # for smtp-hil audit (all optional):
    opportunistic = false             # its starttls fragment never falls back to plaintext
    raw_arguments = false             # an address reaches it as an argument, CR/LF and all
    timeout_args = ["--timeout={timeout_s}"]   # how to set its own per-command timeout
    default_timeout_s = 120           # its own timeout when it cannot be set (omit: none)

The argument list is ``command``, then the security fragment, then ``auth.args``, then
``timeout_args`` (when an audit sets the timeout), then ``after``. An element that is
itself a list is repeated once per envelope recipient (``{recipient}`` is only known
there). Placeholders (``{{``/``}}`` for literal braces) are
the names of :data:`PLACEHOLDERS`; any other name is refused when the file is loaded.

Secrets. A program's command line is readable by every user of the machine
(``/proc/PID/cmdline``, ``ps``), its environment and a mode 0600 file only by the same
user. So the password goes through ``{password_file}``, ``{netrc_file}`` or
``auth.env`` wherever the program can take it that way; ``{password}`` in an argument
list is for a program that has no other way, and exposes the password to every user.
A scenario value that starts with ``-`` (an address, the user name, a password that is
passed as an argument or in ``auth.env``) is refused before the program starts: the
program could read it as an option.

:meth:`DutFile.load` reads and checks a file (:class:`DutError` names the file and the
key); :func:`resolve_dut` takes a path or the name of a shipped file. Running a program
is :mod:`scenarios.outside.dut`'s business.

This module knows the file's keys, the placeholders and the scenario values they stand
for; it runs nothing.
"""

from __future__ import annotations

import re
import shutil
import string
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeAlias

from emulator.userinput import UserInputError
from scenarios.format import Scenario
from scenarios.outside.dutsecrets import scenario_values
from smtp.userfiles import DUT_FILE, UserFileError, load_toml, shown_path

DEFAULT_TIME_CAP_S: Final = 60.0
"""A run never lasts longer than this in real time, whatever the scenario's limit."""

DUT_DIR: Final = Path(__file__).resolve().parent / "dut"
"""Where the shipped DUT files live."""
LOOPBACK: Final = "127.0.0.1"
"""Where the scripted server listens for a client program."""
SECURITY_MODES: Final = ("none", "starttls", "required", "tls")

PLACEHOLDERS: Final[Mapping[str, str]] = {
    "host": "the scripted server's address (127.0.0.1)",
    "port": "the scripted server's port",
    "sender": "the job's envelope sender",
    "recipient": "one envelope recipient (only inside a per-recipient list)",
    "recipients": "every envelope recipient, comma-separated",
    "message_file": "a file holding the message (CRLF line ends)",
    "username": "the scenario device's user name",
    "password": "the scenario device's password",
    "password_file": "a file holding the password (no newline)",
    "netrc_file": "a netrc file (mode 0600) with the user name and password for {host}",
    "ca_file": "the PEM certificate of the CA that signed the server's certificate",
    "helo_name": "the name the device greets with (device.domain, else [127.0.0.1])",
    "python": "the Python interpreter running smtp-hil",
    "dut_dir": "the folder of the DUT file",
    "time_limit_s": "the run's time limit, whole seconds",
    "timeout_s": "the client's own timeout an audit asks for, whole seconds (timeout_args)",
}

_PROGRAM_PLACEHOLDERS: Final = ("python", "dut_dir")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Arg: TypeAlias = str | tuple[str, ...]
StdinMode: TypeAlias = Literal["none", "message"]


class DutError(UserInputError):
    """A DUT file or a DUT run that cannot go ahead; the message says what to fix."""


def _placeholders(text: str, where: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise DutError(f"{where}: {exc} in {text!r} (write {{{{ and }}}} for braces)") from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join(PLACEHOLDERS)
            raise DutError(f"{where}: unknown placeholder {{{name}}} in {text!r} "
                           f"(known: {known})")
        names.append(name)
    return names


def _args(value: object, where: str) -> tuple[Arg, ...]:
    """An argument list: strings, and lists of strings repeated per recipient."""
    if not isinstance(value, list):
        raise DutError(f"{where}: expected an array of strings, got {value!r}")
    out: list[Arg] = []
    for i, item in enumerate(value):
        spot = f"{where}[{i}]"
        if isinstance(item, str):
            if "recipient" in _placeholders(item, spot):
                raise DutError(f"{spot}: {{recipient}} is only known inside a per-recipient "
                               f"list such as [\"--to\", \"{{recipient}}\"]")
            out.append(item)
        elif isinstance(item, list) and item and all(isinstance(s, str) for s in item):
            for j, text in enumerate(item):
                _placeholders(text, f"{spot}[{j}]")
            out.append(tuple(item))
        else:
            raise DutError(f"{spot}: expected a string or a non-empty array of strings, "
                           f"got {item!r}")
    return tuple(out)


def _environment(value: object, where: str) -> dict[str, str]:
    """A table of environment variables: names to strings (placeholders allowed)."""
    if not isinstance(value, dict):
        raise DutError(f"{where}: expected a table of strings, got {value!r}")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not _ENV_NAME.fullmatch(name):
            raise DutError(f"{where}.{name}: not an environment variable name")
        if not isinstance(text, str):
            raise DutError(f"{where}.{name}: expected a string, got {text!r}")
        if "recipient" in _placeholders(text, f"{where}.{name}"):
            raise DutError(f"{where}.{name}: {{recipient}} is only known inside a "
                           f"per-recipient list")
        out[name] = text
    return out


def _check_keys(table: Mapping[str, object], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise DutError(f"{where}.{key}: unknown key (known: {', '.join(allowed)})")


@dataclass(frozen=True)
class DutFile:
    """One external SMTP client, as its DUT file describes it."""

    path: Path
    name: str
    description: str
    program: str
    command: tuple[Arg, ...]
    after: tuple[Arg, ...] = ()
    security: Mapping[str, tuple[Arg, ...]] = field(default_factory=dict)
    auth: tuple[Arg, ...] | None = None
    auth_env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables (with placeholders) added when the scenario logs in."""
    stdin: StdinMode = "none"
    success_exit_codes: frozenset[int] = frozenset({0})
    opportunistic: bool = True
    """Its ``starttls`` fragment goes on in plaintext when STARTTLS is not had (False:
    that mode is mandatory, as msmtp's ``--tls=on``)."""
    raw_arguments: bool = False
    """Addresses reach the program unchanged as arguments (CR and LF included)."""
    timeout_args: tuple[Arg, ...] | None = None
    """The arguments that set its own timeout to ``{timeout_s}`` (an audit's)."""
    default_timeout_s: float | None = None
    """Its own timeout when ``timeout_args`` is not used (None: none known)."""

    @classmethod
    def load(cls, path: str | Path) -> DutFile:
        """Read and check the DUT file at ``path``; DutError names the file and the key."""
        source = Path(path)
        try:
            data = load_toml(source, DUT_FILE)
        except UserFileError as exc:
            raise DutError(str(exc)) from None
        try:
            return cls._from_dict(source, data)
        except DutError as exc:
            raise DutError(f"{shown_path(source)}: {exc}") from None

    @classmethod
    def _from_dict(cls, path: Path, data: Mapping[str, object]) -> DutFile:
        _check_keys(data, ("client",), "(file)")
        client = data.get("client")
        if not isinstance(client, dict):
            raise DutError("[client]: missing section")
        _check_keys(client, ("name", "description", "program", "command", "after", "stdin",
                             "success_exit_codes", "security", "auth", "opportunistic",
                             "raw_arguments", "timeout_args", "default_timeout_s"), "client")
        name = client.get("name")
        if not isinstance(name, str) or not name:
            raise DutError(f"client.name: expected a non-empty string, got {name!r}")
        description = client.get("description", "")
        if not isinstance(description, str):
            raise DutError(f"client.description: expected a string, got {description!r}")
        if "command" not in client:
            raise DutError("client.command: missing, expected an array of strings")
        command = _args(client["command"], "client.command")
        if not command or not isinstance(command[0], str) or not command[0]:
            raise DutError("client.command: expected the program as its first element")
        program = client.get("program", command[0])
        if not isinstance(program, str) or not program:
            raise DutError(f"client.program: expected a program name, got {program!r}")
        if not set(_placeholders(program, "client.program")) <= set(_PROGRAM_PLACEHOLDERS):
            raise DutError(f"client.program: only {{python}} and {{dut_dir}} are known "
                           f"here, got {program!r}")
        after = _args(client.get("after", []), "client.after")
        stdin = client.get("stdin", "none")
        if stdin not in ("none", "message"):
            raise DutError(f"client.stdin: expected one of none, message, got {stdin!r}")
        codes = client.get("success_exit_codes", [0])
        if not isinstance(codes, list) or not codes or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in codes):
            raise DutError(f"client.success_exit_codes: expected an array of exit statuses "
                           f"(0-255), got {codes!r}")
        security_table = client.get("security", {})
        if not isinstance(security_table, dict):
            raise DutError(f"client.security: expected a table, got {security_table!r}")
        _check_keys(security_table, SECURITY_MODES, "client.security")
        security = {mode: _args(v, f"client.security.{mode}")
                    for mode, v in security_table.items()}
        auth_table = client.get("auth")
        auth = None
        auth_env: dict[str, str] = {}
        if auth_table is not None:
            if not isinstance(auth_table, dict):
                raise DutError(f"client.auth: expected a table, got {auth_table!r}")
            _check_keys(auth_table, ("args", "env"), "client.auth")
            auth = _args(auth_table.get("args", []), "client.auth.args")
            auth_env = _environment(auth_table.get("env", {}), "client.auth.env")
        flags = {}
        for key, default in (("opportunistic", True), ("raw_arguments", False)):
            value = client.get(key, default)
            if not isinstance(value, bool):
                raise DutError(f"client.{key}: expected true or false, got {value!r}")
            flags[key] = value
        timeout_args = None
        if "timeout_args" in client:
            timeout_args = _args(client["timeout_args"], "client.timeout_args")
            texts = [t for a in timeout_args for t in (a if isinstance(a, tuple) else (a,))]
            if not any("timeout_s" in _placeholders(t, "client.timeout_args") for t in texts):
                raise DutError("client.timeout_args: expected {timeout_s} in one argument")
        default_timeout = client.get("default_timeout_s")
        if default_timeout is not None and (
                isinstance(default_timeout, bool) or not isinstance(default_timeout, int | float)
                or not 0 < default_timeout <= 86400):
            raise DutError(f"client.default_timeout_s: expected seconds (0 to 86400), got "
                           f"{default_timeout!r}")
        return cls(path=path, name=name, description=description, program=program,
                   command=command, after=after, security=security, auth=auth,
                   auth_env=auth_env,
                   stdin="message" if stdin == "message" else "none",
                   success_exit_codes=frozenset(codes), timeout_args=timeout_args,
                   default_timeout_s=None if default_timeout is None else float(default_timeout),
                   **flags)

    @property
    def program_path(self) -> str:
        """``program`` with ``{python}`` and ``{dut_dir}`` filled in."""
        values = {"python": sys.executable, "dut_dir": str(self.path.resolve().parent)}
        return _render(self.program, values, self.path)

    def installed(self) -> str | None:
        """The program's full path, or None when it is not installed."""
        return shutil.which(self.program_path)

    def require_installed(self) -> str:
        """The program's full path; DutError naming this DUT file when it is missing."""
        found = self.installed()
        if found is None:
            raise DutError(f"{self.path}: the program {self.program_path!r} is not installed")
        return found

    def _parts(self, scenario: Scenario, *, timeout: bool = False) -> list[Arg]:
        """The argument templates for ``scenario``: command, security fragment, auth
        arguments (when it logs in), ``timeout_args`` (with ``timeout``), after: the
        positional arguments stay last (msmtp read a timeout after its ``--`` as a
        recipient)."""
        security = scenario.device_config(LOOPBACK).server.security
        if security not in self.security and security != "none":
            raise DutError(f"{self.path}: client.security.{security}: missing; scenario "
                           f"{scenario.name} asks for security {security!r}")
        parts = [*self.command, *self.security.get(security, ())]
        if has_credentials(scenario):
            if self.auth is None:
                raise DutError(f"{self.path}: [client.auth]: missing; scenario "
                               f"{scenario.name} logs in")
            parts += self.auth
        if timeout and self.timeout_args is not None:
            parts += self.timeout_args
        return parts + list(self.after)

    def placeholders_used(self, scenario: Scenario) -> set[str]:
        """The placeholders the argument list and the environment for ``scenario`` fill
        in."""
        texts = [t for part in self._parts(scenario)
                 for t in (part if isinstance(part, tuple) else (part,))]
        texts += self.environment_templates(scenario).values()
        return {name for text in texts for name in _placeholders(text, str(self.path))}

    def environment_templates(self, scenario: Scenario) -> Mapping[str, str]:
        """``auth.env`` when ``scenario`` logs in, else nothing."""
        return self.auth_env if has_credentials(scenario) else {}

    def environment(self, scenario: Scenario, values: Mapping[str, str]) -> dict[str, str]:
        """The variables to add to the program's environment, placeholders filled in."""
        return {name: _render(text, values, self.path)
                for name, text in self.environment_templates(scenario).items()}

    def refuse_option_like_values(self, scenario: Scenario) -> None:
        """DutError naming the scenario file and key when a scenario value that this
        program gets as an argument starts with ``-``: the program could read it as an
        option (swaks reads ``--to --output=x`` as two options and writes the file x)."""
        used = self.placeholders_used(scenario)
        for name, sources in scenario_values(scenario, LOOPBACK).items():
            if name not in used:
                continue
            for key, value in sources:
                if value.startswith("-"):
                    shown = "the password" if name == "password" else repr(value)
                    raise DutError(f"{scenario.source or scenario.name}: {key}: {shown} "
                                   f"starts with '-': {self.name} ({self.path}) would read it "
                                   f"as an option; refused")

    def argv(self, scenario: Scenario, values: Mapping[str, str],
             recipients: Sequence[str]) -> list[str]:
        """The argument list for ``scenario`` with ``values`` for the placeholders; with a
        ``timeout_s`` value, ``timeout_args`` before ``after``."""
        parts = self._parts(scenario, timeout="timeout_s" in values)
        out: list[str] = []
        for part in parts:
            if isinstance(part, tuple):
                for rcpt in recipients:
                    out.extend(_render(t, {**values, "recipient": rcpt}, self.path)
                               for t in part)
            else:
                out.append(_render(part, values, self.path))
        return out


def _render(text: str, values: Mapping[str, str], path: Path) -> str:
    out = []
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            if name not in values:
                raise DutError(f"{path}: {{{name}}} has no value for this scenario "
                               f"({PLACEHOLDERS.get(name, 'unknown')})")
            out.append(values[name])
    return "".join(out)


def shipped_dut_files() -> dict[str, Path]:
    """The shipped DUT files by name (file stem)."""
    return {p.stem: p for p in sorted(DUT_DIR.glob("*.toml"))}


def has_credentials(scenario: Scenario) -> bool:
    auth = scenario.device_config(LOOPBACK).auth
    return bool(auth.username) and auth.password is not None


def resolve_dut(name_or_path: str | Path) -> DutFile:
    """A DUT file by path, or a shipped one by name (``curl``)."""
    path = Path(name_or_path)
    shipped = shipped_dut_files()
    if not path.exists() and str(name_or_path) in shipped:
        path = shipped[str(name_or_path)]
    return DutFile.load(path)
