"""Which EHLO names a strict scripted server accepts.

This module knows domain name and address literal syntax (RFC 5321 4.1.3, 4.1.2); it
knows nothing about sessions, replies or bytes on the wire.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final

_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FQDN_RE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})+\.?")


@functools.lru_cache(maxsize=256)
def ehlo_name_acceptable(name: str) -> bool:
    """A strict server's EHLO check: a FQDN-ish name or an address literal, no bare IP.
    A pure function of the name, kept for the next EHLO with the same one (a hostname
    failed two ``ipaddress`` parses, each an exception: 0.5% of an explored run)."""
    if name.startswith("[") and name.endswith("]"):
        inner = name[1:-1]
        try:
            if inner[:5].upper() == "IPV6:":
                ipaddress.IPv6Address(inner[5:])
            else:
                ipaddress.IPv4Address(inner)
        except ValueError:
            return False
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return False
    if len(name) > 255 or not _FQDN_RE.fullmatch(name):
        return False
    return not name.rstrip(".").rsplit(".", 1)[-1].isdigit()
