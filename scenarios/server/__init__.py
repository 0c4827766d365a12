"""The scripted SMTP server engine, sans-I/O: bytes and events in, actions out.

``ServerEngine(ServerConfig(...))`` is one server connection. Drivers (virtual time over
the simulated stack, or asyncio sockets in real time) feed it the client's bytes and TLS
events and carry out the actions it returns. This package never touches sockets,
clocks, TLS objects or random numbers.
"""

from scenarios.server.actions import (
    Action,
    Close,
    Delay,
    DropTls,
    Reset,
    Send,
    Silence,
    StartTls,
    StopReading,
)
from scenarios.server.engine import ServerEngine
from scenarios.server.mailbox import Observations, ReceivedMail, Recipient
from scenarios.server.rules import Rule, ServerConfig

__all__ = [
    "Action",
    "Close",
    "Delay",
    "DropTls",
    "Observations",
    "ReceivedMail",
    "Recipient",
    "Reset",
    "Rule",
    "Send",
    "ServerConfig",
    "ServerEngine",
    "Silence",
    "StartTls",
    "StopReading",
]
