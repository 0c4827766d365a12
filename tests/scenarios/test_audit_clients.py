"""``smtp-hil audit`` of the real client programs: each installed DUT against a table.

Every (client, case) cell has its expected result and its reason: a case a client does
not list below is expected to pass (its reason: the case's own claim); the cells listed
are a failure (a finding about that client, explained in the README's "Auditing an SMTP
client", never a test to weaken) or not applicable (the audit's own reason, which the
test checks). A client program that is not installed skips with the reason.

The programs run as ``smtp-hil audit --dut`` runs them, with their own timeout set to
CLIENT_TIMEOUT_S through their DUT files (the catalog's delays scale with it) and each
case capped at TIME_CAP_S; curl's timeout cannot be set (120 s), so its timeouts cases
are not applicable here. A client's cases run WORKERS at a time (they mostly wait).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final, Literal

import pytest

from scenarios.audit.cases import CaseResult, select_cases
from scenarios.audit.programs import audit_program
from scenarios.catalog import load_catalog
from scenarios.outside.dutfile import DutFile, shipped_dut_files

CLIENTS: Final = ("curl", "msmtp", "swaks", "smtplib")
CASES: Final = {s.name: s for s in select_cases(load_catalog())}
CLIENT_TIMEOUT_S: Final = 2.0
TIME_CAP_S: Final = 15.0
WORKERS: Final = 4

Expected = tuple[Literal["fail", "not_applicable"], str]

# ---- reasons shared by several cells -------------------------------------------------------

_OPPORTUNISTIC = ("{c}'s STARTTLS mode is opportunistic: with STARTTLS stripped it logs in "
                  "outside TLS (CRAM-MD5 too) and delivers in plaintext")
_CURL_FALLBACK = ("curl --ssl goes on in plaintext after STARTTLS is refused or answered "
                  "with anything but 220 (here {code}), logs in and delivers")
_BARE_CR_LF = ("{c} sends the message file's bare LF and CR as they are: end-of-data "
               "look-alikes a lenient receiver splits into two mails")
_BARE_CR = ("{c} turns a bare LF into CRLF but sends a bare CR as it is: an end-of-data "
            "look-alike a lenient receiver splits")
_CURL_HANGS = ("curl waits on a malformed reply line for its own 120 s response timeout "
               "instead of failing: killed at the cap")
_FIRST_DIGITS = ("{c} takes the first three characters as the code whatever follows them "
                 "('25000' is a 250) and the last line's code as the reply's, falls back to "
                 "HELO on an EHLO reply it cannot read, and delivers")
_NO_LINE_CAP = "{c} reads an endless multi-line reply without a cap on its lines"
_CURL_TIMEOUT = ("curl's own timeout (120 s, which its DUT file cannot set) lies beyond the "
                 f"time cap ({TIME_CAP_S:g} s)")
_SWAKS_STALL = ("swaks waits in a stalled TLS handshake with no timer of its own (its "
                "--timeout covers SMTP replies only): killed at the cap")
_SWAKS_HELO = ("swaks waits out its timeout on a malformed or endless EHLO reply, then falls "
               "back to HELO and delivers: a hostile server gets a plain session")
_BUFFERED = ("not {c}'s fault: it gives up at once (exit {status}), but the whole 70 KB "
             "reply fits in the loopback socket buffers, so the server cannot see that it "
             "was abandoned and reply_abandoned fails (a limit of the real-socket check)")
_MSMTP_MANDATORY = "msmtp has no opportunistic STARTTLS mode"
_MSMTP_BARE_250 = ("msmtp refuses a valid reply line '250' with no text (\"invalid reply\"): "
                   "interoperability, not safety")
_MSMTP_REARMS = ("msmtp's --timeout applies to each read: a trickle re-arms it with every "
                 "byte, so it waits the whole trickle out and delivers")
_MSMTP_NO_TLS_TIMER = ("msmtp's --timeout does not cover a TLS handshake or a read under "
                       "TLS: it waits on a silent TLS peer until killed at the cap")
_SMTPLIB_REARMS = ("smtplib's socket timeout is per recv: a trickle re-arms it with every "
                   "byte, so it waits the whole trickle out and delivers")


def _na(prefix: str) -> Expected:
    return ("not_applicable", prefix)


def _fail(why: str) -> Expected:
    return ("fail", why)


_RTC = _na("a device setting (device.rtc) that a client program cannot be given")
_DSN = _na("DSN parameters (job.dsn_*) that a client program is not given")
_HEADER = _na("CR or LF in a header field: a client program relays the message file")
_FORCED = _na("an AUTH mechanism forced on the device (LOGIN)")
_LINK = _na("link faults (inject_rst) cannot be applied to a client program")
_SMUGGLING = ("smuggling-bdat", "smuggling-cr-dot-cr", "smuggling-cr-dot-crlf",
              "smuggling-cr-dot-lf", "smuggling-crcrlf-dot-crcrlf", "smuggling-crlf-dot-cr",
              "smuggling-crlf-dot-crcrlf", "smuggling-crlf-dot-lf", "smuggling-end-of-data",
              "smuggling-lf-dot-cr", "smuggling-lf-dot-crlf", "smuggling-lf-dot-lf")
_WITH_BARE_CR = ("smuggling-bdat", "smuggling-cr-dot-cr", "smuggling-cr-dot-crlf",
                 "smuggling-cr-dot-lf", "smuggling-crcrlf-dot-crcrlf", "smuggling-crlf-dot-cr",
                 "smuggling-crlf-dot-crcrlf", "smuggling-end-of-data", "smuggling-lf-dot-cr")
_ADDRESSES = ("envelope-bare-cr-in-recipient", "envelope-bare-lf-in-sender",
              "envelope-crlf-in-recipient", "envelope-quoted-local-part")
_HEADERS = ("header-bare-cr-in-subject", "header-bare-lf-in-display-name",
            "header-crlf-in-subject")
_TIMEOUTS = tuple(n for n, s in CASES.items() if s.audit and s.audit.group == "timeouts"
                  and not s.link.faults)


def _common(client: str) -> dict[str, Expected]:
    cells = {"tls-cert-checked-against-rtc": _RTC, "envelope-crlf-in-dsn-envid": _DSN,
             "hostile-auth-challenge-loop": _FORCED, "rst-during-data": _LINK}
    cells |= {name: _HEADER for name in _HEADERS}
    if client != "curl":
        cells |= {name: _na(f"CR or LF in an address: {client} does not take its addresses "
                            "as raw arguments") for name in _ADDRESSES}
    return cells


EXPECTED: Final[dict[str, dict[str, Expected]]] = {
    "curl": _common("curl") | {
        "starttls-stripped-opportunistic-credentials": _fail(_OPPORTUNISTIC.format(c="curl")),
        "starttls-stripped-cram-md5": _fail(_OPPORTUNISTIC.format(c="curl")),
        **{f"starttls-refused-{code}": _fail(_CURL_FALLBACK.format(code=code))
           for code in ("454", "502", "354", "500", "501", "530")},
        "starttls-answered-221": _fail(_CURL_FALLBACK.format(code="221, the server closing")),
        "starttls-answered-250": _fail(_CURL_FALLBACK.format(code="250")),
        "starttls-auth-buffet": _fail("after STARTTLS 502 curl --ssl sends AUTH (DIGEST-MD5) "
                                      "in plaintext"),
        "starttls-stale-capabilities": _fail("curl remembers the pre-TLS SIZE after STARTTLS: "
                                             "MAIL FROM ... SIZE= though the post-TLS EHLO "
                                             "dropped it"),
        **{name: _fail(_BARE_CR_LF.format(c="curl")) for name in _SMUGGLING},
        "envelope-bare-cr-in-recipient": _fail("curl sends a bare CR of --mail-rcpt inside "
                                               "RCPT TO and delivers"),
        "envelope-bare-lf-in-sender": _fail("curl sends a bare LF of --mail-from inside MAIL "
                                            "FROM"),
        "envelope-crlf-in-recipient": _fail("curl sends CRLF of --mail-rcpt as it is: the "
                                            "server reads a second, injected RCPT"),
        "envelope-quoted-local-part": _fail("curl sends the CRLF of a quoted local part: the "
                                            "server reads an injected DATA... line"),
        "greeting-221": _fail("curl takes a 221 greeting as a greeting and delivers"),
        **{name: _fail(_CURL_HANGS) for name in (
            "reply-digits-past-code", "reply-empty-continuation", "reply-short-continuation",
            "reply-bad-code-250-no-space", "reply-bad-code-250-underscore",
            "reply-bad-code-2x0", "reply-bad-code-dash-250", "reply-bare-cr-at-end",
            "hostile-huge-line")},
        "reply-mixed-codes-three-lines": _fail("curl takes 250-a/451-b/250 c as a 250"),
        "reply-bare-cr-inside": _fail("curl takes '250 a CR b' as a 250 and delivers"),
        "hostile-endless-multiline-10000": _fail(_BUFFERED.format(c="curl", status=56)),
        **{name: _na(_CURL_TIMEOUT) for name in _TIMEOUTS},
    },
    "msmtp": _common("msmtp") | {
        "starttls-stripped-opportunistic": _na(_MSMTP_MANDATORY),
        "starttls-ehlo-refused-opportunistic": _na(_MSMTP_MANDATORY),
        "tls-cert-weak-key": _fail("msmtp (GnuTLS) accepts a server key of 1024-bit RSA and "
                                   "delivers"),
        **{name: _fail(_BARE_CR.format(c="msmtp")) for name in _WITH_BARE_CR},
        "ehlo-bare-250": _fail(_MSMTP_BARE_250),
        "textless-reply": _fail(_MSMTP_BARE_250),
        "hostile-mixed-codes": _fail("msmtp takes 250-a/550 b as a 250 and delivers"),
        "reply-mixed-codes-three-lines": _fail("msmtp takes 250-a/451-b/250 c as a 250"),
        "reply-bare-cr-inside": _fail("msmtp takes '250 a CR b' as a 250 and delivers"),
        "hostile-endless-multiline-10000": _fail(_BUFFERED.format(c="msmtp", status=76)),
        **{name: _fail(_MSMTP_REARMS) for name in (
            "hostile-trickle", "trickle-greeting", "trickle-jitter", "trickle-under-tls",
            "trickle-final-reply")},
        **{name: _fail(_MSMTP_NO_TLS_TIMER) for name in (
            "silent-server-under-tls", "tls-handshake-stall-after-first-flight-tls12",
            "tls-handshake-stall-after-first-flight-tls13",
            "tls-handshake-stall-after-server-hello")},
    },
    "swaks": _common("swaks") | {
        "starttls-stripped-opportunistic-credentials": _fail(
            _OPPORTUNISTIC.format(c="swaks (--tls-optional-strict)")),
        "starttls-stripped-cram-md5": _fail(
            _OPPORTUNISTIC.format(c="swaks (--tls-optional-strict)")),
        "starttls-injection-ehlo-ignored": _fail(
            "swaks acts on capabilities injected in plaintext behind the 220: it sends "
            "AUTH LOGIN with no post-TLS EHLO reply at all"),
        "starttls-stale-capabilities": _fail("swaks remembers the pre-TLS PIPELINING after "
                                             "STARTTLS and pipelines"),
        "tls-cert-wrong-name": _fail("swaks --tls-verify checks the chain, not the host name: "
                                     "it delivers to a certificate for other.example.org"),
        **{name: _fail(_BARE_CR.format(c="swaks")) for name in _WITH_BARE_CR},
        **{name: _fail(_SWAKS_HELO) for name in (
            "reply-digits-past-code", "reply-empty-continuation", "reply-short-continuation")},
        "reply-mixed-codes-three-lines": _fail("swaks takes 250-a/451-b/250 c as a 250"),
        "reply-bare-cr-inside": _fail("swaks takes '250 a CR b' as a 250 and delivers"),
        "textless-reply": _fail("swaks does not take a bare '250' final line (RFC-valid): "
                                "it times out and gives up (interoperability, not safety)"),
        "hostile-endless-multiline": _fail(_SWAKS_HELO),
        "hostile-endless-multiline-10000": _fail(_SWAKS_HELO),
        "hostile-huge-line": _fail(_SWAKS_HELO),
        "auth-challenge-1mb": _fail("swaks answers a 1 MB AUTH challenge instead of cancelling "
                                    "it, logs in and delivers"),
        "tls-handshake-stall-after-first-flight-tls12": _fail(_SWAKS_STALL),
        "tls-handshake-stall-after-server-hello": _fail(_SWAKS_STALL),
    },
    "smtplib": _common("smtplib") | {
        "starttls-stripped-opportunistic-credentials": _fail(
            _OPPORTUNISTIC.format(c="smtplib_client.py (--security=starttls)")),
        "starttls-stripped-cram-md5": _fail(
            _OPPORTUNISTIC.format(c="smtplib_client.py (--security=starttls)")),
        "starttls-ehlo-refused-opportunistic": _fail(
            "our smtplib script does not fall back to HELO when EHLO is refused (503 send "
            "HELO/EHLO first): a property of the script, not of smtplib"),
        **{name: _fail(_BARE_CR_LF.format(c="smtplib")) for name in _SMUGGLING},
        **{name: _fail(_FIRST_DIGITS.format(c="smtplib")) for name in (
            "reply-digits-past-code", "reply-empty-continuation", "reply-short-continuation",
            "reply-mixed-codes-three-lines", "reply-bad-code-250-no-space",
            "reply-bad-code-250-underscore", "reply-bare-cr-inside")},
        "hostile-endless-multiline-10000": _fail(_NO_LINE_CAP.format(c="smtplib")),
        "auth-challenge-invalid-base64": _fail("smtplib answers a challenge that is not "
                                               "base64 instead of cancelling, and logs in"),
        **{name: _fail(_SMTPLIB_REARMS) for name in (
            "hostile-trickle", "trickle-greeting", "trickle-jitter", "trickle-under-tls",
            "trickle-final-reply")},
    },
}

def test_every_listed_cell_is_an_audit_case() -> None:
    for client, cells in EXPECTED.items():
        unknown = sorted(set(cells) - set(CASES))
        assert not unknown, f"{client}: no such audit case: {unknown}"


_RESULTS: dict[str, dict[str, CaseResult]] = {}


def _results(client: str) -> dict[str, CaseResult]:
    """Every case of ``client``, run once per session, WORKERS at a time."""
    if client not in _RESULTS:
        dut = DutFile.load(shipped_dut_files()[client])
        if dut.installed() is None:
            pytest.skip(f"{dut.program_path} is not installed (apt-get install {client})")

        def one(name: str) -> CaseResult:
            (result,) = audit_program([CASES[name]], dut, time_cap_s=TIME_CAP_S,
                                      client_timeout_s=CLIENT_TIMEOUT_S)
            return result

        with ThreadPoolExecutor(WORKERS) as pool:
            _RESULTS[client] = dict(zip(CASES, pool.map(one, CASES), strict=True))
    return _RESULTS[client]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("client", CLIENTS)
def test_client_audit_case(client: str, name: str) -> None:
    result = _results(client)[name]
    audit = CASES[name].audit
    status, why = EXPECTED[client].get(name, ("pass", audit.claim if audit else ""))
    context = (f"{client} on {name}: expected {status} ({why}); got {result.status}: "
               f"{result.reason}; exit {result.exit_status}; all: {list(result.reasons)}")
    assert result.status == status, context
    if status == "not_applicable":
        assert result.reason.startswith(why), context
