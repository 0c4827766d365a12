"""``smtp-hil import``: a capture or transcript of a field session in, a scenario file out.
(The module cannot be called ``import``.)

``import INPUT [--format auto|pcap|transcript|swaks] [--keylog FILE] [--stream N]
[-o SCENARIO.toml] [--force]`` reads a pcap or pcapng capture (tshark reassembles TCP and
decrypts TLS with the key log), this project's ``transcript.txt``, swaks output or a plain
``C:``/``S:`` dialogue, and writes a scenario whose scripted server replays the recorded
server (see :mod:`scenarios.capture`). Without ``-o`` the scenario goes to standard
output. Bad input (not a capture, a truncated one, no SMTP in it, TLS without keys,
several SMTP sessions and no ``--stream``) is a :class:`~scenarios.capture.problems.
CaptureError` (exit 2, one line saying which and what to do); an existing output file is
kept unless ``--force``.

This module parses arguments and prints; the work is in :mod:`scenarios.capture`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO

from scenarios.capture.importer import INPUT_FORMATS, import_scenario, scenario_name
from scenarios.capture.problems import CaptureError
from scenarios.cli.progress import Progress

EXIT_OK = 0


def _stream_index(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a stream number >= 0, got {value!r}")
    return int(value)


def add_import_parser(subparsers: Any) -> None:
    """Add ``import`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import", help="a capture or transcript of a session in, a scenario file out",
        description="Turn a field session into a scenario file whose scripted server "
                    "replays the recorded server byte for byte: a pcap or pcapng capture "
                    "(tshark reassembles TCP and decrypts TLS with --keylog), this "
                    "project's transcript.txt, swaks output or plain C:/S: lines.")
    parser.add_argument("input", type=Path, metavar="INPUT",
                        help="pcap/pcapng capture, transcript.txt, swaks output, C:/S: lines")
    parser.add_argument("--format", choices=INPUT_FORMATS, default="auto",
                        help="what INPUT is (default: auto, from its first bytes)")
    parser.add_argument("--keylog", type=Path, metavar="FILE",
                        help="TLS secrets (SSLKEYLOGFILE format) to decrypt the capture")
    parser.add_argument("--stream", type=_stream_index, metavar="N",
                        help="the TCP stream to import when the capture has several")
    parser.add_argument("-o", "--output", type=Path, metavar="SCENARIO.toml",
                        help="write the scenario here (default: standard output)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing -o file")
    parser.set_defaults(handler=cmd_import)


def _check_output(path: Path, force: bool) -> None:
    if path.is_dir():
        raise CaptureError(f"-o {path}: is a directory: name the scenario file")
    if path.exists() and not force:
        raise CaptureError(f"-o {path}: the file exists: choose another name or add --force")
    folder = path.parent
    if not folder.is_dir():
        raise CaptureError(f"-o {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CaptureError(f"-o {path}: permission denied")


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``smtp-hil import``; returns the exit status."""
    if args.output is not None:
        _check_output(args.output, args.force)
    name = scenario_name(args.output.stem) if args.output is not None else None
    with Progress(err, total=None, command="smtp-hil import") as progress:
        progress.start(f"reading {args.input}")  # tshark may take a while on a big one
        text, dialogue = import_scenario(args.input, input_format=args.format,
                                         keylog=args.keylog, stream=args.stream, name=name)
    if args.output is None:
        out.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CaptureError(f"-o {args.output}: {exc.strerror or exc}") from None
    answers = sum(1 for e in dialogue.exchanges if e.answer is not None and e.answer.replies)
    err.write(f"wrote {args.output}: {answers} recorded answers to replay\n")
    return EXIT_OK
