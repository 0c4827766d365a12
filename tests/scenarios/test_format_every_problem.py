"""A scenario file with several problems gets every one of them at once: the device
configuration's and the checks that span sections are no second pass, reported only
after the rest is fixed."""

from __future__ import annotations

import pytest

from scenarios.format import ScenarioError, parse_scenario

SEVERAL = """
[scenario]
name = "x"
title = "x"

[device]
pool_buffers = 1

[device.config.features]
pipelinning = true

[link]
mtu = 3

[server]
credentials = { pump7 = "x" }

[job]
from = "a@example.com"
to = ["ops@example.net"]

[expect]
event = "vrfy_result"

[expect.server]
authenticated_as = "nobody"
"""


def test_every_problem_of_a_file_at_once() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(SEVERAL, source="x.toml")
    assert caught.value.problems == [
        "x.toml: device.pool_buffers: expected an integer >= 2, got 1",
        "x.toml: device.config.features.pipelinning: unknown key",
        "x.toml: link.mtu: expected an integer >= 576, got 3",
        "x.toml: expect.event: vrfy_result needs a vrfy job, the job is mail",
        "x.toml: expect.server.authenticated_as: 'nobody' is not a user of "
        "server.credentials (pump7): no client could log in as it",
    ]


def test_the_device_configuration_is_checked_with_the_board_keys_it_is_given() -> None:
    """The same file put right validates, its configuration built from the section's
    own keys."""
    text = SEVERAL.replace("pool_buffers = 1", "pool_buffers = 8").replace(
        "pipelinning", "pipelining").replace("mtu = 3", "mtu = 1500").replace(
        'event = "vrfy_result"', 'event = "sent"').replace('"nobody"', '"pump7"')
    scenario = parse_scenario(text, source="x.toml")
    assert scenario.device.pool_buffers == 8
    assert scenario.device_config("192.0.2.1").features.pipelining is True
