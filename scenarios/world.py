"""Builds the simulated world of one scenario run: kernel, link, board, server.

From a :class:`~scenarios.format.Scenario`, a release profile and a seed it makes the
kernel (seeded), the link with its faults scheduled, the board with its RTC, buffer
pool and SMTP firmware, and the server host with the scripted server listening (or not).
Certificates come from the shared test PKI: the server presents the scenario's
certificate (valid by default, or any kind a client must refuse, its relative dates
counted from the device's RTC), and the device trusts what ``device.trusts`` names (the
test CA by default) and checks the server's name ``smtp.example.test`` against its own
RTC.

This module wires things together; it runs nothing and judges nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from emulator.board import Board
from emulator.firmware import SmtpFirmware
from emulator.kernel import Kernel
from emulator.porting import BoardPorting
from emulator.rtc import EPOCH, Rtc
from emulator.trace import Trace
from emulator.tracespill import spills
from scenarios.format import Scenario, Sides
from scenarios.server.simdriver import ServerTls, SimServer
from smtp.config import CONFIG_VERSION
from smtp.profiles import Profile, get_profile
from smtp.settings import ClientSettings, settings_from_config
from stack.link import Link
from stack.simhost import SimHost
from stack.tls.badcerts import ServerCertificate, server_certificate, trust_anchors
from stack.tls.certs import DEFAULT_SERVER_NAMES, default_test_pki

SERVER_IP = "198.51.100.25"
SERVER_NAME = "smtp.example.test"


@dataclass
class World:
    """Everything one run is made of."""

    scenario: Scenario
    profile: Profile
    seed: int
    kernel: Kernel
    link: Link
    board: Board
    firmware: SmtpFirmware
    server_host: SimHost
    server: SimServer | None
    settings: ClientSettings

    @property
    def config_refused(self) -> str | None:
        """Why the device's client refused its configuration header, if it did."""
        return self.firmware.config_refused

    @property
    def firmware_problems(self) -> list[str]:
        """Faults of a C firmware (the Python model has none)."""
        return []

    @property
    def firmware_stopped(self) -> bool:
        return False

    @property
    def sides(self) -> Sides:
        """The addresses of the link's two ends, as fault verbs name them."""
        return Sides(device=self.board.ip, server=SERVER_IP)

    def close(self) -> None:
        """Nothing to release for the Python model."""


def client_settings(scenario: Scenario, profile: Profile,
                    presented: ServerCertificate | None = None
                    ) -> tuple[ClientSettings, str | None]:
    """The device's settings and why its client refuses its configuration (None: it
    does not); ``presented``: :func:`presented_certificate` when the caller has it."""
    config = scenario.device_config(SERVER_IP)
    refused = None
    version = scenario.device.config.get("config_version", CONFIG_VERSION)
    if version != CONFIG_VERSION and not profile.skips_config_version_check:
        refused = (f"config_version: file has version {version}, this client expects "
                   f"version {CONFIG_VERSION}")
    anchors = trust_anchors(scenario.device.trusts, ca=default_test_pki().ca,
                            presented=(presented or presented_certificate(scenario)).leaf)
    settings = settings_from_config(config, ca_pem=anchors)
    if settings.tls.server_name is None:
        settings = dataclasses.replace(
            settings, tls=dataclasses.replace(settings.tls, server_name=SERVER_NAME))
    return settings, refused


def presented_certificate(scenario: Scenario) -> ServerCertificate:
    """The certificate the scripted server presents (``server.certificate``), issued by
    the test CA unless its kind says otherwise; relative dates count from the device's
    RTC as it reads when the run starts (1970 when unset)."""
    server = scenario.server
    spec = server.certificate_spec()
    names = DEFAULT_SERVER_NAMES if spec.key_type != "ecdsa" else (SERVER_NAME, "localhost")
    return server_certificate(spec, ca=default_test_pki().ca, names=names,
                              reference=scenario.device.rtc or EPOCH)


def server_tls(scenario: Scenario, presented: ServerCertificate | None = None) -> ServerTls:
    """The scripted server's certificate, ciphers, versions and stall for ``scenario``
    (``presented``: :func:`presented_certificate` when the caller has it)."""
    server = scenario.server
    made = presented or presented_certificate(scenario)
    return ServerTls(cert_pem=made.leaf.cert_pem, key_pem=made.leaf.key_pem,
                     ciphers=server.tls_ciphers, min_version=server.tls_min_version,
                     max_version=server.tls_max_version, security_level=made.security_level,
                     stall=server.tls_stall, stall_nth=server.tls_stall_nth)


def build_world(scenario: Scenario, profile_name: str = "current", seed: int = 0, *,
                trace: Trace | None = None) -> World:
    """The world for one run; nothing has happened yet (virtual time 0). ``trace``: the
    kernel's trace (default: one that keeps every record)."""
    profile = get_profile(profile_name)
    kernel = Kernel(seed=seed, trace=trace)
    link = build_link(scenario, kernel)
    device = scenario.device
    rtc = Rtc(kernel, start=device.rtc, drift_ppm=device.rtc_drift_ppm, name="board.rtc")
    board = Board(kernel, ip=device.ip, pool_buffers=device.pool_buffers,
                  buffer_size=device.buffer_size, rtc=rtc,
                  watchdog_timeout_us=device.watchdog_timeout_us)
    board.attach(link)
    presented = presented_certificate(scenario)  # made once: the device trusts what
    settings, refused = client_settings(scenario, profile, presented)  # the server shows
    porting = BoardPorting(board, domain=device.domain, hostname=device.hostname)
    firmware = SmtpFirmware(board, settings=settings, profile=profile, porting=porting,
                            config_refused=refused)
    server_host, server = build_server(scenario, kernel, link, presented)
    world = World(scenario=scenario, profile=profile, seed=seed, kernel=kernel, link=link,
                  board=board, firmware=firmware, server_host=server_host, server=server,
                  settings=settings)
    scenario.link.arm(link, world.sides)
    return world


def build_link(scenario: Scenario, kernel: Kernel) -> Link:
    """The scenario's link (its faults arm themselves: ``scenario.link.arm``)."""
    spec = scenario.link
    return Link(kernel, latency_us=spec.latency_us, bandwidth_bps=spec.bandwidth_bps,
                mtu=spec.mtu)


def build_server(scenario: Scenario, kernel: Kernel, link: Link,
                 presented: ServerCertificate | None = None
                 ) -> tuple[SimHost, SimServer | None]:
    """The server host on ``link`` and the scripted server (None when nobody listens);
    ``presented``: :func:`presented_certificate` when the caller has it."""
    server_host = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    server = None
    if scenario.server.listen:
        server = SimServer(kernel, server_host, scenario.server_config(),
                           port=scenario.server.port, tls=server_tls(scenario, presented),
                           max_connections=scenario.server.max_connections,
                           keep_transcripts=kernel.trace.keep is None
                           and not spills(kernel.trace.records),
                           clock_start=scenario.server.clock)
    return server_host, server
