"""Tests of smtp/client.py (ClientCore), paired in memory with the scripted server engine.

``Pair`` is a tiny synchronous driver that mirrors smtp/task.py: it feeds the core what
happened and carries out its outputs, and does the same for the server engine
(scenarios/server/engine.py), moving bytes between the two. No network, no kernel, no
clock: Delay actions are ignored, and the core's timer fires only when the dialogue has
stalled (nothing left to deliver either way), which is when it would fire in real time.

Every test asserts what the server received (mailbox, observations) and what the
client told the application (events). test_client_profiles.py loads ``Pair`` from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.server import replies as R
from scenarios.server.actions import Action, Close, Delay, DropTls, Reset, Send, Silence
from scenarios.server.actions import StartTls as ServerStartTls
from scenarios.server.engine import ServerEngine
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.server.rules import Rule, ServerConfig
from smtp.auth import Credentials
from smtp.client import (
    ArmTimer,
    CancelTimer,
    ClientCore,
    Log,
    Notify,
    Output,
    Phase,
    SendBytes,
    SendContent,
    StartTls,
)
from smtp.client import Close as ClientClose
from smtp.events import (
    Authenticated,
    ClientError,
    ClientEvent,
    CommandAbort,
    Connected,
    ErrorKind,
    EtrnResult,
    RecipientRejected,
    Sent,
    Timeout,
    TlsEstablished,
    VrfyResult,
    is_terminal,
)
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import MailJob, MessageBuilder
from smtp.profiles import get_profile
from smtp.rtcdate import RtcTime, format_date_header
from smtp.settings import SECOND_US, ClientSettings

# ---- the pairing helper ------------------------------------------------------------------

SERVER_HOST = "smtp.example.com"
TLS_CIPHER = "TLS_AES_256_GCM_SHA384"
TLS_VERSION = "TLSv1.3"
RTC = RtcTime(2017, 6, 22, 12, 22, 7, 3, True)  # a Thursday
SERVER_NOW = datetime(2017, 6, 22, 12, 22, 7, tzinfo=UTC)
DEVICE_DOMAIN = "device.example.com"
DEVICE_IP = "192.0.2.10"

Delivery = Literal["as_sent", "bytewise", "coalesced"]


@dataclass
class FixedPorting:
    """The device's porting layer with a fixed RTC reading (``psp_rtc_get``)."""

    rtc: RtcTime = RTC
    domain: str | None = DEVICE_DOMAIN
    address: str = DEVICE_IP
    hostname: str = "device"

    def rtc_get(self) -> RtcTime:
        return self.rtc

    def host_domain(self) -> str | None:
        return self.domain

    def host_address(self) -> str:
        return self.address

    def template_hostname(self) -> str:
        return self.hostname


