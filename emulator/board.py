"""The emulated board: NIC RX ring, cooperative super-loop, tasks and a watchdog.

The board owns the device's buffer pool, RTC and IP stack. Its super-loop runs only when
something is due, so idle time costs nothing. One pass of the loop does, in this order:

1. stack input: every frame waiting in the NIC RX ring goes to the stack;
2. timers: every stack timer that has expired runs;
3. tasks: every runnable task is resumed once, in the order the tasks were spawned.

A pass that leaves work behind (a task woke another, a timer re-armed at zero) schedules
the next pass at the same instant. The NIC's receive interrupt runs whenever a frame
arrives, even while a task holds the CPU: it takes a pool buffer for the frame (the frame
is dropped and counted when none is free) and puts it in the RX ring.

A task that yields :class:`~stack.api.BusyWait` holds the CPU: no pass runs until its
condition holds, so stack input, timers and other tasks starve. The loop kicks the
watchdog on every pass; an idle loop spins and kicks constantly, so the watchdog can only
expire while a task holds the CPU. When it expires the board records why and resets:
every connection is forgotten, the pool is re-initialised, and the tasks start afresh.

This module knows the kernel, the pool, the stack's input/timer interface and the task
primitives of :mod:`stack.api`. It knows nothing about SMTP.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.kernel import Handle, Kernel
from emulator.rtc import Rtc
from emulator.trace import TraceKind
from emulator.units import SECOND, format_us
from stack.api import BusyWait, NetworkStack, Sleep, Task, TaskContext, Wait
from stack.link import Link, LinkPort
from stack.pool import Buffer, BufferPool
from stack.segment import Segment
from stack.tcp import TcpStack

TaskFactory = Callable[[TaskContext], Task]

#: Spins of a busy-wait whose condition holds before the board calls it a livelock.
MAX_SPINS = 10_000


@dataclass(slots=True)
class _TaskSlot:
    name: str
    factory: TaskFactory
    generator: Task | None = None
    runnable: bool = False
    resume_value: bool | None = None
    waiting: bool = False  # inside a Wait: wake() resumes it with True
    timer: Handle | None = None  # the pending kernel event of its timeouts, if any
    timer_at: int = 0  # when ``timer`` fires
    deadline: int | None = None  # when the Sleep or Wait under way times out, if it does
    timeout_value: bool | None = None  # what the task is resumed with then
    finished: bool = False


@dataclass(slots=True)
class BoardStats:
    boots: int = 1
    watchdog_resets: int = 0
    loop_passes: int = 0
    frames_received: int = 0
    frames_dropped_no_buffer: int = 0
    frames_dropped_ring_full: int = 0
    reset_reasons: list[str] = field(default_factory=list)


class _BoardTaskContext:
    """The :class:`~stack.api.TaskContext` the board hands each task."""

    def __init__(self, board: Board, slot: _TaskSlot, generation: int) -> None:
        self._board = board
        self._slot = slot
        self._generation = generation

    @property
    def stack(self) -> NetworkStack:
        return self._board.stack

    @property
    def board(self) -> Board:
        return self._board

    def now_us(self) -> int:
        return self._board.kernel.now_us

    def wake(self) -> None:
        if self._generation == self._board._generation:
            self._board._wake(self._slot)

    def log(self, kind: TraceKind, **fields: Any) -> None:
        self._board.kernel.emit(f"{self._board.name}.{self._slot.name}", kind, **fields)


class _BoardTimerHandle(Handle):
    """A stack timer: it fires into the loop's timer phase; cancelling it stops both."""

    __slots__ = ("kernel_handle",)

    def __init__(self, when_us: int, callback: Callable[[], None]) -> None:
        super().__init__(when_us, callback, ())
        self.kernel_handle: Handle | None = None

    def cancel(self) -> None:
        super().cancel()
        if self.kernel_handle is not None:
            self.kernel_handle.cancel()


