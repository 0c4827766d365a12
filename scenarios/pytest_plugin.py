"""The pytest plugin: a team's own scenario tests, run against a chosen release.

Registered through the ``pytest11`` entry point (``smtp_hil``), so installing the project
is enough. It adds options, ini settings, four fixtures and a marker:

- ``--hil-profile NAME`` (or the ini setting ``hil_profile``; default ``current``) and
  ``--hil-seed N`` (ini ``hil_seed``; default 0): the release and seed every run of the
  session uses unless a test says otherwise; the session-scoped fixtures ``hil_profile``
  and ``hil_seed`` hold them. ``--hil-profile all`` (or ``2.4,current``, a list) runs
  every test that uses ``hil_profile`` (``hil_run``, ``hil_board`` and ``hil_server``
  do) once per release, in one pytest run: ``test_x[2.4]``, ``test_x[current]``. A
  test can do the same for itself with ``@pytest.mark.parametrize("hil_profile",
  HIL_PROFILES)``.
- ``@pytest.mark.hil_reproduces("blank-line-truncation")``: the catalog says the named
  scenarios fail on some releases (``reproduces``); on those releases the test is an
  expected failure (``xfail``, strict: a pass there fails the test), with the changelog
  line as the reason; on the others it must pass.
- ``--hil-firmware model|lwip|PATH.so``: the firmware ``hil_run`` runs on (the
  ``hil_firmware`` fixture; :mod:`scenarios.pytest_firmware`).
- ``--hil-show-secrets``: credentials in clear in the artifacts and failure texts
  (hidden by default, as in every view of :mod:`scenarios.artifacts`).
- ``hil_run``: runs a scenario by catalog name, by path, or from TOML text
  (``hil_run(scenario_text=...)``) and returns the :class:`~scenarios.runner.RunResult`;
  ``firmware="lwip"`` runs it on lwIP (a scenario lwIP cannot run skips the test).
- ``hil_board``: a fresh emulated board with its SMTP firmware, a link and a server host
  in virtual time (:class:`HilBoard`); nobody listens yet.
- ``hil_server``: puts a scripted server on ``hil_board``'s server host, built from a
  ``ServerConfig``, a scenario name or path, or the default correct server.
- ``hil_explore``: a bounded exploration (:mod:`scenarios.explore.testing`):
  ``hil_explore("pipelining", budget=200)`` returns the report, its shrunk files under
  the test's temporary directory; ``assert_nothing_found(report)`` fails the test with
  the summary and the top of each shrunk file.

:func:`assert_passed` fails a test with the verdict's reasons and the last lines of the
transcript. When a test that ran scenarios fails, the artifacts of its runs (transcript,
trace, pcap, result JSON) are written under pytest's temporary directory; their paths
go into the assertion message, into a report section, into the test report's
``user_properties`` (``smtp-hil artifacts``: JUnit XML shows them as properties) and
into the terminal summary, which is made from the reports, so it survives ``pytest -n``
(pytest-xdist: the reports come back from the workers).

Pytest loads this plugin in every session of every project that has smtp-hil installed,
so it imports the simulation only when a fixture or a failure needs it: importing this
module takes about 5 ms, importing the runner, the world and the artifacts about 500 ms
more (measured with ``python -X importtime``); hence the imports inside functions.

This module knows pytest, the runner, the world builder and the artifacts; it judges
nothing itself (the verdict is :mod:`scenarios.verdict`'s).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from emulator.units import MINUTE
from scenarios.pytest_firmware import add_firmware_option, check_firmware_option, run_on_firmware
from scenarios.pytest_firmware import hil_firmware as hil_firmware  # the fixture, registered
from smtp.profiles import PROFILE_NAMES, check_profile_name

if TYPE_CHECKING:
    from emulator.board import Board
    from emulator.firmware import SmtpFirmware, TimedEvent
    from emulator.kernel import Kernel
    from scenarios.explore.report import ExploreReport
    from scenarios.explore.testing import Exploration
    from scenarios.format import Scenario
    from scenarios.runner import RunResult
    from scenarios.server.rules import ServerConfig
    from scenarios.server.simdriver import SimServer
    from scenarios.world import World
    from smtp.jobs import Job
    from stack.link import Link
    from stack.simhost import SimHost

#: How many transcript lines an assertion failure shows.
TRANSCRIPT_TAIL = 15
#: Every release, oldest first: ``@pytest.mark.parametrize("hil_profile", HIL_PROFILES)``.
HIL_PROFILES = PROFILE_NAMES
#: ``--hil-profile all``.
ALL = "all"
#: The name of the user property that carries a failing test's artifacts folder.
ARTIFACTS_PROPERTY = "smtp-hil artifacts"
MARKER = "hil_reproduces"

_BENCH_SCENARIO = '''
[scenario]
name = "hil-bench"
title = "A board, a link and a server host; nobody listens until a test adds a server"

[server]
listen = false

[job]
from = "device@example.com"
to = ["ops@example.net"]

[expect]
event = "sent"
'''


# ----------------------------------------------------------------------------------------
# Failures


class ScenarioFailed(AssertionError):
    """A run's verdict was fail; the message has the reasons and the transcript's end."""

    def __init__(self, result: RunResult, *, show_secrets: bool = False) -> None:
        super().__init__(failure_text(result, show_secrets=show_secrets))
        self.result = result

    def add_artifacts(self, path: Path) -> None:
        self.args = (f"{self.args[0]}\nartifacts: {path}",)

    def show_secrets(self) -> None:
        """The message again, credentials in clear (``--hil-show-secrets``)."""
        self.args = (failure_text(self.result, show_secrets=True),)


def failure_text(result: RunResult, *, show_secrets: bool = False) -> str:
    """The verdict's reasons and the last :data:`TRANSCRIPT_TAIL` transcript lines
    (credentials hidden unless ``show_secrets``)."""
    # start-up: imported when used (see the module docstring)
    from scenarios.artifacts import transcript_lines

    head = (f"scenario {result.scenario.name} "
            f"{'passed' if result.passed else 'failed'} on {_ran_on(result)} "
            f"(seed {result.seed})")
    reasons = "\n".join(f"  {reason}" for reason in result.verdict.reasons) or "  as expected"
    tail = transcript_lines(result.trace,
                            show_secrets=show_secrets)[-TRANSCRIPT_TAIL:]
    shown = "\n".join(f"  {line}" for line in tail) or "  (nothing was said)"
    return f"{head}:\n{reasons}\nlast {len(tail)} transcript lines:\n{shown}"


def _ran_on(result: RunResult) -> str:
    """The release, or the C firmware that ran instead of the model."""
    return result.profile if result.firmware == "model" else result.firmware


def assert_passed(result: RunResult, *, show_secrets: bool = False) -> None:
    """Fail the test unless the run's verdict is pass (raises :class:`ScenarioFailed`;
    its transcript lines show credentials only with ``show_secrets``)."""
    __tracebackhide__ = True
    if not result.passed:
        raise ScenarioFailed(result, show_secrets=show_secrets)


# ----------------------------------------------------------------------------------------
# Running scenarios


class HilRunner:
    """The ``hil_run`` fixture: ``hil_run("name")``, ``hil_run(path)`` or
    ``hil_run(scenario_text=...)``; ``profile=``, ``seed=`` and ``firmware=`` override
    the options."""

    def __init__(self, profile: str, seed: int, artifacts_root: Path, *,
                 show_secrets: bool = False, firmware: str | None = None) -> None:
        self.profile = profile
        self.seed = seed
        self.firmware = firmware
        self.artifacts_root = artifacts_root
        self.show_secrets = show_secrets
        self.results: list[RunResult] = []
        self.written: dict[int, Path] = {}

    def __call__(self, scenario: str | Path | Scenario | None = None, *,
                 scenario_text: str | None = None, profile: str | None = None,
                 seed: int | None = None, firmware: str | None = None) -> RunResult:
        __tracebackhide__ = True
        result = run_on_firmware(self.load(scenario, scenario_text),
                                 self.profile if profile is None else profile,
                                 self.seed if seed is None else seed,
                                 self.firmware if firmware is None else firmware)
        self.results.append(result)
        return result

    @staticmethod
    def load(scenario: str | Path | Scenario | None, scenario_text: str | None) -> Scenario:
        # start-up: imported when used (see the module docstring)
        from scenarios.format import Scenario, parse_scenario
        from scenarios.runner import resolve_scenario

        if (scenario is None) == (scenario_text is None):
            raise ValueError("hil_run: expected a scenario name or path, or scenario_text=, "
                             "not both and not neither")
        if scenario_text is not None:
            return parse_scenario(scenario_text, source="<scenario_text>")
        if isinstance(scenario, Scenario):
            return scenario
        if isinstance(scenario, str | Path):
            return resolve_scenario(str(scenario))
        raise ValueError(f"hil_run: expected a scenario name, a path or a Scenario, "
                         f"got {type(scenario).__name__}")

    def write_artifacts(self, result: RunResult) -> Path:
        """The run's artifacts under this test's temporary directory (once per run)."""
        # start-up: imported when used (see the module docstring)
        from scenarios.artifacts import run_dirname, write_artifacts

        key = id(result)
        if key not in self.written:
            taken = {path.name for path in self.written.values()}
            folder = self.artifacts_root
            if run_dirname(result) in taken:  # the same run twice: keep both
                folder = folder / f"run{len(self.written) + 1}"
            self.written[key] = write_artifacts(result, folder,
                                                show_secrets=self.show_secrets)
        return self.written[key]


# ----------------------------------------------------------------------------------------
# A bare board and a scripted server


@dataclass
class HilBoard:
    """A fresh emulated board (SMTP firmware on the given release), a link and a server
    host at virtual time 0. ``world`` is the same wiring the runner uses."""

    world: World
    servers: list[SimServer] = field(default_factory=list)

    @classmethod
    def build(cls, profile: str = "current", seed: int = 0, *, sections: str = "") -> HilBoard:
        """``sections`` is extra scenario TOML, e.g. ``[device]`` or ``[link]`` tables."""
        # start-up: imported when used (see the module docstring)
        from scenarios.format import parse_scenario
        from scenarios.world import build_world

        scenario = parse_scenario(_BENCH_SCENARIO + sections, source="<hil_board>")
        return cls(build_world(scenario, profile, seed))

    @property
    def kernel(self) -> Kernel:
        return self.world.kernel

    @property
    def board(self) -> Board:
        return self.world.board

    @property
    def link(self) -> Link:
        return self.world.link

    @property
    def firmware(self) -> SmtpFirmware:
        return self.world.firmware

    @property
    def server_host(self) -> SimHost:
        return self.world.server_host

    def submit(self, job: Job) -> None:
        self.firmware.submit(job)

    def run_until_done(self, limit_us: int = 30 * MINUTE) -> TimedEvent | None:
        """Run virtual time until the client reports a terminal event (or ``limit_us``)."""
        firmware = self.firmware
        self.kernel.run(until_us=limit_us, stop=lambda: bool(firmware.terminal_events))
        return firmware.terminal_events[0] if firmware.terminal_events else None

    def transcript(self, *, show_secrets: bool = False) -> list[str]:
        # start-up: imported when used (see the module docstring)
        from scenarios.artifacts import transcript_lines

        return transcript_lines(self.kernel.trace.records, show_secrets=show_secrets)

    def add_server(self, source: ServerConfig | str | Path | None = None, *,
                   port: int | None = None) -> SimServer:
        """A scripted server listening on the server host (see the ``hil_server`` fixture).
        Several servers (on different ports) share one transcript."""
        # start-up: imported when used (see the module docstring)
        from scenarios.server.rules import ServerConfig
        from scenarios.server.simdriver import SimServer
        from scenarios.world import server_tls

        scenario = self.world.scenario
        if source is None:
            config = ServerConfig()
        elif isinstance(source, ServerConfig):
            config = source
        else:
            scenario = HilRunner.load(source, None)
            config = scenario.server_config()
        server = SimServer(self.kernel, self.server_host, config,
                           port=scenario.server.port if port is None else port,
                           tls=server_tls(scenario), clock_start=scenario.server.clock)
        self.servers.append(server)
        if self.world.server is None:
            self.world.server = server
        return server


# ----------------------------------------------------------------------------------------
# Options, fixtures and reporting

_RUNNER = pytest.StashKey[HilRunner]()
_PROFILES = pytest.StashKey[tuple[str, ...]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smtp-hil", "smtp-hil scenarios")
    group.addoption("--hil-profile", default=None, metavar="RELEASE",
                    help="release profile the scenarios run on: a release, a comma-separated "
                         "list or 'all' (each test once per release); default: the "
                         "hil_profile ini setting, else current")
    group.addoption("--hil-seed", default=None, type=int, metavar="N",
                    help="seed of every run's kernel (default: the hil_seed ini setting, "
                         "else 0)")
    group.addoption("--hil-show-secrets", action="store_true",
                    help="credentials in clear in the artifacts and failure texts of "
                         "failing tests (hidden by default)")
    add_firmware_option(group, parser)
    parser.addini("hil_profile", default="current",
                  help="smtp-hil: the release profile (or list, or 'all') of the session")
    parser.addini("hil_seed", default="0", help="smtp-hil: the seed of every run's kernel")


def profiles_of(setting: str) -> tuple[str, ...]:
    """``all``, ``2.4`` or ``2.4,current`` as release names (ValueError naming an unknown
    one)."""
    if setting.strip() == ALL:
        return tuple(PROFILE_NAMES)
    names = tuple(part.strip() for part in setting.split(",") if part.strip())
    if not names:
        raise ValueError(f"expected a release, a comma-separated list or 'all', "
                         f"got {setting!r}")
    return tuple(check_profile_name(name) for name in names)


def _seed(config: pytest.Config) -> int:
    option = config.getoption("hil_seed")
    return int(option if option is not None else config.getini("hil_seed"))


def pytest_configure(config: pytest.Config) -> None:
    option = config.getoption("hil_profile")
    where = "--hil-profile" if option is not None else "hil_profile (ini)"
    try:
        config.stash[_PROFILES] = profiles_of(str(option if option is not None
                                                  else config.getini("hil_profile")))
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    try:
        if _seed(config) < 0:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(f"hil_seed: expected an integer >= 0, got "
                                f"{config.getini('hil_seed')!r}") from None
    check_firmware_option(config)
    config.pluginmanager.register(ArtifactsSummary(), "smtp-hil-artifacts-summary")
    config.addinivalue_line(
        "markers", f"{MARKER}(*scenarios): the named catalog scenarios (or scenario files) "
                   "fail on some releases (their 'reproduces'); on those the test is an "
                   "expected failure (xfail, strict). smtp-hil's pytest plugin.")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per release when the session asks for several (``--hil-profile all``)."""
    profiles = metafunc.config.stash.get(_PROFILES, ("current",))
    if len(profiles) < 2 or "hil_profile" not in metafunc.fixturenames:
        return
    if any("hil_profile" in _argnames(mark)
           for mark in metafunc.definition.iter_markers("parametrize")):
        return  # the test chose its releases itself
    metafunc.parametrize("hil_profile", profiles, scope="session")


