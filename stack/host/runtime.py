"""Run :mod:`stack.api` tasks in real time over the host stack.

The host counterpart of the emulated board's super-loop: the same generator tasks
(yielding :class:`~stack.api.Sleep`, :class:`~stack.api.Wait`,
:class:`~stack.api.BusyWait`) run against :class:`stack.host.stack.HostStack`, with
``time.monotonic_ns() // 1000`` as ``now_us``.

One turn of :meth:`HostRuntime.run`: stop if ``until()`` holds (TimeoutError once
``timeout_s`` has passed); make runnable the tasks whose Sleep/Wait deadline has passed
or whose BusyWait condition holds; resume every runnable task once, in spawn order; poll
the sockets (0 s when tasks ran or one busy-waits, else up to the nearest deadline, at
most ``max_poll_s``), which delivers socket events (handlers typically call
``ctx.wake()``). Resume values: True when a Wait was woken, False when it timed out,
None after a Sleep or a BusyWait.

As on the board (:mod:`emulator.board`), a ``wake()`` that arrives while the task is not
inside a Wait is dropped, and a negative Sleep or Wait timeout counts as 0. Handlers run
only inside the socket poll, never while a task runs, so a task that checks its
condition before it waits loses no wake-up.

BusyWait on the host: the condition is checked between socket polls made with a zero
timeout, so the loop spins on the CPU. Unlike on the board, the host keeps serving
socket input and the other tasks meanwhile: there is no super-loop to starve and no
watchdog. The host only reproduces what busy-waiting costs in CPU, not its bug.

This module and :mod:`stack.host.stack` are the only modules outside tests allowed to read
the wall clock. Nothing here is deterministic, and nothing in the simulated world may
import it. It knows nothing about SMTP.
"""

from __future__ import annotations

import enum
import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from emulator.trace import TRACE_KINDS, TraceKind, unknown_kind
from stack.api import BusyWait, Sleep, Task, TaskContext, Wait
from stack.host.stack import HostStack

DEFAULT_MAX_POLL_S = 0.05  # until() is re-checked at least this often

LogRecord = tuple[int, TraceKind, dict[str, object]]


def monotonic_us() -> int:
    """The host's monotonic clock in integer microseconds."""
    return time.monotonic_ns() // 1000


class TaskStatus(enum.Enum):
    READY = "ready"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    BUSY = "busy"
    DONE = "done"


@dataclass(slots=True)
class _HostTask:
    name: str
    generator: Task | None = None
    status: TaskStatus = TaskStatus.READY
    resume_value: bool | None = None
    deadline_us: int | None = None
    condition: Callable[[], bool] | None = None
    steps: int = 0


class HostTaskContext:
    """What a task gets on the host (implements :class:`stack.api.TaskContext`)."""

    def __init__(self, runtime: HostRuntime, task: _HostTask) -> None:
        self._runtime = runtime
        self._task = task

    @property
    def name(self) -> str:
        return self._task.name

    @property
    def stack(self) -> HostStack:
        return self._runtime.stack

    def now_us(self) -> int:
        return monotonic_us()

    def wake(self) -> None:
        self._runtime._wake(self._task)

    def log(self, kind: TraceKind, **fields: object) -> None:
        if kind not in TRACE_KINDS:
            raise ValueError(unknown_kind(kind, f"host.{self._task.name}"))
        self._runtime._log(self._task.name, kind, fields)


