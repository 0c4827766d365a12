"""``make lwip``'s fetch script (emulator/cfirmware/lwip/fetch-lwip.sh): ``apt-get source
lwip`` through an apt configuration of its own, so nothing of the machine's apt
configuration is changed or left behind.

apt-get, apt-cache and dpkg-source are stand-ins on PATH that record how they were
called (the real ones would need the package archive); the machine's apt configuration
is a folder of the test's (``APT_ETC_DIR``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "emulator" / "cfirmware" / "lwip" / "fetch-lwip.sh"
DEBIAN_SOURCES = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
for a in "$@"; do
    case $a in Dir::Etc::SourceParts=*) cat "${a#*=}"/* > "$FAKE_SOURCES" ;; esac
done
case " $* " in
    *" source "*)
        mkdir -p lwip-2.1.3/src/core lwip-2.1.3/src/apps/smtp lwip-2.1.3/src/include/lwip
        touch lwip-2.1.3/src/core/tcp.c lwip-2.1.3/src/apps/smtp/smtp.c \\
            lwip-2.1.3/src/include/lwip/init.h ;;
esac
"""
APT_CACHE = """#!/bin/sh
echo "apt-cache $*" >> "$FAKE_LOG"
case "$*" in *Dir::Etc::SourceParts=*) printf 'Package: lwip\\n' ;; esac
"""
"""Finds lwip only through a configuration of the script's own (the machine's has no
deb-src entry)."""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def test_apt_get_source_runs_on_a_configuration_of_its_own_and_leaves_nothing(
        tmp_path: Path) -> None:
    """It used to add /etc/apt/sources.list.d/smtp-hil-deb-src.sources (as root only)
    and leave it there; one such leftover is removed."""
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "apt-get", APT_GET)
    _executable(fake / "apt-cache", APT_CACHE)
    _executable(fake / "dpkg-source", "#!/bin/sh\nexit 0\n")
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list.d" / "debian.sources").write_text(DEBIAN_SOURCES)
    legacy = etc / "sources.list.d" / "smtp-hil-deb-src.sources"
    legacy.write_text("Types: deb-src\nURIs: http://deb.debian.org/debian\n")
    out, log, sources = tmp_path / "out", tmp_path / "calls.log", tmp_path / "sources"
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
           "APT_ETC_DIR": str(etc), "FAKE_LOG": str(log), "FAKE_SOURCES": str(sources)}
    env.pop("LWIP_SRC", None)
    done = subprocess.run(["bash", str(SCRIPT), str(out)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert not (out / "UNAVAILABLE").exists(), (out / "UNAVAILABLE").read_text()
    assert (out / "SOURCE_DIR").read_text().strip() == str(out / "source")
    assert (out / "source" / "src" / "core" / "tcp.c").is_file()
    calls = log.read_text().splitlines()
    verbs = [(c.split()[0], *(w for w in c.split() if w in ("update", "showsrc", "source")))
             for c in calls]
    assert verbs == [("apt-get", "update"), ("apt-cache", "showsrc"), ("apt-get", "source")]
    private = out / "apt"
    for call in calls:  # never the machine's lists, sources or cache
        assert "Dir::Etc::SourceList=/dev/null" in call, call
        assert f"Dir::Etc::SourceParts={private}/sources.list.d" in call, call
        assert f"Dir::State::Lists={private}/lists" in call, call
        assert f"Dir::Cache={private}/cache" in call, call
    assert sources.read_text().split("\n\n")[0] == (
        "Types: deb-src\nURIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg")
    assert not private.exists()  # removed afterwards
    assert sorted(p.name for p in (etc / "sources.list.d").iterdir()) == ["debian.sources"]
    assert (etc / "sources.list.d" / "debian.sources").read_text() == DEBIAN_SOURCES
