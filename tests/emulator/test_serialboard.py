"""SerialConsole and RealBoard over real pyserial URLs: loop://, socket:// against a
line-speaking TCP board started here, and the emulated board's own hil:// URL."""

from __future__ import annotations

import shlex
import socket
import threading
from collections.abc import Iterator

import pytest

from emulator.backends.serialboard import (
    ConsoleCancelled,
    ConsoleTimeout,
    RealBoard,
    SerialConsole,
    TelnetStripper,
    send_command,
)
from emulator.console import parse_mail_options
from scenarios.session import open_session
from smtp.message import MailJob

IAC, WILL, DO, SB, SE = 0xFF, 0xFB, 0xFD, 0xFA, 0xF0
NEGOTIATION = bytes([IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 34, IAC, SB, 24, 1, IAC, SE])
"""What a telnet-mode terminal sends first: WILL ECHO, WILL SGA, DO LINEMODE, SB ... SE."""


# ---- telnet -----------------------------------------------------------------------------

def test_telnet_negotiation_is_dropped_and_text_kept() -> None:
    data = NEGOTIATION + b"BOOT: ok\r\n" + bytes([IAC, IAC]) + b"x" + bytes([IAC, 241]) + b"y"
    assert TelnetStripper().feed(data) == b"BOOT: ok\r\n\xffxy"


def test_telnet_sequences_split_across_reads() -> None:
    data = NEGOTIATION + b"SMTP: sent" + NEGOTIATION + b" 250\r\n"
    stripper = TelnetStripper()
    assert b"".join(stripper.feed(data[i:i + 1]) for i in range(len(data))) == (
        b"SMTP: sent 250\r\n")


# ---- loop:// ----------------------------------------------------------------------------

def test_loopback_lines_round_trip() -> None:
    with SerialConsole("loop://") as console:
        console.write_line("smtp status")
        console.write_line("SMTP: sent 250 2.0.0 OK")
        assert console.read_line(timeout=2) == "smtp status"
        match = console.wait_for_line(r"^SMTP: (\w+) (\d{3})", timeout=2)
        assert match.groups() == ("sent", "250")


def test_line_ends_cr_lf_and_crlf_split_anywhere() -> None:
    with SerialConsole("loop://") as console:
        for chunk in (b"one\r", b"\ntwo\n", b"three\r", b"four\r\n"):
            console.port.write(chunk)
        assert [console.read_line(timeout=2) for _ in range(4)] == [
            "one", "two", "three", "four"]


def test_a_line_that_never_comes_times_out_quoting_what_was_read() -> None:
    with SerialConsole("loop://") as console:
        console.write_line("OK: queued=mail job=1")
        with pytest.raises(ConsoleTimeout) as caught:
            console.wait_for_line("^SMTP: sent", timeout=0.2)
        text = str(caught.value)
        assert "loop://: no line matching '^SMTP: sent' within 0.2 s" in text
        assert "  OK: queued=mail job=1" in text


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="baudrate: expected a positive integer, got 0"):
        SerialConsole("loop://", baudrate=0)
    with SerialConsole("loop://") as console, pytest.raises(ValueError, match="text: expected"):
        console.write_line("two\nlines")


# ---- cancelling a read from another thread ----------------------------------------------

GUARD_S = 30.0
"""Far below the reads' own 600 s: a read that cancel() did not stop fails the test."""


def _cancelled_from_another_thread(console: SerialConsole) -> BaseException | None:
    """Wait for a line for 600 s in a thread, cancel it from here; what the read raised
    (None: it was still waiting after GUARD_S)."""
    raised: list[BaseException] = []
    started = threading.Event()

    def read() -> None:
        started.set()
        try:
            console.wait_for_line("^SMTP: ", timeout=600)
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started.wait()
    console.cancel()
    reader.join(GUARD_S)
    return raised[0] if raised else None


def test_cancel_stops_a_long_read_in_another_thread_on_loop() -> None:
    with SerialConsole("loop://") as console:
        console.write_line("OK: queued=mail job=1")
        raised = _cancelled_from_another_thread(console)
        assert isinstance(raised, ConsoleCancelled), raised
        assert "loop://: the read was cancelled; last lines read:\n  OK: queued" in str(raised)
        console.write_line("SMTP: sent 250 2.0.0 OK")  # the console reads on afterwards
        assert console.wait_for_line("^SMTP: ", timeout=5).string == "SMTP: sent 250 2.0.0 OK"


