"""``smtp-hil list``: the catalog, one scenario a line (name, title, the releases it fails
on, its tags), or as JSON.

This module parses the subcommand's arguments and prints; the catalog is
:mod:`scenarios.catalog`'s.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Final, TextIO

from scenarios.catalog import load_catalog
from scenarios.cli import args as cliargs
from scenarios.selection import select

EXIT_OK: Final = 0


def add_list_parser(subparsers: Any) -> None:
    """Add ``list`` to the ``smtp-hil`` subcommands."""
    parser = subparsers.add_parser(
        "list", help="the catalog: name, title, tags, what it reproduces",
        description="List the catalog's scenarios: name, title, the releases each one "
                    "fails on (the bugs it reproduces) and its tags. -k and --tag choose, "
                    "as in run and matrix.")
    cliargs.add_selection_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    scenarios = select(load_catalog(), args.keyword, args.tags)
    if args.json:
        out.write(json.dumps([{
            "name": s.name, "title": s.title, "tags": s.tags,
            "reproduces": [{"changelog": r.changelog, "profiles": r.profiles, "why": r.why}
                           for r in s.reproduces]} for s in scenarios], indent=2) + "\n")
        return EXIT_OK
    width = max((len(s.name) for s in scenarios), default=10)
    for s in scenarios:
        profiles = sorted({p for r in s.reproduces for p in r.profiles})
        repro = f"  [fails on {', '.join(profiles)}]" if profiles else ""
        out.write(f"{s.name:<{width}}  {s.title}{repro}\n")
        if s.tags:
            out.write(f"{'':<{width}}  tags: {', '.join(s.tags)}\n")
    return EXIT_OK
