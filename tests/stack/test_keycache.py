"""The per-user cache of throwaway test keys: private, keyed by parameters, atomic."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from stack.tls.keycache import PROJECT_ROOT, cache_folder, cached_ec_key, usable_folder


def _make_counting(made: list[ec.EllipticCurvePrivateKey]) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    made.append(key)
    return key


def _same(a: ec.EllipticCurvePrivateKey, b: ec.EllipticCurvePrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def test_a_second_process_gets_the_key_the_first_one_made(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    made: list[ec.EllipticCurvePrivateKey] = []
    first = cached_ec_key("leaf a", lambda: _make_counting(made), folder=folder)
    again = cached_ec_key("leaf a", lambda: _make_counting(made), folder=folder)
    assert len(made) == 1 and _same(first, again)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_other_parameters_get_another_key(tmp_path: Path) -> None:
    a = cached_ec_key("leaf a", lambda: ec.generate_private_key(ec.SECP256R1()), folder=tmp_path)
    b = cached_ec_key("leaf b", lambda: ec.generate_private_key(ec.SECP256R1()), folder=tmp_path)
    assert not _same(a, b)
    assert len(list(tmp_path.iterdir())) == 2


def test_a_folder_others_can_read_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    made: list[ec.EllipticCurvePrivateKey] = []
    cached_ec_key("leaf a", lambda: _make_counting(made), folder=folder)
    cached_ec_key("leaf a", lambda: _make_counting(made), folder=folder)
    assert len(made) == 2 and not any(folder.iterdir())


def test_a_symbolic_link_is_not_used(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert not usable_folder(link)


def test_never_inside_the_project() -> None:
    assert not usable_folder(PROJECT_ROOT / "build" / "test-keys-must-not-be-here")


def test_a_broken_or_readable_key_file_is_replaced(tmp_path: Path) -> None:
    made: list[ec.EllipticCurvePrivateKey] = []
    cached_ec_key("leaf a", lambda: _make_counting(made), folder=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbroken\n")
    fresh = cached_ec_key("leaf a", lambda: _make_counting(made), folder=tmp_path)
    assert len(made) == 2
    assert _same(cached_ec_key("leaf a", lambda: _make_counting(made), folder=tmp_path), fresh)
    path.chmod(0o644)  # someone else could have read it: not trusted, made again
    cached_ec_key("leaf a", lambda: _make_counting(made), folder=tmp_path)
    assert len(made) == 3 and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_where_the_cache_is() -> None:
    assert cache_folder({"SMTP_HIL_KEY_CACHE": "off"}) is None
    assert cache_folder({"SMTP_HIL_KEY_CACHE": ""}) is None
    assert cache_folder({"SMTP_HIL_KEY_CACHE": "/x/keys"}) == Path("/x/keys")
    assert cache_folder({"XDG_CACHE_HOME": "/c"}) == Path("/c/smtp-hil/test-keys")


_RACER = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import ec
from stack.tls.keycache import cached_ec_key
for n in range(20):
    key = cached_ec_key(f"leaf {n}", lambda: ec.generate_private_key(ec.SECP256R1()),
                        folder=Path(sys.argv[1]))
    assert key.curve.name == "secp256r1"
"""


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
def test_processes_racing_for_the_same_keys_leave_whole_keys_only(tmp_path: Path) -> None:
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(tmp_path)])
              for _ in range(4)]
    assert [racer.wait(timeout=60) for racer in racers] == [0, 0, 0, 0]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 20 and all(name.endswith(".pem") for name in files)
    made: list[ec.EllipticCurvePrivateKey] = []
    for n in range(20):
        cached_ec_key(f"leaf {n}", lambda: _make_counting(made), folder=tmp_path)
    assert made == []  # every file a whole key
