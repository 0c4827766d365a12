"""Server keywords: start a scenario's scripted server, run whole scenarios, check what the
server observed of the client.

A scenario's server runs in one of two places. ``simulated`` (the default): inside the
emulated board's world, in virtual time; the board booted next talks to it. ``socket``:
on a real socket of this host, in real time (:mod:`scenarios.server.asyncdriver`, its
asyncio loop on a background thread), for a real board, an emulator such as Renode, or
any SMTP client program. The mailbox keywords read whichever is running.

This module knows the scenario catalog, the runner and its verdict, the server engines'
observations and the socket driver; it knows nothing about consoles or files.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Literal

from robot.api import logger

from scenarios.robotlib.context import LibraryComponent, NotReady, keyword
from scenarios.robotlib.firmware import run_on_firmware, skip_unless_available
from scenarios.robotlib.socket_server import SocketServer
from scenarios.runner import RunResult, resolve_scenario
from scenarios.server.mailbox import Observations
from scenarios.server.names import ehlo_name_acceptable
from scenarios.world import SERVER_IP

OBSERVATION_NAMES = tuple(f.name for f in fields(Observations))


def _combined(name: str, records: list[Observations]) -> object:
    """One observation over every connection: any (flags), all items (lists), the sum
    (counts) or the last value set (anything else)."""
    values = [getattr(o, name) for o in records]
    default = getattr(Observations(), name)
    if isinstance(default, bool):
        return any(values)
    if isinstance(default, list):
        return [item for v in values for item in v]
    if isinstance(default, int):
        return sum(values)
    present = [v for v in values if v is not None]
    return present[-1] if present else default


def _ran_on(result: RunResult) -> str:
    """``release 2.4``, or the C firmware that ran instead of the model."""
    return f"release {result.profile}" if result.firmware == "model" else result.firmware


class ServerKeywords(LibraryComponent):
    """Scripted servers, whole scenario runs and the server's observations."""

    AREA = "server"

    # ---- starting and stopping ------------------------------------------------------------
    @keyword()
    def start_scenario_server(self, scenario: str,
                              transport: Literal["simulated", "socket"] = "simulated",
                              host: str = "127.0.0.1", port: int = 0, time_scale: float = 1.0,
                              max_delay: float | None = None) -> str:
        """Starts the scripted server of ``scenario`` (a catalog name such as
        ``blank-line-truncation``, or a path to a ``.toml`` scenario file) and returns its
        address, ``host:port``.

        ``transport=simulated`` (the default): the server belongs to the simulated world;
        start it *before* `Boot Emulated Board`, which builds that world with the
        scenario's link, faults and server. ``transport=socket``: the server listens on
        ``host:port`` of this machine (``port=0`` picks a free port) in real time, for a
        real board or client program; its delays are scaled by ``time_scale`` and capped
        at ``max_delay`` seconds. Stop it with `Stop Scenario Server`.

        | `Start Scenario Server` | pipeline-mail-rejected | | |
        | ${address} = | `Start Scenario Server` | starttls | transport=socket |
        | `Start Scenario Server` | ${CURDIR}/my-server.toml | transport=socket | port=2525 |
        """
        loaded = resolve_scenario(scenario)
        if transport == "simulated":
            if self.ctx.socket_server is not None:
                raise NotReady("A scenario server runs on a socket: stop it with `Stop "
                               "Scenario Server` before starting a simulated one.")
            if self.ctx.session is not None:
                raise NotReady("The board is already booted: start the scenario server "
                               "before `Boot Emulated Board`, which builds the simulated "
                               "world the server lives in (or `Shut Down Emulated Board` "
                               "first). A board booted in a suite setup, or in an earlier "
                               "test with auto_closing_level=SUITE, is still booted.")
            self.ctx.scenario = loaded
            logger.info(f"Scenario {loaded.name}: {loaded.title}")
            return f"{SERVER_IP}:{loaded.server.port}"
        if transport != "socket":
            raise ValueError(f"transport: expected simulated or socket, got {transport!r}")
        if self.ctx.session is not None:
            raise NotReady("An emulated board is booted: it talks only to the simulated "
                           "server of its world. Shut it down (`Shut Down Emulated Board`) "
                           "before starting a server on a socket for a real device.")
        self.stop_scenario_server()
        self.ctx.socket_server = SocketServer(loaded, host=host, port=port,
                                              time_scale=time_scale, max_delay_s=max_delay)
        self.ctx.scenario = loaded
        bound_host, bound_port = self.ctx.socket_server.address
        logger.info(f"Scenario {loaded.name} server listening on {bound_host}:{bound_port}")
        return f"{bound_host}:{bound_port}"

    @keyword()
    def stop_scenario_server(self) -> None:
        """Stops the scripted server on a real socket, if one runs (its mailbox is gone
        with it). A simulated server ends with its board's world.

        | `Stop Scenario Server` |
        """
        server, self.ctx.socket_server = self.ctx.socket_server, None
        if server is not None:
            server.stop()

    @keyword("Get Socket Server CA")
    def get_socket_server_ca(self) -> str:
        """The PEM certificate of the CA that signed the socket server's TLS certificate,
        for the client under test to trust.

        | ${ca} = | `Get Socket Server CA` |
        | `Create File` | ${OUTPUT DIR}/ca.pem | ${ca} |
        """
        if self.ctx.socket_server is None:
            raise NotReady("No server on a socket: start one with `Start Scenario Server` "
                           "and transport=socket.")
        return self.ctx.socket_server.ca_pem.decode("ascii")

    # ---- whole scenarios -----------------------------------------------------------------
    @keyword()
    def run_scenario(self, scenario: str, profile: str = "current", seed: int = 0,
                     firmware: str | None = None) -> str:
        """Runs ``scenario`` from start to end on release ``profile``, as ``smtp-hil run``
        does (its job, its time limit, its verdict), and returns ``pass`` or ``fail``.

        The run's world stays for the mailbox, pool and artifact keywords; the verdict is
        checked with `Scenario Should Pass` or `Scenario Should Fail`.

        ``firmware``: ``model`` (the Python client), ``lwip`` (lwIP 2.1.3's client, built
        by ``make lwip``) or the path of a C firmware library; default: the scenario's
        own (``[device] firmware``). A C firmware runs the scenario as ``current`` is
        expected to behave, whatever ``profile`` says. A scenario it cannot run (STARTTLS
        on lwIP, ...) skips the test with the reason: not applicable is neither a pass nor
        a failure. After a run on a C firmware the verdict, mailbox and server observation
        keywords work; the board and artifact keywords read the model's world only.

        | `Run Scenario` | chunking | profile=2.0 | |
        | `Scenario Should Pass` | | | |
        | `Run Scenario` | dot-line-in-body | firmware=lwip | |
        | `Scenario Should Fail` | containing=the body was cut | | |
        """
        loaded = resolve_scenario(scenario)
        self.ctx.forget_world()
        result = run_on_firmware(loaded, profile, seed, firmware)
        self.ctx.scenario = loaded
        self.ctx.result = result
        self.ctx.test_results.append(result)
        logger.info(f"{loaded.name} on {_ran_on(result)} (seed {seed}): "
                    f"{'pass' if result.passed else 'fail'}: {result.verdict.reason}")
        return "pass" if result.passed else "fail"

    def _result_text(self) -> tuple[str, bool, str]:
        result = self.ctx.result
        if result is None:
            raise NotReady("No scenario has run: use `Run Scenario` first.")
        where = f"Scenario {result.scenario.name} on {_ran_on(result)} (seed {result.seed})"
        return where, result.passed, result.verdict.reason

    @keyword()
    def skip_unless_firmware_is_available(self, firmware: str) -> None:
        """Skips the test (or, in a suite setup, the suite's tests) unless ``firmware``
        (``lwip``, or the path of a C firmware library) can be had, with the one line
        saying why and how to get it (``make lwip``).

        | `Skip Unless Firmware Is Available` | lwip |
        """
        skip_unless_available(firmware)

    @keyword()
    def scenario_should_pass(self) -> None:
        """Fails, giving the verdict's reasons, unless the last `Run Scenario` passed.

        | `Run Scenario` | blank-line-truncation |
        | `Scenario Should Pass` | |
        """
        where, passed, reason = self._result_text()
        if not passed:
            raise AssertionError(f"{where} failed: {reason}.")

    @keyword()
    def scenario_should_fail(self, containing: str | None = None) -> None:
        """Fails unless the last `Run Scenario` failed (and, with ``containing``, for a
        reason containing that text): for showing that a release has a bug.

        | `Run Scenario` | blank-line-truncation | profile=2.4 |
        | `Scenario Should Fail` | containing=cut at the first blank line | |
        """
        where, passed, reason = self._result_text()
        if passed:
            raise AssertionError(f"{where} passed, but it was expected to fail.")
        if containing is not None and containing not in reason:
            raise AssertionError(f"{where} failed, but not for the expected reason "
                                 f"('{containing}'): {reason}.")

    # ---- what the server observed -----------------------------------------------------------
    def _observation(self, name: str) -> object:
        if name not in OBSERVATION_NAMES:
            raise ValueError(f"name: expected an observation of the scripted server "
                             f"({', '.join(OBSERVATION_NAMES)}), got {name!r}")
        return _combined(name, self.ctx.observations())

    @keyword()
    def get_server_observation(self, name: str) -> object:
        """What the scripted server observed of the client, over every connection: a
        flag (``pipelined``, ``tls_established``, ``auth_in_plaintext`` ...), a list
        (``ehlo_names``, ``auth_mechanisms``, ``commands`` ...), a count (``mail_count``)
        or a value (``tls_cipher``, ``authenticated_user``). The names are the fields of
        ``scenarios.server.mailbox.Observations``.

        | ${cipher} = | `Get Server Observation` | tls_cipher |
        """
        return self._observation(name)

    @keyword()
    def server_should_have_observed(self, name: str) -> None:
        """Fails unless the server observed ``name`` (a flag set, a list not empty).

        | `Server Should Have Observed` | pipelined |
        | `Server Should Have Observed` | tls_established |
        """
        value = self._observation(name)
        if not value:
            raise AssertionError(f"The scripted server did not observe "
                                 f"{name.replace('_', ' ')} ({name} is {value!r}).")

    @keyword()
    def server_should_not_have_observed(self, name: str) -> None:
        """Fails if the server observed ``name`` (a flag set, a list not empty).

        | `Server Should Not Have Observed` | auth_in_plaintext |
        """
        value = self._observation(name)
        if value:
            raise AssertionError(f"The scripted server observed {name.replace('_', ' ')} "
                                 f"({name} is {value!r}).")

    @keyword()
    def server_observation_should_be(self, name: str, expected: object) -> None:
        """Fails unless the observation ``name`` equals ``expected`` (compared as text when
        ``expected`` is text).

        | `Server Observation Should Be` | tls_cipher | ECDHE-RSA-AES256-SHA |
        | `Server Observation Should Be` | mail_count | ${1} |
        """
        value = self._observation(name)
        same = value == expected or (isinstance(expected, str) and str(value) == expected)
        if not same:
            raise AssertionError(f"The scripted server observed {name} = {value!r}, "
                                 f"expected {expected!r}.")

    @keyword()
    def client_should_have_greeted_with(self, name: str) -> None:
        """Fails unless every EHLO (or HELO) the client sent named ``name``.

        | `Client Should Have Greeted With` | device.example.com |
        """
        names = self._observation("ehlo_names")
        assert isinstance(names, list)
        if not names:
            raise AssertionError("The client never greeted the server (no EHLO or HELO).")
        wrong = [n for n in names if n != name]
        if wrong:
            why = "" if ehlo_name_acceptable(wrong[0]) else \
                " (not a domain name or address literal, which strict servers refuse)"
            raise AssertionError(f"The client greeted with EHLO {wrong[0]}{why}, expected "
                                 f"EHLO {name}.")
