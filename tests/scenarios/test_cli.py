"""The command line: exit codes, JSON, determinism, artifacts, bad input."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scenarios.cli.run
from scenarios.cli.main import main
from stack.pcap import tshark_decode_as


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_list_names_every_scenario_with_what_it_reproduces() -> None:
    code, out, _ = _run("list", "--json")
    assert code == 0
    entries = {e["name"]: e for e in json.loads(out)}
    assert "blank-line-truncation" in entries
    assert entries["blank-line-truncation"]["reproduces"][0]["profiles"]


def test_run_twice_with_the_same_seed_gives_the_same_trace_hash() -> None:
    first = json.loads(_run("run", "blank-line-truncation", "--seed", "7", "--json")[1])
    second = json.loads(_run("run", "blank-line-truncation", "--seed", "7", "--json")[1])
    assert first["verdict"] == "pass"
    assert first["trace_sha256"] == second["trace_sha256"]


def test_lossy_link_with_two_seeds_gives_two_hashes_and_two_exact_deliveries() -> None:
    hashes = set()
    for seed in ("1", "2"):
        code, out, _ = _run("run", "lossy-link", "--seed", seed, "--json")
        data = json.loads(out)
        assert code == 0 and data["verdict"] == "pass", data["reasons"]
        hashes.add(data["trace_sha256"])
    assert len(hashes) == 2


def test_check_determinism_reports_equal_hashes() -> None:
    code, out, _ = _run("run", "starttls", "--check-determinism", "--json")
    assert code == 0
    assert json.loads(out)["deterministic"] is True


def test_a_failing_run_exits_1_and_says_why() -> None:
    code, out, _ = _run("run", "blank-line-truncation", "--profile", "2.4")
    assert code == 1
    assert "cut at the first blank line" in out


def test_junit_file(tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    code, _, _ = _run("run", "blank-line-truncation", "--profile", "2.0", "--junit", str(junit))
    assert code == 1
    text = junit.read_text()
    assert "<failure" in text and "blank line" in text
    # CI tools split the classname on dots: the release must not add levels.
    assert 'classname="smtp-hil.release_2_0"' in text


@pytest.mark.parametrize(("command", "option", "path", "problem"), [
    ("run", "--junit", "/nonexistent-smtp-hil-dir/x.xml",
     "no such directory /nonexistent-smtp-hil-dir"),
    ("run", "--junit", "TMP", "is a directory"),
    ("run", "--artifacts", "TMP/file/x", "cannot create the folder: Not a directory"),
    ("run", "--report", "/nonexistent-smtp-hil-dir/r.html",
     "no such directory /nonexistent-smtp-hil-dir"),
    ("run", "--report", "TMP", "is a directory"),
    ("matrix", "--junit", "/nonexistent-smtp-hil-dir/m.xml",
     "no such directory /nonexistent-smtp-hil-dir"),
    ("matrix", "--report", "/nonexistent-smtp-hil-dir/m.html",
     "no such directory /nonexistent-smtp-hil-dir"),
    ("matrix", "--artifacts", "TMP/file/x", "cannot create the folder: Not a directory"),
])
def test_unwritable_output_paths_exit_2_before_anything_runs(
        tmp_path: Path, command: str, option: str, path: str, problem: str) -> None:
    (tmp_path / "file").write_text("a file, not a folder\n")
    path = path.replace("TMP", str(tmp_path))
    scenario = ["blank-line-truncation"] if command == "run" else []
    code, out, err = _run(command, *scenario, option, path)
    assert (code, out) == (2, "")  # nothing ran
    assert err == f"smtp-hil: {option} {path}: {problem}\n"


def test_matrix_checks_its_golden_path_before_running(tmp_path: Path) -> None:
    code, out, err = _run("matrix", "--write-golden", "/nonexistent-smtp-hil-dir/g.toml")
    assert (code, out) == (2, "")
    assert err == ("smtp-hil: --write-golden /nonexistent-smtp-hil-dir/g.toml: no such "
                   "directory /nonexistent-smtp-hil-dir\n")
    code, out, err = _run("matrix", "--write-golden", str(tmp_path))
    assert (code, out, err) == (2, "", f"smtp-hil: --write-golden {tmp_path}: is a directory\n")


def test_a_negative_seed_is_refused_not_folded_onto_its_absolute_value() -> None:
    code, _, err = _run("run", "lossy-link", "--seed", "-1")
    assert code == 2
    assert "argument --seed: expected an integer >= 0, got '-1'" in err
    code, _, err = _run("board", "--seed", "-1")
    assert code == 2 and "--seed: expected an integer >= 0" in err


def _pcap_payloads(path: Path) -> bytes:
    from scapy.all import TCP, rdpcap  # type: ignore[attr-defined]

    data = b""
    for pkt in rdpcap(str(path)):
        if TCP in pkt:
            data += bytes(pkt[TCP].payload)
    return data


@pytest.mark.parametrize(("scenario", "tls"), [("blank-line-truncation", False),
                                               ("starttls", True)])
def test_artifacts_pcap_shows_the_smtp_commands(tmp_path: Path, scenario: str,
                                                tls: bool) -> None:
    code, out, _ = _run("run", scenario, "--artifacts", str(tmp_path))
    assert code == 0, out
    run_dir = next(tmp_path.iterdir())
    transcript = (run_dir / "transcript.txt").read_text()
    assert "C: EHLO" in transcript
    assert json.loads((run_dir / "result.json").read_text())["verdict"] == "pass"
    payloads = _pcap_payloads(run_dir / "capture.pcap")
    assert b"EHLO device.example.com" in payloads
    if tls:
        assert b"STARTTLS" in payloads and b"MAIL FROM" not in payloads
        assert "C: MAIL FROM" in transcript  # the transcript is the decrypted view
    else:
        assert b"MAIL FROM:<" in payloads
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed: apt-get install tshark (scapy read-back passed)")
    proc = subprocess.run([tshark, "-r", str(run_dir / "capture.pcap"), "-Y", "smtp",
                           *tshark_decode_as(25)], capture_output=True, text=True, check=True)
    assert "EHLO" in proc.stdout
    expert = subprocess.run([tshark, "-r", str(run_dir / "capture.pcap"), "-q", "-z", "expert",
                             *tshark_decode_as(25)], capture_output=True, text=True, check=True)
    assert "Malformed" not in expert.stdout


BAD_FILES = {
    "missing section": ("[scenario]\nname='x'\ntitle='t'\n[expect]\nevent='sent'\n",
                        "[job]: missing section"),
    "unknown key": ("[scenario]\nname='x'\ntitle='t'\ncolour='red'\n[job]\nfrom='a@b.c'\n"
                    "to=['d@e.f']\n[expect]\nevent='sent'\n", "scenario.colour: unknown key"),
    "wrong type": ("[scenario]\nname='x'\ntitle='t'\n[device]\npool_buffers='many'\n[job]\n"
                   "from='a@b.c'\nto=['d@e.f']\n[expect]\nevent='sent'\n",
                   "device.pool_buffers"),
    "unknown profile": ("[scenario]\nname='x'\ntitle='t'\n[[scenario.reproduces]]\n"
                        "changelog='c'\nprofiles=['9.9']\n[job]\nfrom='a@b.c'\nto=['d@e.f']\n"
                        "[expect]\nevent='sent'\n", "unknown profile '9.9'"),
    "device ciphers": ("[scenario]\nname='x'\ntitle='t'\n[device.config.tls]\nciphers='NOPE'\n"
                       "[job]\nfrom='a@b.c'\nto=['d@e.f']\n[expect]\nevent='sent'\n",
                       "device.config.tls.ciphers: OpenSSL accepts no cipher in 'NOPE'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_files_exit_2_naming_file_and_key(tmp_path: Path, case: str) -> None:
    text, needle = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = _run("run", str(path))
    assert code == 2
    assert str(path) in err and needle in err
    assert "Traceback" not in err + out


def test_nonexistent_file_and_unknown_name_exit_2(tmp_path: Path) -> None:
    code, _, err = _run("run", str(tmp_path / "nope.toml"))
    assert code == 2 and "no such scenario file" in err
    code, _, err = _run("run", "no-such-scenario")
    assert code == 2 and "no scenario named" in err


@pytest.mark.parametrize("bug", [ValueError("internal: a bug"), OSError(5, "I/O error")])
def test_an_internal_error_is_not_reported_as_bad_input(
        monkeypatch: pytest.MonkeyPatch, bug: Exception) -> None:
    def broken_run(*args: object, **kwargs: object) -> None:
        raise bug

    monkeypatch.setattr(scenarios.cli.run, "run", broken_run)
    with pytest.raises(type(bug)):
        _run("run", "starttls")


def _with_reader_gone(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """``smtp-hil ARGV`` with a standard output whose reader has already closed it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "scenarios.cli", *argv],
                              cwd=Path(__file__).parents[2], stdout=write_end,
                              stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [["list"], ["run", "blank-line-truncation", "--json"]])
