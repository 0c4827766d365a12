"""Reading the user's files: only regular files, never more than the limit of their kind,
one line naming the file for every problem, and TOML whose nesting is bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smtp.userfiles import (
    MAX_TOML_NESTING,
    SCENARIO_FILE,
    FileKind,
    UserFileError,
    check_user_file,
    load_toml,
    parse_toml,
    read_user_file,
    read_user_text,
    stream_user_file,
)

SMALL = FileKind("test file", 16)


def test_a_regular_file_is_read_whole_or_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"0123456789abcdef")
    assert read_user_file(path, SMALL) == b"0123456789abcdef"
    assert b"".join(stream_user_file(path, SMALL)) == b"0123456789abcdef"
    assert check_user_file(path, SMALL) == 16


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 17)
    message = f"{path}: too large: 17 bytes, a test file may have at most 16 bytes"
    for read in (read_user_file, check_user_file, lambda p, k: list(stream_user_file(p, k))):
        with pytest.raises(UserFileError) as caught:
            read(path, SMALL)
        assert str(caught.value) == message


def test_reading_stops_at_the_limit_when_the_size_lies() -> None:
    """Files of /proc say they are empty; reading must still stop at the limit."""
    assert os.stat("/proc/self/cmdline").st_size == 0
    with pytest.raises(UserFileError, match=r"^/proc/self/cmdline: too large: "
                                            r"\d+ bytes, a test file may have at most 16"):
        read_user_file("/proc/self/cmdline", SMALL)
    with pytest.raises(UserFileError, match="too large"):
        list(stream_user_file("/proc/self/cmdline", SMALL))


@pytest.mark.parametrize(("make", "what"), [
    (lambda p: os.mkfifo(p), "a FIFO"),
    (lambda p: p.mkdir(), "a directory"),
])
def test_special_files_are_refused_without_blocking(tmp_path: Path, make: object,
                                                    what: str) -> None:
    path = tmp_path / "special"
    make(path)  # type: ignore[operator]
    with pytest.raises(UserFileError) as caught:
        read_user_file(path, SMALL)
    assert str(caught.value) == f"{path}: not a regular file ({what})"


def test_a_device_is_refused() -> None:
    with pytest.raises(UserFileError) as caught:
        read_user_file("/dev/zero", SCENARIO_FILE)
    assert str(caught.value) == "/dev/zero: not a regular file (a character device)"


def test_missing_and_looping_paths(tmp_path: Path) -> None:
    with pytest.raises(UserFileError) as caught:
        read_user_file(tmp_path / "gone.toml", SCENARIO_FILE)
    assert str(caught.value) == f"no such scenario file: {tmp_path / 'gone.toml'}"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(UserFileError) as caught:
        read_user_file(loop, SCENARIO_FILE)
    assert str(caught.value) == f"{loop}: cannot read the file: Too many levels of symbolic links"


def test_text_is_utf8_and_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes(b"\xef\xbb\xbfx = 1\n")
    assert read_user_text(path, SCENARIO_FILE) == "x = 1\n"
    assert load_toml(path, SCENARIO_FILE) == {"x": 1}
    path.write_bytes(b"x = 'caf\xe9'\n")
    with pytest.raises(UserFileError) as caught:
        read_user_text(path, SCENARIO_FILE)
    assert str(caught.value) == f"{path}: not UTF-8 text (byte 8)"


def test_toml_syntax_errors_name_the_line() -> None:
    with pytest.raises(UserFileError) as caught:
        parse_toml("a = 1\na = 2\n", source="x.toml")
    assert str(caught.value) == ("x.toml: line 2, column 6: TOML syntax error: "
                                 "Cannot overwrite a value")


@pytest.mark.parametrize("depth", [400, 100_000])
def test_toml_nested_beyond_the_parser_is_refused(depth: int) -> None:
    text = "a = " + "[" * depth + "]" * depth
    with pytest.raises(UserFileError, match=r"^x\.toml: (a: )?nested too deeply \(at most 32 "):
        parse_toml(text, source="x.toml")


def test_toml_nesting_is_bounded_and_the_key_named() -> None:
    ok = "[t]\nv = " + "[" * (MAX_TOML_NESTING - 1) + "]" * (MAX_TOML_NESTING - 1)
    assert parse_toml(ok, source="x.toml")["t"]["v"] is not None
    deep = "[t]\nv = " + "[" * MAX_TOML_NESTING + "]" * MAX_TOML_NESTING
    with pytest.raises(UserFileError) as caught:
        parse_toml(deep, source="x.toml")
    assert str(caught.value) == ("x.toml: t.v: nested too deeply (at most 32 levels of "
                                 "arrays and tables)")


def test_a_number_too_long_for_python_is_refused() -> None:
    with pytest.raises(UserFileError) as caught:
        parse_toml("a = 1" + "0" * 5000, source="x.toml")
    assert str(caught.value) == "x.toml: a number of 5001 digits (at most 4300)"


def test_a_path_is_shown_on_one_line_and_a_nul_refused(tmp_path: Path) -> None:
    odd = tmp_path / "a\nb.toml"
    with pytest.raises(UserFileError) as caught:
        read_user_file(odd, SCENARIO_FILE)
    assert str(caught.value) == f"no such scenario file: {str(odd)!r}"
    with pytest.raises(UserFileError) as caught:
        read_user_file("ca\0.pem", SCENARIO_FILE)
    assert str(caught.value) == "'ca\\x00.pem': not a file name (it holds a NUL character)"
