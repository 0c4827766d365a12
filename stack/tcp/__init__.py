"""The embedded TCP stack (see :mod:`stack.tcp.stack`) and its sockets.

The public names: :class:`TcpStack` (one host's TCP), :class:`TcpSocket` (what an
application holds), :class:`TcpState`, :class:`TcpConfig`, :class:`TcpStats`,
:data:`AcceptHandler` and :data:`TX_PURPOSE` (the pool purpose of send buffers).

Inside: ``stack`` (demultiplexing, listeners, deferred work), ``socket`` (the
application's socket, opening), ``connection`` (the control block and the
:class:`~stack.tcp.connection.StackServices` Protocol it sees the stack through),
``send`` and ``receive`` (the two paths), ``timeouts`` and ``rtt`` (timers, RFC 6298),
``closing`` (how a connection ends), ``state``, ``seq`` and ``config``.
"""

from stack.tcp.config import TX_PURPOSE, TcpConfig, TcpStats
from stack.tcp.socket import AcceptHandler, TcpSocket
from stack.tcp.stack import TcpStack
from stack.tcp.state import TcpState

__all__ = ["TX_PURPOSE", "AcceptHandler", "TcpConfig", "TcpSocket", "TcpStack", "TcpState",
           "TcpStats"]
