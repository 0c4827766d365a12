"""Test-suite settings: Hypothesis runs derandomized, so every run explores the same
examples and a CI failure reproduces locally with the same command."""

import contextlib
import signal

from hypothesis import settings

settings.register_profile("smtp-hil", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("smtp-hil")


def _let_children_take_ctrl_c() -> None:
    """A suite started with SIGINT ignored (a background job of a shell without job
    control, ``nohup``-style CI steps) would hand that to every program the tests start,
    and the Ctrl-C tests (``test_cli_interrupt.py``) would wait in vain for an exit. An
    ignored signal stays ignored across ``exec``; a handled one is reset to the default,
    so the suite handles SIGINT as Python does by default."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to do
            signal.signal(signal.SIGINT, signal.default_int_handler)


_let_children_take_ctrl_c()