def test_cancel_before_a_read_stops_that_read_only() -> None:
    with SerialConsole("loop://") as console:
        console.cancel()
        with pytest.raises(ConsoleCancelled):
            console.read_line(timeout=600)
        with pytest.raises(ConsoleTimeout):
            console.read_line(timeout=0.2)


# ---- socket:// against a board speaking the console protocol ----------------------------

class LineBoard:
    """A TCP console in a thread. An empty line (Enter) gets telnet negotiation (as
    Renode's terminal sends by default) and a banner; ``smtp send ...`` is checked with
    the console's own parser and answered as the board's console does. Nothing is sent
    unasked: pyserial's open() discards input that arrives while it opens the port."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn, conn.makefile("rb") as lines:
            for raw in lines:
                line = raw.decode().rstrip("\r\n")
                self.received.append(line)
                if not line:
                    conn.sendall(NEGOTIATION + b"BOOT: boot=1 reason=power-on\r\n> ")
                elif not line.startswith("smtp send "):
                    conn.sendall(b"\r\nERR: unknown command (try help)\r\n> ")
                    continue
                try:
                    parse_mail_options(shlex.split(line)[2:])
                except ValueError as exc:
                    conn.sendall(f"\r\nERR: {exc}\r\n> ".encode())
                    continue
                conn.sendall(b"\r\nOK: queued=mail job=1\r\n> \r\n"
                             b"SMTP: connected 198.51.100.25:25\r\n> \r\n"
                             b"SMTP: sent 250 2.0.0 OK\r\n> ")

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def line_board() -> Iterator[LineBoard]:
    board = LineBoard()
    yield board
    board.close()


JOB = MailJob(sender="pump7@example.com", to=("ops@example.net", "lab@example.net"),
              cc=("boss@example.net",), subject="Daily report",
              body="Pump 7.\n\nPressure: nominal; path C:\\pumps\tok\n")


def test_socket_console_reads_past_telnet_bytes(line_board: LineBoard) -> None:
    with SerialConsole(f"socket://127.0.0.1:{line_board.port}") as console:
        console.write_line("")
        assert console.read_line(timeout=5) == "BOOT: boot=1 reason=power-on"
        console.write_line("smtp send --from a@example.com --to b@example.net")
        assert console.wait_for_line("^SMTP: sent", timeout=5).string == "SMTP: sent 250 2.0.0 OK"
    assert line_board.received == ["", "smtp send --from a@example.com --to b@example.net"]


def test_real_board_sends_a_mail_and_reports_the_terminal_event(line_board: LineBoard) -> None:
    with RealBoard(f"socket://127.0.0.1:{line_board.port}") as board:
        assert board.send_mail(JOB, timeout=5) == "sent 250 2.0.0 OK"
        assert board.events() == ["connected 198.51.100.25:25", "sent 250 2.0.0 OK"]
        with pytest.raises(ValueError, match="the board refused the job: ERR: smtp send: "):
            board.send_mail(MailJob(sender="nobody", to=("ops@example.net",)), timeout=5)
    # The command the board got parses back into the same job with the console's parser.
    words = shlex.split(line_board.received[0])
    assert words[:2] == ["smtp", "send"]
    assert parse_mail_options(words[2:]) == JOB


def test_cancel_stops_a_long_read_on_a_socket_console() -> None:
    """socket:// has no pyserial cancel_read: the read is sliced."""
    with socket.create_server(("127.0.0.1", 0)) as server, SerialConsole(
            f"socket://127.0.0.1:{server.getsockname()[1]}") as console:
        conn, _ = server.accept()
        with conn:
            raised = _cancelled_from_another_thread(console)
            assert isinstance(raised, ConsoleCancelled), raised
            conn.sendall(b"SMTP: sent 250 2.0.0 OK\r\n")
            assert console.read_line(timeout=5) == "SMTP: sent 250 2.0.0 OK"


def test_send_command_refuses_what_the_console_cannot_carry() -> None:
    with pytest.raises(ValueError, match=r"job\.body: expected text"):
        send_command(MailJob(sender="a@example.com", to=("b@example.net",), body=b"raw"))


# ---- hil:// : the emulated board, driven by the same class ------------------------------

def test_real_board_class_drives_the_emulated_board_too() -> None:
    session = open_session()
    url = session.publish("serialboard-test")
    try:
        with RealBoard(url) as board:
            assert board.send_mail(JOB, timeout=600).startswith("sent 250 2.0.0 OK")
        assert session.mailbox[0].content.endswith(
            b"\r\n\r\nPump 7.\r\n\r\nPressure: nominal; path C:\\pumps\tok\r\n")
    finally:
        session.withdraw()
