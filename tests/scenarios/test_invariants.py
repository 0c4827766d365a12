"""The invariants (scenarios/verdict/invariants.py, mailoutcome.py): each one fires on a
run that breaks it, and holds (or only notes) where the outcome is unknowable.

The releases' own bugs break most of them; the rest are broken by small client mutants
made here (a client that reports twice, one whose timers run ten times too long, one that
takes only 251 after the content, one that takes a refused recipient as accepted, one
that never gives a buffer back). The scripted server, the link and the verdict are the
real ones.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import smtp.transaction
from emulator.firmware import SmtpFirmware, TimedEvent
from scenarios.catalog import catalog_path
from scenarios.format import INVARIANT_NAMES, parse_scenario
from scenarios.record import RunRecord
from scenarios.runner import RunResult, run
from scenarios.verdict.invariants import DEFAULT_INVARIANTS, check, judged_by_one_record
from smtp.events import describe, is_terminal
from smtp.replies import Reply
from smtp.settings import ClientSettings
from smtp.timers import TimerName
from stack.pool import Buffer


def catalog(name: str) -> str:
    return (catalog_path() / f"{name}.toml").read_text(encoding="utf-8")


def run_text(text: str, profile: str = "current") -> RunResult:
    return run(parse_scenario(text, source="x.toml"), profile)


def run_named(name: str, profile: str = "current") -> RunResult:
    return run_text(catalog(name), profile)


def broken(record: RunRecord) -> set[tuple[str, str]]:
    return {(v.invariant, v.reason) for v in check(record).violations}


def noted(record: RunRecord) -> set[tuple[str, str]]:
    return {(n.invariant, n.kind) for n in check(record).notes}


def test_every_named_invariant_is_judged_here_or_by_a_second_run() -> None:
    assert set(judged_by_one_record()) | {"run.deterministic"} == set(INVARIANT_NAMES)
    assert "tls.downgrade_announced" not in DEFAULT_INVARIANTS


@pytest.mark.parametrize("name", ["starttls", "pipelining", "chunking", "attachments",
                                  "date-header", "cc-bcc-reply-to", "rcpt-partial-reject",
                                  "rst-during-data", "hostile-surplus-reply",
                                  "silent-server-under-tls", "tls-drop-mid-transaction"])
def test_current_keeps_every_invariant_on_the_catalog(name: str) -> None:
    assert check(run_named(name)).violations == ()


# ---- terminal.* ------------------------------------------------------------------------

def test_a_hang_breaks_exactly_one() -> None:
    assert ("terminal.exactly_one", "hang") in broken(run_named("pipeline-mail-rejected", "2.0"))


def test_a_run_too_short_to_call_a_hang_is_only_noted() -> None:
    text = catalog("pipeline-mail-rejected").replace("time_limit_s = 900", "time_limit_s = 300")
    result = run_text(text, "2.0")
    assert broken(result) == set()
    assert ("terminal.exactly_one", "not_judged") in noted(result)


def test_two_terminal_events_break_exactly_one(monkeypatch: pytest.MonkeyPatch) -> None:
    record = SmtpFirmware._record

    def twice(self: SmtpFirmware, event: object) -> None:  # the mutant reports twice
        record(self, event)  # type: ignore[arg-type]
        if is_terminal(event):  # type: ignore[arg-type]
            self.events.append(TimedEvent(self.board.kernel.now_us, event))  # type: ignore[arg-type]

    monkeypatch.setattr(SmtpFirmware, "_record", twice)
    assert ("terminal.exactly_one", "duplicate outcome") in broken(run_named("pipelining"))


SILENT_MAIL = catalog("pipelining").replace(
    "[job]", '[[server.rules]]\nverb = "MAIL"\naction = "silent"\n\n[job]')


def test_a_timer_that_overruns_its_timeout_breaks_timely(monkeypatch: pytest.MonkeyPatch) -> None:
    text = SILENT_MAIL.replace("time_limit_s = 600", "time_limit_s = 7200")
    assert broken(run_text(text)) == set()
    timeout_us: Callable[[ClientSettings, TimerName], int] = ClientSettings.timeout_us
    monkeypatch.setattr(ClientSettings, "timeout_us",
                        lambda self, timer: 10 * timeout_us(self, timer))
    assert ("terminal.timely", "late") in broken(run_text(text))


def test_a_dropped_tls_session_noticed_late_breaks_prompt_on_close() -> None:
    assert broken(run_named("tls-drop-mid-transaction")) == set()
    assert ("terminal.prompt_on_close", "slow on close") in broken(
        run_named("tls-drop-mid-transaction", "2.0"))


# ---- mail.* ----------------------------------------------------------------------------

def test_a_cut_body_breaks_sent_means_one_exact_copy() -> None:
    assert ("mail.sent_means_one_exact_copy", "body cut") in broken(
        run_named("blank-line-truncation", "2.4"))


def taking(command: str, codes: set[int]) -> Callable[[str, Reply], bool]:
    """A client mutant's success table: ``codes`` for ``command``, the real one else."""
    real = smtp.transaction.accepts

    def accepts(which: str, reply: Reply) -> bool:
        return reply.code in codes if which == command else real(which, reply)  # type: ignore[arg-type]
    return accepts


def test_sent_without_a_copy_breaks_sent_means_one_exact_copy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = catalog("pipelining").replace(
        "[job]", '[[server.rules]]\nverb = "DATA_END"\nreply = "451 4.3.0 later"\n\n[job]')
    assert broken(run_text(text)) == set()  # the real client reports the 451
    monkeypatch.setattr(smtp.transaction, "accepts", taking("DATA_END", {250, 451}))
    assert ("mail.sent_means_one_exact_copy", "copies") in broken(run_text(text))


