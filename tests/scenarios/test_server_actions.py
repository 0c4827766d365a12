"""ActionRunner: lists run in order, a list waits at its Delays, later lists wait too."""

from scenarios.server.actions import Action, ActionRunner, Close, Delay, Send, segment


def test_a_later_list_waits_for_the_earlier_lists_delay() -> None:
    done: list[Action] = []
    resumes: list[int] = []
    runner = ActionRunner(done.append, lambda us: us > 0 and not resumes.append(us),
                          lambda: False)
    runner.enqueue([Send(b"a"), Delay(0), Send(b"b"), Delay(5), Send(b"c")])
    runner.enqueue([Close()])
    assert done == [Send(b"a"), Send(b"b")] and resumes == [5] and runner.running
    runner.resume()
    assert done == [Send(b"a"), Send(b"b"), Send(b"c"), Close()] and not runner.running


def test_a_stopped_connection_drops_the_rest() -> None:
    done: list[Action] = []
    runner = ActionRunner(done.append, lambda us: False, lambda: len(done) >= 1)
    runner.enqueue([Send(b"a"), Send(b"b")])
    assert done == [Send(b"a")]


def test_line_by_line_gives_one_send_per_reply_line() -> None:
    actions = [Send(b"250-a\r\n250-b\r\n250 c\r\n"), Close(), Send(b"221 bye\r\n")]
    assert segment(actions, "line_by_line") == [
        Send(b"250-a\r\n"), Send(b"250-b\r\n"), Send(b"250 c\r\n"), Close(), Send(b"221 bye\r\n")]
