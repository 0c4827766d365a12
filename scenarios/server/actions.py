"""What the server engine asks its driver to do: actions as frozen dataclasses.

The engine returns a ``list[Action]`` from every event. A driver runs each list in order
and runs the lists in the order it got them: a list starts only after the previous one
has finished (its delays included), the way a single-threaded server would work. The
actions are:

- ``Send(data)``: one write, so one TCP segment when it fits (the driver must not merge
  two Sends nor split one unless the transport forces it). ``Send(data, join=True)``
  goes out in the same write as the Send right before it in the same list, when nothing
  lies between them (a replayed server that answered a pipelined group in one segment).
- ``SendGenerated(reply)``: write a :class:`~scenarios.server.generated.GeneratedReply`
  chunk by chunk as the socket takes it (never held whole); the actions after it wait
  until it is all out, or the connection ends. The driver tells the engine how much went
  out (``ServerEngine.note_generated``).
- ``Delay(us)``: the actions after it in this list happen ``us`` microseconds later.
- ``StartTls()``: start server-side TLS now. Bytes of earlier Sends go out in plaintext
  first; everything after it is inside TLS once the handshake is done. The driver then
  calls ``on_tls_established`` (before it feeds any decrypted byte) or ``on_tls_failed``.
- ``Close()``: orderly close (FIN). ``Reset()``: abort (RST).
- ``DropTls(mode)``: end the TLS session abruptly: ``"tcp_close"`` (FIN with no
  close_notify), ``"rst"`` (RST) or ``"close_notify"`` (send the alert, keep TCP open;
  later Sends are plaintext, and nothing the client sends from then on is processed:
  the driver discards it, traced as such, so that what the transcript shows is what
  was on the wire).
- ``Silence()``: the engine will never answer again; the driver may stop reading.
- ``StopReading(us)``: the server stops reading from the connection, for ``us``
  microseconds (None: for good). What the client sends then piles up unread in the
  server's TCP receive buffer; once that is full the advertised window is 0 and the
  client's TCP can send nothing more (it probes the window). Bytes already read are still
  processed. Afterwards the driver reads again: the window opens and the engine gets what
  piled up. The simulated driver's TCP advertises the closing window itself; on a real
  socket the driver stops reading and the OS receive buffer fills the same way.

``segment`` applies the server's segmentation knob to a list; :class:`ActionRunner` is
the ordering rule above, shared by the simulated and the asyncio drivers. This module knows nothing
about sockets, TLS objects, clocks or SMTP.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from scenarios.server.generated import GeneratedReply

DropTlsMode: TypeAlias = Literal["tcp_close", "rst", "close_notify"]
DROP_TLS_MODES: Final[tuple[str, ...]] = get_args(DropTlsMode)

Segmentation: TypeAlias = Literal["normal", "byte_by_byte", "line_by_line", "coalesced"]
SEGMENTATIONS: Final[tuple[str, ...]] = get_args(Segmentation)


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` in one piece (``join``: in the previous Send's write, see above)."""

    data: bytes
    join: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes) or not self.data:
            raise ValueError(f"Send.data: expected non-empty bytes, got {self.data!r}")


@dataclass(frozen=True, slots=True)
class SendGenerated:
    """Write a generated reply as the socket takes it (see the module docstring)."""

    reply: GeneratedReply


@dataclass(frozen=True, slots=True)
class Delay:
    """Run the rest of the list ``us`` microseconds later."""

    us: int

    def __post_init__(self) -> None:
        if not isinstance(self.us, int) or isinstance(self.us, bool) or self.us < 0:
            raise ValueError(f"Delay.us: expected an integer >= 0, got {self.us!r}")


@dataclass(frozen=True, slots=True)
class StartTls:
    """Start the server side of a TLS handshake on this connection now."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection in order (FIN)."""


@dataclass(frozen=True, slots=True)
class Reset:
    """Abort the connection (RST)."""


@dataclass(frozen=True, slots=True)
class DropTls:
    """End the TLS session abruptly, in one of three ways (see the module docstring)."""

    mode: DropTlsMode

    def __post_init__(self) -> None:
        if self.mode not in DROP_TLS_MODES:
            raise ValueError(f"DropTls.mode: expected one of {DROP_TLS_MODES}, got {self.mode!r}")


@dataclass(frozen=True, slots=True)
class Silence:
    """The server stops answering anything, for the rest of the connection."""