def test_a_refused_recipient_counted_accepted_breaks_the_envelope(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp.transaction, "accepts", taking("RCPT", {250, 251, 550}))
    result = run_named("rcpt-partial-reject")
    assert ("mail.sent_means_one_exact_copy", "envelope") in broken(result)


def test_a_failure_after_reading_the_250_breaks_failure_means_no_copy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's mutant: a client that takes only 251 after the content reads the
    server's 250, reports command_abort, and the server holds the mail."""
    monkeypatch.setattr(smtp.transaction, "accepts", taking("DATA_END", {251}))
    assert ("mail.failure_means_no_copy", "failed but delivered") in broken(
        run_named("pipelining"))


def test_the_third_outcome_is_a_note() -> None:
    """The server stores the mail and nothing it sends comes back: the device's TCP gives
    up on the unacknowledged content and the client reports the connection lost.
    Unknowable to the client: a note, not a failure."""
    text = catalog("pipelining") + ('\n[[link.faults]]\nfault = "partition"\nsrc = "server"\n'
                                    'after = "server:DATA_END"\n')
    result = run_text(text)
    assert len(result.mailbox) == 1 and result.terminal is not None
    assert describe(result.terminal.event).startswith("error connection_lost")
    assert broken(result) == set()
    assert ("mail.failure_means_no_copy", "third_outcome") in noted(result)


@pytest.mark.parametrize(("rule", "note"), [
    # refuses the content and stores it: the client reports command_abort
    ('verb = "DATA_END"\nreply = "451 4.3.0 later"\ntransition = true',
     "mail.failure_means_no_copy"),
    # a 220 to the first RCPT: no success to the client, the server adds the recipient;
    # the mail is sent with an envelope the client's event does not describe
    ('verb = "RCPT"\nreply = "220 odd"\nnth = 1', "mail.sent_means_one_exact_copy"),
])
def test_an_inconsistent_server_makes_the_outcome_a_note(rule: str, note: str) -> None:
    text = catalog("pipelining").replace("[job]", f"[[server.rules]]\n{rule}\n\n[job]")
    result = run_text(text)
    assert len(result.mailbox) == 1
    assert broken(result) == set()
    assert (note, "inconsistent_server") in noted(result)


def test_an_odd_2xx_to_a_pipelined_mail_then_250_for_the_content_is_a_note() -> None:
    """The kept policy: with CHUNKING and PIPELINING the content leaves with MAIL; a 251 to
    MAIL is no success to the client (command_abort), the server stores the mail. A retry
    would duplicate it: the inconsistent server's doing, reported as a note."""
    text = catalog("date-header").replace(
        "[job]", '[[server.rules]]\nverb = "MAIL"\nreply = "251 odd"\n\n[job]')
    result = run_text(text)
    assert result.terminal is not None and result.terminal.event.name == "command_abort"
    assert len(result.mailbox) == 1
    assert broken(result) == set()
    assert ("mail.failure_means_no_copy", "inconsistent_server") in noted(result)


def test_a_wrong_month_breaks_date_is_rtc() -> None:
    assert broken(run_named("date-header")) == set()
    assert ("mail.date_is_rtc", "date") in broken(run_named("date-header", "2.2"))


def test_missing_cc_and_reply_to_break_headers_as_job() -> None:
    assert ("mail.headers_as_job", "headers") in broken(run_named("cc-bcc-reply-to", "1.0"))


# ---- tls.* -----------------------------------------------------------------------------

def test_mail_and_auth_in_plaintext_when_tls_is_required_break_tls_policy() -> None:
    assert broken(run_named("starttls-stripped")) == set()
    assert {("tls.policy", "mail in plaintext"), ("tls.policy", "auth in plaintext")} <= broken(
        run_named("starttls-stripped", "1.0"))


def test_a_silent_downgrade_breaks_downgrade_announced_when_asked() -> None:
    names = [*DEFAULT_INVARIANTS, "tls.downgrade_announced"]
    on_current = run_named("starttls-stripped-opportunistic")
    assert check(on_current, names).violations == ()
    report = check(run_named("starttls-stripped-opportunistic", "2.0"), names)
    assert ("tls.downgrade_announced", "silent downgrade") in {
        (v.invariant, v.reason) for v in report.violations}


# ---- device.* --------------------------------------------------------------------------

def test_a_busy_wait_breaks_no_watchdog_reset_and_hangs() -> None:
    found = broken(run_named("buffer-exhaustion-during-content", "1.0"))
    assert {("device.no_watchdog_reset", "watchdog reset"),
            ("terminal.exactly_one", "hang")} <= found
    report = check(run_named("buffer-exhaustion-during-content", "1.0"))
    assert report.context == ("watchdog_reset",)


def test_a_leaked_buffer_breaks_pool_full(monkeypatch: pytest.MonkeyPatch) -> None:
    free = Buffer.free
    kept: list[Buffer] = []

    def leaky(self: Buffer) -> None:  # the board never gives its first RX buffer back
        if self.purpose == "rx" and self.pool.name == "board.pool" and not kept:
            kept.append(self)
            return
        free(self)

    monkeypatch.setattr(Buffer, "free", leaky)
    assert ("device.pool_full", "pool not full") in broken(run_named("pipelining"))


# ---- the verdict judges [expect] invariants with the same words ------------------------

def test_expect_invariants_makes_the_verdict_judge_them() -> None:
    text = catalog("date-header").replace(
        "date_matches_rtc = true", 'invariants = ["mail.date_is_rtc"]')
    on_release = run_text(text, "2.2")
    assert on_release.verdict.reasons == [
        "invariant mail.date_is_rtc: Date header says 27 Dec 2024 16:45:00, the device RTC "
        "read 28 Nov 2024 16:45:00 when the message was built"]
    assert run_text(text).passed
