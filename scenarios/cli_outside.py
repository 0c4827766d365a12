"""The command line outside the simulation: ``smtp-hil serve`` and ``smtp-hil run --dut``.

``serve NAME|PATH --listen HOST:PORT [--tls-cert FILE --tls-key FILE] [--once] [--json]``
runs the scenario's scripted server on a real socket, in real time, for any client (a
board, an emulator, a program): it prints the dialogue live and, each time a client
disconnects, the server-side verdict of that connection. Without ``--tls-cert`` it makes
a throwaway CA and prints where its certificate is, for the client to trust.
``--time-scale`` and ``--max-delay`` shorten the scenario's delays. SIGINT and SIGTERM
stop it cleanly (its temporary CA folder removed, exit status as so far); the handlers
are in place before anything is printed, so a script may signal it as soon as it has
read the ``serving`` line.

``run NAME... --dut FILE`` runs each scenario with an external client program as the
device under test (:mod:`scenarios.dut`); ``FILE`` may also name a shipped DUT file
(``curl``, ``msmtp``, ``swaks``, ``smtplib``). ``--time-cap`` bounds each run in real
time (default 60 s).

Exit status: 0 when every verdict passed, 1 when one failed, 2 on bad input (a bad
scenario or DUT file, a port in use, an unreadable certificate, a program that is not
installed): one line per problem, never a traceback.

This module parses arguments and prints; the work is done by
:mod:`scenarios.server.asyncdriver`, :mod:`scenarios.verdict.server` and
:mod:`scenarios.dut`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from scenarios import cliargs
from scenarios.dut import (
    DEFAULT_TIME_CAP_S,
    DutError,
    DutFile,
    DutRun,
    run_dut_async,
    shipped_dut_files,
)
from scenarios.format import Scenario, ScenarioError
from scenarios.server.asyncdriver import (
    DEFAULT_TLS_NAMES,
    AsyncConnection,
    AsyncServer,
    Pacing,
    host_clock,
    throwaway_tls,
)
from scenarios.server.limits import ConnectionLimits
from scenarios.server.simdriver import ServerTls
from scenarios.server.socketbounds import TRIM_AFTER_BYTES, TRIM_DELAY_S, give_back_free_memory
from scenarios.server.transcript import TranscriptLine
from scenarios.verdict.server import ServerVerdict, judge_server, summary
from smtp.userfiles import CERT_FILE, KEY_FILE, FileKind, UserFileError, read_user_file
from stack.tls.config import make_context
from stack.tls.keylog import check_key_log_file, env_key_log_file

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_LISTEN: Final = "127.0.0.1:2525"
MAX_COUNT: Final = 1 << 40
"""The largest size or count an option takes (1 TiB): past that it is a typo."""
ECHO_LINE_BYTES: Final = 512
"""``serve`` prints at most this much of each line it saw (RFC 5321's command line
limit), then how many bytes it left out."""
_DUT_CONFLICTS: Final = (("check_determinism", "--check-determinism"),
                         ("artifacts", "--artifacts"), ("junit", "--junit"),
                         ("seed", "--seed"))


class _Problem(Exception):
    """Bad input: printed as ``smtp-hil: <message>``, exit status 2."""


# ----------------------------------------------------------------------------------------
# Arguments


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:25`` for IPv6) as ``(host, port)``; port 0 = any free.
    The message of the ArgumentTypeError is worded for argparse, which puts
    ``argument --listen:`` before it."""
    host, sep, port_text = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if (not sep or not host or not port_text.isdigit() or int(port_text) > 65535
            or (":" in host and not bracketed)):
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT such as 127.0.0.1:2525 or [::1]:2525, got {value!r}")
    return host, int(port_text)


