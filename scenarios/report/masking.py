"""Credentials out of the records a report is made from.

The report shows what the scripted server read (its ``rx`` records, decrypted), so an
AUTH exchange would show the client's credentials: the initial response of ``AUTH
PLAIN``/``LOGIN``/``XOAUTH2``, the LOGIN user name and password lines, the CRAM-MD5
response. :func:`report_records` blanks them with ``*`` (same length) before anything
else sees the records, as every other view does (:mod:`scenarios.masking`: one finder of
credentials, :mod:`scenarios.server.authmask`, for every view).

Nothing else in a report carries client bytes: the TCP view shows segment lengths only,
never payloads.

This module knows which records a report is made from; how credentials are found is
:mod:`scenarios.masking`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from emulator.trace import TraceRecord
from emulator.tracespill import spills
from scenarios.masking import iter_masked, masked_records
from scenarios.readagain import ReadAgain


def report_records(records: Sequence[TraceRecord]) -> Sequence[TraceRecord]:
    """``records`` with the credentials blanked (module docstring); other records are the
    same objects. A trace kept on disk (:mod:`emulator.tracespill`) is blanked again on
    every pass over it, never held whole."""
    if spills(records):
        return ReadAgain(lambda: iter_masked(records))
    return masked_records(records)
