"""Release profiles: which historical behaviour each release of the client had.

The changelog (shared/changelog.txt) names releases 2.5 and 2.4; the earlier groups
have no number there, and we label them 2.3, 2.2, 2.1, 2.0 and 1.0 in order, newest
first. ``current`` is our own release: every bug fixed, known issues included.

Each flag below is one historical deviation, named after what the old release did, and
quoting the changelog line that fixed it (or lists it as a known issue). The client reads
these flags in exactly one place per deviation, so its code reads as the current release
with the old bugs as small, named detours.

This module knows nothing about sockets, time or the protocol; it is pure data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Final

# Order matters: oldest first. "current" is always last.
PROFILE_NAMES: Final = ("1.0", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "current")


@dataclass(frozen=True, slots=True)
class Profile:
    """Behaviour switches of one release. ``False`` everywhere is the current release."""

    name: str
    ip_stack: str
    # --- fixed in 2.5 ---------------------------------------------------------------
    truncates_body_at_blank_line: bool = False
    """2.5: "Truncated messages that contained blank line." The body is cut at its
    first empty line."""
    skips_config_version_check: bool = False
    """2.5: "Version check was added to configuration header." Older releases accept a
    config whatever its version."""
    # --- fixed in 2.4 ---------------------------------------------------------------
    misconverts_date_month_day: bool = False
    """2.4: "Values of month and day are converted properly." Older releases took the
    month name with the 1-based month as a 0-based index and wrote the day off by one."""
    ignores_template_hostname: bool = False
    """2.4: "psp_template_hostname is used." Older releases put ``localhost`` in the
    Message-ID instead of the device's host name."""
    # --- fixed in 2.2 (unnumbered in the changelog) ---------------------------------
    ehlo_uses_bare_ip: bool = False
    """2.2: "Changed psp_get_host_addr() to psp_get_host_domain()". Older releases
    greeted with the bare IP address (``EHLO 192.0.2.10``), which strict servers refuse."""
    # --- fixed in 2.1 (unnumbered) ----------------------------------------------------
    busy_waits_for_tx_buffers: bool = False
    """2.1: "Added handling of incoming messages during sending of MAIL content." Older
    releases spun for a free TX buffer while sending content, ignoring incoming data, so
    the stack ran out of IP buffers."""
    pipelined_mail_failure_is_silent: bool = False
    """2.1: "Corrected handling of pipeline message for MAIL command (event
    command_abort was not sent when mail failed)." The job ends with no event at all."""
    ignores_tls_connection_state: bool = False
    """2.1: "Added checking of TLS connection state." A TLS session that drops
    mid-transaction is not noticed."""
    # --- known issues of every historical release with TLS --------------------------
    weak_tls_ciphers_only: bool = False
    """Known issue: "Outlook SMTP server does not work because it drops TLS connection
    (probably we use too weak a ciphersuite)." No ECDHE suites are offered."""
    no_timeout_while_tls_active: bool = False
    """Known issue: "Timeout test is executed only when no TLS connection is active." """
    downgrades_tls_silently: bool = False
    """Not in the changelog: with ``security = "starttls"`` and no STARTTLS to be had,
    releases 2.0 to 2.5 go on in plaintext without telling the application. Our own
    ``current`` release reports a ``tls_downgraded`` event first."""
    # --- features that came with 2.0 --------------------------------------------------
    has_2_0_features: bool = True
    """2.0 added STARTTLS, VRFY, ETRN, a real Date, Cc/Bcc/Reply-To, attachments, DSN,
    CHUNKING, PIPELINING, SIZE and AUTH CRAM-MD5/PLAIN/ANONYMOUS. 1.0 has none of them:
    plain SMTP with AUTH LOGIN and a fixed Date."""
    has_xoauth2: bool = False
    """XOAUTH2 is not in the changelog: only our own ``current`` release has it."""
    waits_for_data_reply_before_quit: bool = False
    """Not in the changelog (so the releases it names did not do otherwise): even with
    PIPELINING, every release up to 2.5 sends QUIT only once the server has answered the
    end of the mail data. Our own ``current`` release sends QUIT right behind the data
    when no other job is queued (RFC 2920 3.1: QUIT may end a group): one round trip
    less per session. Not a bug: no scenario fails for it."""

    def deviations(self) -> list[str]:
        """Names of the flags where this profile differs from ``current``."""
        cur = PROFILES["current"]
        return [
            f.name
            for f in fields(self)
            if f.name not in ("name", "ip_stack") and getattr(self, f.name) != getattr(cur, f.name)
        ]


# What every historical release with TLS does: the two known issues, the silent
# downgrade (no changelog line: the tls_downgraded event is ours), and QUIT only after
# the reply to the mail data (pipelining QUIT is ours too).
_HISTORICAL_TLS = {"weak_tls_ciphers_only": True, "no_timeout_while_tls_active": True,
                   "downgrades_tls_silently": True, "waits_for_data_reply_before_quit": True}

PROFILES: Final[dict[str, Profile]] = {
    "1.0": Profile(
        name="1.0", ip_stack="4.x", has_2_0_features=False,
        truncates_body_at_blank_line=True, skips_config_version_check=True,
        misconverts_date_month_day=False,  # 1.0 writes a fixed date: nothing to convert
        ignores_template_hostname=True, ehlo_uses_bare_ip=True, busy_waits_for_tx_buffers=True,
        waits_for_data_reply_before_quit=True,
    ),
    "2.0": Profile(
        name="2.0", ip_stack="4.11",
        truncates_body_at_blank_line=True, skips_config_version_check=True,
        misconverts_date_month_day=True, ignores_template_hostname=True, ehlo_uses_bare_ip=True,
        busy_waits_for_tx_buffers=True, pipelined_mail_failure_is_silent=True,
        ignores_tls_connection_state=True, **_HISTORICAL_TLS,
    ),
    "2.1": Profile(
        name="2.1", ip_stack="4.11",
        truncates_body_at_blank_line=True, skips_config_version_check=True,
        misconverts_date_month_day=True, ignores_template_hostname=True, ehlo_uses_bare_ip=True,
        **_HISTORICAL_TLS,
    ),
    "2.2": Profile(
        name="2.2", ip_stack="4.11",
        truncates_body_at_blank_line=True, skips_config_version_check=True,
        misconverts_date_month_day=True, ignores_template_hostname=True, **_HISTORICAL_TLS,
    ),
    "2.3": Profile(
        name="2.3", ip_stack="6.02",
        truncates_body_at_blank_line=True, skips_config_version_check=True,
        misconverts_date_month_day=True, ignores_template_hostname=True, **_HISTORICAL_TLS,
    ),
    "2.4": Profile(
        name="2.4", ip_stack="6.02",
        truncates_body_at_blank_line=True, skips_config_version_check=True, **_HISTORICAL_TLS,
    ),
    "2.5": Profile(name="2.5", ip_stack="6.02", **_HISTORICAL_TLS),
    "current": Profile(name="current", ip_stack="6.02", has_xoauth2=True),
}


def check_profile_name(value: object, known: Sequence[str] = PROFILE_NAMES) -> str:
    """``value`` if it is one of the release names ``known``; else a ValueError listing
    them (the one check of a release name the user typed, in a file or an argument)."""
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"unknown profile {value!r} (known: {', '.join(known)})")
    return value


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a ValueError lists the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILE_NAMES)
        raise ValueError(f"profile: unknown release {name!r} (known: {known})") from None