def host_port(host: str, port: int) -> str:
    """``host:port`` as a user writes it: ``[::1]:2525`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _socket_error(exc: OSError) -> str:
    """``Address already in use`` rather than asyncio's wrapped wording."""
    if isinstance(exc, socket.gaierror) or not exc.errno:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run a scenario's scripted server on a real socket, in real time")
    parser.add_argument("scenario", metavar="NAME|PATH")
    parser.add_argument("--listen", type=listen_address, default=listen_address(DEFAULT_LISTEN),
                        metavar="HOST:PORT", help=f"where to listen (default {DEFAULT_LISTEN}; "
                                                  "port 0: any free port)")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE",
                        help="server certificate chain (PEM); default: a throwaway CA's")
    parser.add_argument("--tls-key", type=Path, metavar="FILE", help="its private key (PEM)")
    parser.add_argument("--once", action="store_true",
                        help="stop after the first client disconnects (exit 1 if it failed)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    cliargs.add_show_secrets_argument(parser)
    add_pacing_arguments(parser)
    limits = ConnectionLimits()
    parser.add_argument("--max-message-size", type=_count, metavar="BYTES",
                        default=limits.max_message_bytes,
                        help="most content kept of one mail; more gets 552 (default "
                             f"{limits.max_message_bytes}, and never more than the "
                             "scenario's SIZE)")
    parser.add_argument("--max-connection-size", type=_count, metavar="BYTES",
                        default=limits.max_connection_bytes,
                        help="most mail content kept by one connection; a mail past it gets "
                             f"452 (default {limits.max_connection_bytes})")
    parser.add_argument("--idle-timeout", type=cliargs.positive_seconds, metavar="S",
                        default=limits.idle_timeout_s,
                        help="421 and close after S seconds without a byte from the client "
                             f"(default {limits.idle_timeout_s:g}: RFC 5321's 5 minutes)")
    parser.add_argument("--max-connections", type=_count, metavar="N",
                        default=limits.max_connections,
                        help=f"connections open at once; more get 421 (default "
                             f"{limits.max_connections})")
    return parser


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= number <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a whole number in 1..{MAX_COUNT}, "
                                         f"got {value!r}")
    return number


def add_pacing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-scale", type=cliargs.time_scale, default=1.0, metavar="X",
                        help="multiply the scenario's delays by X (default 1: real time)")
    parser.add_argument("--max-delay", type=cliargs.seconds, default=None, metavar="S",
                        help="cap every scenario delay at S seconds")


def add_dut_arguments(run_parser: argparse.ArgumentParser) -> None:
    """Add ``--dut`` (with ``--time-cap``, ``--time-scale``, ``--max-delay``) to ``run``."""
    names = ", ".join(shipped_dut_files())
    run_parser.add_argument("--dut", metavar="FILE|NAME",
                            help=f"run a client program as the device under test: a DUT file "
                                 f"or a shipped one ({names})")
    run_parser.add_argument("--time-cap", type=cliargs.positive_seconds,
                            default=DEFAULT_TIME_CAP_S,
                            metavar="S", help="with --dut: longest real time per run "
                                              f"(default {DEFAULT_TIME_CAP_S:g} s)")
    add_pacing_arguments(run_parser)


# ----------------------------------------------------------------------------------------
# Printing


def verdict_lines(verdict: ServerVerdict) -> list[str]:
    width = len("not observable")
    lines = [f"  {c.status:<{width}}  {c.name}: {c.detail}" for c in verdict.checks]
    lines += [f"  {'note':<{width}}  {note}" for note in verdict.notes]
    return lines


