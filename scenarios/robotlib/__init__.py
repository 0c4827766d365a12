"""The Robot Framework keyword library of smtp-hil: :class:`SmtpHilLibrary`.

The library is composed of components by area, as robotframework-browser composes its
``keywords/*.py``: board (:mod:`.keywords.board`), scripted server and whole scenarios
(:mod:`.keywords.server`), link faults (:mod:`.keywords.network`), serial consoles
(:mod:`.keywords.console`), the server's mailbox (:mod:`.keywords.mailbox`), artifacts
(:mod:`.keywords.artifacts`) and bounded explorations (:mod:`.keywords.explore`). Each
keyword is a thin, documented method of one component, tagged with its area (``board``,
``server``, ``network``, ``console``, ``mailbox``, ``artifacts``, ``explore``); the
library offers them all through Robot's hybrid API, and Python code can call them as
plain methods (``SmtpHilLibrary().boot_emulated_board(profile="2.4")``), Robot or not.

This module knows the components and Robot's library conventions; the keywords are the
components' business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal, get_args

from scenarios.robotlib.context import Holdings, LibraryComponent, LibraryContext
from scenarios.robotlib.keywords.artifacts import ArtifactKeywords
from scenarios.robotlib.keywords.board import BoardKeywords
from scenarios.robotlib.keywords.console import ConsoleKeywords
from scenarios.robotlib.keywords.explore import ExploreKeywords
from scenarios.robotlib.keywords.mailbox import MailboxKeywords
from scenarios.robotlib.keywords.network import NetworkKeywords
from scenarios.robotlib.keywords.server import ServerKeywords

__all__ = ["SmtpHilLibrary"]
__version__ = "0.1.0"

AutoClosingLevel = Literal["TEST", "SUITE"]
AUTO_CLOSING_LEVELS: Final = get_args(AutoClosingLevel)


class SmtpHilLibrary:
    """Keywords for testing an embedded SMTP client on an emulated board, in virtual time,
    against scripted SMTP servers; and for driving a real board through its console.

    The board runs a model of a commercial embedded SMTP client in one of its releases
    (``1.0``, ``2.0`` ... ``2.5``, or ``current`` with every bug fixed), on a simulated IP
    stack with a finite buffer pool, an RTC and a watchdog. Its scripted server comes from
    a scenario of the catalog (``smtp-hil list``) or a scenario file of your own. Every
    field bug of the client's changelog reproduces on its release.

    = Table of contents =

    %TOC%

    = Importing =

    | *** Settings ***
    | Library    scenarios.robotlib.SmtpHilLibrary

    ``pip install smtp-hil[robot]`` installs the library with Robot Framework. The shared
    keywords of the project's own suites come with it, as a resource file found through
    the module search path:

    | *** Settings ***
    | Resource    scenarios/robotlib/resources/smtp_hil.resource

    = Tests do not leak into each other =

    One library instance serves one suite, and by default
    (``auto_closing_level=TEST``) what a test sets up is shut down when the test ends,
    after its teardown: the board it booted (`Shut Down Emulated Board`), the scenario
    it ran, the server it started on a socket (`Stop Scenario Server`), the consoles it
    opened (`Close Console`), and the scenario it chose. What a suite setup set up stays
    for every test of the suite. So each test can start its own scenario server and boot
    its own board, with no teardown:

    | *** Test Cases *** | | |
    | First | `Start Scenario Server` | starttls |
    | | `Boot Emulated Board` | profile=current |
    | Second | `Start Scenario Server` | blank-line-truncation |
    | | `Boot Emulated Board` | profile=2.4 |

    ``auto_closing_level=SUITE`` keeps everything until the suite ends (a board booted in
    one test is still booted in the next; shut it down with `Shut Down Emulated Board`).

    = Time =

    Time moves *only* inside keywords that say so, and on the emulated board it is
    *virtual time*: `Wait For Device Event` with ``timeout=10 min`` runs the board, the
    network and the server until the event comes or ten virtual minutes have passed,
    in milliseconds of wall time. The other keywords that move time are `Let Virtual Time
    Pass`, `No Outcome Should Be Reported Within`, `Pool Should Return To Full`, `Wait
    Until Mailbox Has` and, on a ``hil://`` console, `Wait For Console Line`. Nothing
    sleeps on the wall clock in a simulated run, and the same test gives the same trace
    on every run.

    Time arguments are Robot times: ``10 min``, ``1 hour 30 s``, ``1.5`` (seconds).

    = Areas =

    Every keyword carries the tag of its area (``board``, ``server``, ``network``,
    ``console``, ``mailbox``, ``artifacts``, ``explore``): the keyword documentation
    filters by tag.

    == Board ==

    `Boot Emulated Board` with a release profile, a pool size and an RTC setting; `Send
    Mail`, `Send VRFY`, `Send ETRN`, `Send Scenario Job`; `Wait For Device Event`; the RTC
    (`Set Board RTC`, `Unset Board RTC`, `Get Board RTC`); the IP buffer pool and the
    watchdog (`Get Pool Statistics`, `Pool Should Never Have Run Dry`, `Pool Should
    Return To Full`, `Watchdog Should Not Have Reset The Board`).

    == Server and scenarios ==

    `Start Scenario Server` starts a scenario's scripted server: *simulated*, in the
    board's world (start it before booting the board), or on a real *socket* of this
    machine for a real board or client program. `Run Scenario` runs a scenario whole, as
    ``smtp-hil run`` does, and `Scenario Should Pass` / `Scenario Should Fail` check its
    verdict. `Server Should Have Observed` and friends check what the server noticed of
    the client (pipelining, TLS, AUTH in plaintext, EHLO names ...).

    == Network ==

    The link's fault verbs, named as in scenario files: `Drop Nth`, `Drop After`, `Inject
    Rst`, `Hold` and `Release` (`Release All Holds`), `Partition` and `Repair` (`Repair All
    Partitions`), `Set Loss`. `Hold` and `Partition` go by pairs of sides (``src`` to
    ``dst``) and return a number; `Release` and `Repair` end the one they name, and only it.

    == Console ==

    `Open Console` by pyserial URL: ``hil://NAME`` for the emulated board (published with
    `Boot Emulated Board` ``console=NAME``), ``socket://host:port`` for Renode or a serial
    bridge, or a real port. `Write Console Line`, `Wait For Console Line` (a regular
    expression, within a timeout on the port's clock), `Run Console Command`, `Get Console
    Fields`. A suite using only these runs unchanged against a real board.

    == Mailbox ==

    What the scripted server received: `Mail Count Should Be`, `Mail Body Should Be`,
    `Mail Should Have Header`, `Mail Header Should Be`, `Mail Recipients Should Be`,
    `Mail Attachments Should Be` ... Mails are numbered from 1.

    == Artifacts ==

    `Save Artifacts` writes the transcript, the trace, a pcap, the TLS key log and the
    HTML report of the test's runs under ``${OUTPUT DIR}/artifacts/<test name>/`` and
    links them in the log (`Save Report` writes only the report); `Transcript Should
    Contain` checks the SMTP dialogue.

    == Explore ==

    `Explore Scenario` searches faults and inputs from a scenario within a budget, as
    ``smtp-hil explore`` does, and fails naming the shrunk scenario file of each failure
    it finds (written under ``${OUTPUT DIR}/explore/<test name>/`` and linked in the log).

    = Assertions =

    Keywords named ``... Should ...`` fail with a sentence a tester can act on, e.g.
    _The body of mail 1 is not the one sent: server received 9 of 23 body bytes: the body
    was cut at the first blank line_. A release's known bug is shown by expecting
    that failure:

    | `Run Keyword And Expect Error` | *cut at the first blank line* |
    | ... | `Mail Body Should Be` | ${BODY} |

    Flags are real Robot booleans: ``payload_only=${TRUE}``.

    = Examples =

    A changelog fix (2.5: "Truncated messages that contained blank line"):

    | `Start Scenario Server` | blank-line-truncation | | |
    | `Boot Emulated Board` | profile=current | | |
    | `Send Mail` | pump7@example.com | ops@example.net | body=Report.\\n\\nAll nominal. |
    | `Wait For Device Event` | sent | timeout=10 min | |
    | `Mail Body Should Be` | Report.\\n\\nAll nominal. | | |
    | `Save Artifacts` | | | |

    A hang in virtual time (the known TLS timeout issue of 2.0 to 2.5):

    | `Start Scenario Server` | silent-server-under-tls | |
    | `Boot Emulated Board` | profile=2.5 | |
    | `Send Scenario Job` | | |
    | `No Outcome Should Be Reported Within` | 1 hour | |

    The console, emulated or real:

    | `Open Console` | ${CONSOLE_URL} | |
    | `Write Console Line` | smtp send --from a@example.com --to b@example.net --body hi | |
    | `Wait For Console Line` | ^SMTP: sent 250 | timeout=10 min |
    """

    ROBOT_LIBRARY_SCOPE = "SUITE"
    ROBOT_LIBRARY_VERSION = __version__
    ROBOT_LIBRARY_DOC_FORMAT = "ROBOT"

    def __init__(self, output_dir: str | None = None, show_secrets: bool = False,
                 auto_closing_level: AutoClosingLevel = "TEST") -> None:
        """``output_dir`` is where artifacts go when Robot is not running (Python use);
        under Robot they go to ``${OUTPUT DIR}``. Credentials (AUTH payloads, the LOGIN
        lines) are hidden in transcripts and saved artifacts (``AUTH PLAIN <credentials
        hidden, 28 bytes>``, ``*`` in the trace lines and the pcap) unless
        ``show_secrets`` is true. ``auto_closing_level``: ``TEST`` (default) shuts down
        what a test set up when it ends, ``SUITE`` keeps it until the suite ends (see
        `Tests do not leak into each other`).

        | Library | scenarios.robotlib.SmtpHilLibrary | |
        | Library | scenarios.robotlib.SmtpHilLibrary | show_secrets=${TRUE} |
        | Library | scenarios.robotlib.SmtpHilLibrary | auto_closing_level=SUITE |
        """
        level = str(auto_closing_level).upper()
        if level not in AUTO_CLOSING_LEVELS:
            raise ValueError(f"auto_closing_level: expected one of "
                             f"{', '.join(AUTO_CLOSING_LEVELS)}, got {auto_closing_level!r}")
        self.auto_closing_level = level
        self._held: tuple[Holdings, frozenset[str]] | None = None
        self.ctx = LibraryContext(Path(output_dir) if output_dir is not None else None,
                                  show_secrets=show_secrets)
        self.board = BoardKeywords(self.ctx)
        self.server = ServerKeywords(self.ctx)
        self.network = NetworkKeywords(self.ctx)
        self.console = ConsoleKeywords(self.ctx)
        self.mailbox = MailboxKeywords(self.ctx)
        self.artifacts = ArtifactKeywords(self.ctx)
        self.explore = ExploreKeywords(self.ctx)
        components: list[LibraryComponent] = [self.board, self.server, self.network,
                                              self.console, self.mailbox, self.artifacts,
                                              self.explore]
        self._keywords: dict[str, Any] = {}
        for component in components:
            for name in dir(type(component)):
                method = getattr(component, name)
                if callable(method) and hasattr(method, "robot_name"):
                    if name in self._keywords:
                        raise TypeError(f"keyword method {name} defined twice")
                    self._keywords[name] = method
        self.ROBOT_LIBRARY_LISTENER = self
        self.ROBOT_LISTENER_API_VERSION = 3

    # ---- Robot's hybrid library API -------------------------------------------------------
    def get_keyword_names(self) -> list[str]:
        return sorted(self._keywords)

    def __getattr__(self, name: str) -> Any:
        keywords = self.__dict__.get("_keywords", {})
        if name in keywords:
            return keywords[name]
        raise AttributeError(f"{type(self).__name__} has no keyword or attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_keywords", {})))

    # ---- listener: what a test set up ends with it; clean up when the suite ends --------------
    def start_test(self, data: Any, result: Any) -> None:
        """Robot listener (API 3): note what the suite has set up; the test's report
        starts empty."""
        self.ctx.test_results.clear()
        self._held = (self.ctx.holdings(), frozenset(self.console.open_aliases()))

    def end_test(self, data: Any, result: Any) -> None:
        """Robot listener (API 3), after the test's teardown: with ``auto_closing_level``
        ``TEST``, shut down what the test set up."""
        held, self._held = self._held, None
        if held is None or self.auto_closing_level != "TEST":
            return
        holdings, consoles = held
        for alias in self.console.open_aliases():
            if alias not in consoles:
                self.console.close_console(alias)
        self.ctx.release_since(holdings)
        self.ctx.test_results.clear()

    def close(self) -> None:
        """Closes consoles, stops a socket server and withdraws the board's console URL
        (Robot calls it when the library goes out of scope)."""
        self.console.close_all_consoles()
        self.server.stop_scenario_server()
        self.ctx.forget_world()
