"""Everything that builds, runs, judges and fronts a scenario: the top layer.

The scenario file format (:mod:`.format`) and its catalog (:mod:`.catalog`); the
scripted SMTP servers (:mod:`.server`: a sans-I/O engine and its simulated and asyncio
drivers); building a run's world (:mod:`.world`, :mod:`.cworld`, :mod:`.session`),
running it (:mod:`.runner`) and judging what it observed (:mod:`.record`,
:mod:`.verdict`); the views of the results (artifacts, JUnit, golden hashes, the HTML
report); and the front doors: the command line (:mod:`.cli`), the pytest plugin, the
Robot library (:mod:`.robotlib`) and what runs against real clients (:mod:`.outside`).
``ARCHITECTURE.md`` at the top of the repository says what goes where.

Inside a simulated run nothing reads the wall clock, the OS random generator or OS
sockets: the kernel owns time and randomness. Only the runner's wall-time figure and the
modules that face the real world (:mod:`.outside`, the asyncio driver, ``send``) read
the host clock or use OS sockets.
"""
