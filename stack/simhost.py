"""A server-side simulated host: a TCP stack wired straight to the link.

Unlike the emulated board there is no super-loop, no NIC ring and no watchdog: a frame
the link delivers takes an ``rx`` buffer from the host's pool and goes into the stack at
once, and the stack's timers are kernel timers. The pool is unbounded unless one is
given (same accounting, so leak checks still work; it is not traced by default).

This module knows the link, the pool and the stack; nothing about what runs on top.
"""

from __future__ import annotations

from typing import Any

from emulator.kernel import Kernel
from stack.link import Link, check_ipv4
from stack.pool import BufferPool
from stack.segment import Segment
from stack.tcp import TcpStack
from stack.timers import KernelTimers


class SimHost:
    """A host on ``link`` at ``ip`` with its own :class:`TcpStack` (``.stack``)."""

    def __init__(self, kernel: Kernel, *, name: str, ip: str, link: Link,
                 pool: BufferPool | None = None, **tcp_options: Any) -> None:
        check_ipv4("ip", ip)
        if not isinstance(link, Link):
            raise ValueError(f"link: expected a Link, got {type(link).__name__}")
        self.kernel = kernel
        self.name = name
        self.ip = ip
        self.link = link
        self.pool = pool if pool is not None else BufferPool(
            kernel, count=None, name=f"{name}.pool", traced=False)
        self.timers = KernelTimers(kernel)
        self.stack = TcpStack(kernel, name=name, ip=ip, pool=self.pool, timers=self.timers,
                              **tcp_options)
        self.port = link.attach(ip, self._receive)
        self.stack.attach(self.port.transmit)

    def _receive(self, segment: Segment) -> None:
        buffer = self.pool.alloc("rx")
        if buffer is None:
            self.pool.count_drop(f"{segment.src_ip}:{segment.src_port} seq {segment.seq}")
            return
        self.stack.input(segment, buffer)

    def __repr__(self) -> str:
        return f"<SimHost {self.name} {self.ip}>"
