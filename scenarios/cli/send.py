"""``smtp-hil send``: one mail from the modelled client to a real server, in real time.

The client task is the one the emulated board runs, unchanged, driven over OS sockets by
:func:`smtp.hostclient.send_jobs`. The device configuration (TOML, :mod:`smtp.config`)
says where the server is and how to secure the connection; ``tls.ca_file`` is read here,
a relative path being relative to the configuration file. Each client event is printed
as it happens, one :func:`smtp.events.describe` line, flushed.

The envelope sender: ``--from`` when given, else ``<device.hostname>@<device.domain>``
of the configuration (``device@plant.example.com`` with the default host name). A
configuration without a ``[device] domain`` (or with an address literal) has no sender
to offer, and ``--from`` is then required.

Exit status: 0 when the mail was sent (the terminal event is ``sent``), 1 on any other
terminal event or when no terminal event came within ``--timeout`` seconds, 2 on bad
input (the configuration's :class:`smtp.config.ConfigError` lines, a ``server.host``
that does not resolve, an unreadable body, attachment or CA file, an address with CR/LF
or not ``local@domain``), raised as :class:`~emulator.userinput.UserInputError` and
printed by :mod:`scenarios.cli.main` one line per problem, each starting ``smtp-hil
send: ``, never a traceback. Whatever the server says ends in a client event (exit 1 unless it is
``sent``); it is never reported as the user's bad input.

This module parses arguments, reads files and prints. It is outside the simulated world
(the host client reads the wall clock and uses OS sockets); nothing deterministic may
import it. It knows the host client, the config and the mail job, not the scenarios.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any, Final, TextIO

from cryptography import x509

from emulator.userinput import UserInputError
from scenarios.cli import args as cliargs
from smtp.config import DeviceConfig, load_config
from smtp.events import ClientEvent, Sent, describe, is_terminal
from smtp.hostclient import send_jobs
from smtp.message import Attachment, MailJob
from smtp.profiles import PROFILES
from smtp.settings import settings_from_config
from smtp.userfiles import (
    ATTACHMENT_FILE,
    BODY_FILE,
    CA_FILE,
    UserFileError,
    check_user_file,
    read_user_file,
    shown_path,
)
from stack.host.stack import UnresolvableHostError
from stack.tls.keylog import check_key_log_file, env_key_log_file

EXIT_SENT, EXIT_NOT_SENT = 0, 1
DEFAULT_TIMEOUT_S: Final = 60.0
PROG: Final = "smtp-hil send"

_OPTION_OF_FIELD: Final = {"sender": "--from", "to": "--to", "cc": "--cc", "bcc": "--bcc",
                           "subject": "--subject"}
_FIELD_PROBLEM_RE: Final = re.compile(r"^(?P<field>[a-z_]+)(?:\[(?P<index>\d+)\])?: ")


def add_send_parser(subparsers: Any) -> None:
    """Add the ``send`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send", help="send one mail with the modelled client to a real SMTP server",
        description=("Send one mail with the modelled client (the board's client task, "
                     "unchanged) over OS sockets, in real time. Prints each client event "
                     "as it happens. Exit 0 when sent, 1 otherwise, 2 on bad input."))
    parser.add_argument("--config", required=True, type=Path, metavar="DEVICE.toml",
                        help="the device configuration (server, security, auth, tls)")
    parser.add_argument("--to", action="append", default=[], metavar="ADDR",
                        help="a To recipient (repeatable; at least one of --to/--cc/--bcc)")
    parser.add_argument("--cc", action="append", default=[], metavar="ADDR",
                        help="a Cc recipient (repeatable)")
    parser.add_argument("--bcc", action="append", default=[], metavar="ADDR",
                        help="a Bcc recipient (repeatable; never in the headers)")
    parser.add_argument("--from", dest="sender", metavar="ADDR",
                        help="the sender (default: <device.hostname>@<device.domain> of "
                             "the config; required when the config has no domain)")
    parser.add_argument("--subject", default="", help="the Subject (default: empty)")
    parser.add_argument("--body-file", type=Path, metavar="FILE",
                        help="the body, read as bytes (default: an empty body)")
    parser.add_argument("--attach", action="append", default=[], type=Path, metavar="FILE",
                        help="attach a file (repeatable)")
    cliargs.add_profile_argument(parser)
    parser.add_argument("--timeout", type=cliargs.positive_seconds, default=DEFAULT_TIMEOUT_S,
                        metavar="S",
                        help=f"give up after S seconds of real time (default "
                             f"{DEFAULT_TIMEOUT_S:g})")
    parser.set_defaults(handler=cmd_send, error_prefix=PROG)


# ---- inputs ------------------------------------------------------------------------------


def read_config_ca(config: DeviceConfig, config_path: Path) -> bytes | None:
    """The bytes of ``tls.ca_file`` (relative to the config file's folder), checked as PEM."""
    if config.tls.ca_file is None:
        return None
    path = config_path.parent / config.tls.ca_file
    where = f"{shown_path(config_path)}: tls.ca_file"
    try:
        pem = read_user_file(path, CA_FILE)
    except UserFileError as exc:
        raise UserInputError(f"{where}: {exc}") from None
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise UserInputError(f"{where}: expected PEM certificates in {str(path)!r}") from None
    return pem


def _default_sender(config: DeviceConfig) -> str | None:
    domain = config.device.domain
    if domain is None or domain.startswith("["):
        return None
    return f"{config.device.hostname}@{domain}"


def _read_body(path: Path | None, problems: list[str]) -> bytes:
    if path is None:
        return b""
    try:
        return read_user_file(path, BODY_FILE)
    except UserFileError as exc:
        problems.append(f"--body-file: {exc}")
        return b""


def _attachments(paths: list[Path], problems: list[str]) -> tuple[Attachment, ...]:
    """Attachments read lazily when the mail is built: each file is checked and opened
    once here, so a missing, unreadable, special or too large one is bad input rather
    than a failure halfway through."""
    for path in paths:
        try:
            check_user_file(path, ATTACHMENT_FILE)
        except UserFileError as exc:
            problems.append(f"--attach: {exc}")
    return tuple(Attachment.from_path(path) for path in paths)


def _job_problem(problem: str, args: argparse.Namespace) -> str:
    """``to[1]: contains a line break`` as ``--to 'a\\nb': contains a line break``."""
    match = _FIELD_PROBLEM_RE.match(problem)
    if match is None or match["field"] not in _OPTION_OF_FIELD:
        return problem
    field, rest = match["field"], problem[match.end():]
    option = _OPTION_OF_FIELD[field]
    if match["index"] is not None:
        values: list[str] = getattr(args, field)
        index = int(match["index"])
        if index < len(values):
            return f"{option} {values[index]!r}: {rest}"
    if field == "sender" and args.sender is None:
        return f"the default sender (from the config): {rest}"
    return f"{option}: {rest}"


def build_job(args: argparse.Namespace, config: DeviceConfig) -> MailJob:
    """The mail job the arguments describe; a UserInputError lists every problem."""
    problems: list[str] = []
    body = _read_body(args.body_file, problems)
    attachments = _attachments(args.attach, problems)
    sender = args.sender if args.sender is not None else _default_sender(config)
    if sender is None:
        problems.append(f"--from is required: {shown_path(args.config)} has no [device] "
                        "domain to make a sender from")
    job = MailJob(sender=sender or "sender@invalid", to=tuple(args.to), cc=tuple(args.cc),
                  bcc=tuple(args.bcc), subject=args.subject, body=body,
                  attachments=attachments)
    problems += [_job_problem(p, args) for p in job.problems()]
    if problems:
        raise UserInputError(problems)
    return job


# ---- the command -------------------------------------------------------------------------


def cmd_send(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Send the mail; print the events as they come; 0 sent, 1 not sent (bad input is
    raised: :class:`~emulator.userinput.UserInputError`)."""
    profile = PROFILES[args.profile]
    config = load_config(args.config, check_version=not profile.skips_config_version_check)
    ca_pem = read_config_ca(config, args.config)
    job = build_job(args, config)
    settings = settings_from_config(config, ca_pem=ca_pem)
    keylog = env_key_log_file()
    if keylog is not None:  # the user's own file: append this session's TLS secrets
        check_key_log_file(keylog)
        settings = dataclasses.replace(
            settings, tls=dataclasses.replace(settings.tls, keylog_file=keylog))

    def show(event: ClientEvent) -> None:
        out.write(describe(event) + "\n")
        out.flush()

    try:
        events = send_jobs(settings, [job], profile=profile, timeout_s=args.timeout,
                           on_event=show)
    except TimeoutError:
        err.write(f"{PROG}: no terminal event within {args.timeout:g} s\n")
        return EXIT_NOT_SENT
    except UnresolvableHostError as exc:  # the configuration's server.host; nothing else is
        # the user's: what a server says ends in a client event, never in an exception
        raise UserInputError(f"{shown_path(args.config)}: server.host: cannot resolve "
                             f"{exc.host!r}: {exc.why}") from None
    terminal = [event for event in events if is_terminal(event)]
    return EXIT_SENT if terminal and isinstance(terminal[-1], Sent) else EXIT_NOT_SENT
