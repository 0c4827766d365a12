"""Server-side views (scenarios/report/from_server.py): a real client's dialogue, as
``serve`` and ``run --dut`` see it, in the same report."""

from __future__ import annotations

from scenarios.report.model import RunView

PLAIN = "AHB1bXA3AHMzY3JldC1wdW1wNw=="  # AUTH PLAIN of pump7 / s3cret-pump7 (conftest.py)

def test_the_dialogue_phases_and_checks_of_a_real_client(server_side_view: RunView) -> None:
    view = server_side_view
    assert (view.devices, view.tcp, view.events, view.terminal) == ([], None, [], None)
    assert not view.client_observed and view.outcome.value == "pass"
    arrows = [(r.kind, r.lines[0], r.tls) for r in view.dialogue if r.kind != "mark"]
    assert arrows[0] == ("s2c", "220 mx.example.net ESMTP smtp-hil", "")
    assert ("c2s", "STARTTLS", "") in arrows
    assert ("c2s", "EHLO client.example", "") in arrows
    group = next(r for r in view.dialogue if r.lines[0].startswith("MAIL FROM"))
    assert group.tls == "tls" and group.total_lines == 3 and group.client_t_us is None
    assert group.style == "group"  # three commands in one read: pipelined
    content = next(r for r in view.dialogue if r.lines[0] == "Subject: x")
    assert content.style == "content"
    marks = [r.lines[0] for r in view.dialogue if r.kind == "mark"]
    assert "TLS established: TLSv1.3 TLS_AES_256_GCM_SHA384" in marks
    assert "connection 1 closed (peer closed)" in marks
    assert [(c.name, c.status, c.expected) for c in view.checks] == [
        ("event", "not observable", '"sent"'), ("mailbox_count", "pass", "1")]


def test_credentials_are_hidden_in_the_dialogue_and_the_transcript(
        server_side_view: RunView) -> None:
    view = server_side_view
    shown = "\n".join([*view.transcript, *(line for r in view.dialogue for line in r.lines)])
    assert "AUTH PLAIN ****" in shown and PLAIN not in shown