class _BoardTimers:
    """Stack timers that expire into the super-loop's timer phase."""

    def __init__(self, board: Board) -> None:
        self._board = board

    def start_timer(self, delay_us: int, callback: Callable[[], None]) -> Handle:
        board = self._board
        handle = _BoardTimerHandle(board.kernel.now_us + delay_us, callback)
        handle.kernel_handle = board.kernel.call_later(delay_us, board._timer_expired, handle,
                                                       board._generation)
        return handle

    def now_us(self) -> int:
        return self._board.kernel.now_us


class Board:
    """A small embedded board running a cooperative super-loop."""

    def __init__(self, kernel: Kernel, *, name: str = "board", ip: str = "192.0.2.10",
                 pool_buffers: int = 16, buffer_size: int = 1536, rx_ring_size: int | None = None,
                 rtc: Rtc | None = None, watchdog_timeout_us: int = 2 * SECOND,
                 tcp_options: dict[str, int] | None = None) -> None:
        if not isinstance(watchdog_timeout_us, int) or watchdog_timeout_us <= 0:
            raise ValueError(
                f"watchdog_timeout_us: expected a positive integer, got {watchdog_timeout_us!r}")
        if rx_ring_size is not None and (not isinstance(rx_ring_size, int) or rx_ring_size < 1):
            raise ValueError(f"rx_ring_size: expected a positive integer, got {rx_ring_size!r}")
        self.kernel = kernel
        self.name = name
        self.ip = ip
        self.pool = BufferPool(kernel, count=pool_buffers, size=buffer_size, name=f"{name}.pool")
        self.rtc = rtc if rtc is not None else Rtc(kernel, name=f"{name}.rtc")
        self.rx_ring_size = rx_ring_size if rx_ring_size is not None else pool_buffers
        self.watchdog_timeout_us = watchdog_timeout_us
        self.stats = BoardStats()
        self._tcp_options = dict(tcp_options or {})
        self._timers = _BoardTimers(self)
        self.stack = self._make_stack()
        self._port: LinkPort | None = None
        self._rx_ring: deque[tuple[Segment, Buffer]] = deque()
        self._due_timers: deque[Handle] = deque()
        self._tasks: list[_TaskSlot] = []
        self._pass_scheduled = False
        self._generation = 0
        self._busy: tuple[_TaskSlot, BusyWait, int] | None = None
        self._watchdog: Handle | None = None
        self.boot_hooks: list[Callable[[Board], None]] = []
        kernel.emit(name, "boot", boot=self.stats.boots, ip=ip, pool_buffers=pool_buffers)

    # ---- wiring -----------------------------------------------------------------
    def _make_stack(self) -> TcpStack:
        stack = TcpStack(self.kernel, name=self.name, ip=self.ip, pool=self.pool,
                         timers=self._timers, **self._tcp_options)
        return stack

    def attach(self, link: Link) -> None:
        """Plug the board's NIC into a link."""
        self._port = link.attach(self.ip, self._nic_receive)
        self.stack.attach(self._port.transmit)

    def spawn(self, name: str, factory: TaskFactory) -> None:
        """Start a task now; after a reset it is started again from ``factory``."""
        slot = _TaskSlot(name=name, factory=factory)
        self._tasks.append(slot)
        self._start_task(slot)

    def _start_task(self, slot: _TaskSlot) -> None:
        slot.generator = slot.factory(_BoardTaskContext(self, slot, self._generation))
        slot.finished = False
        slot.waiting = False
        slot.timer = None
        slot.deadline = None
        slot.runnable = True
        slot.resume_value = None
        self._request_pass()

    @property
    def busy(self) -> bool:
        """True while a task holds the CPU in a busy-wait."""
        return self._busy is not None

    @property
    def rx_ring_depth(self) -> int:
        return len(self._rx_ring)

    # ---- interrupts -------------------------------------------------------------
    def _nic_receive(self, segment: Segment) -> None:
        """The NIC receive interrupt: take a buffer, queue the frame in the RX ring."""
        self.stats.frames_received += 1
        if len(self._rx_ring) >= self.rx_ring_size:
            self.stats.frames_dropped_ring_full += 1
            self.kernel.emit(self.name, "rx_drop", why="rx ring full", seq=segment.seq,
                             length=len(segment.payload))
            return
        buf = self.pool.alloc("rx")
        if buf is None:
            self.stats.frames_dropped_no_buffer += 1
            self.pool.count_drop("rx frame")
            self.kernel.emit(self.name, "rx_drop", why="no free buffer", seq=segment.seq,
                             length=len(segment.payload))
            return
        self._rx_ring.append((segment, buf))
        if self._busy is not None:
            self._check_busy_wait()
        else:
            self._request_pass()

    def _timer_expired(self, handle: Handle, generation: int) -> None:
        if generation != self._generation or handle.cancelled:
            return
        self._due_timers.append(handle)
        self._request_pass()

    # ---- the super-loop ---------------------------------------------------------
    def _request_pass(self) -> None:
        if not self._pass_scheduled and self._busy is None:
            self._pass_scheduled = True
            self.kernel.call_soon(self._loop_pass)

    def _has_work(self) -> bool:
        if self._rx_ring or self._due_timers:
            return True
        for task in self._tasks:  # noqa: SIM110 - any() over a generator costs more, per pass
            if task.runnable:
                return True
        return False

    def _loop_pass(self) -> None:
        if self._busy is not None:
            self._pass_scheduled = False
            return
        # ``_pass_scheduled`` stays set while the pass runs: what a wake-up during the
        # pass asks for, this pass does (its task phase comes after input and timers) or
        # the check at its end finds, so it schedules no empty pass of its own.
        try:
            self._one_pass()
        finally:
            self._pass_scheduled = False
        if self._busy is None and self._has_work():
            self._request_pass()

    def _one_pass(self) -> None:
        self.stats.loop_passes += 1
        generation = self._generation
        # 1. stack input
        while self._rx_ring and self._busy is None and generation == self._generation:
            segment, buf = self._rx_ring.popleft()
            self.stack.input(segment, buf)
        # 2. timers
        while self._due_timers and self._busy is None and generation == self._generation:
            handle = self._due_timers.popleft()
            if not handle.cancelled:
                handle.callback()
        # 3. tasks
        for slot in list(self._tasks):
            if self._busy is not None or generation != self._generation:
                break
            if slot.runnable and not slot.finished:
                self._resume(slot)

    def _resume(self, slot: _TaskSlot) -> None:
        slot.runnable = False
        value, slot.resume_value = slot.resume_value, None
        assert slot.generator is not None
        try:
            request = slot.generator.send(value)
        except StopIteration:
            slot.finished = True
            self.kernel.emit(self.name, "task_exit", task=slot.name)
            return
        self._handle_request(slot, request)

    def _handle_request(self, slot: _TaskSlot, request: object) -> None:
        if isinstance(request, Wait):
            slot.waiting = True
            if request.timeout_us is not None:
                self._time_out(slot, max(0, request.timeout_us), False)
        elif isinstance(request, Sleep):
            self._time_out(slot, max(0, request.us), None)
        elif isinstance(request, BusyWait):
            self._enter_busy_wait(slot, request)
        else:
            raise TypeError(f"task {slot.name} yielded {request!r}, not Sleep/Wait/BusyWait")

    def _wake(self, slot: _TaskSlot) -> None:
        if slot.finished or not slot.waiting:
            return
        slot.waiting = False
        slot.deadline = None  # its pending timer event, if any, will find nothing due
        slot.runnable = True
        slot.resume_value = True
        self._request_pass()

    def _time_out(self, slot: _TaskSlot, delay_us: int, value: bool | None) -> None:
        """Resume ``slot`` with ``value`` ``delay_us`` from now unless woken before.

        A task that waits with a timeout and is woken early, again and again (a sender
        waiting for WRITABLE after every segment), would cancel and schedule a kernel
        event each time: instead the pending event is kept while it comes no later than
        the new deadline, and when it comes, it waits on for the time left (as
        :class:`~stack.timers.OneShot` does). The task still times out exactly at its
        deadline."""
        deadline = self.kernel.now_us + delay_us
        slot.deadline = deadline
        slot.timeout_value = value
        if slot.timer is not None:
            if slot.timer_at <= deadline:
                return
            slot.timer.cancel()
        slot.timer = self.kernel.call_at(deadline, self._task_timer, slot, self._generation)
        slot.timer_at = deadline

    def _task_timer(self, slot: _TaskSlot, generation: int) -> None:
        if generation != self._generation or slot.finished:
            return
        slot.timer = None
        deadline = slot.deadline
        if deadline is None:  # woken before its timeout
            return
        if self.kernel.now_us < deadline:  # a later Sleep or Wait since
            slot.timer = self.kernel.call_at(deadline, self._task_timer, slot, generation)
            slot.timer_at = deadline
            return
        slot.deadline = None
        slot.waiting = False
        slot.runnable = True
        slot.resume_value = slot.timeout_value
        self._request_pass()

    # ---- busy-wait and watchdog -------------------------------------------------
    def _enter_busy_wait(self, slot: _TaskSlot, request: BusyWait) -> None:
        spins = 0
        while request.condition():
            # A spin loop whose condition already holds goes straight on, without
            # returning to the super-loop (so without kicking the watchdog).
            spins += 1
            if spins > MAX_SPINS:
                # The condition holds but the task makes no progress: a livelock.
                request = BusyWait(lambda: False, f"{request.reason} (spinning without progress)")
                break
            assert slot.generator is not None
            try:
                nxt = slot.generator.send(None)
            except StopIteration:
                slot.finished = True
                self.kernel.emit(self.name, "task_exit", task=slot.name)
                return
            if not isinstance(nxt, BusyWait):
                self._handle_request(slot, nxt)
                return
            request = nxt
        self._busy = (slot, request, self.kernel.now_us)
        self.kernel.emit(self.name, "busy_wait", task=slot.name, reason=request.reason)
        self._watchdog = self.kernel.call_later(self.watchdog_timeout_us, self._watchdog_expired,
                                                self._generation)

    def _check_busy_wait(self) -> None:
        assert self._busy is not None
        slot, request, since = self._busy
        if request.condition():
            self._busy = None
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            self.kernel.emit(self.name, "busy_wait_end", task=slot.name,
                             held_us=self.kernel.now_us - since)
            slot.runnable = True
            self._request_pass()

    def _watchdog_expired(self, generation: int) -> None:
        if generation != self._generation or self._busy is None:
            return
        slot, request, since = self._busy
        held = self.kernel.now_us - since
        reason = (f"task {slot.name} held the CPU for {format_us(held)} s "
                  f"busy-waiting for {request.reason}")
        self.stats.watchdog_resets += 1
        self.kernel.emit(self.name, "watchdog_reset", task=slot.name, waiting_for=request.reason,
                         held_us=held, rx_ring=len(self._rx_ring), pool_in_use=self.pool.in_use)
        self.reset(reason)

    def reset(self, reason: str) -> None:
        """Reboot: forget connections and timers, re-initialise the pool, restart tasks."""
        self._generation += 1
        self._busy = None
        self._watchdog = None
        self.stats.reset_reasons.append(reason)
        for slot in self._tasks:
            if slot.timer is not None:
                slot.timer.cancel()
            if slot.generator is not None:
                slot.generator.close()
        self._rx_ring.clear()
        self._due_timers.clear()
        self.stack.reset_all(reason)
        self.pool.reclaim_all(reason)
        self.stack = self._make_stack()
        if self._port is not None:
            self.stack.attach(self._port.transmit)
        self.stats.boots += 1
        self.kernel.emit(self.name, "boot", boot=self.stats.boots, ip=self.ip,
                         pool_buffers=self.pool.count, after=reason)
        for hook in self.boot_hooks:
            hook(self)
        for slot in self._tasks:
            self._start_task(slot)

