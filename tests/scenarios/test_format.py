"""The scenario file format: three example files load and map onto the server config,
the device config and the job; every bad input gives one line naming the file and key."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest

from scenarios.format import (
    ERROR_KIND_NAMES,
    EVENT_NAMES,
    FAULT_NAMES,
    JOB_KINDS,
    PROGRESS_EVENT_NAMES,
    SERVER_OBSERVABLE,
    DropAfterFault,
    DropNthFault,
    EtrnJobSection,
    Expect,
    HoldFault,
    InjectRstFault,
    MailJobSection,
    PartitionFault,
    RuleSection,
    Scenario,
    ScenarioError,
    ServerExpect,
    ServerSection,
    SetLossFault,
    VrfyJobSection,
    generated_content,
    load_catalog_file,
    load_scenario,
    parse_scenario,
)
from scenarios.server.rules import Rule, ServerConfig
from smtp.config import CONFIG_VERSION
from smtp.events import PROGRESS_EVENTS, TERMINAL_EVENTS, ErrorKind
from smtp.jobs import EtrnJob, VrfyJob
from smtp.message import MailJob

# ----------------------------------------------------------------------------------------
# Three small example files

PIPELINED_MAIL = """\
[scenario]
name = "pipelined_mail_550"
title = "Pipelined MAIL rejected with 550"
tags = ["pipelining"]
time_limit_s = 900

[[scenario.reproduces]]
changelog = "Corrected handling of pipeline message for MAIL command"
profiles = ["2.0"]
why = "no event at all"

[device.config.server]
security = "none"

[server]
starttls = false

[[server.rules]]
verb = "MAIL"
reply = "550 5.7.1 Sender rejected"
delay_s = 0.25

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "alarm"
body = \"\"\"
Line one

Line three\\r\\n\"\"\"

[expect]
event = "command_abort"
command = "MAIL"
reply_code = 550
mailbox_count = 0

[expect.server]
pipelined = true
"""

TLS_DROP = """\
[scenario]
name = "tls_drop_mid_data"
title = "TLS dropped during DATA, link held and reset"

[device]
pool_buffers = 4
buffer_size = 512
rtc = "unset"
domain = ""
watchdog_timeout_s = 0.5

[device.config]
config_version = 2

[device.config.server]
security = "required"

[device.config.auth]
username = "pump7"
password = "secret"

[device.config.timeouts]
data_term = 30

[link]
latency_ms = 2.5
bandwidth_bps = 1_000_000
loss = 0.01

[[link.faults]]
fault = "drop_nth"
n = 3
src = "device"
payload_only = true

[[link.faults]]
fault = "drop_after"
src = "server"
after_payload_bytes = 4096

[[link.faults]]
fault = "inject_rst"
towards = "device"
at_s = 12.5

[[link.faults]]
fault = "hold"
src = "server"
at_s = 1
duration_s = 0.75

[[link.faults]]
fault = "partition"
at_s = 2

[[link.faults]]
fault = "set_loss"
probability = 0.5
src = "device"
at_s = 3

[server]
implicit_tls = true
clock = 2024-06-03T12:00:00
tls_cert = "ecdsa"
tls_ciphers = "ECDHE-RSA-AES256-SHA"
tls_min_version = "TLSv1.2"
tls_max_version = "TLSv1.2"
max_size = "unlimited"
capabilities = ["PIPELINING", "AUTH PLAIN"]
segmentation = "byte_by_byte"

[server.credentials]
pump7 = "secret"

[server.rcpt_reject]
"nobody@example.net" = "550 5.1.1 No such user"

[[server.rules]]
verb = "DATA_END"
action = "drop_tls"
drop_tls_mode = "rst"
nth = 1

[[server.rules]]
verb = "RCPT"
action = "trickle"
trickle_delay_s = 0.001
in_tls = true

[job]
kind = "mail"
from = "pump7@example.com"
from_name = "Pump 7"
to = ["ops@example.net"]
cc = ["nobody@example.net"]
bcc = ["audit@example.net"]
reply_to = ["noc@example.net"]
dsn_notify = ["SUCCESS", "FAILURE"]
dsn_ret = "HDRS"
dsn_envid = "env-1"
dsn_orcpt = true

