"""Whether a scenario applies to a C firmware, derived from the scenario and the
firmware's declared capabilities (``hil_fw_capabilities``), with the reason when not.

A scenario needs a capability when its device configuration, its job or its expectations
ask for what a client without it cannot do: TLS (STARTTLS offered by the server while the
device's security is ``starttls``, ``required`` or implicit ``tls``), PIPELINING or
CHUNKING the scenario expects to see used, DSN parameters, VRFY and ETRN jobs, an AUTH
mechanism the firmware lacks, more than one recipient, Cc/Bcc/Reply-To, attachments, a
sender display name, a configuration header version. A scenario that does not apply is
"not applicable": it is neither run nor counted as passed or failed.

Features that are merely offered (a server advertising PIPELINING to a client that does
not pipeline) do not make a scenario inapplicable: a client without them must still get
the mail through, and is judged on that.

This module knows the scenario format and the capability bits; it runs nothing.
"""

from __future__ import annotations

from emulator.cfirmware.abi import Capability
from scenarios.format import Scenario
from smtp.config import CONFIG_VERSION
from smtp.message import MailJob

_AUTH_CAPABILITY = {
    "PLAIN": Capability.AUTH_PLAIN, "LOGIN": Capability.AUTH_LOGIN,
    "CRAM-MD5": Capability.AUTH_CRAM_MD5, "ANONYMOUS": Capability.AUTH_ANONYMOUS,
    "XOAUTH2": Capability.AUTH_XOAUTH2,
}


class NotApplicable(Exception):
    """``scenario`` cannot run on firmware ``firmware``, for ``reasons``."""

    def __init__(self, scenario: str, firmware: str, reasons: tuple[str, ...]) -> None:
        super().__init__(scenario, firmware, reasons)
        self.scenario = scenario
        self.firmware = firmware
        self.reasons = reasons

    def __str__(self) -> str:
        return f"{self.scenario} is not applicable to {self.firmware}: {self.reason}"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def _needs(scenario: Scenario) -> list[tuple[Capability, str]]:
    """Every capability the scenario needs, each with the reason in the scenario."""
    needs: list[tuple[Capability, str]] = []
    config = scenario.device.config
    server = scenario.server
    security = config.get("server", {}).get("security", "starttls")
    expect = scenario.expect
    if security == "tls" or server.implicit_tls:
        needs.append((Capability.IMPLICIT_TLS, "implicit TLS (device security = tls)"))
    elif security == "required":
        needs.append((Capability.STARTTLS, "STARTTLS required (device security = required)"))
    elif security == "starttls" and server.starttls:
        needs.append((Capability.STARTTLS, "STARTTLS (the server offers it and the device's "
                                           "security is starttls)"))
    if expect.server.tls_used or expect.server.ehlo_after_starttls:
        needs.append((Capability.STARTTLS, "the scenario expects TLS to be used"))
    if expect.server.pipelined:
        needs.append((Capability.PIPELINING, "the scenario expects PIPELINING"))
    if expect.server.via == "BDAT":
        needs.append((Capability.CHUNKING, "the scenario expects CHUNKING (BDAT)"))
    mechanism = config.get("auth", {}).get("mechanism") or expect.server.auth_mechanism
    if mechanism is not None:
        needs.append((_AUTH_CAPABILITY[mechanism], f"AUTH {mechanism}"))
    if config.get("config_version", CONFIG_VERSION) != CONFIG_VERSION:
        needs.append((Capability.CONFIG_VERSION, "a configuration header version check"))
    job = scenario.to_job()
    if not isinstance(job, MailJob):
        kind = type(job).__name__.removesuffix("Job").upper()
        needs.append((Capability.VRFY if kind == "VRFY" else Capability.ETRN,
                      f"a {kind} job"))
        return needs
    if len(job.to) != 1:
        needs.append((Capability.MULTIPLE_RECIPIENTS, f"{len(job.to)} To recipients"))
    if job.cc or job.bcc or job.reply_to:
        needs.append((Capability.CC_BCC_REPLY_TO, "Cc, Bcc or Reply-To"))
    if job.attachments:
        needs.append((Capability.ATTACHMENTS, "attachments"))
    if job.sender_name:
        needs.append((Capability.SENDER_NAME, "a sender display name"))
    if job.dsn_notify or job.dsn_ret or job.dsn_envid or job.dsn_orcpt:
        needs.append((Capability.DSN, "DSN parameters"))
    return needs


def missing_capabilities(scenario: Scenario, capabilities: Capability) -> tuple[str, ...]:
    """Why ``scenario`` does not apply to a firmware with ``capabilities`` (empty: it does)."""
    reasons: list[str] = []
    for capability, why in _needs(scenario):
        if not capability & capabilities and why not in reasons:
            reasons.append(why)
    return tuple(reasons)


def check_applicable(scenario: Scenario, firmware: str, capabilities: Capability) -> None:
    """Raise :class:`NotApplicable` unless ``scenario`` applies."""
    reasons = missing_capabilities(scenario, capabilities)
    if reasons:
        raise NotApplicable(scenario.name, firmware, reasons)
