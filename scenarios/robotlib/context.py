"""What the keyword components of :class:`~scenarios.robotlib.SmtpHilLibrary` share.

One :class:`LibraryContext` per library instance (Robot makes one per suite) holds the
device under test and what surrounds it: the scenario whose scripted server was started,
the emulated device (a :class:`~scenarios.session.DeviceSession`: the scenario's world
with a console on a UART), the result of the last whole-scenario run (and every run of
the current test, for its report), a scripted server on a real socket
(:class:`~scenarios.robotlib.socket_server.SocketServer`), and the cursor of device
events already waited for. The components (``keywords/*.py``) read and change it; none
of them holds state of its own except the console connections.

:meth:`LibraryContext.holdings` notes what is set up when a test starts, and
:meth:`LibraryContext.release_since` shuts down what the test set up on top of it (the
library's automatic closing at the end of each test).

Also here: the typed :func:`keyword` decorator (Robot's own is untyped), the component
base class that tags each keyword with its component's area, turning Robot time strings
and numbers into microseconds, and where artifacts go (Robot's ``${OUTPUT DIR}`` when
Robot runs, else the directory the library was given).

This module knows the emulator session, the runner's result and Robot's BuiltIn
variables; it defines no keywords and moves no time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeAlias, TypeVar

from robot.libraries.BuiltIn import (
    BuiltIn,
    RobotNotRunningError,
)
from robot.utils import timestr_to_secs  # type: ignore[import-untyped]

from emulator.units import SECOND, format_us
from scenarios.format import Scenario
from scenarios.robotlib.socket_server import SocketServer
from scenarios.runner import RunResult
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.server.simdriver import SimServer
from scenarios.session import DeviceSession
from scenarios.world import World

Duration: TypeAlias = timedelta | float | str
"""A keyword's time argument: a Robot time string (``10 min``, ``1 hour 3 s``, ``600``),
a number of seconds or a timedelta; :func:`duration_us` reads all three."""

_F = TypeVar("_F", bound=Callable[..., Any])


def keyword(name: str | None = None, tags: Sequence[str] = ()) -> Callable[[_F], _F]:
    """Mark a method as a keyword, as ``robot.api.deco.keyword`` does (but typed)."""

    def mark(func: _F) -> _F:
        func.__dict__["robot_name"] = name
        func.__dict__["robot_tags"] = list(tags)
        return func

    return mark


def duration_us(value: object, field: str) -> int:
    """``value`` (timedelta, seconds, or a Robot time string) as whole microseconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(timestr_to_secs(value))
        except (ValueError, TypeError):
            raise ValueError(f"{field}: expected a time such as '10 min' or '1.5 s', "
                             f"got {value!r}") from None
    else:
        raise ValueError(f"{field}: expected a time such as '10 min' or a number of "
                         f"seconds, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{field}: expected a time >= 0, got {value!r}")
    return round(seconds * SECOND)


def seconds_text(us: int) -> str:
    """``600_000_000`` -> ``"600 s"``; ``1_500`` -> ``"0.0015 s"``."""
    text = format_us(us).rstrip("0").rstrip(".")
    return f"{text} s"


def robot_variable(name: str) -> object | None:
    """A Robot variable (``${OUTPUT DIR}``), or None when Robot is not running."""
    try:
        value: object = BuiltIn().get_variable_value(name)
    except RobotNotRunningError:
        return None
    return value


class NotReady(RuntimeError):
    """A keyword needs something an earlier keyword sets up; the message says which
    (Robot shows the sentence alone, without the class name)."""

    ROBOT_SUPPRESS_NAME = True


@dataclass(frozen=True)
class Holdings:
    """What a library context had set up at one moment (see :meth:`LibraryContext.
    holdings`): compared by identity later, to find what was set up since."""

    scenario: Scenario | None
    session: DeviceSession | None
    result: RunResult | None
    socket_server: SocketServer | None


