"""Artifact keywords: the transcript, trace, pcap, key log and HTML report of a test's
runs, saved and linked in the log.

Files go under ``${OUTPUT DIR}/artifacts/<test name>/`` when Robot runs (the library's
``output_dir`` otherwise), and each one is linked in Robot's log with a relative link,
so the log, the report and the artifacts can be moved together. The transcript is also
available as lines, for assertions. The HTML report (``smtp-hil-report.html``, the page
``smtp-hil run --report`` writes) shows every `Run Scenario` of the test, the board the
keywords drove (no verdict: the test's assertions judge it) and the connections of a
server on a socket.

This module knows the artifact views (:mod:`scenarios.artifacts`, :mod:`stack.pcap`,
:mod:`scenarios.report`) and Robot's logger; it runs nothing.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from robot.api import logger

from emulator.trace import records_to_jsonl
from scenarios.artifacts import capture_epoch_s, result_dict, shown_records, transcript_lines
from scenarios.report.from_runs import build_report, run_view
from scenarios.report.from_session import session_view
from scenarios.report.html import render_report
from scenarios.report.model import Artifact, RunView
from scenarios.robotlib.context import LibraryComponent, NotReady, keyword, robot_variable
from stack.pcap import write_pcap
from stack.tls.keylog import write_key_log

ARTIFACTS_FOLDER = "artifacts"
REPORT_FILE = "smtp-hil-report.html"
SAVED_FILES = (("capture.pcap", "capture (pcap)"), ("keylog.txt", "TLS key log"),
               ("trace.jsonl", "trace (JSON lines)"), ("transcript.txt", "transcript"),
               ("result.json", "result (JSON)"))
"""What `Save Artifacts` writes of the board or the last run; the report links them."""


def slug(text: str) -> str:
    """A file-system-friendly name: ``"Body Cut On 2.4"`` -> ``"body-cut-on-2.4"``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip().lower()).strip("-.")
    return cleaned or "run"