[[job.attachments]]
filename = "log.txt"
text = "boot ok\\n"

[[job.attachments]]
filename = "dump.bin"
size = 100000

[expect]
event = "error"
error_kind = "connection_lost"
recipients_rejected = ["nobody@example.net"]
headers_absent = ["Bcc"]
max_virtual_s = 60
pool_returns_to_full = true

[expect.server]
tls_used = true
no_auth_in_plaintext = true
"""

VRFY = """\
[scenario]
name = "vrfy_unknown"
title = "VRFY of an unknown user"

[server]
vrfy_default = "550 5.1.1 No such user"

[job]
kind = "vrfy"
address = "ghost@example.net"

[expect]
event = "vrfy_result"
reply_code = 550
"""

EXAMPLES = {"pipelined_mail_550": PIPELINED_MAIL, "tls_drop_mid_data": TLS_DROP,
            "vrfy_unknown": VRFY}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(text: str, source: str = "x.toml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source=source)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_load_as_catalog_files(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, EXAMPLES[name])
    scenario = load_catalog_file(path)
    assert scenario.name == name
    assert scenario.source == str(path)
    assert isinstance(scenario, Scenario)


def test_pipelined_example_maps_onto_server_config_and_job() -> None:
    s = parse_scenario(PIPELINED_MAIL, source="pipelined_mail_550.toml")
    assert s.title == "Pipelined MAIL rejected with 550"
    assert s.tags == ["pipelining"]
    assert s.time_limit_us == 900_000_000
    assert s.reproduces[0].profiles == ["2.0"] and s.reproduces[0].why == "no event at all"
    assert s.reproduced_by("2.0")
    assert not s.reproduced_by("2.1") and not s.reproduced_by("current")
    with pytest.raises(ValueError, match=r"unknown release '9\.9'"):
        s.reproduced_by("9.9")

    config = s.server_config()
    assert config == ServerConfig(
        starttls=False,
        rules=(Rule(verb="MAIL", reply="550 5.7.1 Sender rejected", delay_us=250_000),),
    )
    assert s.server.port == 25 and s.server.listen

    job = s.to_job()
    assert job == MailJob(sender="pump7@example.com", to=("ops@example.net",),
                          subject="alarm", body="Line one\n\nLine three\r\n")
    assert s.expect.checks() == {
        "event": "command_abort", "command": "MAIL", "reply_code": 550,
        "mailbox_count": 0, "no_watchdog_reset": True, "server.pipelined": True,
    }
    assert s.expect.server_side_checks() == {"mailbox_count": 0, "server.pipelined": True}


def test_defaults_of_an_example_without_device_or_link() -> None:
    s = parse_scenario(PIPELINED_MAIL, source="p.toml")
    assert s.meta.description is None
    assert s.device.pool_buffers == 16 and s.device.buffer_size == 1536
    assert s.device.rtc == datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    assert s.server.clock == s.device.rtc
    assert s.device.domain == "device.example.com" and s.device.hostname == "device"
    assert s.device.watchdog_timeout_us == 2_000_000
    assert s.link.latency_us == 1_000 and s.link.bandwidth_bps == 10_000_000
    assert s.link.mtu == 1500 and s.link.loss == 0.0 and s.link.faults == []
    assert parse_scenario(VRFY, source="v.toml").meta.time_limit_s == 3600


def test_tls_example_device_and_durations() -> None:
    s = parse_scenario(TLS_DROP, source="tls_drop_mid_data.toml")
    assert s.device.rtc is None and s.device.rtc_unset
    assert s.device.domain is None
    assert s.device.watchdog_timeout_us == 500_000
    assert s.server.clock == datetime(2024, 6, 3, 12, 0, tzinfo=UTC)  # naive = UTC
    assert s.server.port == 465  # implicit TLS
    assert s.link.latency_us == 2_500

    overrides = s.device_config_overrides()
    assert overrides == {
        "config_version": 2,
        "server": {"security": "required"},
        "auth": {"username": "pump7", "password": "secret"},
        "timeouts": {"data_term": 30},
        "device": {"ip": "192.0.2.10", "hostname": "device"},
        "stack": {"pool_buffers": 4, "buffer_size": 512},
    }
    overrides["server"]["security"] = "none"  # a copy: the scenario is unchanged
    config = s.device_config("192.0.2.1")
    assert config.server.host == "192.0.2.1" and config.server.port == 465
    assert config.server.security == "required"
    assert config.config_version == 2  # not checked here: the profile decides
    assert config.device.domain is None
    assert config.stack.pool_buffers == 4
    assert config.timeouts_us()["data_term"] == 30_000_000


def test_device_config_port_can_differ_from_the_server() -> None:
    text = VRFY + '[device.config.server]\nport = 2525\n'
    s = parse_scenario(text, source="v.toml")
    assert s.device_config("10.0.0.1").server.port == 2525
    assert s.device_config("10.0.0.1").config_version == CONFIG_VERSION
    assert s.server.port == 25


def test_discriminated_fault_union_and_durations() -> None:
    faults = parse_scenario(TLS_DROP, source="t.toml").link.faults
    assert [type(f) for f in faults] == [DropNthFault, DropAfterFault, InjectRstFault,
                                         HoldFault, PartitionFault, SetLossFault]
    drop_nth, drop_after, rst, hold, partition, loss = faults
    assert isinstance(drop_nth, DropNthFault)
    assert (drop_nth.n, drop_nth.src, drop_nth.payload_only, drop_nth.at_us) == \
        (3, "device", True, 0)
    assert isinstance(drop_after, DropAfterFault)
    assert (drop_after.src, drop_after.after_payload_bytes, drop_after.time_us) == \
        ("server", 4096, None)
    assert isinstance(rst, InjectRstFault)
    assert (rst.towards, rst.at_us) == ("device", 12_500_000)
    assert isinstance(hold, HoldFault)
    assert (hold.src, hold.at_us, hold.duration_us) == ("server", 1_000_000, 750_000)
    assert isinstance(partition, PartitionFault)
    assert (partition.at_us, partition.duration_us) == (2_000_000, None)
    assert isinstance(loss, SetLossFault)
    assert (loss.probability, loss.src, loss.at_us) == (0.5, "device", 3_000_000)


def test_server_config_is_made_once_per_section_and_a_copy_makes_its_own() -> None:
    s = parse_scenario(PIPELINED_MAIL, source="p.toml")
    assert s.server_config() is s.server_config()  # validation made it; runs take that one
    renamed = s.server.model_copy(update={"hostname": "other.example.net"})
    assert renamed.to_server_config().hostname == "other.example.net"
    assert s.server_config().hostname != "other.example.net"
    again = parse_scenario(PIPELINED_MAIL, source="p.toml")
    assert again.server_config() == s.server_config()
    assert again.server_config() is not s.server_config()


def test_tls_example_server_config_and_rules() -> None:
    s = parse_scenario(TLS_DROP, source="t.toml")
    config = s.server_config()
    assert config.implicit_tls and config.max_size is None
    assert config.capabilities == ("PIPELINING", "AUTH PLAIN")
    assert config.credentials == {"pump7": "secret"}
    assert config.rcpt_reject == {"nobody@example.net": "550 5.1.1 No such user"}
    assert config.segmentation == "byte_by_byte"
    assert config.rules == (
        Rule(verb="DATA_END", action="drop_tls", drop_tls_mode="rst", nth=1),
        Rule(verb="RCPT", action="trickle", trickle_delay_us=1_000, in_tls=True),
    )
    assert (s.server.tls_cert, s.server.tls_ciphers) == ("ecdsa", "ECDHE-RSA-AES256-SHA")
    assert s.expect.max_virtual_us == 60_000_000


def test_tls_example_job_with_attachments() -> None:
    job = parse_scenario(TLS_DROP, source="t.toml").to_job()
    assert isinstance(job, MailJob)
    assert job.problems() == []
    assert (job.sender_name, job.cc, job.bcc, job.reply_to) == \
        ("Pump 7", ("nobody@example.net",), ("audit@example.net",), ("noc@example.net",))
    assert (job.dsn_notify, job.dsn_ret, job.dsn_envid, job.dsn_orcpt) == \
        (("SUCCESS", "FAILURE"), "HDRS", "env-1", True)
    text, blob = job.attachments
    assert (text.filename, text.content_type) == ("log.txt", "text/plain")
    assert b"".join(text.iter_content()) == b"boot ok\n"
    assert blob.content_type == "application/octet-stream"
    data = b"".join(blob.iter_content())
    assert len(data) == 100_000
    assert data == b"".join(blob.iter_content())  # a fresh, identical stream each time
    assert data[:32] == data[32:64]  # a 32-byte pattern, repeated


def test_generated_content_is_deterministic_and_chunked() -> None:
    chunks = list(generated_content("dump.bin", 150_000))
    assert [len(c) for c in chunks] == [65536, 65536, 150_000 - 131072]
    assert b"".join(chunks) == b"".join(generated_content("dump.bin", 150_000))
    assert b"".join(chunks)[:100] != b"".join(generated_content("other.bin", 100))
    assert list(generated_content("x", 0)) == []


def test_vrfy_and_etrn_jobs() -> None:
    assert parse_scenario(VRFY, source="v.toml").to_job() == VrfyJob("ghost@example.net")
    etrn = VRFY.replace('kind = "vrfy"\naddress = "ghost@example.net"',
                        'kind = "etrn"\nnode = "example.net"').replace("vrfy_result",
                                                                       "etrn_result")
    assert parse_scenario(etrn, source="e.toml").to_job() == EtrnJob("example.net")


# ----------------------------------------------------------------------------------------
# The format stays 1:1 with the code it maps onto


def test_fault_and_job_names_are_the_union_tags() -> None:
    faults = (DropNthFault, DropAfterFault, InjectRstFault, HoldFault, PartitionFault,
              SetLossFault)
    assert tuple(get_args(cls.model_fields["fault"].annotation)[0] for cls in faults) \
        == FAULT_NAMES
    jobs = (MailJobSection, VrfyJobSection, EtrnJobSection)
    assert tuple(get_args(cls.model_fields["kind"].annotation)[0] for cls in jobs) == JOB_KINDS


def test_every_server_config_field_is_a_server_key() -> None:
    config_fields = {f.name for f in dataclasses.fields(ServerConfig)}
    assert config_fields <= set(ServerSection.model_fields)


def test_every_rule_field_is_a_rule_key_with_seconds() -> None:
    rule_fields = {f.name for f in dataclasses.fields(Rule) if f.init}
    keys = {name.replace("_us", "_s") for name in rule_fields}
    assert keys == set(RuleSection.model_fields)


def test_names_match_the_client_events() -> None:
    assert set(EVENT_NAMES) == {cls.name for cls in TERMINAL_EVENTS}
    assert set(PROGRESS_EVENT_NAMES) == {cls.name for cls in PROGRESS_EVENTS}
    assert set(ERROR_KIND_NAMES) == {kind.value for kind in ErrorKind}


def test_every_expectation_says_whether_the_server_can_check_it() -> None:
    names = {n for n in Expect.model_fields if n != "server"}
    names |= {f"server.{n}" for n in ServerExpect.model_fields}
    assert set(SERVER_OBSERVABLE) == names
    assert SERVER_OBSERVABLE["mailbox_count"] and SERVER_OBSERVABLE["server.tls_used"]
    assert not SERVER_OBSERVABLE["event"] and not SERVER_OBSERVABLE["pool_never_exhausted"]


def test_readme_example_loads() -> None:
    readme = Path(__file__).parents[2] / "scenarios" / "README.md"
    block = re.search(r"```toml\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert block is not None
    s = parse_scenario(block[1], source="pipelined_mail_rejected.toml")
    assert s.reproduced_by("2.0") and s.reproduced_by("1.0")
    assert s.expect.event == "command_abort"


# ----------------------------------------------------------------------------------------
# Bad input: one line per problem, naming the file and the key

MINIMAL = """\
[scenario]
name = "x"
title = "t"
[job]
from = "a@example.com"
to = ["b@example.com"]
[expect]
event = "sent"
"""


def test_minimal_file_loads() -> None:
    assert parse_scenario(MINIMAL, source="x.toml").expect.event == "sent"


def test_events_include_names_progress_events_and_is_a_client_side_check() -> None:
    text = MINIMAL + 'events_include = ["tls_downgraded", "connected"]\n'
    expect = parse_scenario(text, source="x.toml").expect
    assert expect.events_include == ["tls_downgraded", "connected"]
    assert expect.checks()["events_include"] == ["tls_downgraded", "connected"]
    assert "events_include" not in expect.server_side_checks()
    assert "events_include" not in parse_scenario(MINIMAL, source="x.toml").expect.checks()


@pytest.mark.parametrize(("text", "expected"), [
    (MINIMAL.replace('"sent"', '"snet"'),
     ["x.toml: expect.event: expected one of sent, command_abort, error, timeout, "
      "vrfy_result, etrn_result, got 'snet'"]),
    (MINIMAL + 'events_include = ["tls_downgrade", "sent"]\n',
     ["x.toml: expect.events_include[0]: expected one of connected, tls_established, "
      "tls_downgraded, authenticated, recipient_rejected, got 'tls_downgrade'",
      "x.toml: expect.events_include[1]: expected one of connected, tls_established, "
      "tls_downgraded, authenticated, recipient_rejected, got 'sent'"]),
    ('[scenario]\nname = "x"\ntitle = "t"\n[expect]\nevent = "sent"\n',
     ["x.toml: [job]: missing section"]),
    (MINIMAL + "[device]\npool_buffers = 1\n",
     ["x.toml: device.pool_buffers: expected an integer >= 2, got 1"]),
    # every number has a ceiling (smtp/bounds.py), every date-time a place in the calendar
    (MINIMAL + "[device]\npool_buffers = 100000000000000000000000000\n",
     ["x.toml: device.pool_buffers: expected an integer <= 65536, "
      "got 100000000000000000000000000"]),
    (MINIMAL.replace('title = "t"', 'title = "t"\ntime_limit_s = 1e308'),
     ["x.toml: scenario.time_limit_s: expected a number <= 31536000, got 1e+308"]),
    (MINIMAL + "[[job.attachments]]\nfilename = \"a\"\nsize = 40_000_000\n"
               "[[job.attachments]]\nfilename = \"b\"\nsize = 40_000_000\n",
     ["x.toml: job.attachments: the sizes add up to 80000000 bytes; together at most "
      "67108864 (64 MiB)"]),
    (MINIMAL + "[device]\nrtc = 0999-01-01T00:00:00Z\n",
     ["x.toml: device.rtc: expected a date-time from 1900-01-01T00:00:00Z to "
      "9999-12-31T23:59:59Z, got 0999-01-01T00:00:00+00:00"]),
    (MINIMAL + "[device]\nrtc = 9999-12-31T23:00:00Z\n",
     ["x.toml: device.rtc: 9999-12-31T23:00:00Z runs past the end of year 9999 within "
      "scenario.time_limit_s (3600 s): set an earlier date-time or a shorter time limit"]),
    (MINIMAL.replace('title = "t"', 'title = "t"\n[[scenario.reproduces]]\n'
                                     'changelog = "c"\nprofiles = ["2.0", "9.9"]'),
     ["x.toml: scenario.reproduces[0].profiles[1]: unknown profile '9.9' "
      "(known: 1.0, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5)"]),
    (MINIMAL.replace('title = "t"', 'title = "t"\n[[scenario.reproduces]]\n'
                                     'changelog = "c"\nprofiles = ["current"]'),
     ["x.toml: scenario.reproduces[0].profiles[0]: 'current' has every bug fixed: "
      "it reproduces none"]),
    (MINIMAL + "[device.config.features]\npipelinning = true\n",
     ["x.toml: device.config.features.pipelinning: unknown key"]),
    (MINIMAL + "[foo]\na = 1\n", ["x.toml: [foo]: unknown section"]),
    (MINIMAL.replace('title = "t"\n', ""), ["x.toml: scenario.title: missing, expected a string"]),
    (MINIMAL.replace('name = "x"', 'name = "a b"'),
     ["x.toml: scenario.name: expected a name of letters, digits, '_', '-' and '.', "
      "got 'a b'"]),
    (MINIMAL + "[link]\nloss = 1.5\nlatency_ms = inf\n",
     ["x.toml: link.latency_ms: expected a finite number, got inf",
      "x.toml: link.loss: expected a number <= 1, got 1.5"]),
    (MINIMAL + "[device]\nrtc = \"later\"\n",
     ["x.toml: device.rtc: expected a TOML date-time such as 2024-06-03T10:00:00Z or "
      "'unset', got 'later'"]),
    (MINIMAL + "[device]\nip = \"1.2.3\"\ndomain = \"a b\"\n",
     ["x.toml: device.ip: expected an IPv4 address such as 192.0.2.10, got '1.2.3'",
      "x.toml: device.domain: expected a domain name or address literal such as "
      "device.example.com or [192.0.2.10], or \"\" for none, got 'a b'"]),
])
def test_bad_files_name_file_and_key(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_device_config_problems_are_named_under_device_config() -> None:
    text = MINIMAL + (
        '[device.config]\nconfig_version = "3"\n'
        '[device.config.server]\nhost = "h"\nport = "x"\nsecurity = "ssl"\n'
        '[device.config.stack]\npool_buffers = 3\n'
        '[device.config.timeouts]\nmail = 0\n'
    )
    assert problems(text) == [
        "x.toml: device.config.stack: set device.pool_buffers and device.buffer_size instead",
        "x.toml: device.config.server.host: set by the runner (the scripted server's address)",
        "x.toml: device.config.config_version: expected an integer, got '3'",
        "x.toml: device.config.server.port: expected an integer, got 'x'",
        "x.toml: device.config.server.security: expected one of none, starttls, tls, "
        "required, got 'ssl'",
        "x.toml: device.config.timeouts.mail: expected a number > 0, got 0",
    ]
    assert problems(MINIMAL + "[device.config]\nbogus = {a = 1}\n") == \
        ["x.toml: device.config.bogus: unknown section"]


def test_fault_union_problems() -> None:
    assert problems(MINIMAL + '[[link.faults]]\nfault = "dropnth"\n') == [
        "x.toml: link.faults[0].fault: expected one of drop_nth, drop_after, inject_rst, "
        "hold, partition, set_loss, got 'dropnth'"]
    assert problems(MINIMAL + "[[link.faults]]\nn = 1\n") == [
        "x.toml: link.faults[0].fault: missing, expected one of drop_nth, drop_after, "
        "inject_rst, hold, partition, set_loss"]
    text = MINIMAL + (
        '[[link.faults]]\nfault = "drop_nth"\nsrc = "dev"\n'
        '[[link.faults]]\nfault = "inject_rst"\n'
        '[[link.faults]]\nfault = "partition"\ntowards = "device"\n'
        '[[link.faults]]\nfault = "set_loss"\nprobability = 2\n'
    )
    assert problems(text) == [
        "x.toml: link.faults[0].n: missing, expected an integer",
        "x.toml: link.faults[0].src: expected one of device, server, got 'dev'",
        "x.toml: link.faults[1].at_s: missing, expected a number",
        "x.toml: link.faults[1].towards: missing, expected one of device, server",
        "x.toml: link.faults[2].towards: unknown key",
        "x.toml: link.faults[3].probability: expected a number <= 1, got 2",
    ]


def test_rule_and_server_problems() -> None:
    rules = MINIMAL + (
        '[[server.rules]]\nverb = "MAIL"\ntransition = false\n'
        '[[server.rules]]\nverb = "RCPT"\naction = "explode"\ndelay_s = -1\n'
        '[[server.rules]]\nverb = "DATA"\naction = "drop_tls"\n'
        '[[server.rules]]\nverb = "MAIL"\nargument = "("\n'
        '[[server.rules]]\nverb = "MAIL"\ntrickle_delay_s = 1\n'
        '[[server.rules]]\nverb = "MAIL"\naction = "drop_tls"\ndrop_tls_mode = "rst"\n'
        'inject = "250 OK"\n'
    )
    lines = problems(rules)
    assert lines[:4] == [
        "x.toml: server.rules[0].reply: required when transition is false",
        "x.toml: server.rules[1].action: expected one of reply, trickle, reply_then_close, "
        "drop_tls, ignore, silent, close, reset, stop_reading, got 'explode'",
        "x.toml: server.rules[1].delay_s: expected a number >= 0, got -1",
        "x.toml: server.rules[2].drop_tls_mode: missing, expected one of tcp_close, rst, "
        "close_notify with action drop_tls",
    ]
    assert lines[4].startswith("x.toml: server.rules[3].argument: not a valid regex")
    assert lines[5] == "x.toml: server.rules[4].trickle_delay_s: only used with action 'trickle'"
    assert lines[6] == ("x.toml: server.rules[5].inject: never sent with drop_tls_mode 'rst': "
                        "the connection ends first")
    server = MINIMAL + (
        '[server]\ntls_ciphers = "NOPE"\ntls_min_version = "TLSv1.3"\n'
        'tls_max_version = "TLSv1.2"\nhostname = "a b"\n'
    )
    assert problems(server) == [
        "x.toml: server.tls_ciphers: OpenSSL accepts no cipher in 'NOPE'",
        "x.toml: server.tls_min_version: TLSv1.3 is above tls_max_version TLSv1.2",
        "x.toml: server.hostname: expected a host name, got 'a b'",
    ]
    assert problems(MINIMAL + '[server]\nmax_size = "big"\nsegmentation = "bytes"\n') == [
        "x.toml: server.max_size: expected an integer >= 0 or 'unlimited', got 'big'",
        "x.toml: server.segmentation: expected one of normal, byte_by_byte, line_by_line, "
        "coalesced, got 'bytes'",
    ]
    assert problems(MINIMAL + "[server.credentials]\nuser = 5\n") == [
        "x.toml: server.credentials.user: expected a string, got 5"]


def test_job_problems_use_the_file_keys() -> None:
    text = MINIMAL.replace('to = ["b@example.com"]', (
        'to = ["b@example.com", "bad"]\nsubject = "a\\nb"\nfrom_name = "x\\ny"\n'
        'dsn_notify = ["NEVER", "SUCCESS"]\n'
        '[[job.attachments]]\nfilename = "a"\nsize = 3\ncontent_type = "text"\n'))
    assert problems(text) == [
        "x.toml: job.to[1]: expected an address local@domain (no display name, no spaces), "
        "got 'bad'",
        "x.toml: job.subject: contains a line break",
        "x.toml: job.from_name: contains a line break",
        "x.toml: job.attachments[0].content_type: expected type/subtype, got 'text'",
        "x.toml: job.dsn_notify: NEVER cannot be combined with other values",
    ]
    assert problems(MINIMAL.replace('"a@example.com"', '"nope"')) == [
        "x.toml: job.from: expected an address local@domain (no display name, no spaces), "
        "got 'nope'"]
    assert problems(MINIMAL + '[[job.attachments]]\nfilename = "a"\ntext = "x"\nsize = 1\n') \
        == ["x.toml: job.attachments[0]: expected exactly one of text or size"]
    assert problems(MINIMAL.replace("[job]", '[job]\nkind = "vrfi"')) == [
        "x.toml: job.kind: expected one of mail, vrfy, etrn, got 'vrfi'"]
    assert problems(MINIMAL.replace("[job]", '[job]\nkind = "vrfy"')) == [
        "x.toml: job.address: missing, expected a string",
        "x.toml: job.from: unknown key",
        "x.toml: job.to: unknown key",
    ]
    assert problems(MINIMAL.replace("[job]", "[job]\nsender = 'a@example.com'")) == [
        "x.toml: job.sender: unknown key"]


def test_allow_invalid_keeps_a_malformed_job_for_the_client_to_refuse() -> None:
    text = MINIMAL.replace('to = ["b@example.com"]',
                           'to = ["b@x\\r\\nRCPT TO:<c@y>"]\nallow_invalid = true')
    text = text.replace('event = "sent"', 'event = "error"\nerror_kind = "invalid_input"')
    job = parse_scenario(text, source="x.toml").to_job()
    assert isinstance(job, MailJob) and job.to == ("b@x\r\nRCPT TO:<c@y>",)
    vrfy = VRFY.replace('"ghost@example.net"', '"a\\r\\nb"')
    assert problems(vrfy) == ["x.toml: job.address: contains CR, LF or NUL"]


def test_an_empty_rejected_list_is_a_check_empty_header_lists_are_not() -> None:
    text = MINIMAL.replace('event = "sent"', 'event = "sent"\nrecipients_rejected = []\n'
                                             'headers_present = []\nno_watchdog_reset = false')
    assert parse_scenario(text, source="x.toml").expect.checks() == {
        "event": "sent", "recipients_rejected": [], "no_watchdog_reset": False}


def test_expectation_problems() -> None:
    text = MINIMAL.replace('event = "sent"',
                           'event = "timeout"\nreply_code = 550\nerror_kind = "protocol"')
    assert problems(text) == [
        "x.toml: expect.error_kind: only used with event error, not timeout",
        "x.toml: expect.reply_code: a timeout has no reply",
    ]
    assert problems(MINIMAL.replace('event = "sent"', 'event = "sent"\ncommand = "MAIL"')) == [
        "x.toml: expect.command: only used with event command_abort or timeout, not sent"]
    assert problems(MINIMAL.replace('"sent"', '"vrfy_result"')) == [
        "x.toml: expect.event: vrfy_result needs a vrfy job, the job is mail"]
    assert problems(MINIMAL + "[expect.server]\ntls_usd = true\n") == [
        "x.toml: expect.server.tls_usd: unknown key"]
    assert problems(MINIMAL.replace('event = "sent"', 'event = "error"\nerror_kind = "nope"'))[0]\
        .startswith("x.toml: expect.error_kind: expected one of tls_failed, tls_required")


def test_authenticated_as_names_a_user_of_the_servers_credentials() -> None:
    server = '[server]\ncredentials = { pump7 = "pw" }\n'
    ok = parse_scenario(MINIMAL + server + '[expect.server]\nauthenticated_as = "pump7"\n',
                        source="x.toml")
    assert ok.expect.checks()["server.authenticated_as"] == "pump7"
    assert problems(MINIMAL + server + '[expect.server]\nauthenticated_as = "pumpp7"\n') == [
        "x.toml: expect.server.authenticated_as: 'pumpp7' is not a user of "
        "server.credentials (pump7): no client could log in as it"]
    assert problems(MINIMAL + '[expect.server]\nauthenticated_as = "pump7"\n') == [
        "x.toml: expect.server.authenticated_as: 'pump7' is not a user of "
        "server.credentials (none): no client could log in as it"]


def test_strict_types() -> None:
    text = MINIMAL.replace('title = "t"', 'title = 5\ntime_limit_s = "1"\ntags = "a"')
    assert problems(text + "[device]\nrtc_drift_ppm = 1.5\n[server]\nlisten = 1\n") == [
        "x.toml: scenario.title: expected a string, got 5",
        "x.toml: scenario.tags: expected an array, got 'a'",
        "x.toml: scenario.time_limit_s: expected a number, got '1'",
        "x.toml: device.rtc_drift_ppm: expected an integer, got 1.5",
        "x.toml: server.listen: expected true or false, got 1",
    ]


def test_release_names_must_be_quoted_and_tags_are_names() -> None:
    text = MINIMAL.replace('title = "t"', 'title = "t"\ntags = ["ok", "a b"]\n'
                                           '[[scenario.reproduces]]\nchangelog = "c"\n'
                                           'profiles = [2.0, "2.1"]')
    assert problems(text) == [
        "x.toml: scenario.tags[1]: expected a name of letters, digits, '_', '-' and '.', "
        "got 'a b'",
        'x.toml: scenario.reproduces[0].profiles[0]: expected a release name in quotes, '
        'such as "2.0", got 2.0',
    ]


def test_toml_syntax_error_has_line_and_column() -> None:
    lines = problems(MINIMAL + "[device\n")
    assert lines == ["x.toml: line 9, column 8: TOML syntax error: "
                     "Expected ']' at the end of a table declaration"]


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)
    assert info.value.problems == [f"no such scenario file: {missing}"]
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(binary)


def test_catalog_name_must_match_the_file_but_user_files_need_not(tmp_path: Path) -> None:
    path = write(tmp_path, "other", PIPELINED_MAIL)
    assert load_scenario(path).name == "pipelined_mail_550"
    with pytest.raises(ScenarioError) as info:
        load_catalog_file(path)
    assert info.value.problems == [
        f"{path}: scenario.name: expected 'other' (the file name), got 'pipelined_mail_550'"]


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)
