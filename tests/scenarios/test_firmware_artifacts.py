"""A C firmware's run writes its artifacts under its own name, beside the model's."""

from __future__ import annotations

import io
from pathlib import Path

from scenarios.cli.main import main
from scenarios.firmware_choice import FirmwareChoice


def test_lwip_and_the_model_write_to_their_own_folders(lwip: FirmwareChoice,
                                                       tmp_path: Path) -> None:
    for firmware in ("lwip", "model"):
        out, err = io.StringIO(), io.StringIO()
        main(["run", "dot-line-in-body", "--firmware", firmware, "--artifacts",
              str(tmp_path)], out=out, err=err)
        assert "Traceback" not in err.getvalue()
    lwip_run = tmp_path / "dot-line-in-body--lwip--seed0"
    model_run = tmp_path / "dot-line-in-body--current--seed0"
    # lwIP does not dot-stuff: the server reads body lines as commands and refuses them
    assert "S: 500 5.5.2" in (lwip_run / "transcript.txt").read_text()
    assert "S: 500 5.5.2" not in (model_run / "transcript.txt").read_text()
