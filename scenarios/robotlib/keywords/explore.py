"""Exploration keywords: search faults and inputs from a scenario, within a budget.

``Explore Scenario`` runs a bounded exploration (:mod:`scenarios.explore.testing`) with
its shrunk scenario files under ``${OUTPUT DIR}/explore/<test name>/``, links each file
in Robot's log, and fails with the summary and the files' paths when anything broke an
invariant.

This module knows the explorer's report and Robot's logger; nothing of worlds.
"""

from __future__ import annotations

import html
import os

from robot.api import logger

from scenarios.explore.report import ExploreReport
from scenarios.explore.testing import Exploration, ExplorationFailed
from scenarios.robotlib.context import LibraryComponent, keyword, robot_variable
from scenarios.robotlib.keywords.artifacts import slug

EXPLORE_FOLDER = "explore"


class ExploreKeywords(LibraryComponent):
    """A bounded search for the bugs nobody wrote a scenario for."""

    AREA = "explore"

    @keyword()
    def explore_scenario(self, scenario: str, profile: str = "current", budget: int = 200,
                         seed: int = 0, vary: str | None = None,
                         invariants: str | None = None,
                         stop_at_first: bool = False) -> ExploreReport:
        """Explores from ``scenario`` (a catalog name or a file) on release ``profile``
        (or several, comma-separated, or ``all``): ``budget`` schedules, campaign
        ``seed``, changing what ``vary`` names (some of ``server,link,job,device``; all
        by default) and checking ``invariants`` (comma-separated names; the default
        set by default), as ``smtp-hil explore`` does. Returns the report.

        Fails when a schedule broke an invariant, naming each distinct failure and the
        shrunk scenario file written for it (under ``${OUTPUT DIR}/explore/``, linked in
        the log), e.g. _explore found 1 failure: FAIL body cut on 2.4 from pipelining
        ... -> .../explore-pipelining-body_cut-2_4.toml ..._

        | `Explore Scenario` | pipelining | profile=current | budget=200 |
        | `Run Keyword And Expect Error` | *explore-pipelining-body_cut-2_4.toml* | |
        | ... | `Explore Scenario` | pipelining | profile=2.4 | budget=10 | vary=job |
        """
        name = robot_variable("${TEST NAME}") or robot_variable("${SUITE NAME}") or "explore"
        folder = self.ctx.artifacts_root() / EXPLORE_FOLDER / slug(str(name))
        profiles = [p.strip() for p in profile.split(",") if p.strip()]
        report = Exploration(folder)(
            scenario, profiles=profiles, budget=int(budget), seed=int(seed),
            vary=vary.split(",") if vary else None,
            invariants=invariants.split(",") if invariants else None,
            stop_at_first=bool(stop_at_first))
        logger.info("\n".join(report.summary()))
        for path in dict.fromkeys(f.file for f in report.failures if f.file):
            href = os.path.relpath(path, self.ctx.log_dir()).replace(os.sep, "/")
            logger.info(f'shrunk scenario: <a href="{html.escape(href)}">'
                        f'{html.escape(os.path.basename(path))}</a>', html=True)
        if not report.passed:
            raise ExplorationFailed(report)
        return report
