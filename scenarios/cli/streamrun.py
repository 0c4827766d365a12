"""One run whose artifacts are written as it goes (``run --artifacts`` and ``matrix
--artifacts`` when nothing else reads the run's trace).

This module knows the runner and the streamed artifacts' writer; it prints nothing.
"""

from __future__ import annotations

from pathlib import Path

from emulator.userinput import UserInputError
from scenarios.artifacts import capture_epoch_s, dirname_for, finish_artifacts
from scenarios.artifactstream import StreamedArtifacts
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import Scenario
from scenarios.runner import RunResult, run


def run_with_streamed_artifacts(scenario: Scenario, profile: str, seed: int,
                                firmware: FirmwareChoice | None, folder: Path,
                                show_secrets: bool) -> tuple[RunResult, Path]:
    """Run ``scenario`` lean, its artifacts written into ``folder`` as it goes
    (:mod:`scenarios.artifactstream`; the caller checks :func:`scenarios.runner.
    watchable`): the same files :func:`write_run_artifacts` writes after a run, without
    keeping the run's trace."""
    out = folder / dirname_for(scenario.name, profile, seed)
    try:
        with StreamedArtifacts(out, epoch_s=capture_epoch_s(scenario),
                               show_secrets=show_secrets) as streams:
            result = run(scenario, profile, seed, firmware, keep_trace=False, watch=[streams])
        finish_artifacts(result, out)
    except OSError as exc:
        raise UserInputError(f"--artifacts {folder}: {exc.strerror or exc}") from None
    return result, out