class ArtifactKeywords(LibraryComponent):
    """Transcript, trace and pcap files, linked in Robot's log."""

    AREA = "artifacts"

    def _folder(self, folder: str | None) -> Path:
        if folder is None:
            name = robot_variable("${TEST NAME}") or robot_variable("${SUITE NAME}") or "run"
            folder = slug(str(name))
        path = self.ctx.artifacts_root() / ARTIFACTS_FOLDER / folder
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _link(self, path: Path, what: str) -> None:
        href = os.path.relpath(path, self.ctx.log_dir()).replace(os.sep, "/")
        logger.info(f'{html.escape(what)}: <a href="{html.escape(href)}">'
                    f'{html.escape(path.name)}</a>', html=True)

    def _transcript(self) -> list[str]:
        show = self.ctx.show_secrets
        if self.ctx.socket_server is not None:
            return self.ctx.socket_server.transcript_lines(show_secrets=show)
        if not self.ctx.has_world:
            raise NotReady("Nothing to take a transcript of: boot a board, run a scenario or "
                           "start a server on a socket first.")
        return transcript_lines(self.ctx.world.kernel.trace.records, show_secrets=show)

    @keyword()
    def get_transcript(self) -> list[str]:
        """The SMTP dialogue as the server saw it, one ``C:``/``S:`` line per line sent,
        stamped with (virtual) time; decrypted under TLS; credentials hidden unless the
        library was imported with ``show_secrets=${TRUE}``.

        | @{lines} = | `Get Transcript` |
        """
        return self._transcript()

    @keyword()
    def transcript_should_contain(self, pattern: str) -> str:
        """Fails unless a transcript line contains a match of the regular expression
        ``pattern``; returns the first such line.

        | `Transcript Should Contain` | C: EHLO device\\\\.example\\\\.com |
        | `Transcript Should Contain` | S: 250 .*PIPELINING |
        """
        lines = self._transcript()
        regex = re.compile(pattern)
        for line in lines:
            if regex.search(line):
                return line
        tail = "\n".join(lines[-15:]) or "(empty)"
        raise AssertionError(f"No line of the transcript matches {pattern!r}. Its last "
                             f"lines:\n{tail}")

    @keyword()
    def save_transcript(self, folder: str | None = None) -> str:
        """Writes ``transcript.txt`` under ``${OUTPUT DIR}/artifacts/<folder>/`` (the test's
        name by default), links it in the log and returns its path.

        | `Save Transcript` |
        """
        path = self._folder(folder) / "transcript.txt"
        path.write_text("\n".join(self._transcript()) + "\n", encoding="utf-8")
        self._link(path, "Transcript")
        return str(path)

    @keyword()
    def save_pcap(self, folder: str | None = None) -> str:
        """Writes ``capture.pcap`` (Ethernet/IPv4/TCP with virtual timestamps, for
        Wireshark or tshark) of the simulated link, stamped from the scenario's RTC
        setting, links it in the log and returns its path. Only simulated runs have one.

        | `Save Pcap` |
        """

        path = self._folder(folder) / "capture.pcap"
        world = self.ctx.world
        frames = write_pcap(shown_records(world.kernel.trace.records, self.ctx.show_secrets),
                            path, epoch_s=capture_epoch_s(world.scenario))
        self._link(path, f"Packet capture ({frames} frames)")
        return str(path)

    @keyword()
    def save_artifacts(self, folder: str | None = None) -> str:
        """Writes everything there is: ``transcript.txt``, plus for a simulated run
        ``trace.jsonl`` (every trace record), ``capture.pcap`` and ``keylog.txt`` (the TLS
        secrets that decrypt it, mode 0600), plus ``result.json`` after `Run Scenario`,
        and the HTML report of the test's runs (`Save Report`), which links those files.
        Links each file in the log; returns the folder. Credentials are hidden in all of
        them unless the library has ``show_secrets=${TRUE}``; the key log is written
        either way (it is what decrypts the pcap).

        | `Save Artifacts` | |
        | [Teardown] | `Run Keyword If Test Failed` | `Save Artifacts` |
        """
        target = self._folder(folder)
        self.save_transcript(folder=target.name)
        if self.ctx.socket_server is not None or not self.ctx.has_world:
            self.save_report(folder=target.name)
            return str(target)
        records = self.ctx.world.kernel.trace.records
        trace_path = target / "trace.jsonl"
        with trace_path.open("w", encoding="utf-8") as fh:
            for line in records_to_jsonl(shown_records(records, self.ctx.show_secrets)):
                fh.write(line + "\n")
        self._link(trace_path, f"Trace ({len(records)} records)")
        self.save_pcap(folder=target.name)
        server = self.ctx.world.server
        keys = target / "keylog.txt"
        write_key_log(keys, server.tls_secrets() if server is not None else [])
        self._link(keys, "TLS secrets (keep them secret)")
        if self.ctx.result is not None:
            result_path = target / "result.json"
            result_path.write_text(json.dumps(result_dict(self.ctx.result), indent=2) + "\n",
                                   encoding="utf-8")
            self._link(result_path, "Result")
        self.save_report(folder=target.name)
        return str(target)

    def _views(self, folder: Path) -> list[RunView]:
        """The test's runs, the driven board, the socket server's connections."""
        saved = [Artifact(label, name) for name, label in SAVED_FILES
                 if (folder / name).is_file()]
        views: list[RunView] = []
        last = self.ctx.result
        for index, result in enumerate(self.ctx.test_results, 1):
            view = run_view(result)
            view.run_id = f"{view.run_id}--run{index}"
            if result is last and self.ctx.session is None:
                view.artifacts = list(saved)
            views.append(view)
        session = self.ctx.session
        if session is not None:
            world = session.world
            views.append(session_view(
                world, run_id=f"{world.scenario.name}--{world.profile.name}--keywords",
                title=f"board driven by keywords in the world of {world.scenario.name}",
                artifacts=saved))
        if self.ctx.socket_server is not None:
            views += self.ctx.socket_server.report_views()
        return views

    @keyword()
    def save_report(self, folder: str | None = None) -> str:
        """Writes ``smtp-hil-report.html``, the HTML report ``smtp-hil run --report``
        writes, of what this test ran: every `Run Scenario` (with its verdict, check by
        check), the board the keywords drove (its SMTP dialogue as a sequence diagram,
        the buffer pool and RX ring over virtual time, the TCP segments, the transcript;
        no scenario verdict: the test's assertions are the verdict) and the connections
        of a server on a socket. One self-contained file (no network needed to view it),
        linked in the log; returns its path. `Save Artifacts` writes it too.
        Credentials never appear in it.

        | `Save Report` |
        """
        target = self._folder(folder)
        views = self._views(target)
        if not views:
            raise NotReady("Nothing to report: boot a board, run a scenario or start a "
                           "server on a socket first.")
        name = robot_variable("${TEST NAME}") or robot_variable("${SUITE NAME}") or "runs"
        path = target / REPORT_FILE
        path.write_text(render_report(build_report([], title=f"smtp-hil: {name}",
                                                   views=views)), encoding="utf-8")
        self._link(path, f"HTML report ({len(views)} run(s))")
        return str(path)