class LibraryContext:
    """The state one library instance shares between its keyword components."""

    def __init__(self, output_dir: Path | None = None, *, show_secrets: bool = False) -> None:
        self.output_dir = output_dir
        self.show_secrets = show_secrets
        """Credentials in clear in transcripts and saved artifacts (hidden by default)."""
        self.scenario: Scenario | None = None
        self.session: DeviceSession | None = None
        self.result: RunResult | None = None
        self.socket_server: SocketServer | None = None
        self.event_cursor = 0
        self.test_results: list[RunResult] = []
        """Every `Run Scenario` of the current test (of the library's life outside
        Robot), for its report."""

    # ---- the world under test -------------------------------------------------------------
    @property
    def world(self) -> World:
        """The simulated world of the booted board, or of the last scenario run."""
        if self.session is not None:
            return self.session.world
        if self.result is not None and isinstance(self.result.world, World):
            return self.result.world
        if self.result is not None:
            raise NotReady(f"The last `Run Scenario` ran on {self.result.firmware}: the board "
                           f"and artifact keywords read the Python model's world only (the "
                           f"verdict, mailbox and server observation keywords read any run).")
        raise NotReady("No emulated board: boot one with `Boot Emulated Board` "
                       "(or run a whole scenario with `Run Scenario`) first.")

    @property
    def has_world(self) -> bool:
        return self.session is not None or self.result is not None

    def forget_world(self) -> None:
        """Drop the booted board and the last run (a new boot or run replaces them)."""
        if self.session is not None:
            self.session.withdraw()
        self.session = None
        self.result = None
        self.event_cursor = 0

    # ---- what a test set up ------------------------------------------------------------------
    def holdings(self) -> Holdings:
        """What is set up now (the start of a test)."""
        return Holdings(self.scenario, self.session, self.result, self.socket_server)

    def release_since(self, before: Holdings) -> None:
        """Shut down what was set up since ``before``: a board booted or a scenario run
        (the world is forgotten), a socket server started (stopped); the scenario chosen
        then is chosen again. What was there before and is still there stays."""
        if self.socket_server is not before.socket_server and self.socket_server is not None:
            server, self.socket_server = self.socket_server, None
            server.stop()
        if self.session is not before.session or self.result is not before.result:
            self.forget_world()
        self.scenario = before.scenario

    # ---- what the scripted server saw --------------------------------------------------------
    def server_of_world(self) -> SimServer | None:
        """The simulated scripted server of the booted board or of the last run, whatever
        firmware ran it."""
        if self.session is None and self.result is not None:
            world = self.result.world
            return world.server if world is not None else None
        return self.world.server

    def mailbox(self) -> list[ReceivedMail]:
        """The mails the scripted server received in full: the socket server's when one
        runs, else the simulated world's."""
        if self.socket_server is not None:
            return self.socket_server.mailbox()
        server = self.server_of_world()
        return [m for c in (server.connections if server else []) for m in c.engine.mailbox]

    def observations(self) -> list[Observations]:
        """What the scripted server noticed, one record per connection."""
        if self.socket_server is not None:
            return self.socket_server.observations()
        server = self.server_of_world()
        return [c.engine.observations for c in (server.connections if server else [])]

    # ---- where artifacts go ------------------------------------------------------------------
    def artifacts_root(self) -> Path:
        """Robot's ``${OUTPUT DIR}`` when Robot runs, else the library's output dir (or
        the current directory)."""
        robot_dir = robot_variable("${OUTPUT DIR}")
        if isinstance(robot_dir, str) and robot_dir:
            return Path(robot_dir)
        return self.output_dir if self.output_dir is not None else Path.cwd()

    def log_dir(self) -> Path:
        """Where Robot's log file is written (links in the log are relative to it)."""
        log_file = robot_variable("${LOG FILE}")
        if isinstance(log_file, str) and log_file and log_file.upper() != "NONE":
            return Path(log_file).parent
        return self.artifacts_root()


class LibraryComponent:
    """Base of the keyword components: each gets the library's shared context, and names
    its :attr:`AREA`, the tag every one of its keywords carries (``board``, ``server``,
    ``network``, ``console``, ``mailbox``, ``artifacts``), so that ``robot --include
    network`` or the keyword documentation's tag filter finds a whole area."""

    AREA: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.AREA:
            raise TypeError(f"{cls.__name__}: a keyword component names its AREA")
        for member in vars(cls).values():
            if callable(member) and hasattr(member, "robot_name"):
                tags: list[str] = member.__dict__["robot_tags"]
                if cls.AREA not in tags:
                    tags.insert(0, cls.AREA)

    def __init__(self, ctx: LibraryContext) -> None:
        self.ctx = ctx
