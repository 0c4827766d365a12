"""A run's artifacts written as the run goes, so that nothing waits in memory for its end.

:class:`StreamedArtifacts` is a trace subscriber (``trace.subscribe(...)``, or
:func:`scenarios.runner.run`'s ``watch``): it writes ``transcript.txt``,
``trace.jsonl`` and ``capture.pcap`` record by record, the same bytes
:func:`scenarios.artifacts.write_artifacts` writes from a whole trace after the run.
Credentials are hidden as the dialogue streams (:class:`~scenarios.masking.
MaskingStream`: blanked in the trace lines and the capture, marked in the transcript
with the spans it found) unless ``show_secrets``.
Once the run is over, :meth:`StreamedArtifacts.close` and
:func:`~scenarios.artifacts.finish_artifacts` write the rest (the key log, the result).

The run itself can then be lean (its trace keeps only what the verdict reads), so the
memory of a run with artifacts does not grow with the mail it carries.

This module knows the artifact files and trace records; it runs nothing.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TextIO

from emulator.trace import JsonlStream, TraceRecord
from scenarios.artifacts import transcript_entry
from scenarios.masking import SERVER_PREFIX, MaskingStream
from scenarios.server.authmask import Span
from stack.pcap import PcapStream


class StreamedArtifacts:
    """Writes the run's transcript, trace lines and capture into ``out`` as records come
    (module docstring). Use it as a context manager, or call :meth:`close`."""

    def __init__(self, out: Path, *, epoch_s: int, show_secrets: bool = False) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.folder = out
        self._show_secrets = show_secrets
        self._transcript: TextIO = (out / "transcript.txt").open("w")
        self._jsonl_file: TextIO = (out / "trace.jsonl").open("w")
        self._pcap_file = (out / "capture.pcap").open("wb")
        self._jsonl = JsonlStream(self._jsonl_file)
        self._pcap = PcapStream(self._pcap_file, epoch_s=epoch_s)
        self._transcript_lines = 0
        self._masking = None if show_secrets else MaskingStream(self._write_shown)

    def __call__(self, record: TraceRecord) -> None:
        if self._masking is None:
            hidden: tuple[Span, ...] = ()
            self._write_shown(record)
        else:
            hidden = self._masking(record)
        if record.source.startswith(SERVER_PREFIX):  # the transcript's records only
            for line in transcript_entry(record, hidden):
                self._transcript.write(line + "\n")
                self._transcript_lines += 1

    def _write_shown(self, record: TraceRecord) -> None:
        self._jsonl(record)
        self._pcap(record)

    @property
    def frames(self) -> int:
        """Frames written to the capture so far."""
        return self._pcap.frames

    def close(self) -> None:
        """Write what still waits for masking, then close the files."""
        try:
            if self._masking is not None:
                self._masking.close()
            if not self._transcript_lines:
                self._transcript.write("\n")  # as write_artifacts writes an empty one
        finally:
            for file in (self._transcript, self._jsonl_file, self._pcap_file):
                file.close()

    def __enter__(self) -> StreamedArtifacts:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