@dataclass(frozen=True, slots=True)
class StopReading:
    """Stop reading from the connection for ``us`` microseconds, or for good (None)."""

    us: int | None = None

    def __post_init__(self) -> None:
        if self.us is not None and (not isinstance(self.us, int) or isinstance(self.us, bool)
                                    or self.us < 0):
            raise ValueError(f"StopReading.us: expected an integer >= 0 or None, got {self.us!r}")


Action: TypeAlias = (Send | SendGenerated | Delay | StartTls | Close | Reset | DropTls | Silence
                     | StopReading)


def segment(actions: list[Action], mode: Segmentation, coalesce: bool = False) -> list[Action]:
    """Reshape the Sends of one list.

    ``"byte_by_byte"`` splits every Send into one-byte Sends, ``"line_by_line"`` into one
    Send per line (each ending with its LF). ``"coalesced"`` (or
    ``coalesce=True`` with ``"normal"``) merges Sends that follow each other with no other
    action in between, so the replies to a pipelined group leave in one write; otherwise
    only a ``join`` Send is merged into the Send right before it.
    """
    if mode not in SEGMENTATIONS:
        raise ValueError(f"segmentation: expected one of {SEGMENTATIONS}, got {mode!r}")
    if mode == "byte_by_byte":
        out: list[Action] = []
        for action in actions:
            if isinstance(action, Send):
                out.extend(Send(action.data[i : i + 1]) for i in range(len(action.data)))
            else:
                out.append(action)
        return out
    if mode == "line_by_line":
        lines: list[Action] = []
        for action in actions:
            if isinstance(action, Send):
                lines.extend(Send(line) for line in action.data.splitlines(keepends=True))
            else:
                lines.append(action)
        return lines
    everything = mode == "coalesced" or coalesce
    merged: list[Action] = []
    for action in actions:
        if (isinstance(action, Send) and (everything or action.join) and merged
                and isinstance(merged[-1], Send)):
            merged[-1] = Send(merged[-1].data + action.data, merged[-1].join)
        else:
            merged.append(action)
    return merged


def sent_bytes(actions: list[Action]) -> bytes:
    """All bytes the Sends of ``actions`` write, joined (for tests and transcripts)."""
    return b"".join(a.data for a in actions if isinstance(a, Send))


class ActionRunner:
    """Carries out action lists in order; a list starts after the previous one's delays.

    The driver supplies ``perform`` (one action that is neither a Delay nor a
    SendGenerated), ``delay`` (schedule its own resume call after ``us`` microseconds and
    return True, or return False to go on at once, e.g. for a zero delay), ``stream``
    (start writing a generated reply and return True, calling :meth:`resume` once it is
    out or the connection ended; False when it was written at once) and ``stopped`` (the
    connection is gone: drop the rest). The driver's resume callback calls :meth:`resume`.
    """

    def __init__(self, perform: Callable[[Action], None], delay: Callable[[int], bool],
                 stopped: Callable[[], bool],
                 stream: Callable[[SendGenerated], bool] | None = None) -> None:
        self._perform = perform
        self._delay = delay
        self._stream = stream
        self._stopped = stopped
        self._pending: deque[list[Action]] = deque()
        self.running = False
        """True while a list is being carried out or waits inside a Delay."""

    @property
    def tls_ahead(self) -> bool:
        """Whether a StartTls waits in the lists still to be carried out: what the peer
        sends meanwhile (after the 220, during the reply's gaps) is its TLS handshake, never
        plaintext dialogue; the drivers leave it unread for TLS to find as plaintext
        buffered before TLS (discarded, by length)."""
        if not self._pending:  # the common case, asked before every read
            return False
        return any(isinstance(a, StartTls) for actions in self._pending for a in actions)

    def enqueue(self, actions: list[Action]) -> None:
        if actions:
            self._pending.append(list(actions))
        self._run()

    def resume(self) -> None:
        """Go on after a Delay the driver scheduled."""
        self.running = False
        self._run()

    def _run(self) -> None:
        if self.running:
            return
        self.running = True
        while self._pending and not self._stopped():
            actions = self._pending[0]
            while actions:
                action = actions.pop(0)
                if isinstance(action, Delay):
                    if self._delay(action.us):
                        return  # still running: resume() continues this list
                    continue
                if isinstance(action, SendGenerated):
                    if self._stream is None:
                        raise ValueError("SendGenerated: this driver writes no generated "
                                         "replies")
                    if self._stream(action):
                        return  # resume() continues once the reply is out
                    if self._stopped():
                        break
                    continue
                self._perform(action)
                if self._stopped():
                    break
            self._pending.popleft()
        self.running = False
