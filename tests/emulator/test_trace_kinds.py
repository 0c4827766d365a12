"""The trace's closed vocabulary of kinds: refused when unknown, every entry produced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.kernel import Kernel
from emulator.trace import TRACE_KINDS, trace_kind
from stack.host.runtime import HostRuntime
from stack.host.stack import HostStack

ROOT = Path(__file__).parents[2]


def test_the_kernel_refuses_an_unknown_kind_and_records_nothing() -> None:
    kernel = Kernel()
    with pytest.raises(ValueError, match=r"trace kind: 'retransmitted' \(source 'tcp.dev'\)"):
        kernel.emit("tcp.dev", "retransmitted", seq=1)  # type: ignore[arg-type]
    assert len(kernel.trace) == 0


def test_the_kernel_records_every_kind_of_the_vocabulary() -> None:
    kernel = Kernel()
    for kind in sorted(TRACE_KINDS):
        kernel.emit("src", trace_kind(kind))
    assert [r.kind for r in kernel.trace] == sorted(TRACE_KINDS)


def test_trace_kind_checks_a_string_from_outside_the_type_checker() -> None:
    assert trace_kind("tls_established") == "tls_established"
    with pytest.raises(ValueError, match=r"'C' \(source 'server.c1'\) is not one of"):
        trace_kind("C", "server.c1")


def test_a_host_task_logging_an_unknown_kind_is_refused() -> None:
    with HostStack() as stack:
        runtime = HostRuntime(stack)

        def task(ctx):  # type: ignore[no-untyped-def]
            ctx.log("helo")
            yield from ()

        runtime.spawn("t", task)
        with pytest.raises(ValueError, match="trace kind: 'helo'"):
            runtime.run(until=lambda: runtime.done("t"), timeout_s=5)
        assert runtime.log_records == []


def test_every_kind_of_the_vocabulary_is_recorded_somewhere() -> None:
    """A kind nobody records would let a view compare with a record that never comes."""
    texts = [path.read_text(encoding="utf-8")
             for folder in ("emulator", "stack", "smtp", "scenarios", "tests")
             for path in (ROOT / folder).rglob("*.py")
             if path != ROOT / "emulator" / "trace.py" and path != Path(__file__)]
    corpus = "\n".join(texts)
    unused = sorted(k for k in TRACE_KINDS if not re.search(rf"[\"']{k}[\"']", corpus))
    assert not unused, f"kinds of emulator.trace.TraceKind that nothing records: {unused}"
