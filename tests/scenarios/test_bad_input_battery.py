"""A battery of hostile files and arguments through the real command line.

Each must exit 2 with exactly one line on standard error naming the file and the key,
nothing on standard output, and no traceback. The files are the user's: scenario files
(``run``), device configurations (``send --config``), DUT files (``run --dut``), mail
bodies and attachments (``send``), CA files (``tls.ca_file``) and certificates
(``serve``).

Most cases call the command line's ``main`` in this process, under a SIGALRM guard, so a
case that hangs (a FIFO) or never finishes (a petabyte attachment) fails at the guard
instead of stopping the suite. Cases that could eat the machine's memory if they
regressed (``/dev/zero``), argument errors (argparse prints its usage to the process's
own standard error) and the unreadable file (run without the capability to read it) run
``python -m scenarios.cli`` in a subprocess with a time limit.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scenarios.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 60.0
"""No case may take this long: a case that hangs fails at this limit instead."""

MIB = 1024 * 1024

SCENARIO = """\
[scenario]
name = "hostile"
title = "a hostile file"

[device.config.server]
security = "none"

[server]
starttls = false

[job]
from = "a@example.com"
to = ["b@example.net"]

[expect]
event = "sent"
"""

CONFIG = """\
config_version = 3

[server]
host = "127.0.0.1"
port = {port}
security = "none"
"""

@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


class TooLong(Exception):
    """A case ran into the guard: it hangs or never finishes."""


@contextlib.contextmanager
def guard(seconds: float = GUARD_S) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise TooLong(f"still running after {seconds:g} s")

    before = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def cli(*argv: str, cwd: Path) -> Outcome:
    """``smtp-hil ARGV`` in this process (``cwd`` is only the subprocess's concern)."""
    out, err = io.StringIO(), io.StringIO()
    with guard():
        code = main(list(argv), out=out, err=err)
    return Outcome(code, out.getvalue(), err.getvalue())


def cli_process(*argv: str, cwd: Path) -> Outcome:
    """``python -m scenarios.cli ARGV`` in a subprocess, with a time limit."""
    proc = subprocess.run([sys.executable, "-m", "scenarios.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=GUARD_S, check=False,
                          stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def assert_one_problem(proc: Outcome, *fragments: str) -> str:
    """Exit 2, nothing printed, one line on stderr holding every fragment; no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert (proc.returncode, proc.stdout, len(lines)) == (2, "", 1), proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def with_section(text: str, section: str, lines: str) -> str:
    """``text`` with ``lines`` added at the top of ``[section]`` (appended if absent);
    lines that open a table of their own go at the end."""
    header = f"[{section}]\n"
    if lines.startswith("["):
        return text + f"\n{lines}\n"
    if header in text:
        return text.replace(header, header + lines + "\n", 1)
    return text + f"\n{header}{lines}\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ----------------------------------------------------------------------------------------
# Scenario files: numbers out of any sane range, and values the calendar cannot hold

@dataclass(frozen=True)
class Edit:
    section: str
    lines: str
    key: str
    says: str = ""


HUGE = "1e308"
NUMBER_CASES = {
    # durations: 1e308 s overflows the microsecond clock
    "time_limit_s": Edit("scenario", f"time_limit_s = {HUGE}", "scenario.time_limit_s", "<="),
    "time_limit_1e300": Edit("scenario", "time_limit_s = 1e300", "scenario.time_limit_s",
                             "<="),
    "time_limit_nan": Edit("scenario", "time_limit_s = nan", "scenario.time_limit_s",
                           "finite"),
    "time_limit_inf": Edit("scenario", "time_limit_s = inf", "scenario.time_limit_s",
                           "finite"),
    "time_limit_negative": Edit("scenario", "time_limit_s = -1", "scenario.time_limit_s",
                                "> 0"),
    "watchdog": Edit("device", f"watchdog_timeout_s = {HUGE}", "device.watchdog_timeout_s",
                     "<="),
    # a duration > 0 that rounds to 0 microseconds is 0
    "watchdog_tiny": Edit("device", "watchdog_timeout_s = 1e-9", "device.watchdog_timeout_s",
                          ">= 1e-06"),
    "time_limit_tiny": Edit("scenario", "time_limit_s = 1e-9", "scenario.time_limit_s",
                            ">= 1e-06"),
    "latency": Edit("link", f"latency_ms = {HUGE}", "link.latency_ms", "<="),
    "fault_at": Edit("link", f'[[link.faults]]\nfault = "hold"\nat_s = {HUGE}',
                     "link.faults[0].at_s", "<="),
    "fault_duration": Edit("link", f'[[link.faults]]\nfault = "partition"\nduration_s = {HUGE}',
                           "link.faults[0].duration_s", "<="),
    "rule_delay": Edit("server", f'[[server.rules]]\nverb = "MAIL"\ndelay_s = {HUGE}',
                       "server.rules[0].delay_s", "<="),
    "rule_trickle": Edit("server", f'[[server.rules]]\nverb = "MAIL"\naction = "trickle"\n'
                                   f'trickle_delay_s = {HUGE}',
                         "server.rules[0].trickle_delay_s", "<="),
    "max_virtual": Edit("expect", f"max_virtual_s = {HUGE}", "expect.max_virtual_s", "<="),
    "config_timeout": Edit("device.config.server", f"[device.config.timeouts]\nconnect = {HUGE}",
                           "device.config.timeouts.connect", "<="),
    # sizes and counts
    "pool_buffers": Edit("device", f"pool_buffers = {10**26}", "device.pool_buffers", "<="),
    "buffer_size": Edit("device", f"buffer_size = {2**40}", "device.buffer_size", "<="),
    "max_line_length": Edit("server", f"max_line_length = {10**18}", "server.max_line_length",
                            "<="),
    "attachment_size": Edit("job", f'[[job.attachments]]\nfilename = "a.bin"\nsize = {10**15}',
                            "job.attachments[0].size", "<="),
    "attachments_together": Edit(
        "job", '[[job.attachments]]\nfilename = "a.bin"\nsize = 50_000_000\n'
               '[[job.attachments]]\nfilename = "b.bin"\nsize = 50_000_000',
        "job.attachments", "together"),
    "bandwidth": Edit("link", f"bandwidth_bps = {10**26}", "link.bandwidth_bps", "<="),
    "drop_nth": Edit("link", f'[[link.faults]]\nfault = "drop_nth"\nn = {10**26}',
                     "link.faults[0].n", "<="),
    "after_payload": Edit("link", f'[[link.faults]]\nfault = "drop_after"\nsrc = "server"\n'
                                  f'after_payload_bytes = {10**26}',
                          "link.faults[0].after_payload_bytes", "<="),
    "rule_times": Edit("server", f'[[server.rules]]\nverb = "MAIL"\ntimes = {10**26}',
                       "server.rules[0].times", "<="),
    "rule_nth": Edit("server", f'[[server.rules]]\nverb = "MAIL"\nnth = {10**26}',
                     "server.rules[0].nth", "<="),
    "max_size": Edit("server", f"max_size = {10**30}", "server.max_size", "<="),
    "date_tolerance": Edit("server", f"date_tolerance_hours = {10**26}",
                           "server.date_tolerance_hours", "<="),
    "send_during_data_times": Edit("server", f"send_during_data_times = {10**26}",
                                   "server.send_during_data_times", "<="),
    "mailbox_count": Edit("expect", f"mailbox_count = {10**26}", "expect.mailbox_count", "<="),
    "mail_count": Edit("expect", f"[expect.server]\nmail_count = {10**26}",
                       "expect.server.mail_count", "<="),
    "chunk_size": Edit("device.config.server", f"[device.config.features]\nchunk_size = {2**40}",
                       "device.config.features.chunk_size", "<="),
    "config_version": Edit("device.config.server", f"[device.config]\nconfig_version = {10**26}",
                           "device.config.config_version", "<="),
    "rtc_variants": Edit("device", "rtc_variants = [" + ", ".join(
        ["2024-01-01T00:00:00Z"] * 1000) + "]", "device.rtc_variants",
        "expected at most 100 item(s), got 1000"),
    "negative_pool": Edit("device", "pool_buffers = -5", "device.pool_buffers", ">= 2"),
    "long_integer": Edit("device", "pool_buffers = 1" + "0" * 5000, "", "digits"),
    # the calendar ends in 9999 and the device's RTC starts in 1900
    "rtc_at_the_end": Edit("device", "rtc = 9999-12-31T23:59:59Z", "device.rtc", "9999"),
    "rtc_variant_at_the_end": Edit("device", "rtc_variants = [9999-12-31T23:00:00Z]",
                                   "device.rtc_variants[0]", "9999"),
    "rtc_too_early": Edit("device", "rtc = 0001-01-01T00:00:00Z", "device.rtc", "1900"),
    "rtc_offset_overflow": Edit("device", "rtc = 9999-12-31T23:59:59-23:00", "device.rtc", ""),
    "rtc_offset_underflow": Edit("device", "rtc = 0001-01-01T00:00:00+23:00", "device.rtc", ""),
    "server_clock_at_the_end": Edit("server", "clock = 9999-12-31T23:59:59Z", "server.clock",
                                    "9999"),
    # types, names and TOML itself
    "wrong_type": Edit("device", 'pool_buffers = "16"', "device.pool_buffers", "integer"),
    "unknown_key": Edit("device", "pool_bufers = 16", "device.pool_bufers", "unknown key"),
    "duplicate_key": Edit("device", "pool_buffers = 16\npool_buffers = 17", "",
                          "TOML syntax error"),
}


def test_a_huge_value_is_shown_shortened(tmp_path: Path) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(with_section(SCENARIO, "device", f'hostname = "{"a" * 500_000}"'))
    line = assert_one_problem(cli("run", str(path), cwd=tmp_path), str(path),
                              "device.hostname: expected a host name", "(500000 characters)")
    assert len(line) < len(str(path)) + 200


@pytest.mark.parametrize("case", NUMBER_CASES.values(), ids=list(NUMBER_CASES))
def test_a_scenario_value_out_of_range_exits_2_naming_the_file_and_key(
        tmp_path: Path, case: Edit) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(with_section(SCENARIO, case.section, case.lines))
    line = assert_one_problem(cli("run", str(path), cwd=tmp_path), str(path), case.says)
    if case.key:
        assert f"{path}: {case.key}: " in line


# ----------------------------------------------------------------------------------------
# Scenario files that are not what a TOML file should be

def fifo(path: Path) -> Path:
    os.mkfifo(path)  # reading would block until someone writes: forever
    return path


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def symlink_loop(path: Path) -> Path:
    other = path.with_name(path.name + ".other")
    path.symlink_to(other)
    other.symlink_to(path)
    return path


def nested_arrays(path: Path, depth: int = 100_000) -> Path:
    path.write_text(SCENARIO.replace("[scenario]\n",
                                     "[scenario]\ndescription = " + "[" * depth
                                     + "]" * depth + "\n"))
    return path


def nested_tables(path: Path, depth: int = 5_000) -> Path:
    path.write_text(SCENARIO.replace("[device.config.server]\n",
                                     "[device.config.server]\nx = " + "{a = " * depth + "1"
                                     + "}" * depth + "\n"))
    return path


def nested_shallow_enough_to_parse(path: Path, depth: int = 300) -> Path:
    return nested_arrays(path, depth)


def with_bytes(data: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path
    return make


SPECIAL_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "fifo": (fifo, "not a regular file (a FIFO)"),
    "directory": (lambda p: (p.mkdir(), p)[1], "not a regular file (a directory)"),
    "symlink_loop": (symlink_loop, "symbolic links"),
    "100_mb": (lambda p: sparse(p, 100 * MIB), "at most 1 MiB"),
    "nested_arrays": (nested_arrays, "nested too deeply"),
    "nested_tables": (nested_tables, "nested too deeply"),
    "nested_below_the_parser_limit": (nested_shallow_enough_to_parse, "nested too deeply"),
    "nul_byte": (with_bytes(SCENARIO.encode().replace(b'"a hostile', b'"a\0hostile', 1)),
                 "TOML syntax error"),
    "invalid_utf8": (with_bytes(SCENARIO.encode().replace(b"hostile", b"host\xffile", 1)),
                     "not UTF-8 text"),
}


@pytest.mark.parametrize("make", [m for m, _ in SPECIAL_FILES.values()],
                         ids=list(SPECIAL_FILES))
def test_a_scenario_path_that_is_no_proper_file_exits_2(
        tmp_path: Path, make: Callable[[Path], Path]) -> None:
    says = next(s for m, s in SPECIAL_FILES.values() if m is make)
    path = make(tmp_path / "hostile.toml")
    assert_one_problem(cli("run", str(path), cwd=tmp_path), str(path), says)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_scenario_that_is_a_device_exits_2(tmp_path: Path, device: str) -> None:
    assert_one_problem(cli_process("run", device, cwd=tmp_path), device,
                       "not a regular file (a character device)")


def test_a_scenario_of_1_mib_and_more_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(SCENARIO + "# " + "x" * MIB + "\n")
    assert_one_problem(cli("run", str(path), cwd=tmp_path), str(path), "at most 1 MiB")


def test_a_utf8_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SCENARIO.encode())
    proc = cli("run", str(path), cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout.startswith("PASS hostile ")


def test_an_unreadable_scenario_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text(SCENARIO)
    path.chmod(0)
    argv = [sys.executable, "-m", "scenarios.cli", "run", str(path)]
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that allow it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is not installed, so a "
                        "file cannot be made unreadable")
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=GUARD_S,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert_one_problem(Outcome(proc.returncode, proc.stdout, proc.stderr), str(path),
                       "Permission denied")


# ----------------------------------------------------------------------------------------
# Device configurations (send --config), DUT files, bodies, attachments, CA files

def write_config(folder: Path, extra: str = "") -> Path:
    path = folder / "device.toml"
    path.write_text(CONFIG.format(port=free_port()) + extra)
    return path


def send(config: Path, *extra: str, run: Callable[..., Outcome] = cli) -> Outcome:
    return run("send", "--config", str(config), "--to", "b@example.net", "--from",
               "a@example.com", *extra, cwd=config.parent)


CONFIG_CASES = {
    "timeout": ("[timeouts]\nconnect = 1e308\n", "timeouts.connect", "<="),
    "timeout_nan": ("[timeouts]\nconnect = nan\n", "timeouts.connect", "finite"),
    "timeout_tiny": ("[timeouts]\nconnect = 1e-9\n", "timeouts.connect", ">= 1e-06"),
    "pool_buffers": (f"[stack]\npool_buffers = {10**26}\n", "stack.pool_buffers", "<="),
    "buffer_size": (f"[stack]\nbuffer_size = {2**40}\n", "stack.buffer_size", "<="),
    "chunk_size": (f"[features]\nchunk_size = {2**40}\n", "features.chunk_size", "<="),
    "nested": ("[device]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n", "",
               "nested too deeply"),
}


@pytest.mark.parametrize(("extra", "key", "says"), CONFIG_CASES.values(), ids=list(CONFIG_CASES))
def test_a_device_config_value_out_of_range_exits_2(tmp_path: Path, extra: str, key: str,
                                                    says: str) -> None:
    config = write_config(tmp_path, extra)
    line = assert_one_problem(send(config), str(config), says)
    if key:
        assert f"{config}: {key}: " in line


@pytest.mark.parametrize("make", [fifo, lambda p: sparse(p, 100 * MIB), nested_arrays],
                         ids=["fifo", "100_mb", "nested"])
def test_a_device_config_that_is_no_proper_file_exits_2(
        tmp_path: Path, make: Callable[[Path], Path]) -> None:
    config = make(tmp_path / "device.toml")
    assert_one_problem(send(config), str(config))


def test_a_device_config_that_is_a_device_exits_2(tmp_path: Path) -> None:
    proc = send(Path("/dev/zero"), run=cli_process)
    assert_one_problem(proc, "/dev/zero", "not a regular file")


@pytest.mark.parametrize("option", ["--body-file", "--attach"])
@pytest.mark.parametrize("make", [fifo, lambda p: (p.mkdir(), p)[1],
                                  lambda p: sparse(p, 100 * MIB), symlink_loop],
                         ids=["fifo", "directory", "100_mb", "symlink_loop"])
def test_a_body_or_attachment_that_is_no_proper_file_exits_2(
        tmp_path: Path, option: str, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path / "content.bin")
    assert_one_problem(send(write_config(tmp_path), option, str(path)), option, str(path))


@pytest.mark.parametrize("option", ["--body-file", "--attach"])
def test_a_body_or_attachment_that_is_a_device_exits_2(tmp_path: Path, option: str) -> None:
    proc = send(write_config(tmp_path), option, "/dev/zero", run=cli_process)
    assert_one_problem(proc, option, "/dev/zero", "not a regular file (a character device)")


@pytest.mark.parametrize("make", [fifo, lambda p: sparse(p, 100 * MIB)], ids=["fifo", "100_mb"])
def test_a_ca_file_that_is_no_proper_file_exits_2(tmp_path: Path,
                                                   make: Callable[[Path], Path]) -> None:
    make(tmp_path / "ca.pem")
    config = write_config(tmp_path, '[tls]\nca_file = "ca.pem"\n')
    assert_one_problem(send(config), str(config), "tls.ca_file", "ca.pem")


@pytest.mark.parametrize("make", [fifo, lambda p: sparse(p, 100 * MIB), nested_arrays],
                         ids=["fifo", "100_mb", "nested"])
def test_a_dut_file_that_is_no_proper_file_exits_2(tmp_path: Path,
                                                   make: Callable[[Path], Path]) -> None:
    dut = make(tmp_path / "client.toml")
    assert_one_problem(cli("run", "starttls", "--dut", str(dut), cwd=tmp_path), str(dut))


@pytest.mark.parametrize(("make", "says"), [
    (fifo, "not a regular file (a FIFO)"),
    (lambda p: (p.symlink_to("/dev/zero"), p)[1], "not a regular file (a character device)"),
    (lambda p: p, "no such C firmware library"),
], ids=["fifo", "device", "missing"])
def test_a_firmware_library_that_is_no_proper_file_exits_2(
        tmp_path: Path, make: Callable[[Path], Path], says: str) -> None:
    library = make(tmp_path / "libfw.so")
    proc = cli("run", "blank-line-truncation", "--firmware", str(library), cwd=tmp_path)
    assert_one_problem(proc, f"firmware {library}: ", says)


def test_a_serve_certificate_of_100_mb_exits_2(tmp_path: Path) -> None:
    cert = sparse(tmp_path / "cert.pem", 100 * MIB)
    proc = cli("serve", "starttls", "--listen", "127.0.0.1:0", "--tls-cert", str(cert),
               "--tls-key", str(cert), cwd=tmp_path)
    assert_one_problem(proc, "--tls-cert", str(cert), "at most 1 MiB")


# ----------------------------------------------------------------------------------------
# Arguments

@pytest.mark.parametrize(("argv", "says"), [
    (["run"], "name scenarios (catalog names or .toml files), or choose from the catalog"),
    (["run", "no-such-scenario"], "no scenario named 'no-such-scenario'"),
    (["run", "starttls", "--seed", "-1"], "--seed"),
    (["run", "starttls", "--seed", "1e3"], "--seed"),
    (["run", "starttls", "--profile", "9.9"], "--profile"),
    (["run", "starttls", "--junit", "/nonexistent-dir/x.xml"], "--junit"),
    (["run", "starttls", "--dut", "no-such-dut"], "no-such-dut"),
    (["run", "starttls", "--dut", "curl", "--time-cap", "1e308"], "--time-cap"),
    (["run", "starttls", "--dut", "curl", "--time-scale", "nan"], "--time-scale"),
    (["matrix", "--seed", "x"], "--seed"),
    (["list", "--bogus"], "--bogus"),
    (["serve", "starttls", "--listen", "127.0.0.1:99999"], "--listen"),
    (["serve", "starttls", "--max-delay", "-1"], "--max-delay"),
    (["serve", "starttls", "--max-delay", "1e308"], "--max-delay"),
    (["serve", "starttls", "--time-scale", "1e8"], "argument --time-scale: expected a number"),
    (["serve", "starttls", "--memory-budget", "0"], "argument --memory-budget: expected a whole"),
    (["serve", "starttls", "--memory-budget", "64MiB"], "argument --memory-budget: expected a"),
    (["send", "--config", "/dev/null/x.toml", "--to", "b@example.net"], "/dev/null/x.toml"),
    (["send", "--config", "device.toml", "--to", "b@example.net", "--timeout", "1e308"],
     "--timeout"),
    (["send", "--config", "device.toml", "--to", "b@example.net", "--timeout", "nan"],
     "--timeout"),
    (["board", "--bogus"], "--bogus"),
    (["board", "--pty", "--speed", "1e308"], "--speed"),
    (["board", "--pty", "--speed", "inf"], "--speed"),
    (["board", "--pty", "--duration", "1e308"], "--duration"),
    (["board", "--scenario", "/dev/zero"], "not a regular file"),
    (["bogus"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, argv: list[str], says: str) -> None:
    write_config(tmp_path)
    proc = cli_process(*argv, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    problems = [line for line in proc.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(problems) == 1 and says in problems[0], proc.stderr