class HostRuntime:
    """Cooperative real-time scheduler for generator tasks over one :class:`HostStack`."""

    def __init__(
        self,
        stack: HostStack,
        *,
        echo_log: bool = False,
        max_poll_s: float = DEFAULT_MAX_POLL_S,
    ) -> None:
        if not max_poll_s > 0:
            raise ValueError(f"max_poll_s: expected > 0 seconds, got {max_poll_s!r}")
        self.stack = stack
        self.echo_log = echo_log
        self.max_poll_s = float(max_poll_s)
        self.log_records: list[LogRecord] = []
        self._tasks: list[_HostTask] = []

    def now_us(self) -> int:
        return monotonic_us()

    def spawn(self, name: str, task_factory: Callable[[TaskContext], Task]) -> None:
        """Create the task now; it first runs on the next turn of :meth:`run`."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"spawn name: expected a non-empty string, got {name!r}")
        if any(t.name == name for t in self._tasks):
            raise ValueError(f"spawn name: a task named {name!r} exists already")
        task = _HostTask(name)
        task.generator = task_factory(HostTaskContext(self, task))
        produced: object = task.generator
        if not inspect.isgenerator(produced):
            raise ValueError(
                f"spawn {name!r}: task_factory must return a generator, "
                f"got {type(produced).__name__}"
            )
        self._tasks.append(task)

    def status(self, name: str) -> TaskStatus:
        for task in self._tasks:
            if task.name == name:
                return task.status
        raise ValueError(f"status: no task named {name!r}")

    def done(self, name: str) -> bool:
        return self.status(name) is TaskStatus.DONE

    def all_done(self) -> bool:
        return all(t.status is TaskStatus.DONE for t in self._tasks)

    def run(self, until: Callable[[], bool], timeout_s: float) -> None:
        """Run tasks and sockets until ``until()`` is true.

        Raises TimeoutError when ``timeout_s`` of real time pass first. An exception in a
        task ends the run and propagates (with a note naming the task).
        """
        if not timeout_s > 0:
            raise ValueError(f"run timeout_s: expected > 0 seconds, got {timeout_s!r}")
        end_us = monotonic_us() + int(timeout_s * 1_000_000)
        while not until():
            now = monotonic_us()
            if now >= end_us:
                raise TimeoutError(
                    f"HostRuntime.run: stop condition still false after {timeout_s}s "
                    f"(tasks: {self._describe()})"
                )
            self._expire(now)
            ready = [t for t in self._tasks if t.status is TaskStatus.READY]
            if ready:
                for task in ready:
                    self._step(task)
                self.stack.poll(0.0)
            else:
                self.stack.poll(self._poll_timeout_s(now, end_us))

    # ---- internals ------------------------------------------------------------------

    def _poll_timeout_s(self, now: int, end_us: int) -> float:
        if any(t.status is TaskStatus.BUSY for t in self._tasks):
            return 0.0
        wake_at = end_us
        for task in self._tasks:
            if task.deadline_us is not None and task.status in (
                TaskStatus.SLEEPING,
                TaskStatus.WAITING,
            ):
                wake_at = min(wake_at, task.deadline_us)
        return min(max(0, wake_at - now) / 1_000_000, self.max_poll_s)

    def _expire(self, now: int) -> None:
        for task in self._tasks:
            if task.status is TaskStatus.BUSY:
                assert task.condition is not None
                if task.condition():
                    self._make_ready(task, None)
            elif (
                task.status in (TaskStatus.SLEEPING, TaskStatus.WAITING)
                and task.deadline_us is not None
                and now >= task.deadline_us
            ):
                # a timed-out Wait resumes with False, a finished Sleep with None
                timed_out = False if task.status is TaskStatus.WAITING else None
                self._make_ready(task, timed_out)

    def _make_ready(self, task: _HostTask, value: bool | None) -> None:
        task.status = TaskStatus.READY
        task.resume_value = value
        task.deadline_us = None
        task.condition = None

    def _wake(self, task: _HostTask) -> None:
        if task.status is TaskStatus.WAITING:
            self._make_ready(task, True)

    def _step(self, task: _HostTask) -> None:
        assert task.generator is not None
        value, task.resume_value = task.resume_value, None
        task.steps += 1
        try:
            request = task.generator.send(value)
        except StopIteration:
            task.status = TaskStatus.DONE
            return
        except BaseException as exc:
            task.status = TaskStatus.DONE
            exc.add_note(f"in host task {task.name!r}")
            raise
        self._accept(task, request)

    def _accept(self, task: _HostTask, request: object) -> None:
        now = monotonic_us()
        if isinstance(request, Sleep):
            if not isinstance(request.us, int):
                raise ValueError(f"task {task.name!r}: Sleep.us: expected int, got {request.us!r}")
            task.status = TaskStatus.SLEEPING
            task.deadline_us = now + max(0, request.us)
        elif isinstance(request, Wait):
            timeout = request.timeout_us
            if timeout is not None and not isinstance(timeout, int):
                raise ValueError(
                    f"task {task.name!r}: Wait.timeout_us: expected int or None, got {timeout!r}"
                )
            task.status = TaskStatus.WAITING
            task.deadline_us = None if timeout is None else now + max(0, timeout)
        elif isinstance(request, BusyWait):
            task.status = TaskStatus.BUSY
            task.condition = request.condition
        else:
            raise ValueError(
                f"task {task.name!r}: yielded {request!r}; expected Sleep, Wait or BusyWait"
            )

    def _log(self, task_name: str, kind: TraceKind, fields: dict[str, object]) -> None:
        now = monotonic_us()
        record: LogRecord = (now, kind, {"task": task_name, **fields})
        self.log_records.append(record)
        if self.echo_log:
            details = " ".join(f"{k}={v!r}" for k, v in fields.items())
            print(f"{now} {task_name} {kind} {details}".rstrip(), file=sys.stderr)

    def _describe(self) -> str:
        return ", ".join(f"{t.name}={t.status.value}" for t in self._tasks) or "none"
