"""``smtp-hil explore`` (scenarios/cli/explore.py): exit codes, the summary and --json,
the written file and what `smtp-hil run` makes of it, progress when piped, --merge, and
bad input (exit 2, one line naming what is wrong)."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios.cli.explore import ProgressLine
from scenarios.cli.main import main
from scenarios.explore import Progress


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


BLANK_LINE = ("explore", "pipelining", "--profile", "2.4", "--budget", "10", "--vary", "job",
              "--invariant", "mail.sent_means_one_exact_copy", "--jobs", "1")


def test_a_failure_exits_1_names_its_file_and_the_file_reproduces(tmp_path: Path) -> None:
    code, out, _ = cli(*BLANK_LINE, "--out", str(tmp_path), "--stop-at-first")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("FAIL body cut on 2.4 from pipelining (schedule 0, shrunk in ")
    assert "the body was cut" in first and "passes from 2.5" in first
    files = sorted(tmp_path.glob("*.toml"))
    assert [f.name for f in files] == ["explore-pipelining-body_cut-2_4.toml"]
    text = files[0].read_text(encoding="utf-8")
    assert text.startswith("# Found by: smtp-hil explore pipelining --profile 2.4 --seed 0 "
                           "--budget 10 --vary job (schedule 0, release 2.4)\n")
    assert "# Invariant broken on 2.4: mail.sent_means_one_exact_copy (body cut): " in text
    assert 'invariants = ["mail.sent_means_one_exact_copy"]' in text
    # `smtp-hil run THAT_FILE --profile 2.4` fails with the same reason; current passes
    code, out, _ = cli("run", str(files[0]), "--profile", "2.4")
    assert code == 1 and "invariant mail.sent_means_one_exact_copy: sent, but server " \
                         "received 0 of 34 body bytes: the body was cut" in out
    assert cli("run", str(files[0]))[0] == 0
    # the catalog's matrix semantics: exactly the releases it lists fail it
    assert '\nprofiles = ["1.0", "2.0", "2.1", "2.2", "2.3", "2.4"]\n' in text


def test_nothing_found_exits_0_and_json_says_what_ran(tmp_path: Path) -> None:
    code, out, _ = cli("explore", "date-header", "--budget", "12", "--json", "--out",
                       str(tmp_path), "--jobs", "1")
    assert code == 0
    data = json.loads(out)
    assert data["failures"] == [] and data["failing_schedules"] == []
    assert (data["schedules_run"], data["runs"], data["seed"]) == (12, 12, 0)
    assert data["generator_version"] == "v1" and data["profiles"] == ["current"]
    assert data["command"] == "smtp-hil explore date-header --profile current --seed 0 " \
                              "--budget 12"
    assert list(tmp_path.iterdir()) == []


def test_json_of_a_failure_has_every_field(tmp_path: Path) -> None:
    code, out, _ = cli(*BLANK_LINE, "--out", str(tmp_path), "--json", "--stop-at-first")
    assert code == 1
    failure = json.loads(out)["failures"][0]
    assert failure["signature"] == {"profile": "2.4", "invariant":
                                    "mail.sent_means_one_exact_copy", "reason": "body cut",
                                    "context": []}
    assert failure["fails_on"] == ["1.0", "2.0", "2.1", "2.2", "2.3", "2.4"]
    assert failure["current_keeps"] is True and failure["deterministic"] is True
    assert failure["shrunk_mutations"] == [{"kind": "body", "op": "blank_line", "at": 0.0,
                                            "n": 1}]
    assert len(failure["mutations"]) >= 1 and failure["file"].endswith(".toml")


def test_progress_is_printed_when_piped() -> None:
    err = io.StringIO()
    line = ProgressLine(err, every_s=0)
    line(Progress(schedules=16, total=30, runs=32, per_second=80.4, failing=3, distinct=2,
                  notes=1, starts=("pipelining", "starttls"), profiles=("2.0", "current")))
    assert err.getvalue() == ("explore: 16/30 schedules, 80 runs/s, 3 failing (2 distinct), "
                              "1 info [2.0, current: pipelining, starttls]\n")
    quiet = io.StringIO()
    ProgressLine(quiet)(Progress(1, None, 1, 1.0, 0, 0, 0, ("x",), ("current",)))
    assert quiet.getvalue() == ""  # piped: not before 10 s have passed


def test_shards_merge_into_the_unsharded_result(tmp_path: Path) -> None:
    common = ("explore", "chunking", "--profile", "2.0", "--budget", "40", "--vary", "server",
              "--invariant", "terminal.exactly_one", "--jobs", "1", "--json")
    code, whole, _ = cli(*common, "--out", str(tmp_path / "whole"))
    parts = []
    for k in range(3):
        _, text, _ = cli(*common, "--shard", f"{k}/3", "--out", str(tmp_path / str(k)))
        path = tmp_path / f"shard{k}.json"
        path.write_text(text, encoding="utf-8")
        parts.append(str(path))
    merged_code, merged, _ = cli("explore", "--merge", *parts, "--json")
    a, b = json.loads(whole), json.loads(merged)
    assert code == merged_code == 1
    assert b["failing_schedules"] == a["failing_schedules"]
    assert b["runs"] == a["runs"] == 40
    strip = ("file",)
    assert [{k: v for k, v in f.items() if k not in strip} for f in b["failures"]] == \
           [{k: v for k, v in f.items() if k not in strip} for f in a["failures"]]


@pytest.mark.parametrize(("argv", "message"), [
    (("explore",), "explore: name at least one starting scenario"),
    (("explore", "nope"), "no scenario named 'nope' in the catalog"),
    (("explore", "pipelining", "--profile", "9.9"), "--profile: unknown profile '9.9'"),
    (("explore", "pipelining", "--vary", "cpu"), "--vary: expected some of server, link, "
                                                 "job, device, got 'cpu'"),
    (("explore", "pipelining", "--invariant", "mail.x"), "--invariant: unknown 'mail.x'"),
    (("explore", "pipelining", "--shard", "3/3"), "--shard: expected K/N with 0 <= K < N"),
    (("explore", "pipelining", "--budget", "0"), "--budget: expected an integer >= 1"),
    (("explore", "pipelining", "--budget", "5", "--time", "3"), "not allowed with argument"),
    (("explore", "--merge", "/nonexistent.json"), "/nonexistent.json"),
])
def test_bad_input_exits_2_naming_what_is_wrong(argv: tuple[str, ...], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert out == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs OS ptys")
def test_ctrl_c_prints_what_was_found_and_exits_130(tmp_path: Path) -> None:
    """SIGINT once the progress line shows a failure: the failing schedules so far are
    printed (not shrunk), one line says so, exit 130, no traceback (two worker
    processes: they leave Ctrl-C to the parent)."""
    primary, secondary = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "explore", "chunking", "--profile", "2.0",
         "--budget", "100000", "--vary", "server", "--invariant", "terminal.exactly_one",
         "--jobs", "2", "--out", str(tmp_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    while not re.search(rb"[1-9][0-9]* failing", seen):
        assert time.monotonic() < deadline, seen[-500:]
        if select.select([primary], [], [], 1.0)[0]:
            seen += os.read(primary, 65536)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    try:
        while select.select([primary], [], [], 0.2)[0]:
            chunk = os.read(primary, 65536)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(primary)
    text, err = out.decode(), seen.decode(errors="replace")
    assert proc.returncode == 130, (text, err[-2000:])
    assert re.search(r"^FAIL hang on 2\.0 \(schedule \d+, not shrunk\)$", text, re.M), text
    assert "(interrupted)" in text.splitlines()[-1]
    assert "smtp-hil: interrupted: " in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