def _write(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _problem_lines(exc: Exception) -> list[str]:
    if isinstance(exc, ScenarioError):
        return [f"smtp-hil: {p}" for p in exc.problems]
    return [f"smtp-hil: {line}" for line in str(exc).splitlines() or [type(exc).__name__]]


def _scenario(name: str | Scenario) -> Scenario:
    from scenarios.runner import resolve_scenario

    return name if isinstance(name, Scenario) else resolve_scenario(name)


# ----------------------------------------------------------------------------------------
# serve


def server_tls(scenario: Scenario, cert: Path | None, key: Path | None,
                host: str) -> tuple[ServerTls, bytes | None]:
    section = scenario.server
    if (cert is None) != (key is None):
        raise _Problem("--tls-cert and --tls-key go together")
    if cert is None or key is None:
        names = list(DEFAULT_TLS_NAMES)
        if host not in ("", "0.0.0.0", "::"):
            names.append(host)
        return throwaway_tls(key_type=section.tls_cert, names=names,
                             ciphers=section.tls_ciphers, min_version=section.tls_min_version,
                             max_version=section.tls_max_version)
    pems = [_read_pem_file("--tls-cert", cert, CERT_FILE),
            _read_pem_file("--tls-key", key, KEY_FILE)]
    tls = ServerTls(cert_pem=pems[0], key_pem=pems[1], ciphers=section.tls_ciphers,
                    min_version=section.tls_min_version, max_version=section.tls_max_version)
    try:
        make_context(tls.config(), server_side=True)
    except ValueError as exc:
        raise _Problem(f"--tls-cert/--tls-key: {exc}") from None
    except ssl.SSLError as exc:
        why = ("the key does not belong to the certificate"
               if exc.reason == "KEY_VALUES_MISMATCH" else f"OpenSSL refuses the pair: "
                                                           f"{exc.reason or exc}")
        raise _Problem(f"--tls-cert/--tls-key: {why}") from None
    return tls, None


def _read_pem_file(option: str, path: Path, kind: FileKind) -> bytes:
    """The bytes of a regular file (``smtp.userfiles``); a FIFO or a device would block
    or never end."""
    try:
        return read_user_file(path, kind)
    except UserFileError as exc:
        raise _Problem(f"{option}: {exc}") from None


def _connection_verdict(scenario: Scenario, connection: AsyncConnection) -> ServerVerdict:
    return judge_server(scenario, [connection.engine], now=host_clock())


class _ServeState:
    status = EXIT_OK


async def _serve(args: argparse.Namespace, scenario: Scenario, tls: ServerTls,
                 ca_pem: bytes | None, out: TextIO, state: _ServeState) -> None:
    # The signal handlers come first: from then on SIGTERM/SIGINT only set ``stop``, so
    # the temporary folder is always removed, however early the signal comes.
    stop = asyncio.get_running_loop().create_future()
    _stop_on_signals(stop)
    with tempfile.TemporaryDirectory(prefix="smtp-hil-serve-") as tmp:
        ca_file = None
        if ca_pem is not None:
            ca_file = Path(tmp) / "ca.pem"
            ca_file.write_bytes(ca_pem)
        await _serve_until_stopped(args, scenario, tls, ca_file, out, state, stop)


async def _serve_until_stopped(args: argparse.Namespace, scenario: Scenario, tls: ServerTls,
                               ca_file: Path | None, out: TextIO, state: _ServeState,
                               stop: asyncio.Future[None]) -> None:
    def show(line: TranscriptLine) -> None:
        view = {"show_secrets": args.show_secrets, "line_limit": ECHO_LINE_BYTES}
        if args.json:
            _write(out, json.dumps({"type": "transcript", **line.as_dict(**view)}))
        else:
            for text in line.text_lines(**view):
                _write(out, f"[c{line.connection}] {text}")

    pacing = Pacing(time_scale=args.time_scale, max_delay_s=args.max_delay)
    limits = ConnectionLimits(max_message_bytes=args.max_message_size,
                              max_connection_bytes=args.max_connection_size,
                              idle_timeout_s=args.idle_timeout,
                              max_connections=args.max_connections)
    server = AsyncServer(scenario.server_config(), tls=tls, pacing=pacing, on_line=show,
                         limits=limits, keep_lines=False)
    host, port = args.listen
    try:
        bound = await server.start(host, port)
    except OSError as exc:
        raise _Problem(f"cannot listen on {host_port(host, port)}: {_socket_error(exc)}"
                       ) from None
    mode = "implicit TLS" if scenario.server.implicit_tls else (
        "STARTTLS offered" if scenario.server.starttls else "no TLS")
    if args.json:
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
                return
            connection = finished.result()
            del finished  # it holds the connection too
            held = connection.engine.observations.data_bytes
            if not _print_verdict(args, scenario, connection, out):
                state.status = EXIT_FAIL
            server.release(connection)  # judged: nothing of it is kept
            del connection
            if held >= TRIM_AFTER_BYTES:  # once asyncio has let go of it too
                asyncio.get_running_loop().call_later(TRIM_DELAY_S, give_back_free_memory)
            if args.once:
                return
    finally:
        await server.close()


def _print_verdict(args: argparse.Namespace, scenario: Scenario, connection: AsyncConnection,
                   out: TextIO) -> bool:
    """Judge the connection that ended and print its verdict; whether it passed."""
    verdict = _connection_verdict(scenario, connection)
    if args.json:
        _write(out, json.dumps({"type": "verdict", "scenario": scenario.name,
                                "connection": connection.index,
                                "peer": connection.peer, **verdict.as_dict(),
                                "observed": summary([connection.engine])}))
    else:
        word = "PASS" if verdict.passed else "FAIL"
        _write(out, f"{word} {scenario.name} (server side, connection "
                    f"{connection.index} from {connection.peer}): {verdict.reason}")
        for line in verdict_lines(verdict):
            _write(out, line)
    return verdict.passed


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


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``smtp-hil serve``; returns the exit status."""
    state = _ServeState()
    try:
        scenario = _scenario(args.scenario)
        if not scenario.server.listen:
            raise _Problem(f"{scenario.name}: server.listen is false: there is nothing to serve")
        tls, ca_pem = server_tls(scenario, args.tls_cert, args.tls_key, args.listen[0])
        keylog = env_key_log_file()
        if keylog is not None:  # the user's own file: append every session's TLS secrets
            check_key_log_file(keylog)
            tls = dataclasses.replace(tls, keylog_file=keylog)
        asyncio.run(_serve(args, scenario, tls, ca_pem, out, state))
    except (ScenarioError, _Problem, ValueError) as exc:
        for line in _problem_lines(exc):
            err.write(line + "\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return state.status
    return state.status


# ----------------------------------------------------------------------------------------
# run --dut


def resolve_dut(name_or_path: str | Path) -> DutFile:
    """A DUT file by path, or a shipped one by name (``curl``)."""
    path = Path(name_or_path)
    shipped = shipped_dut_files()
    if not path.exists() and str(name_or_path) in shipped:
        path = shipped[str(name_or_path)]
    return DutFile.load(path)


def run_dict(run: DutRun, *, show_secrets: bool = False) -> dict[str, object]:
    """One DUT run as JSON-ready data; credentials hidden unless ``show_secrets`` (in
    the transcript, and the scenario's password wherever the program put it)."""
    def shown(text: str) -> str:
        return text if show_secrets else run.hide_secrets(text)

    return {
        "scenario": run.scenario.name, "client": run.dut.name,
        "argv": [shown(arg) for arg in run.argv],
        **run.verdict.as_dict(),
        "exit_status": run.exit_status, "killed": run.killed,
        "time_limit_s": run.time_limit_s, "wall_s": round(run.wall_s, 3),
        "stderr": shown(run.stderr.decode("utf-8", "replace")[-2000:]),
        "observed": summary([c.engine for c in run.connections]),
        "transcript": [line.as_dict(show_secrets=show_secrets)
                       for c in run.connections for line in c.lines],
    }


def _run_line(run: DutRun, show_secrets: bool) -> str:
    word = "PASS" if run.passed else "FAIL"
    ended = "killed" if run.killed else f"exit {run.exit_status}"
    reason = run.verdict.reason if show_secrets else run.hide_secrets(run.verdict.reason)
    return (f"{word} {run.scenario.name} [dut {run.dut.name}, {ended}] {reason} "
            f"(wall {run.wall_s:.3f} s)")


def run_with_dut(scenarios: Sequence[str | Scenario], dut_path: str | Path, out: TextIO,
                 err: TextIO, json_output: bool, *, time_cap_s: float = DEFAULT_TIME_CAP_S,
                 time_scale: float = 1.0, max_delay_s: float | None = None,
                 show_secrets: bool = False) -> int:
    """``smtp-hil run NAME... --dut FILE``: every scenario against the client program;
    credentials hidden in what it prints unless ``show_secrets``."""
    try:
        dut = resolve_dut(dut_path)
        dut.require_installed()
        resolved = [_scenario(s) for s in scenarios]
        for scenario in resolved:  # before any program runs
            dut.refuse_option_like_values(scenario)
        pacing = Pacing(time_scale=time_scale, max_delay_s=max_delay_s)
    except (ScenarioError, DutError, ValueError) as exc:
        for line in _problem_lines(exc):
            err.write(line + "\n")
        return EXIT_BAD_INPUT
    status = EXIT_OK
    for scenario in resolved:
        try:
            run = asyncio.run(run_dut_async(dut, scenario, time_cap_s=time_cap_s,
                                            pacing=pacing))
        except (DutError, ValueError) as exc:
            for line in _problem_lines(exc):
                err.write(line + "\n")
            return EXIT_BAD_INPUT
        if not run.passed:
            status = EXIT_FAIL
        if json_output:
            _write(out, json.dumps(run_dict(run, show_secrets=show_secrets)))
            continue
        _write(out, _run_line(run, show_secrets))
        hidden = run.verdict.not_observable()
        if hidden:
            _write(out, f"     not observable: {', '.join(hidden)}")
        for note in run.verdict.notes:
            _write(out, f"     note: {note}")
    return status


def cmd_run_dut(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``run`` with ``--dut``: refuse the options that belong to the simulation."""
    for attr, option in _DUT_CONFLICTS:
        value = getattr(args, attr, None)
        if value is not None and value is not False:  # --seed 0 is given, too
            err.write(f"smtp-hil: {option} is not available with --dut (a client program "
                      f"is not simulated)\n")
            return EXIT_BAD_INPUT
    if getattr(args, "profile", "current") != "current":
        err.write("smtp-hil: --profile is not available with --dut (the program is the "
                  "client)\n")
        return EXIT_BAD_INPUT
    return run_with_dut(args.scenarios, args.dut, out, err, args.json,
                        time_cap_s=args.time_cap, time_scale=args.time_scale,
                        max_delay_s=args.max_delay, show_secrets=args.show_secrets)
