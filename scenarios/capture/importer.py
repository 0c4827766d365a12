"""``smtp-hil import``: a capture or transcript in, a scenario file's text out.

:func:`import_scenario` reads the input in its format (``pcap`` for pcap and pcapng
through tshark; ``transcript`` for this project's ``transcript.txt`` or a plain
``C:``/``S:`` dialogue; ``swaks`` for swaks output; ``auto`` picks by the file's first
bytes), analyses the SMTP dialogue, and writes the scenario: a replayed server, the
recorded mail as the job, and what a correct client does as the expectation. The text
is checked with the scenario format's own parser before it is returned, so an imported
scenario always loads.

This module wires the readers, the analysis and the writer; it prints nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, TypeAlias, get_args

from scenarios.capture.dialogue import Dialogue, analyse
from scenarios.capture.expectations import expectation, malformed
from scenarios.capture.facts import ClientFacts, client_facts
from scenarios.capture.model import Session
from scenarios.capture.pcapsession import SMTP_PORTS, looks_like_capture, read_pcap
from scenarios.capture.problems import (
    INPUT_FILE,
    KEYLOG_FILE,
    TEXT_FILE,
    CaptureError,
    check_user_file,
    read_user_file,
)
from scenarios.capture.transcripts import read_text_session
from scenarios.capture.writer import scenario_toml
from scenarios.format import ScenarioError, parse_scenario
from smtp.opening import HELO_FALLBACK_CODES
from stack.tls.keylog import check_line

InputFormat: TypeAlias = Literal["auto", "pcap", "transcript", "swaks"]
INPUT_FORMATS: Final[tuple[str, ...]] = get_args(InputFormat)
_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_.-]+")


def scenario_name(stem: str) -> str:
    """A scenario name from a file stem: letters, digits, ``_``, ``-`` and ``.``."""
    name = _NAME_CHARS.sub("-", stem).strip("-.") or "imported"
    return name if name[0].isalnum() else f"imported-{name}"


def check_keylog(path: Path) -> None:
    """CaptureError unless ``path`` is an NSS key log (no secret at all is fine: the
    session may have had no TLS)."""
    data = read_user_file(path, KEYLOG_FILE)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise CaptureError(f"{path}: not a key log (SSLKEYLOGFILE format): it is not "
                           f"text") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            problem = check_line(line)
            if problem is not None:
                raise CaptureError(f"{path}: line {number}: not a key log line "
                                   f"(SSLKEYLOGFILE format): {problem}")


def _format_of(path: Path, wanted: InputFormat) -> InputFormat:
    if wanted != "auto":
        return wanted
    check_user_file(path, INPUT_FILE)
    if looks_like_capture(path):
        return "pcap"
    head = read_user_file(path, TEXT_FILE)[:4096]
    if re.search(rb"(?m)^(?:<~?|<\*\*| ->|~>|===) ", head):
        return "swaks"
    return "transcript"


def _security(session: Session, dialogue: Dialogue, facts: ClientFacts) -> str:
    """The device's ``security`` setting, as far as its behaviour shows it."""
    if session.tls is not None and session.tls.implicit:
        return "tls"
    if dialogue.answered("STARTTLS"):  # answered or not: the client asked for TLS
        return "starttls"
    if facts.starttls_offered:
        return "none"
    ehlo = next((e for e in dialogue.answered("EHLO") if e.answer is not None), None)
    quit_at_once = facts.commands_after_ehlo in ([], ["QUIT"]) and not facts.transactions
    if ehlo is not None and ehlo.answer is not None and ehlo.answer.code == 250 \
            and malformed(ehlo.answer, "EHLO") is None and quit_at_once:
        return "required"
    if ehlo is not None and ehlo.answer is not None \
            and ehlo.answer.code in HELO_FALLBACK_CODES and not dialogue.answered("HELO") \
            and set(facts.commands_after_ehlo) <= {"QUIT"} and not facts.transactions:
        return "required"  # EHLO refused and no HELO in plaintext: the client needs TLS
    return "none"


_SMTP_VERBS: Final = frozenset({"EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT", "STARTTLS",
                                "AUTH", "VRFY", "ETRN", "RSET", "NOOP", "BDAT"})


def _looks_like_smtp(session: Session, dialogue: Dialogue) -> bool:
    """Any SMTP reply or command, or a session on an SMTP port."""
    if session.server is not None and session.server[1] in SMTP_PORTS:
        return True
    if any(e.answer is not None and any(r.code is not None for r in e.answer.replies)
           for e in dialogue.exchanges):
        return True
    return any(u.verb in _SMTP_VERBS for u in dialogue.units())


def _header(session: Session, source: Path, label: str) -> list[str]:
    lines = [f" Imported by smtp-hil import from {source} ({label})."]
    if session.start_epoch_us is not None:
        start = datetime.fromtimestamp(session.start_epoch_us / 1e6, tz=UTC)
        lines.append(f" The recording starts at {start:%Y-%m-%d %H:%M:%S.%f} UTC.")
    if session.client is not None and session.server is not None:
        lines.append(f" Client {session.client[0]}:{session.client[1]}, "
                     f"server {session.server[0]}:{session.server[1]}.")
    lines += [
        " The scripted server replays the recorded server's answers byte for byte",
        " ([[server.replay]], one entry per answer, the client's line as its comment);",
        " commands the recording does not have get the scripted server's own answers.",
        " The job is the recorded mail; [expect] is what a correct client does.",
    ]
    lines += [f" Note: {note}." for note in session.notes]
    return lines


def import_scenario(path: Path, *, input_format: InputFormat = "auto",
                    keylog: Path | None = None, stream: int | None = None,
                    name: str | None = None) -> tuple[str, Dialogue]:
    """The scenario text for the recording at ``path``, and its dialogue."""
    if input_format not in INPUT_FORMATS:
        raise CaptureError(f"--format: expected one of {', '.join(INPUT_FORMATS)}, "
                           f"got {input_format!r}")
    if keylog is not None:
        check_keylog(keylog)
    kind = _format_of(path, input_format)
    if kind == "pcap":
        session = read_pcap(path, keylog=keylog, stream=stream)
        label = "pcap"
    else:
        if stream is not None:
            raise CaptureError("--stream: only a pcap or pcapng capture has TCP streams")
        session = read_text_session(path, kind)
        label = session.kind
    dialogue = analyse(session)
    if not session.refused and not _looks_like_smtp(session, dialogue):
        raise CaptureError(f"{path}: no SMTP in it: no SMTP reply from the server, no SMTP "
                           f"command from the client and no SMTP port (is this the right "
                           f"stream, or the right file?)")
    facts = client_facts(dialogue)
    security = _security(session, dialogue, facts)
    expected = expectation(dialogue, facts, security)
    text = scenario_toml(session, dialogue, facts, expected,
                         name=name or scenario_name(path.stem), security=security,
                         header=_header(session, path, label))
    try:
        parse_scenario(text, source="<imported>")
    except ScenarioError as exc:
        problems = "; ".join(exc.problems[:3])
        raise CaptureError(f"{path}: the recording gives no valid scenario ({problems}): "
                           f"please report this with the file") from None
    return text, dialogue
