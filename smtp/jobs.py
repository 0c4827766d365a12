"""What the application asks the client to do: send a mail, VRFY, or ETRN.

A job is plain data. ``MailJob`` lives in :mod:`smtp.message` (it becomes a message);
the two query jobs are defined here. This module knows nothing about the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from smtp.message import MailJob


@dataclass(frozen=True, slots=True)
class VrfyJob:
    """Ask the server whether it knows ``address`` (RFC 5321 VRFY)."""

    address: str


@dataclass(frozen=True, slots=True)
class EtrnJob:
    """Ask the server to start delivering the queue for ``node`` (RFC 1985 ETRN)."""

    node: str


Job: TypeAlias = MailJob | VrfyJob | EtrnJob

__all__ = ["EtrnJob", "Job", "MailJob", "VrfyJob"]