def _argnames(mark: pytest.Mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


def _item_profile(item: pytest.Item) -> str | None:
    """The release ``item`` runs on: its parameter, else the session's one release."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "hil_profile" in callspec.params:
        return str(callspec.params["hil_profile"])
    profiles = item.config.stash[_PROFILES]
    return profiles[0] if len(profiles) == 1 else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``hil_reproduces``: an expected failure on the releases the scenarios fail on."""
    for item in items:
        marks = list(item.iter_markers(MARKER))
        if not marks:
            continue
        names = [str(name) for mark in marks for name in mark.args]
        if not names:
            raise pytest.UsageError(f"{item.nodeid}: {MARKER} names no scenario")
        if "hil_profile" not in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: {MARKER} needs the test to use "
                                    f"hil_profile (or hil_run, hil_board, hil_server)")
        profile = _item_profile(item)
        if profile is None:
            continue
        lines = _reproduced_on(item.nodeid, names, profile)
        if lines:
            item.add_marker(pytest.mark.xfail(
                strict=True, reason=f"reproduces on {profile}: {'; '.join(lines)}"))


def _reproduced_on(nodeid: str, names: list[str], profile: str) -> list[str]:
    """The changelog lines by which ``names`` fail on ``profile`` (none: it must pass)."""
    # start-up: imported when used (see the module docstring)
    from emulator.userinput import UserInputError
    from scenarios.runner import resolve_scenario

    lines = []
    for name in names:
        try:
            scenario = resolve_scenario(name)
        except UserInputError as exc:
            raise pytest.UsageError(f"{nodeid}: {MARKER}: {'; '.join(exc.problems)}") from None
        lines += [entry.changelog for entry in scenario.reproduces if profile in entry.profiles]
    return lines


