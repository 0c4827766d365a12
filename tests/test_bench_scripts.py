"""The benchmark scripts stay importable (they are run by hand and by `make bench`, never
timed in tests): a renamed API breaks this test instead of rotting a script."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("bench_*.py")))
def test_bench_script_imports_and_has_main(script: str) -> None:
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), BENCH / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    sys.path.insert(0, str(BENCH))  # as when run as a script: its helpers are importable
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
        sys.path.remove(str(BENCH))
    assert callable(module.main)


def _load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), BENCH / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_fuzz_script_runs_a_small_budget_and_replays_an_input(
        capsys: pytest.CaptureFixture[str]) -> None:
    fuzz = _load("fuzz_replies.py")
    try:
        assert fuzz.main(["--inputs", "60", "--workers", "1"]) == 0
        out = capsys.readouterr().out
        assert "60 inputs in " in out and " inputs/s (1 worker(s))" in out
        assert "no invariant broken" in out
        assert fuzz.main(["--replay", "7"]) == 0
        replayed = capsys.readouterr().out
        assert replayed.startswith("profile ") and "input 7 of seed 0" in replayed
    finally:
        del sys.modules["fuzz_replies"]


def test_make_bench_runs_every_bench_script() -> None:
    """`make bench` prints every benchmark's figures: a new script must be added there."""
    makefile = (BENCH.parent / "Makefile").read_text()
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    ran = {line.split("bench/", 1)[1].split()[0] for line in recipe.splitlines()
           if "bench/bench_" in line}
    assert ran == {p.name for p in BENCH.glob("bench_*.py")}


def test_the_rediscovery_script_labels_a_small_campaign(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    """`make explore`'s script on a tiny campaign: month/day (schedule 0) and the
    blank-line truncation (schedule 1) found on 2.2 from the date-header happy path,
    each labelled by flipping its flag back; 2.2's TLS timeout cannot be reached from a
    plaintext start and is MISSED, so the exit status is 1."""
    script = _load("explore_rediscovery.py")
    try:
        status = script.main(["--budget", "3", "--others-budget", "0", "--starts",
                              "date-header", "--profiles", "2.2,current", "--jobs", "1",
                              "--out", str(tmp_path)])
        out = capsys.readouterr().out
    finally:
        del sys.modules["explore_rediscovery"]
    assert status == 1
    assert "| 2.2 | 1 | 0 | - | - | - | MISSED |" in out
    assert "month/day on 2.2: schedule 0 from date-header, mail.date_is_rtc (date)" in out
    assert "blank line on 2.2: schedule 1 from date-header, " \
           "mail.sent_means_one_exact_copy (body cut)" in out
    assert "current: 0 failure(s) in 3 schedules" in out
