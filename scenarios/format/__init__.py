"""The scenario file format: one TOML file describes one run, validated by pydantic.

A scenario names a device (the emulated board and its partial device configuration), the
link between it and the server (with faults), the scripted SMTP server (which maps 1:1
onto :class:`scenarios.server.rules.ServerConfig` and its rules), one job, and the
expectations that say what a CORRECT client does. ``reproduces`` lists the releases known
to get it wrong and the changelog line that says so. ``scenarios/README.md`` documents
every key.

One module per section: :mod:`.meta` (``[scenario]``), :mod:`.device`, :mod:`.link` and
:mod:`.faults` (``[link]``, ``[[link.faults]]``), :mod:`.server` and :mod:`.replay`
(``[server]``, ``[[server.replay]]``), :mod:`.job`, :mod:`.expect`; :mod:`.scenario`
puts them together, :mod:`.loader` reads files; :mod:`.vocabulary` holds the words the
sections share (event names, error kinds, sides, releases) and :mod:`.datetimes` the
date-times. Errors are worded by :mod:`smtp.inputwording`, as every user's file is.

Files hold seconds (numbers) and TOML date-times; the models expose integer microseconds
(``*_us`` properties) and aware UTC datetimes. Every model refuses unknown keys and takes
strict types. Problems come back as one ``ScenarioError`` listing every line, each naming
the file and the dotted key: ``x.toml: device.pool_buffers: expected an integer >= 2,
got 1``.

The package knows the file format and how it maps onto the server config, the device
config, jobs, expectations and the link's fault verbs (each fault arms itself on a link).
It knows nothing else of running a scenario: no sockets, no clock, no verdicts (the
runner reads the expectations and the verdicts judge). This module only names the
public parts.
"""

from scenarios.format.device import DeviceSection
from scenarios.format.expect import SERVER_OBSERVABLE, Expect, ServerExpect
from scenarios.format.faults import (
    FAULT_NAMES,
    DropAfterFault,
    DropNthFault,
    Fault,
    HoldFault,
    InjectRstFault,
    PartitionFault,
    SetLossFault,
    Sides,
)
from scenarios.format.job import (
    JOB_KINDS,
    AttachmentSection,
    EtrnJobSection,
    MailJobSection,
    VrfyJobSection,
    generated_content,
)
from scenarios.format.link import LinkSection
from scenarios.format.loader import ScenarioError, load_catalog_file, load_scenario, parse_scenario
from scenarios.format.meta import (
    AUDIT_GROUPS,
    AUDIT_TAGS,
    AuditSection,
    Reproduction,
    ScenarioMeta,
)
from scenarios.format.scenario import Scenario
from scenarios.format.server import RuleSection, ServerSection
from scenarios.format.vocabulary import (
    ERROR_KIND_NAMES,
    EVENT_NAMES,
    INVARIANT_NAMES,
    InvariantName,
)
from smtp.events import PROGRESS_EVENT_NAMES

__all__ = [
    "AUDIT_GROUPS",
    "AUDIT_TAGS",
    "ERROR_KIND_NAMES",
    "EVENT_NAMES",
    "FAULT_NAMES",
    "INVARIANT_NAMES",
    "JOB_KINDS",
    "PROGRESS_EVENT_NAMES",
    "SERVER_OBSERVABLE",
    "AttachmentSection",
    "AuditSection",
    "DeviceSection",
    "DropAfterFault",
    "DropNthFault",
    "EtrnJobSection",
    "Expect",
    "Fault",
    "HoldFault",
    "InjectRstFault",
    "InvariantName",
    "LinkSection",
    "MailJobSection",
    "PartitionFault",
    "Reproduction",
    "RuleSection",
    "Scenario",
    "ScenarioError",
    "ScenarioMeta",
    "ServerExpect",
    "ServerSection",
    "SetLossFault",
    "Sides",
    "VrfyJobSection",
    "generated_content",
    "load_catalog_file",
    "load_scenario",
    "parse_scenario",
]
