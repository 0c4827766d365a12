"""Headless Chromium for the report's tests, driven over the DevTools protocol, and a
server-side run view (a real client as ``serve`` sees it) for them.

Debian's ``chromium`` runs with the flags this machine needs (no sandbox as root, no
GPU, no network chatter) and a fresh profile folder; the tests talk to it through the
DevTools protocol over a websocket (the ``websockets`` library). A page's script errors
arrive as ``Runtime.exceptionThrown`` events and console errors as
``Runtime.consoleAPICalled``; both are kept so a test can say the page had none.

When ``chromium`` is not installed the tests that need it are skipped, saying so.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios.report.from_server import server_run_view
from scenarios.report.model import RunView
from scenarios.runner import resolve_scenario
from scenarios.server.transcript import TranscriptLine
from scenarios.verdict.server import CheckResult, ServerVerdict

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--remote-debugging-port=0", "--remote-allow-origins=*")
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 60.0


class Page:
    """One tab: navigate, evaluate JavaScript, take screenshots, collect errors."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.browser.events.clear()
        self.call("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", {"expression": expression,
                                               "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"still false after {timeout_s} s: {expression}")

    def errors(self) -> list[str]:
        """Script exceptions and console errors reported since the last :meth:`open`."""
        out = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            if event["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(event["params"]["exceptionDetails"])[:2000])
            elif (event["method"] == "Runtime.consoleAPICalled"
                  and event["params"].get("type") == "error"):
                out.append(json.dumps(event["params"]["args"])[:2000])
        return out

    def screenshot(self, path: Path, *, selector: str | None = None,
                   full_page: bool = False) -> Path:
        """A PNG of the viewport, the whole page, or one element."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if selector is not None or full_page:
            box = self.evaluate(
                "(() => { const r = " + (f"document.querySelector({json.dumps(selector)})"
                                         if selector else "document.documentElement")
                + ".getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, "
                  "r.width, r.height]; })()")
            params["clip"] = {"x": box[0], "y": box[1], "width": box[2], "height": box[3],
                              "scale": 1}
        data = self.call("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """A headless Chromium process and the DevTools websocket to it."""

    def __init__(self, executable: str, profile: Path) -> None:
        from websockets.sync.client import connect

        self._closing = contextlib.ExitStack()
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.is_file() or len(port_file.read_text().splitlines()) < 2:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.socket = self._closing.enter_context(connect(
            f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=START_TIMEOUT_S))
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.socket.recv(timeout=CALL_TIMEOUT_S))
        if "id" not in message:
            self.events.append(message)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session is not None:
            request["sessionId"] = session
        self.socket.send(json.dumps(request))
        while True:
            message = self._receive()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        while True:
            message = self._receive()
            if message.get("method") == method and message.get("sessionId") == session:
                return message

    def new_page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime"):
            page.call(f"{domain}.enable")
        return page

    def close(self) -> None:
        self._closing.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs "
                    "it): the report's browser tests need it")
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.close()


PLAIN = b"AHB1bXA3AHMzY3JldC1wdW1wNw=="  # \0pump7\0s3cret-pump7


@pytest.fixture
def server_side_view() -> RunView:
    """A client that logs in over STARTTLS and sends one mail, as the asyncio driver
    writes it down, with the verdict ``serve`` would print."""
    lines = [
        TranscriptLine(1, 0.0, "accept", detail="peer=127.0.0.1:40000"),
        TranscriptLine(1, 0.001, "S", b"220 mx.example.net ESMTP smtp-hil\r\n"),
        TranscriptLine(1, 0.010, "C", b"EHLO client.example\r\n"),
        TranscriptLine(1, 0.011, "S", b"250-mx.example.net\r\n250 STARTTLS\r\n"),
        TranscriptLine(1, 0.020, "C", b"STARTTLS\r\n"),
        TranscriptLine(1, 0.021, "S", b"220 2.0.0 Ready to start TLS\r\n"),
        TranscriptLine(1, 0.050, "tls_established",
                       detail="cipher=TLS_AES_256_GCM_SHA384 version=TLSv1.3"),
        TranscriptLine(1, 0.060, "C", b"AUTH PLAIN " + PLAIN + b"\r\n"),
        TranscriptLine(1, 0.061, "S", b"235 2.7.0 Authentication successful\r\n"),
        TranscriptLine(1, 0.070, "C", b"MAIL FROM:<pump7@example.com>\r\n"
                                      b"RCPT TO:<ops@example.net>\r\nDATA\r\n"),
        TranscriptLine(1, 0.071, "S", b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
                                      b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        TranscriptLine(1, 0.080, "C", b"Subject: x\r\n\r\nhello\r\n.\r\n"),
        TranscriptLine(1, 0.081, "S", b"250 2.0.0 OK queued as HIL000001\r\n"),
        TranscriptLine(1, 0.090, "closed", detail="reason=peer closed"),
    ]
    verdict = ServerVerdict(checks=[
        CheckResult("event", "not observable", "the client's own outcome"),
        CheckResult("mailbox_count", "pass", "1 mail(s) in the mailbox")],
        notes=["the client used HELO, not EHLO"])
    return server_run_view(resolve_scenario("starttls"), lines, verdict,
                           run_id="starttls--serve--c1", column="serve")