@pytest.fixture(scope="session")
def hil_profile(request: pytest.FixtureRequest) -> str:
    """The release given with ``--hil-profile`` or the ``hil_profile`` ini setting
    (default ``current``); one test per release when several are given."""
    profiles = request.config.stash[_PROFILES]
    return profiles[0]


@pytest.fixture(scope="session")
def hil_seed(request: pytest.FixtureRequest) -> int:
    """The seed given with ``--hil-seed`` or the ``hil_seed`` ini setting (default 0)."""
    return _seed(request.config)


@pytest.fixture
def hil_run(request: pytest.FixtureRequest, hil_profile: str, hil_seed: int,
            hil_firmware: str | None, tmp_path: Path) -> Iterator[HilRunner]:
    """Run a scenario by name, path or ``scenario_text=``; returns the RunResult."""
    runner = HilRunner(hil_profile, hil_seed, tmp_path / "smtp-hil",
                       show_secrets=bool(request.config.getoption("hil_show_secrets")),
                       firmware=hil_firmware)
    request.node.stash[_RUNNER] = runner
    yield runner
    del request.node.stash[_RUNNER]


@pytest.fixture
def hil_board(hil_profile: str, hil_seed: int) -> HilBoard:
    """A fresh emulated board, link and server host in virtual time (see HilBoard)."""
    return HilBoard.build(hil_profile, hil_seed)


