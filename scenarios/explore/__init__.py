"""``smtp-hil explore``: search faults and inputs, check invariants, shrink what breaks.

Exploration is a loop around the runner, not a second runner: it mutates starting
scenarios (server rules, link faults, the job, the device), runs each schedule through
the same world as ``smtp-hil run``, judges it with the invariants every run must keep
(:mod:`scenarios.verdict.invariants`, shared with the verdicts), and shrinks a failing
schedule back to an ordinary scenario file whose ``[expect]`` says what a correct client
does.

The modules: ``start`` (starting points), ``mutations`` and ``space`` (the search space
and how each change shrinks), ``schedule`` (schedule *i* from its address alone),
``loop`` (running and judging one schedule; signatures), ``executors`` (this process,
local processes, a Dask cluster), ``shrink`` (ddmin, values, the kernel seed),
``examine`` (shrink, bisect, write, run again), ``writer`` (the scenario file),
``report`` (what was found) and ``explorer`` (:func:`explore`, the public entry).

Use it from Python::

    from scenarios.explore import explore

    report = explore(["pipelining", "my-device.toml"], profiles=["2.0"], budget=500,
                     seed=0, vary={"server", "link"}, jobs=2, out="explore-out/")
    report.failures        # one ExploreFailure per distinct failure, with its file
    report.notes           # Counter of what could not be judged (the third outcome, ...)
    print("\\n".join(report.summary()))
"""

from scenarios.explore.explorer import Progress, explore
from scenarios.explore.loop import Signature
from scenarios.explore.mutations import DIMENSIONS, Mutation
from scenarios.explore.report import ExploreFailure, ExploreReport, merge
from scenarios.explore.space import GENERATOR_VERSION
from scenarios.explore.start import StartPoint, load_start

__all__ = ["DIMENSIONS", "GENERATOR_VERSION", "ExploreFailure", "ExploreReport", "Mutation",
           "Progress", "Signature", "StartPoint", "explore", "load_start", "merge"]