def test_a_reader_that_goes_away_ends_the_command_quietly_with_status_1(
        argv: list[str]) -> None:
    proc = _with_reader_gone(*argv)
    assert (proc.returncode, proc.stderr.decode()) == (1, "")


def test_bad_arguments_exit_2() -> None:
    assert _run("run", "starttls", "--profile", "9.9")[0] == 2
    assert _run("run", "starttls", "--seed", "x")[0] == 2
    assert _run("frobnicate")[0] == 2


def test_console_script_runs_as_a_process() -> None:
    exe = shutil.which("smtp-hil") or str(Path(__file__).parents[2] / ".venv/bin/smtp-hil")
    proc = subprocess.run([exe, "run", "blank-line-truncation", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "pass"


SUPERSCRIPT_SIZE = """\
[scenario]
name = "size-superscript"
title = "The server's SIZE parameter is a superscript two"

[device.config.server]
security = "none"

[server]
starttls = false
capabilities = ["PIPELINING", "SIZE \u00b2"]

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
body = "hello"

[expect]
event = "sent"
mailbox_count = 1
"""


@pytest.mark.parametrize("profile", ["2.0", "2.5", "current"])
def test_a_size_parameter_of_superscript_digits_is_judged_not_a_traceback(
        tmp_path: Path, profile: str) -> None:
    # str.isdigit() is true for U+00B2 and int() fails: it raised in the client task.
    path = tmp_path / "size.toml"
    path.write_text(SUPERSCRIPT_SIZE, encoding="utf-8")
    code, out, err = _run("run", str(path), "--profile", profile)
    assert (code, err) == (0, ""), out + err
    assert out.startswith("PASS size-superscript")
