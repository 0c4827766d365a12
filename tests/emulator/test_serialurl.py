"""The hil:// pyserial URL: an emulated device's console through pyserial, in virtual time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial

from emulator import serialurl
from emulator.console import parse_fields
from emulator.serialhandlers import protocol_hil
from emulator.units import SECOND
from scenarios.session import DeviceSession, open_session


@pytest.fixture
def session() -> Iterator[DeviceSession]:
    session = open_session("blank-line-truncation", "2.4", publish_as="demo")
    yield session
    session.withdraw()


def test_importing_registers_the_handler_package_once() -> None:
    serialurl.register()
    serialurl.register()
    assert serial.protocol_handler_packages.count("emulator.serialhandlers") == 1


def test_serial_for_url_attaches_to_the_published_device(session: DeviceSession) -> None:
    port = serial.serial_for_url("hil://demo", timeout=2.0)
    assert isinstance(port, protocol_hil.Serial) and port.is_open
    assert port.readline() == b"BOOT: boot=1 reason=power-on\r\n"
    assert port.readline() == b"VERSION: release=2.4 ip_stack=6.02\r\n"
    assert port.read_until(b"> ") == b"> "
    port.write(b"version\r")
    assert port.in_waiting > 0
    assert port.readline() == b"\r\n"  # the prompt line ends
    assert port.readline() == b"VERSION: release=2.4 ip_stack=6.02\r\n"
    port.close()


def test_a_long_read_with_nothing_to_say_advances_virtual_time_only(
        session: DeviceSession) -> None:
    port = serial.serial_for_url("hil://demo", timeout=300)
    port.reset_input_buffer()
    before = session.kernel.now_us
    assert port.read(10) == b""
    assert session.kernel.now_us - before == 300 * SECOND
    assert port.readline() == b""
    assert session.kernel.now_us - before == 600 * SECOND


def test_a_non_blocking_read_runs_only_the_current_instant(session: DeviceSession) -> None:
    port = serial.serial_for_url("hil://demo", timeout=0)
    port.reset_input_buffer()
    before = session.kernel.now_us
    port.write(b"rtc get\r")
    assert port.read(100) == b"\r\nRTC: time=2024-06-03T10:00:00Z valid=true\r\n> "
    assert session.kernel.now_us == before


def test_send_a_mail_through_the_url_and_wait_for_the_event(session: DeviceSession) -> None:
    port = serial.serial_for_url("hil://demo", timeout=60)
    port.reset_input_buffer()
    port.write(b'smtp send --from pump7@example.com --to ops@example.net '
               b'--body "one\\n\\ntwo"\r')
    lines = []
    while not lines or not lines[-1].startswith("SMTP: sent"):
        line = port.readline().decode()
        assert line, f"no terminal event; got {lines}"
        if line.strip() and not line.startswith("> "):
            lines.append(line.strip())
    assert lines[0] == "OK: queued=mail job=1"
    mail, = session.mailbox
    assert mail.content.endswith(b"\r\n\r\none\r\n")  # 2.4 cuts at the blank line
    port.write(b"stack stats\r")
    port.read_until(b"STACK: ")
    stats = parse_fields("STACK: " + port.readline().decode())
    assert int(stats["allocations"]) > 0


def test_an_unknown_name_or_a_bad_url_is_refused(session: DeviceSession) -> None:
    with pytest.raises(serial.SerialException, match=r"no emulated device .*'nobody'.*demo"):
        serial.serial_for_url("hil://nobody")
    with pytest.raises(serial.SerialException, match="hil://<name>"):
        serial.serial_for_url("hil://demo/extra?x=1")


def test_publishing_checks_the_name_and_refuses_a_second_device(
        session: DeviceSession) -> None:
    with pytest.raises(ValueError, match="device name"):
        serialurl.publish("a/b", session)
    other = open_session("blank-line-truncation")
    with pytest.raises(ValueError, match="already published"):
        other.publish("demo")
    assert serialurl.published() == ["demo"]
    session.withdraw()
    assert serialurl.published() == []


def test_a_closed_port_refuses_io(session: DeviceSession) -> None:
    port = serial.serial_for_url("hil://demo", timeout=1)
    port.close()
    with pytest.raises(serial.PortNotOpenError):
        port.read(1)