@pytest.fixture
def hil_explore(hil_profile: str, tmp_path: Path) -> Exploration:
    """A bounded exploration on ``--hil-profile`` (see Exploration)."""
    # start-up: imported when used (see the module docstring)
    from scenarios.explore.testing import Exploration

    return Exploration(tmp_path / "smtp-hil-explore", hil_profile)


def assert_nothing_found(report: ExploreReport) -> None:
    """Fail the test, naming each shrunk file, when an exploration found failures."""
    __tracebackhide__ = True
    # start-up: imported when used (see the module docstring)
    from scenarios.explore.testing import assert_nothing_found as check

    check(report)


class ServerFactory:
    """The ``hil_server`` fixture: ``hil_server()`` (a correct server),
    ``hil_server("starttls")`` (a scenario's server), ``hil_server(ServerConfig(...))``."""

    def __init__(self, bench: HilBoard) -> None:
        self.bench = bench

    def __call__(self, source: ServerConfig | str | Path | None = None, *,
                 port: int | None = None) -> SimServer:
        return self.bench.add_server(source, port=port)


@pytest.fixture
def hil_server(hil_board: HilBoard) -> ServerFactory:
    """Puts a scripted server on ``hil_board``'s server host."""
    return ServerFactory(hil_board)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    runner = item.stash.get(_RUNNER, None)
    failed = (call.when == "call" and call.excinfo is not None
              and not call.excinfo.errisinstance(pytest.skip.Exception))
    if runner is None or not failed or not runner.results:
        return (yield)
    error = call.excinfo.value if call.excinfo is not None else None
    lines: list[str] = []
    written: list[str] = []
    for result in runner.results:
        what = (f"{'pass' if result.passed else 'FAIL'} {result.scenario.name} "
                f"[{_ran_on(result)} seed {result.seed}]")
        try:
            path = runner.write_artifacts(result)
        except Exception as exc:  # a broken view must not hide the test's own failure
            lines.append(f"{what}: artifacts not written: {type(exc).__name__}: {exc}")
            continue
        lines.append(f"{what}: {path}")
        written.append(str(path))
        if isinstance(error, ScenarioFailed) and error.result is result:
            if runner.show_secrets:
                error.show_secrets()
            error.add_artifacts(path)
    described = {id(error.result)} if isinstance(error, ScenarioFailed) else set()
    details = [failure_text(r, show_secrets=runner.show_secrets) for r in runner.results
               if not r.passed and id(r) not in described]
    report = yield
    report.sections.append(("smtp-hil artifacts", "\n".join(lines + details)))
    if not hasattr(report, "wasxfail"):  # an expected failure is not a failing test
        found = [(ARTIFACTS_PROPERTY, path) for path in written]
        report.user_properties.extend(found)  # the summary's
        item.user_properties.extend(found)  # the teardown report's: JUnit XML reads those
    return report


class ArtifactsSummary:
    """Collects the artifacts of failing tests from the test reports and prints them at
    the end. Under ``pytest -n`` the reports come back from the workers, and the hooks
    run in the controller, where the summary is printed."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.written += [(report.nodeid, str(value))
                             for name, value in report.user_properties
                             if name == ARTIFACTS_PROPERTY]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.written:
            return
        terminalreporter.section("smtp-hil artifacts of failing tests")
        for nodeid, path in self.written:
            terminalreporter.line(f"{nodeid}: {path}")
