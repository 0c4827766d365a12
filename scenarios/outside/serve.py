"""A scenario's scripted server on a real socket, in real time, for any client (a board,
an emulator, a program): what ``smtp-hil serve`` does once its arguments are read.

:func:`serve` prints the dialogue live and, each time a client disconnects, the
server-side verdict of that connection (:mod:`scenarios.verdict.server`), then forgets
the connection (what it kept goes back to the server's memory budget). A connection
whose mail the server refused for want of storage (452 4.3.1: its own cap or the
budget all connections share, :mod:`scenarios.server.limits`) fails a
``server_storage`` check saying so. Without a certificate it makes a throwaway CA and
prints where its certificate is, for the client to trust. SIGINT and SIGTERM stop it
cleanly (its temporary CA folder removed); the handlers are in place before anything is printed, so
a script may signal it as soon as it has read the ``serving`` line. A certificate or
key that cannot be used, a port that is taken, a scenario whose server does not listen:
each is a :class:`~emulator.userinput.UserInputError` naming the option.

With ``ServeOptions.report`` each judged connection also becomes a view of the HTML
report (:func:`scenarios.report.from_server.server_run_view`), for the first
:data:`REPORT_CONNECTIONS` connections: their dialogue is kept until they are judged
(without a report nothing is kept). :func:`serve` returns the views in its
:class:`ServeOutcome`; the caller writes the file.

This module reads the host clock and opens sockets; it parses no command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.cli.progress import Palette, Tone
from scenarios.format import Scenario
from scenarios.outside.tls import scenario_tls
from scenarios.report.from_server import server_run_view
from scenarios.report.model import RunView
from scenarios.server import replies as R
from scenarios.server.asyncdriver import DEFAULT_TLS_NAMES, AsyncConnection, Pacing, host_clock
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.limits import ConnectionLimits, StorageShortfall
from scenarios.server.simdriver import ServerTls
from scenarios.server.socketbounds import TRIM_AFTER_BYTES, TRIM_DELAY_S, give_back_free_memory
from scenarios.server.transcript import TranscriptLine
from scenarios.verdict.server import CheckResult, ServerVerdict, judge_server, summary
from smtp.userfiles import CERT_FILE, KEY_FILE, FileKind, UserFileError, read_user_file
from stack.tls.config import make_context
from stack.tls.keylog import check_key_log_file, env_key_log_file

ECHO_LINE_BYTES: Final = 512
"""``serve`` prints at most this much of each line it saw (RFC 5321's command line
limit), then how many bytes it left out."""
STORAGE_CHECK: Final = "server_storage"
"""The check a connection's verdict gets when the server refused mail for want of
storage (:func:`storage_check`)."""
REPORT_CONNECTIONS: Final = 200
"""The report holds the first this many connections (the others are counted): a report
is for reading, and ``serve`` may see thousands."""


@dataclass(frozen=True)
class ServeOptions:
    """How to serve: where to listen, the TLS certificate (None: a throwaway CA's), when
    to stop, what to print, and the real-time pacing and bounds of the server."""

    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    once: bool = False
    """Stop after the first client disconnects."""
    json: bool = False
    show_secrets: bool = False
    pacing: Pacing = field(default_factory=Pacing)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    seed: int = 0
    """Seeds what the rules draw (a trickle's jitter)."""
    report: bool = False
    """Keep each judged connection's view for the HTML report."""
    palette: Palette = field(default_factory=lambda: Palette(False))
    """Colours for the verdicts (:mod:`scenarios.cli.progress`; none by default)."""


def host_port(host: str, port: int) -> str:
    """``host:port`` as a user writes it: ``[::1]:2525`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _socket_error(exc: OSError) -> str:
    """``Address already in use`` rather than asyncio's wrapped wording."""
    if isinstance(exc, socket.gaierror) or not exc.errno:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


STATUS_TONES: Final[dict[str, Tone]] = {"pass": "pass", "fail": "fail", "note": "note"}


def verdict_lines(verdict: ServerVerdict, palette: Palette | None = None) -> list[str]:
    """The verdict's checks and notes, one indented line each."""
    width = len("not observable")
    paint = palette or Palette(False)

    def status(word: str) -> str:
        return paint.paint(f"{word:<{width}}", STATUS_TONES.get(word, "muted"))

    lines = [f"  {status(c.status)}  {c.name}: {c.detail}" for c in verdict.checks]
    lines += [f"  {status('note')}  {note}" for note in verdict.notes]
    return lines


def _write(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def server_tls(scenario: Scenario, cert: Path | None, key: Path | None,
               host: str) -> tuple[ServerTls, bytes | None]:
    """The server's TLS: the user's certificate and key, or a throwaway CA's (then with
    the CA's certificate, for the client to trust)."""
    section = scenario.server
    if (cert is None) != (key is None):
        raise UserInputError("--tls-cert and --tls-key go together")
    if cert is None or key is None:
        names = list(DEFAULT_TLS_NAMES)
        if host not in ("", "0.0.0.0", "::"):
            names.append(host)
        return scenario_tls(scenario, names=names)
    if section.certificate is not None:
        raise UserInputError(f"--tls-cert: the scenario names its own certificate "
                             f"(server.certificate kind = {section.certificate.kind}); "
                             "give one or the other")
    pems = [_read_pem_file("--tls-cert", cert, CERT_FILE),
            _read_pem_file("--tls-key", key, KEY_FILE)]
    tls = ServerTls(cert_pem=pems[0], key_pem=pems[1], ciphers=section.tls_ciphers,
                    min_version=section.tls_min_version, max_version=section.tls_max_version,
                    stall=section.tls_stall, stall_nth=section.tls_stall_nth)
    try:
        make_context(tls.config(), server_side=True)
    except ValueError as exc:
        raise UserInputError(f"--tls-cert/--tls-key: {exc}") from None
    except ssl.SSLError as exc:
        why = ("the key does not belong to the certificate"
               if exc.reason == "KEY_VALUES_MISMATCH" else f"OpenSSL refuses the pair: "
                                                           f"{exc.reason or exc}")
        raise UserInputError(f"--tls-cert/--tls-key: {why}") from None
    return tls, None


def _read_pem_file(option: str, path: Path, kind: FileKind) -> bytes:
    """The bytes of a regular file (``smtp.userfiles``); a FIFO or a device would block
    or never end."""
    try:
        return read_user_file(path, kind)
    except UserFileError as exc:
        raise UserInputError(f"{option}: {exc}") from None


@dataclass
class ServeOutcome:
    """What :func:`serve` did: the connections judged and how many failed, and (with
    ``ServeOptions.report``) their report views."""

    judged: int = 0
    failed: int = 0
    views: list[RunView] = field(default_factory=list)
    not_in_report: int = 0
    """Connections judged after the report was full (:data:`REPORT_CONNECTIONS`)."""
    stopped: bool = False
    """Stopped by SIGINT or SIGTERM (not by ``once``)."""

    @property
    def passed(self) -> bool:
        """No connection judged has failed."""
        return self.failed == 0


def serve(scenario: Scenario, options: ServeOptions, out: TextIO) -> ServeOutcome:
    """Serve ``scenario`` until stopped (a signal, or the first client with ``once``);
    what it judged."""
    if not scenario.server.listen:
        raise UserInputError(f"{scenario.name}: server.listen is false: there is nothing "
                             f"to serve")
    tls, ca_pem = server_tls(scenario, options.tls_cert, options.tls_key, options.host)
    keylog = env_key_log_file()
    if keylog is not None:  # the user's own file: append every session's TLS secrets
        check_key_log_file(keylog)
        tls = dataclasses.replace(tls, keylog_file=keylog)
    outcome = ServeOutcome()
    with contextlib.suppress(KeyboardInterrupt):  # a loop that could not take SIGINT
        asyncio.run(_serve(options, scenario, tls, ca_pem, out, outcome))
    return outcome


async def _serve(options: ServeOptions, scenario: Scenario, tls: ServerTls,
                 ca_pem: bytes | None, out: TextIO, outcome: ServeOutcome) -> None:
    # The signal handlers come first: from then on SIGTERM/SIGINT only set ``stop``, so
    # the temporary folder is always removed, however early the signal comes.
    stop = asyncio.get_running_loop().create_future()
    _stop_on_signals(stop)
    with tempfile.TemporaryDirectory(prefix="smtp-hil-serve-") as tmp:
        ca_file = None
        if ca_pem is not None:
            ca_file = Path(tmp) / "ca.pem"
            ca_file.write_bytes(ca_pem)
        await _serve_until_stopped(options, scenario, tls, ca_file, out, outcome, stop)


async def _serve_until_stopped(options: ServeOptions, scenario: Scenario, tls: ServerTls,
                               ca_file: Path | None, out: TextIO, outcome: ServeOutcome,
                               stop: asyncio.Future[None]) -> None:
    def show(line: TranscriptLine) -> None:
        secrets, limit = options.show_secrets, ECHO_LINE_BYTES
        if options.json:
            data = line.as_dict(show_secrets=secrets, line_limit=limit)
            _write(out, json.dumps({"type": "transcript", **data}))
        else:
            for text in line.text_lines(show_secrets=secrets, line_limit=limit):
                _write(out, f"[c{line.connection}] {text}")

    server = AsyncServer(scenario.server_config(), tls=tls, pacing=options.pacing,
                         on_line=show, limits=options.limits, keep_lines=options.report,
                         seed=options.seed)
    host, port = options.host, options.port
    try:
        bound = await server.start(host, port)
    except OSError as exc:
        raise UserInputError(f"cannot listen on {host_port(host, port)}: "
                             f"{_socket_error(exc)}") from None
    mode = "implicit TLS" if scenario.server.implicit_tls else (
        "STARTTLS offered" if scenario.server.starttls else "no TLS")
    if options.json:
        _write(out, json.dumps({"type": "listening", "scenario": scenario.name,
                                "host": bound[0], "port": bound[1], "tls": mode,
                                "ca_file": str(ca_file) if ca_file else None}))
    else:
        _write(out, f"serving {scenario.name} on {host_port(*bound)} ({mode})")
        if tls.keylog_file is not None:
            _write(out, f"TLS secrets appended to {tls.keylog_file} (SSLKEYLOGFILE): keep "
                        f"them as secret as the mail")
        if ca_file is not None and (scenario.server.starttls or scenario.server.implicit_tls):
            _write(out, f"CA certificate for the client to trust: {ca_file}")
    try:
        while True:
            finished = asyncio.ensure_future(server.next_finished())
            either: set[asyncio.Future[Any]] = {finished, stop}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not finished.done():
                finished.cancel()
                outcome.stopped = True
                return
            connection = finished.result()
            del finished  # it holds the connection too
            held = connection.engine.observations.data_bytes
            verdict = _print_verdict(options, scenario, connection, out)
            outcome.judged += 1
            outcome.failed += not verdict.passed
            if options.report:
                _keep_view(scenario, connection, verdict, outcome)
                server.keep_lines = len(outcome.views) < REPORT_CONNECTIONS
            server.release(connection)  # judged: nothing of it is kept
            del connection
            if held >= TRIM_AFTER_BYTES:  # once asyncio has let go of it too
                asyncio.get_running_loop().call_later(TRIM_DELAY_S, give_back_free_memory)
            if options.once:
                return
    finally:
        await server.close()


def _keep_view(scenario: Scenario, connection: AsyncConnection, verdict: ServerVerdict,
               outcome: ServeOutcome) -> None:
    """The connection's report view, while the report has room (its lines go with it)."""
    if len(outcome.views) >= REPORT_CONNECTIONS or not connection.lines:
        outcome.not_in_report += 1
        return
    view = server_run_view(scenario, connection.lines, verdict,
                           run_id=f"{scenario.name}--serve--c{connection.index}",
                           column=f"serve, connection {connection.index}")
    view.facts.append(("client", connection.peer))
    outcome.views.append(view)
    connection.lines.clear()


def _print_verdict(options: ServeOptions, scenario: Scenario, connection: AsyncConnection,
                   out: TextIO) -> ServerVerdict:
    """Judge the connection that ended and print its verdict."""
    verdict = judge_server(scenario, [connection.engine], now=host_clock())
    short = storage_check(connection.hold.shortfalls, options.limits)
    if short is not None:
        verdict.checks.insert(0, short)
    if options.json:
        _write(out, json.dumps({"type": "verdict", "scenario": scenario.name,
                                "connection": connection.index,
                                "peer": connection.peer, **verdict.as_dict(),
                                "observed": summary([connection.engine])}))
    else:
        word = options.palette.paint("PASS" if verdict.passed else "FAIL",
                                     "pass" if verdict.passed else "fail")
        _write(out, f"{word} {scenario.name} (server side, connection "
                    f"{connection.index} from {connection.peer}): {verdict.reason}")
        for line in verdict_lines(verdict, options.palette):
            _write(out, line)
    return verdict


def storage_check(shortfalls: Mapping[StorageShortfall, int],
                  limits: ConnectionLimits) -> CheckResult | None:
    """A failed check when the server refused mail for want of storage (452 4.3.1): the
    server, not the client, was short, so the connection does not show what the scenario
    asks (a scenario that expects a refusal must not pass on the server's shortage)."""
    causes = [f"{count} for the memory budget all connections share (--memory-budget "
              f"{limits.memory_budget_bytes} bytes)" if cause is StorageShortfall.SERVER
              else f"{count} for the connection's own cap (--max-connection-size "
                   f"{limits.max_connection_bytes} bytes)"
              for cause, count in sorted(shortfalls.items(), key=lambda item: item[0].value)
              if count]
    if not causes:
        return None
    total = sum(shortfalls.values())
    return CheckResult(STORAGE_CHECK, "fail",
                       f"the server refused {total} mail(s) with {R.S452_INSUFFICIENT_STORAGE} "
                       f"({'; '.join(causes)}): the server ran short, so this connection "
                       "does not show what the scenario asks")


def _stop_on_signals(stop: asyncio.Future[None]) -> None:
    """SIGINT and SIGTERM end ``serve`` cleanly (where the loop can catch signals)."""
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not every loop can: ValueError outside the main thread (serve embedded in a
        # test or a Robot library), NotImplementedError on loops without signal support.
        # There serve stops on --once or when its caller cancels it; nothing else differs.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, request_stop)
