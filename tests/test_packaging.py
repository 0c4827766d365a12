"""The wheel a team installs: built from the checkout's tracked files, it holds what the
README promises outside the repository (the catalog, the Robot resource, the scenario
format's README, ``py.typed``, the license), declares the ``robot`` extra, and works when
installed into a fresh virtualenv in a folder that is not the checkout: the command, the
pytest plugin's catalog markers, and a Robot suite that imports the shared resource.

Built and installed without the network: ``pip wheel --no-build-isolation`` uses the
test extras' setuptools, and the fresh virtualenv gets the wheel alone (``--no-deps``),
its dependencies coming from the project's ``.venv`` through a ``.pth`` line (which adds
that folder, not the editable install's finder, so ``scenarios`` is the wheel's).
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]
PACKAGES: Final = ("emulator", "stack", "smtp", "scenarios")


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip(f"needs a git checkout to know its files: {listed.stderr.strip()}")
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the tracked files (the checkout stays untouched)."""
    source = tmp_path_factory.mktemp("source")
    for name in _tracked_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "--no-index", "--quiet", "--wheel-dir",
                            str(out), str(source)], capture_output=True, text=True,
                           check=False, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Deprecat" not in built.stderr, built.stderr  # the SPDX license string
    (found,) = out.glob("smtp_hil-*.whl")
    return found


def test_the_wheel_holds_what_the_readme_promises(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"{package}/py.typed" for package in PACKAGES} <= names
    assert {"scenarios/README.md", "scenarios/robotlib/resources/smtp_hil.resource"} <= names
    catalog = {f"scenarios/catalog/{p.name}" for p in (ROOT / "scenarios/catalog").glob("*.toml")}
    assert catalog and catalog <= names
    static = {f"scenarios/report/static/{p.name}"
              for p in (ROOT / "scenarios/report/static").iterdir()}
    assert static <= names  # the HTML report inlines them
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not [name for name in names if name.startswith(("tests/", "robot/", "bench/"))]


def test_the_wheel_declares_the_robot_extra_and_pyserial_once(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(metadata_name))
        entry_points = archive.read(metadata_name.replace("METADATA", "entry_points.txt"))
    requires = metadata.get_all("Requires-Dist") or []
    assert metadata["License-Expression"] == "MIT"
    assert "robot" in (metadata.get_all("Provides-Extra") or [])
    assert 'robotframework>=7.0; extra == "robot"' in requires
    assert [r for r in requires if r.lower().startswith("pyserial")] == ["pyserial>=3.5"]
    assert b"smtp-hil = scenarios.cli.entry:main" in entry_points
    assert b"smtp_hil = scenarios.pytest_plugin" in entry_points


SUITE: Final = """\
*** Settings ***
Library     scenarios.robotlib.SmtpHilLibrary
Resource    scenarios/robotlib/resources/smtp_hil.resource

*** Test Cases ***
The Shared Resource Is Found
    Start Scenario Server    blank-line-truncation
    Boot Emulated Board    profile=current
    Send Mail    pump7@example.com    ops@example.net    body=Report.\\n\\nAll nominal.
    Wait For Device Event    sent    timeout=10 min
    Mail Body Should Be    Report.\\n\\nAll nominal.
"""


def test_installed_into_a_fresh_virtualenv_it_works_outside_the_checkout(
        wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python),
                                "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                               capture_output=True, text=True, check=False, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    project = tmp_path / "team-project"
    project.mkdir()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, check=False,
                              timeout=300, env={"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin"})

    where = run(str(python), "-c", "import scenarios, importlib.resources as r; "
                "print(scenarios.__file__); "
                "print(r.files('scenarios').joinpath('README.md').read_text()[:40])")
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(site)), where.stdout  # the wheel's, not the checkout's
    assert "scenario" in where.stdout.lower()
    version = run(str(env_dir / "bin" / "smtp-hil"), "--version")
    assert version.returncode == 0 and version.stdout.startswith("smtp-hil 0."), version
    passed = run(str(env_dir / "bin" / "smtp-hil"), "run", "starttls", "--color", "never")
    assert passed.returncode == 0 and passed.stdout.startswith("PASS starttls"), passed
    (project / "suite.robot").write_text(SUITE)
    robot = run(str(python), "-m", "robot", "--outputdir", "out", "--consolecolors", "off",
                "suite.robot")
    assert robot.returncode == 0, robot.stdout + robot.stderr
    assert "[ ERROR ]" not in robot.stdout + robot.stderr, robot.stderr  # the resource found
    assert "1 test, 1 passed, 0 failed" in robot.stdout
    assert (project / "out" / "log.html").is_file()
