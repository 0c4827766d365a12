"""The search space and schedule addresses (scenarios/explore/space.py, mutations.py,
schedule.py): every drawn schedule is a valid scenario, a schedule is a pure function of
its address (in this process and in another with another PYTHONHASHSEED), --vary keeps
to its dimensions, and each mutation's simpler versions are simpler."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scenarios.explore.mutations import DIMENSIONS, Mutation, apply, describe, edit_body
from scenarios.explore.schedule import build, in_shard, schedule
from scenarios.explore.space import GENERATOR_VERSION, MAX_MUTATIONS, simpler
from scenarios.explore.start import TIME_LIMIT_S, load_start

STARTS = tuple(load_start(n) for n in ("starttls", "pipelining", "chunking", "attachments",
                                       "date-header"))


def test_a_start_drops_what_no_longer_applies() -> None:
    start = load_start("date-header")
    assert "reproduces" not in start.doc["scenario"]
    assert start.doc["scenario"]["time_limit_s"] == TIME_LIMIT_S
    assert start.doc["expect"] == {"event": "sent"}
    assert start.tls is False and load_start("starttls").tls is True


def test_every_drawn_schedule_is_a_valid_scenario() -> None:
    kinds = set()
    for index in range(600):
        planned = schedule(7, STARTS, index)
        assert 1 <= len(planned.mutations) <= MAX_MUTATIONS
        build(planned.start, planned.mutations)  # SpaceError if the format refused it
        kinds |= {m.kind for m in planned.mutations}
    assert kinds == {"rule", "server_knob", "capability", "fault", "link", "body",
                     "attachment", "recipients", "rtc", "drift", "pool", "feature",
                     "security"}


def _addresses() -> list[dict[str, object]]:
    return [{"start": s.start.name, "seed": s.kernel_seed,
             "mutations": [m.to_json() for m in s.mutations]}
            for s in (schedule(3, STARTS, i) for i in range(40))]


def test_a_schedule_is_a_function_of_its_address_in_any_process() -> None:
    here = _addresses()
    assert here == _addresses()
    code = ("import json; from tests.scenarios.explore.test_space import _addresses; "
            "print(json.dumps(_addresses()))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True, cwd=os.getcwd())
    assert json.loads(there.stdout) == here
    assert GENERATOR_VERSION == "v1"  # a change of the space must bump the version


def test_the_round_robin_and_the_shards() -> None:
    assert [schedule(0, STARTS, i).start.name for i in range(6)] == [
        "starttls", "pipelining", "chunking", "attachments", "date-header", "starttls"]
    assert [i for i in range(10) if in_shard(i, (1, 3))] == [1, 4, 7]
    assert all(in_shard(i, None) for i in range(5))


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_vary_keeps_to_its_dimension(dimension: str) -> None:
    for index in range(100):
        planned = schedule(0, STARTS, index, (dimension,))  # type: ignore[arg-type]
        assert {m.dimension for m in planned.mutations} == {dimension}


def test_mutations_round_trip_through_json_and_read_as_the_file_says() -> None:
    rule = Mutation.of("rule", verb="MAIL", action="reply", reply="550 no", delay_s=1.5)
    assert Mutation.from_json(rule.to_json()) == rule
    assert describe(rule) == ('[[server.rules]] verb = "MAIL", action = "reply", '
                              'delay_s = 1.5, reply = "550 no"')
    with pytest.raises(ValueError, match="mutation kind"):
        Mutation.from_json({"kind": "explode"})
    doc = apply(STARTS[1].doc, [rule, Mutation.of("pool", buffers=3)])
    assert doc["server"]["rules"][0] == {"action": "reply", "delay_s": 1.5, "reply": "550 no",
                                         "verb": "MAIL"}
    assert doc["device"]["pool_buffers"] == 3
    assert "rules" not in STARTS[1].doc["server"]  # the start itself is not changed


def test_applying_mutations_leaves_the_start_as_it_was() -> None:
    start = load_start("date-header")  # its document holds a datetime (device.rtc)
    before = json.dumps(start.doc, sort_keys=True, default=str)
    for index in range(40):
        planned = schedule(3, (start,), index)
        doc = apply(start.doc, list(planned.mutations))
        assert doc is not start.doc and doc["job"] is not start.doc["job"]
    assert json.dumps(start.doc, sort_keys=True, default=str) == before


def test_body_edits() -> None:
    body = "one\ntwo\n"
    assert edit_body(body, {"op": "blank_line", "at": 0.5, "n": 1}) == "one\n\ntwo\n"
    assert edit_body(body, {"op": "only_blank", "n": 2}) == "\n\n"
    assert edit_body(body, {"op": "no_final_newline"}) == "one\ntwo"
    assert edit_body(body, {"op": "dot_line", "at": 0.0, "n": 2}) == ".\n..\none\ntwo\n"
    assert edit_body(body, {"op": "crlf_mix", "at": 0.0, "n": 3}).startswith("bare\rcr\ncrlf\r")


def test_simpler_versions_are_simpler_and_never_the_same() -> None:
    for index in range(300):
        for m in schedule(11, STARTS, index).mutations:
            candidates = simpler(m)
            assert m not in candidates
            assert len(set(candidates)) == len(candidates)
            for c in candidates:
                assert c.kind == m.kind
                assert len(c.params) <= len(m.params)
    delay = Mutation.of("rule", verb="MAIL", action="reply", delay_s=299.37, nth=2)
    assert [c.p for c in simpler(delay)] == [
        {"action": "reply", "delay_s": 299.37, "verb": "MAIL"},
        {"action": "reply", "nth": 2, "verb": "MAIL"},
        {"action": "reply", "delay_s": 299.0, "nth": 2, "verb": "MAIL"},
        {"action": "reply", "delay_s": 299.4, "nth": 2, "verb": "MAIL"}]
