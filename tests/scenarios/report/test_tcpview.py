"""The TCP view (scenarios/report/tcpview.py), against the link's and stacks' counts."""

from __future__ import annotations

from scenarios.report.tcpview import tcp_view
from scenarios.runner import resolve_scenario, run


def test_segments_retransmissions_and_losses_of_a_lossy_link() -> None:
    result = run(resolve_scenario("lossy-link"), "current", 0)
    records = result.world.kernel.trace.records
    view = tcp_view(records)
    assert view is not None
    link = result.world.link.stats
    assert len(view.segments) == link.frames_sent
    assert view.summary["link_drops"] == link.frames_dropped == 2
    retransmits = [r for r in records if r.kind == "retransmit"]
    assert view.summary["retransmissions"] == len(retransmits) > 0
    assert view.summary["rto"] == len([r for r in records if r.kind == "rto"])
    syn = view.segments[0]
    assert (syn.flags, syn.seq, syn.ack, syn.from_device) == ("S", 0, 0, True)
    synack = view.segments[1]
    assert (synack.flags, synack.seq, synack.ack) == ("SA", 0, 1)
    dropped = [s for s in view.segments if s.style == "dropped"]
    assert all(s.note.startswith("dropped by the link: drop_nth") for s in dropped)
    first_retransmission = next(s for s in view.segments if s.style == "retransmission")
    assert first_retransmission.note == "retransmission (attempt 1)"


def test_frames_the_device_had_no_buffer_for_are_marked_lost() -> None:
    result = run(resolve_scenario("buffer-exhaustion-during-content"), "1.0", 0)
    view = tcp_view(result.world.kernel.trace.records)
    assert view is not None
    lost = [s for s in view.segments if s.style == "lost"]
    assert len(lost) == result.pool.frames_dropped == 3
    assert all(not s.from_device and "no free buffer" in s.note for s in lost)
