"""An aiosmtpd handler that accepts and drops every mail, and advertises PIPELINING.

aiosmtpd serves pipelined commands correctly (it reads them line by line from its
buffered stream) but never advertises the extension (RFC 2920), so a client that follows
the rules talks to it in lock-step. This handler adds ``250-PIPELINING`` to the EHLO
reply through aiosmtpd's ``handle_EHLO`` hook. Loaded by :mod:`aiosmtpd_server` in the
server's own process (``python -m aiosmtpd -c pipelining_sink.PipeliningSink``). Not a
benchmark itself (no ``bench_`` prefix).
"""

from __future__ import annotations

from typing import Any

from aiosmtpd.handlers import Sink


class PipeliningSink(Sink):
    """aiosmtpd's Sink, with PIPELINING in the EHLO reply."""

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]
