"""Whether a scenario can be put to a client program at all, and why not.

A client program runs on real sockets against the scripted server: it cannot be given
what only the simulation or the modelled device has. :func:`link_reasons` names what no
program run can apply (the link's faults and loss: real sockets have no link model);
:func:`device_reasons` names the device's own settings a program is never told (its RTC,
its TLS and version settings, a forced AUTH mechanism) and the jobs a program is not
handed (header injection: the message file is the harness's; DSN parameters; VRFY,
ETRN);
:func:`dut_reasons` what this program's DUT file cannot express (a security mode without
a fragment, credentials without ``[client.auth]``, an opportunistic case for a program
whose STARTTLS is mandatory, CR/LF in an address for a program that does not take its
addresses as raw arguments). A scenario with any reason is "not applicable": neither
run nor counted as passed or failed.

This module knows the scenario format and the DUT file; it runs nothing.
"""

from __future__ import annotations

from typing import Final

from scenarios.format import MailJobSection, Scenario
from scenarios.format.vocabulary import DEFAULT_RTC, LINE_BREAKS
from scenarios.outside.dutfile import LOOPBACK, DutFile, has_credentials
from smtp.message import MailJob

PROGRAM: Final = "a client program"


def link_reasons(scenario: Scenario, client: str = PROGRAM) -> list[str]:
    """The link settings no run on real sockets can apply (each a reason it is not
    applicable); ``client`` names what runs (a board, by default a program)."""
    link = scenario.link
    reasons = []
    if link.faults:
        names = ", ".join(dict.fromkeys(f.fault for f in link.faults))
        reasons.append(f"link faults ({names}) cannot be applied to {client} on real "
                       "sockets: they have no link model")
    if link.loss:
        reasons.append(f"link.loss ({link.loss:g}) cannot be applied to {client} on "
                       "real sockets")
    return reasons


def device_reasons(scenario: Scenario, client: str = PROGRAM) -> list[str]:
    """The device's own settings and jobs a client program (or ``client``) is never
    given. CR or LF in a header field is a program's reason only (its message file is
    the harness's); a board's console names its own limits."""
    device = scenario.device
    config = device.config
    reasons = []
    if device.rtc != DEFAULT_RTC or device.rtc_variants:
        reasons.append(f"a device setting (device.rtc) that {client} cannot be given")
    tls = config.get("tls", {})
    if tls:
        reasons.append(f"device TLS settings (device.config.tls: {', '.join(tls)}) that "
                       f"{client} cannot be given")
    if config.get("server", {}).get("tls_server_name") is not None:
        reasons.append("a device setting (device.config.server.tls_server_name) that "
                       f"{client} cannot be given")
    if "config_version" in config:
        reasons.append("the device's configuration header version (config_version)")
    mechanism = config.get("auth", {}).get("mechanism")
    if mechanism is not None:
        reasons.append(f"an AUTH mechanism forced on the device ({mechanism}) that {client} "
                       "cannot be told")
    job = scenario.to_job()
    if not isinstance(job, MailJob):
        reasons.append(f"a {scenario.job.kind} job: {client} sends mail")
    elif isinstance(scenario.job, MailJobSection) and (
            scenario.job.dsn_envid is not None or scenario.job.dsn_notify is not None
            or scenario.job.dsn_ret is not None or scenario.job.dsn_orcpt):
        reasons.append(f"DSN parameters (job.dsn_*) that {client} is not given")
    elif client == PROGRAM and scenario.job.allow_invalid and _header_breaks(scenario):
        reasons.append("CR or LF in a header field: a client program relays the message "
                       "file the harness wrote, whose headers are the harness's to encode")
    return reasons


def dut_reasons(scenario: Scenario, dut: DutFile) -> list[str]:
    """What ``dut``'s file cannot express for ``scenario``."""
    reasons = []
    security = scenario.device_config(LOOPBACK).server.security
    if security != "none" and security not in dut.security:
        reasons.append(f"{dut.name} cannot be told to use security {security!r} (its DUT file "
                       f"has no client.security.{security})")
    if has_credentials(scenario) and dut.auth is None:
        reasons.append(f"the scenario logs in and {dut.name} has no [client.auth]")
    audit = scenario.audit
    needs = audit.needs if audit is not None else []
    if "opportunistic_tls" in needs and not dut.opportunistic:
        reasons.append(f"{dut.name} has no opportunistic STARTTLS mode (its starttls mode "
                       "never falls back to plaintext)")
    if scenario.job.allow_invalid and _address_breaks(scenario) and not dut.raw_arguments:
        reasons.append(f"CR or LF in an address: {dut.name} does not take its addresses as "
                       "raw arguments (its DUT file says raw_arguments = false)")
    return reasons


def _address_breaks(scenario: Scenario) -> bool:
    job = scenario.job
    if not isinstance(job, MailJobSection):
        return False
    values = [job.sender, *job.to, *job.cc, *job.bcc, job.dsn_envid or ""]
    return any(ch in value for value in values for ch in LINE_BREAKS)


def _header_breaks(scenario: Scenario) -> bool:
    job = scenario.job
    if not isinstance(job, MailJobSection):
        return False
    values = [job.subject, job.from_name, *job.reply_to]
    return any(ch in value for value in values for ch in LINE_BREAKS)
