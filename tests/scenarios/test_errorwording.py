"""Pydantic's findings on scenario dicts, worded ``key: what was expected, got what``.

Each case validates a small dict with ``scenarios.format.Scenario`` (the real model, real
pydantic errors) and compares the exact lines :func:`describe` makes of them, and for
plain errors the ``(key path, message)`` :func:`describe_error` returns.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from scenarios.format import Scenario
from smtp.inputwording import describe, describe_error

BASE: dict[str, Any] = {
    "scenario": {"name": "probe", "title": "probe"},
    "job": {"from": "a@example.com", "to": ["b@example.net"]},
    "expect": {"event": "sent"},
}
EVENTS = "sent, command_abort, error, timeout, vrfy_result, etrn_result"
FAULTS = "drop_nth, drop_after, inject_rst, hold, partition, set_loss"


def _data(**sections: Any) -> dict[str, Any]:
    """BASE with whole sections replaced (None: the section left out)."""
    data = copy.deepcopy(BASE)
    for name, value in sections.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def _errors(data: dict[str, Any]) -> list[Any]:
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    return list(info.value.errors())


def _lines(data: dict[str, Any]) -> list[str]:
    return [line for err in _errors(data) for line in describe(err, Scenario)]


def test_the_base_dict_is_a_valid_scenario() -> None:
    assert Scenario.model_validate(_data()).name == "probe"


# ---- unknown keys and sections ---------------------------------------------------------


def test_an_unknown_key_is_named_with_its_dotted_path() -> None:
    data = _data(scenario={"name": "probe", "title": "probe", "bogus": 1})
    assert _lines(data) == ["scenario.bogus: unknown key"]
    (err,) = _errors(data)
    assert describe_error(err, Scenario) == (("scenario", "bogus"), "unknown key")


def test_an_unknown_table_is_an_unknown_section_in_brackets() -> None:
    assert _lines(_data(bogus={"a": 1})) == ["[bogus]: unknown section"]
    data = _data(scenario={"name": "probe", "title": "probe", "bogus": {"a": 1}})
    assert _lines(data) == ["[scenario.bogus]: unknown section"]


def test_unknown_keys_deep_inside_are_named_by_their_whole_path() -> None:
    assert _lines(_data(expect={"event": "sent", "server": {"bogus": True}})) == [
        "expect.server.bogus: unknown key"]


def test_a_key_of_another_job_kind_is_unknown_without_the_union_tag_in_the_path() -> None:
    data = _data(job={"kind": "vrfy", "address": "x@example.net", "to": ["a@b.example"]},
                 expect={"event": "vrfy_result"})
    assert _lines(data) == ["job.to: unknown key"]


# ---- missing ---------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["expect", "job", "scenario"])
def test_a_missing_section_is_named_as_a_section(section: str) -> None:
    data = _data(**{section: None})
    assert _lines(data) == [f"[{section}]: missing section"]
    (err,) = _errors(data)
    assert describe_error(err, Scenario) == ((f"[{section}]",), "missing section")


def test_a_missing_key_says_what_was_expected_there() -> None:
    assert _lines(_data(scenario={"name": "probe"})) == [
        "scenario.title: missing, expected a string"]


def test_a_missing_key_is_named_as_the_file_writes_it() -> None:
    # The field is ``sender``; the file's key is its alias ``from``.
    data = _data(job={"to": ["b@example.net"]})
    assert _lines(data) == ["job.from: missing, expected a string"]
    (err,) = _errors(data)
    assert describe_error(err, Scenario) == (("job", "from"), "missing, expected a string")


def test_a_missing_key_in_an_array_of_tables_carries_the_index() -> None:
    data = _data(scenario={"name": "probe", "title": "probe",
                           "reproduces": [{"profiles": ["2.4"]}]})
    assert _lines(data) == ["scenario.reproduces[0].changelog: missing, expected a string"]


# ---- wrong types -----------------------------------------------------------------------


@pytest.mark.parametrize(("section", "message"), [
    ({"pool_buffers": "16"}, "device.pool_buffers: expected an integer, got '16'"),
    ({"pool_buffers": 16.0}, "device.pool_buffers: expected an integer, got 16.0"),
    ({"pool_buffers": 2.5}, "device.pool_buffers: expected an integer, got 2.5"),
    ({"ip": 5}, "device.ip: expected a string, got 5"),
])
def test_a_wrong_type_says_what_was_expected_and_what_came(section: dict[str, Any],
                                                          message: str) -> None:
    assert _lines(_data(device=section)) == [message]


def test_wrong_types_across_sections_each_get_a_line() -> None:
    assert _lines(_data(server={"starttls": "yes"},
                        expect={"event": "sent", "headers_present": "Date"})) == [
        "server.starttls: expected true or false, got 'yes'",
        "expect.headers_present: expected an array, got 'Date'",
    ]


def test_a_section_that_is_not_a_table() -> None:
    assert _lines(_data(device=5)) == ["device: expected a table, got 5"]
    assert _lines(_data(job=5)) == ["job: expected a table, got 5"]


def test_a_date_time_given_for_a_string_is_shown_in_iso_form() -> None:
    data = _data(scenario={"name": "probe", "title": datetime(2024, 6, 3, 10, tzinfo=UTC)})
    assert _lines(data) == ["scenario.title: expected a string, got 2024-06-03T10:00:00+00:00"]


def test_a_date_time_that_is_a_string_gets_an_example() -> None:
    assert _lines(_data(device={"rtc_variants": ["2024"]})) == [
        "device.rtc_variants[0]: expected a TOML date-time such as 2024-06-03T10:00:00Z, "
        "got '2024'"]


# ---- literals, tags, bounds, patterns ---------------------------------------------------


def test_a_literal_error_lists_the_allowed_values() -> None:
    data = _data(expect={"event": "snet"})
    assert _lines(data) == [f"expect.event: expected one of {EVENTS}, got 'snet'"]
    (err,) = _errors(data)
    assert describe_error(err, Scenario) == (
        ("expect", "event"), f"expected one of {EVENTS}, got 'snet'")


def test_a_nested_literal_error() -> None:
    assert _lines(_data(expect={"event": "sent", "server": {"via": "SMTP"}})) == [
        "expect.server.via: expected one of DATA, BDAT, got 'SMTP'"]


def test_a_wrong_union_tag_names_the_tag_key() -> None:
    assert _lines(_data(job={"kind": "fax"})) == [
        "job.kind: expected one of mail, vrfy, etrn, got 'fax'"]
    assert _lines(_data(link={"faults": [{"fault": "explode", "at_s": 1}]})) == [
        f"link.faults[0].fault: expected one of {FAULTS}, got 'explode'"]


def test_a_missing_union_tag_names_the_tag_key() -> None:
    assert _lines(_data(link={"faults": [{"at_s": 1}]})) == [
        f"link.faults[0].fault: missing, expected one of {FAULTS}"]


@pytest.mark.parametrize(("data", "message"), [
    (_data(device={"pool_buffers": 1}), "device.pool_buffers: expected an integer >= 2, got 1"),
    (_data(device={"rtc_drift_ppm": 600000}),
     "device.rtc_drift_ppm: expected an integer <= 500000, got 600000"),
    (_data(server={"port": 0}), "server.port: expected an integer >= 1, got 0"),
    (_data(scenario={"name": "probe", "title": "probe", "time_limit_s": -1}),
     "scenario.time_limit_s: expected a number > 0, got -1"),
    (_data(link={"loss": float("nan")}), "link.loss: expected a finite number, got nan"),
])
def test_bounds_name_the_limit(data: dict[str, Any], message: str) -> None:
    assert _lines(data) == [message]


def test_string_checks() -> None:
    assert _lines(_data(scenario={"name": "probe", "title": ""})) == [
        "scenario.title: expected a non-empty string, got ''"]
    assert _lines(_data(scenario={"name": "bad name", "title": "probe"})) == [
        "scenario.name: expected a name of letters, digits, '_', '-' and '.', got 'bad name'"]
    assert _lines(_data(device={"hostname": "bad host"})) == [
        "device.hostname: expected a host name such as device, got 'bad host'"]


def test_release_names_in_reproduces() -> None:
    def reproduces(profiles: list[Any]) -> dict[str, Any]:
        return _data(scenario={"name": "probe", "title": "probe",
                               "reproduces": [{"changelog": "x", "profiles": profiles}]})

    assert _lines(reproduces(["2.4", 2.0])) == [
        'scenario.reproduces[0].profiles[1]: expected a release name in quotes, such as '
        '"2.0", got 2.0']
    assert _lines(reproduces([])) == [
        "scenario.reproduces[0].profiles: expected at least 1 item(s)"]


# ---- a model's own problems, several lines from one error -------------------------------


def test_one_error_with_several_problems_gives_a_line_each() -> None:
    data = _data(expect={"event": "sent", "command": "MAIL", "error_kind": "protocol"})
    assert _lines(data) == [
        "expect.command: only used with event command_abort or timeout, not sent",
        "expect.error_kind: only used with event error, not sent",
    ]


def test_device_config_problems_are_keyed_where_the_file_sets_them() -> None:
    assert _lines(_data(device={"config": {"features": {"pipelinning": True}}})) == [
        "device.config.features.pipelinning: unknown key"]
    assert _lines(_data(device={"config": {"device": {"ip": "192.0.2.1"},
                                           "stack": {"pool_buffers": 3}}})) == [
        "device.config.device: set device.ip, device.domain and device.hostname instead",
        "device.config.stack: set device.pool_buffers and device.buffer_size instead",
    ]


def test_a_whole_scenario_problem_has_its_own_key() -> None:
    assert _lines(_data(expect={"event": "vrfy_result"})) == [
        "expect.event: vrfy_result needs a vrfy job, the job is mail"]
