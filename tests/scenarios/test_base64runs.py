"""Runs of base64-alphabet lines found block by block are those of the whole content
(scenarios/verdict/base64runs.py), and a line longer than a block only ends a run."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.server.spool import MailContent
from scenarios.verdict import base64runs
from scenarios.verdict.base64runs import runs

_BREAK = re.compile(rb"[^A-Za-z0-9+/=\r\n]|\r(?!\n)|\n\r?\n|^\r?\n", re.MULTILINE)


def _whole_content_runs(content: bytes, run_lines: int) -> Iterator[tuple[int, int]]:
    """The runs as the skeleton found them before it read blocks: the whole content
    searched at once (the reference)."""
    at, size = 0, len(content)
    while at < size:
        found = _BREAK.search(content, at)
        stop = size if found is None else found.start()
        end = content.rfind(b"\n", at, stop) + 1
        if end > at and content.count(b"\n", at, end) >= run_lines:
            yield at, end
        if found is None:
            return
        after = content.find(b"\n", found.start()) + 1
        if after == 0:
            return
        at = after


_LINE = st.tuples(st.lists(st.sampled_from([b"QUJD", b"QUJD", b"=", b"", b"!", b"\r", b"a+/"]),
                           max_size=3),
                  st.sampled_from([b"\n", b"\r\n", b"\r\n", b"\r"]))


@settings(max_examples=400)
@given(lines=st.lists(_LINE, max_size=60), tail=st.sampled_from([b"", b"QUJD", b"!"]),
       window=st.integers(min_value=3, max_value=90))
def test_runs_read_in_windows_are_the_runs_of_the_whole_content(
        lines: list[tuple[list[bytes], bytes]], tail: bytes, window: int) -> None:
    content = b"".join(b"".join(parts) + end for parts, end in lines) + tail
    original = base64runs.RUN_LINES
    base64runs.RUN_LINES = 3  # type: ignore[misc]  # short runs: many of them
    try:
        got = list(runs(MailContent.of(content), window))
    finally:
        base64runs.RUN_LINES = original  # type: ignore[misc]
    want = list(_whole_content_runs(content, 3))
    if max(len(line) + 1 for line in content.split(b"\n")) <= window:
        assert got == want
    else:  # a line longer than a window ends a run: what is found is inside a run
        assert all(any(a <= start and end <= b for a, b in want) for start, end in got)


def test_a_base64_attachment_is_one_run_across_many_windows() -> None:
    head = b"Content-Type: application/octet-stream\r\n\r\n"
    lines = b"QUJD" * 19 + b"\r\n"
    content = head + lines * 1000 + b"--b--\r\n"
    assert list(runs(MailContent.of(content), window=1000)) == [
        (len(head), len(head) + len(lines) * 1000)]