class Pair:
    """A ClientCore and a ServerEngine talking through two in-memory queues.

    ``delivery`` shapes what the client reads: ``"as_sent"`` one ``receive`` per server
    write, ``"bytewise"`` one byte per ``receive``, ``"coalesced"`` everything pending in
    one ``receive``. TLS is not real here: when both sides have asked for it the pair
    calls ``tls_established`` on each and the bytes keep flowing in clear (real TLS is
    tested in tests/stack/test_tls.py and through the task).
    """

    def __init__(self, jobs: Sequence[Job], *, server: ServerConfig | None = None,
                 profile: str = "current", delivery: Delivery = "as_sent",
                 porting: FixedPorting | None = None, **settings: Any) -> None:
        self.settings = ClientSettings(server_host=SERVER_HOST,
                                       **{"security": "none", **settings})
        self.porting = porting or FixedPorting()
        self.core = ClientCore(self.settings, get_profile(profile), self.porting, jobs)
        self.engine = ServerEngine(server or ServerConfig(hostname=SERVER_HOST))
        self.delivery = delivery
        self.outputs: list[Output] = []
        self.sent: list[SendBytes] = []
        self.armed: list[ArmTimer] = []
        self.logs: list[Log] = []
        self.fired: list[str] = []
        """The command of the armed timer each time it fired."""
        self.discarded = b""
        """Plaintext the driver dropped when the client started TLS (as task.py does)."""
        self.tls = False
        self._to_server: deque[bytes] = deque()
        self._to_client: deque[bytes] = deque()
        self._content: Iterator[bytes] | None = None
        self._timer: ArmTimer | None = None
        self._client_tls = False
        self._server_tls = False
        self._client_closed: bool | None = None  # None: open; else whether it aborted
        self._server_told = False
        self._server_gone: str | None = None
        self._client_told = False

    # -- running
    def run(self, max_steps: int = 200_000) -> Pair:
        self._client(self.core.start())
        if self.core.finished:
            return self
        self._client(self.core.connected(SERVER_HOST, self.settings.server_port))
        self._server(self.engine.on_connect())
        for _ in range(max_steps):
            if not self._step():
                return self
        raise AssertionError("the dialogue did not settle")

    def _step(self) -> bool:
        """Do the next thing that is due; False when nothing is left."""
        if self._to_server:
            data = self._to_server.popleft()
            if self._server_gone is None:
                self._server(self.engine.on_data(data, SERVER_NOW))
            return True
        if self._content is not None:
            self._pump_content()
            return True
        if self._client_closed is not None and not self._server_told:
            self._server_told = True
            self.engine.on_close("client reset" if self._client_closed else "client closed")
            return True
        if self._client_tls and self._server_tls:
            self._handshake()
            return True
        if self._to_client:
            self._deliver()
            return True
        if self._server_gone is not None and not self._client_told:
            self._client_told = True
            if self._client_closed is None:
                self._client(self.core.connection_lost(self._server_gone))
            return True
        if self._client_tls and self._client_closed is None:
            self._client_tls = False
            self._client(self.core.tls_failed("handshake failed: the server did not start TLS"))
            return True
        if self._timer is not None and self._client_closed is None:
            self.fired.append(self._timer.command)
            self._timer = None
            self._client(self.core.timer_expired())
            return True
        return False

    def _pump_content(self) -> None:
        # As task.py: hand every chunk to the socket, then tell the core.
        assert self._content is not None
        for chunk in self._content:
            if self._client_closed is not None:
                break
            self._to_server.append(chunk)
            self._client(self.core.block_sent())
        self._content = None
        if self._client_closed is None:
            self._client(self.core.content_sent())

    def _handshake(self) -> None:
        # No real TLS here: both sides are told the handshake succeeded and the bytes
        # that follow are passed in clear.
        self._client_tls = self._server_tls = False
        self.tls = True
        self._server(self.engine.on_tls_established(TLS_CIPHER, TLS_VERSION))
        self._client(self.core.tls_established(TLS_CIPHER, TLS_VERSION))

    def _deliver(self) -> None:
        if self.delivery == "coalesced":
            data = b"".join(self._to_client)
            self._to_client.clear()
        elif self.delivery == "bytewise":
            head = self._to_client.popleft()
            data = head[:1]
            if len(head) > 1:
                self._to_client.appendleft(head[1:])
        else:
            data = self._to_client.popleft()
        if self._client_closed is None:
            self._client(self.core.receive(data))

    # -- carrying out outputs and actions
    def _client(self, outputs: list[Output]) -> None:
        for out in outputs:
            self.outputs.append(out)
            if isinstance(out, SendBytes):
                self.sent.append(out)
                self._to_server.append(out.data)
            elif isinstance(out, SendContent):
                self._content = out.chunks
            elif isinstance(out, StartTls):
                self._client_tls = True
                # task.py drains the socket before the handshake: plaintext is dropped.
                self.discarded += b"".join(self._to_client)
                self._to_client.clear()
            elif isinstance(out, ArmTimer):
                self.armed.append(out)
                self._timer = out
            elif isinstance(out, CancelTimer):
                self._timer = None
            elif isinstance(out, ClientClose):
                self._client_closed = out.abort
                self._timer = None
                self._content = None
                if out.abort:
                    self._to_server.clear()
            elif isinstance(out, Log):
                self.logs.append(out)
            else:
                assert isinstance(out, Notify)

    def _server(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if self._server_gone is None:
                    self._to_client.append(action.data)
            elif isinstance(action, ServerStartTls):
                self._server_tls = True
            elif isinstance(action, Close):
                self._server_gone = "connection closed by the server"
            elif isinstance(action, Reset):
                self._server_gone = "connection reset by the server"
            elif isinstance(action, DropTls):
                self._server_gone = f"the server dropped TLS ({action.mode})"
            else:
                assert isinstance(action, Delay | Silence)  # no time here; Silence: no answer

    # -- what happened
    @property
    def events(self) -> list[ClientEvent]:
        return self.core.events

    @property
    def terminal(self) -> list[ClientEvent]:
        return [e for e in self.events if is_terminal(e)]

    @property
    def mailbox(self) -> list[ReceivedMail]:
        return self.engine.mailbox

    @property
    def obs(self) -> Observations:
        return self.engine.observations

    @property
    def commands(self) -> list[str]:
        return self.obs.commands

    def outputs_after(self, kind: type[ClientEvent]) -> list[Output]:
        """The outputs after the first Notify of an event of type ``kind``."""
        for i, out in enumerate(self.outputs):
            if isinstance(out, Notify) and isinstance(out.event, kind):
                return self.outputs[i + 1:]
        raise AssertionError(f"no {kind.__name__} event")


def mail(**fields: Any) -> MailJob:
    """A small valid mail job; ``fields`` override."""
    base: dict[str, Any] = {"sender": "dev@example.org", "to": ("ops@example.net",),
                            "subject": "Report", "body": "Hello\r\n"}
    return MailJob(**{**base, **fields})


def expected_message(job: MailJob, *, seq: int = 1, eight_bit_ok: bool = True,
                     date: str | None = None, domain: str = DEVICE_DOMAIN) -> bytes:
    """The exact content the current release sends for ``job`` (as the server stores it)."""
    builder = MessageBuilder(job, date_header=date or format_date_header(RTC),
                             message_id_domain=domain, message_id_seq=seq, boundary_seed=seq,
                             eight_bit_ok=eight_bit_ok)
    return builder.to_bytes()


NO_EXTENSIONS = ServerConfig(hostname=SERVER_HOST, capabilities=("ENHANCEDSTATUSCODES",))
PLAIN_ESMTP = ServerConfig(hostname=SERVER_HOST,
                           capabilities=("SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"))
USERS = {"dev": "s3cret"}
TLS_SERVER = ServerConfig(
    hostname=SERVER_HOST, credentials=USERS,
    capabilities=("PIPELINING", "STARTTLS", "AUTH PLAIN", "ENHANCEDSTATUSCODES"),
    capabilities_tls=("PIPELINING", "AUTH LOGIN", "ENHANCEDSTATUSCODES"))
