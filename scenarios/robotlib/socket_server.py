"""A scenario's scripted server on a real socket of this host, for the Robot keywords.

:class:`SocketServer` runs the scenario's server (:mod:`scenarios.server.asyncdriver`) in
real time, its asyncio loop on a background thread, so that the keywords (which Robot
calls on its own thread) can start it, read what it received and stop it. TLS uses a
throwaway CA made for this process.

This module knows the socket driver and threads; it defines no keywords.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from scenarios.format import Scenario
from scenarios.outside.tls import scenario_tls
from scenarios.report.from_server import server_run_view
from scenarios.report.model import RunView
from scenarios.server.asyncdriver import Pacing, host_clock
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.verdict.server import judge_server

_T = TypeVar("_T")
SOCKET_SETUP_TIMEOUT_S: Final = 30.0
"""How long starting or stopping the socket server may take (wall seconds)."""


class SocketServer:
    """A scenario's scripted server on a real socket; its asyncio loop runs on a thread.

    TLS uses a throwaway CA made for this process (:attr:`ca_pem` holds the anchors the
    scenario's device trusts: by default that CA's certificate)."""

    def __init__(self, scenario: Scenario, *, host: str, port: int, time_scale: float,
                 max_delay_s: float | None) -> None:
        self.scenario = scenario
        tls, self.ca_pem = scenario_tls(scenario)
        self.server: AsyncServer = AsyncServer(scenario.server_config(), tls=tls,
                                               pacing=Pacing(time_scale, max_delay_s))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"smtp-hil server {scenario.name}")
        self._thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(self.server.start(host, port), self._loop)
            self.address = future.result(timeout=SOCKET_SETUP_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise

    def _in_loop(self, work: Callable[[], _T]) -> _T:
        async def call() -> _T:
            return work()

        future = asyncio.run_coroutine_threadsafe(call(), self._loop)
        return future.result(timeout=SOCKET_SETUP_TIMEOUT_S)

    def mailbox(self) -> list[ReceivedMail]:
        return self._in_loop(lambda: list(self.server.mailbox))

    def observations(self) -> list[Observations]:
        return self._in_loop(lambda: [c.engine.observations for c in self.server.connections])

    def transcript_lines(self, *, show_secrets: bool = False) -> list[str]:
        """``[1] 0.012 C: EHLO x`` lines, every connection in turn; credentials hidden
        unless ``show_secrets``."""
        return self._in_loop(lambda: [
            f"[{c.index}] {text}" for c in self.server.connections for line in c.lines
            for text in line.text_lines(show_secrets=show_secrets)])

    def report_views(self) -> list[RunView]:
        """Each connection so far, judged server-side, as a view of the HTML report."""
        scenario = self.scenario

        def views() -> list[RunView]:
            return [server_run_view(scenario, c.lines,
                                    judge_server(scenario, [c.engine], now=host_clock()),
                                    run_id=f"{scenario.name}--socket--c{c.index}",
                                    column=f"socket, connection {c.index}")
                    for c in self.server.connections]

        return self._in_loop(views)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.server.close(), self._loop)
        try:
            future.result(timeout=SOCKET_SETUP_TIMEOUT_S)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=SOCKET_SETUP_TIMEOUT_S)
        self._loop.close()
