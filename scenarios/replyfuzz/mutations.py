"""Hostile SMTP replies: a correct reply per command, and the ways to break it.

A reply is a list of :class:`Line` (code, separator, text, terminator), rendered to bytes
only at the end, so every mutation works on the part it is about. The mutation classes
are those of shared/reference/hostile-servers.md section 4 ("Mutation classes for the
reply fuzzer"):

- **code value**: another well-formed code, chosen from the ones that mean something to
  some command (``220`` to HELO, ``251`` to MAIL, ``334`` outside AUTH, ``421`` ...);
- **code syntax**: too few or too many digits, out of range (``099``, ``650``), not
  digits at all, digits that are digits only to Unicode (``²`` as latin-1 ``0xB2``);
- **separator**: SP, ``-``, none, TAB, other bytes;
- **continuation mismatch**: a last line that says more follows, a middle line that says
  it is the last, a line with another code;
- **terminator**: CRLF, LF, CR, none, CRCRLF, LFCR;
- **length**: a text of 0, 3, 4, 505-513, 998-1001 octets, 64 KiB and more;
- **line count**: 0 (no reply at all), 1, 10, 99-101, 1000, 100000 lines;
- **byte classes**: NUL, ESC, DEL, 0x80-0xFF, bare CR or LF, UTF-8, inside text or code;
- **tokens**: a word of the text (an EHLO parameter, a base64 challenge) replaced by a
  hostile one: non-ASCII digits, huge or negative numbers, invalid base64, empty.

Segmentation, timing and surplus or unsolicited replies are about *delivering* replies,
not their bytes: :mod:`scenarios.replyfuzz.harness` does them. So does the choice of
which replies to mutate. The EHLO reply's capability list is generated here too, with
its parameters fuzzed (SIZE, AUTH).

This module knows the reply grammar of RFC 5321 4.2 and nothing about the client; its
choices come from a :class:`~scenarios.replyfuzz.chooser.Chooser`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from scenarios.replyfuzz.chooser import Chooser, chance, pick


@dataclass(frozen=True, slots=True)
class Line:
    """One reply line as bytes: ``code + sep + text + end``, ``times`` times over."""

    code: bytes
    sep: bytes
    text: bytes
    end: bytes = b"\r\n"
    times: int = 1


Reply = list[Line]

#: Codes that mean something to some command: the code-value mutation picks from these.
MEANINGFUL_CODES: Final = (
    250, 220, 221, 235, 251, 252, 253, 334, 354, 421, 450, 451, 452, 454, 500, 501, 502,
    503, 504, 530, 535, 550, 551, 552, 553, 554, 555,
)
BAD_CODES: Final = (
    b"", b"2", b"25", b"2500", b"25000", b"099", b"199", b"650", b"999", b"2x0", b"25a",
    b"-25", b"\xb250", b"2\xb20", b"25\xb2", b"\xd9\xa2\xd9\xa5\xd9\xa0", b" 250", b"250250",
)
SEPARATORS: Final = (b" ", b"-", b"", b"\t", b"_", b"\x00", b"+")
TERMINATORS: Final = (b"\r\n", b"\n", b"\r", b"", b"\r\r\n", b"\n\r")
LENGTHS: Final = (0, 3, 4, 505, 506, 507, 508, 509, 510, 511, 512, 513, 998, 999, 1000, 1001,
                  65536, 70000)
LINE_COUNTS: Final = (0, 1, 2, 10, 99, 100, 101, 1000, 100_000)
ODD_BYTES: Final = (
    b"\x00", b"\x1b", b"\x7f", b"\x80", b"\x9b", b"\xa0", b"\xb2", b"\xb9", b"\xff", b"\r",
    b"\n", b"\t", b"\xc2\xb2", b"\xd9\xa3", b"\xef\xbc\x91", b"\x1b[2J", b"\x00\x00\x00",
)
HOSTILE_TOKENS: Final = (
    b"", b"\xb2", b"1\xb2", b"\xb3\xb9", b"\xd9\xa1\xd9\xa2", b"-1", b"+5", b"0", b"00",
    b"1e9", b"0x10", b"18446744073709551616", b"9" * 40, b"=", b"====", b"AAA", b"A===",
    b"*", b"\xff\xfe", b"PLAIN\x00LOGIN", b"\x1b[2J", b"=" * 3000, b"QUFB" * 5000,
    b"AUTH", b"STARTTLS", b"SIZE", b"9" * 15, b"9" * 16, b"1_000", b"\xa0",
)
FILLS: Final = (b"A", b"x", b" ", b"\xff", b"-", b"0")

#: The extensions an EHLO reply may list, plainest first (the ones every server has).
BASE_CAPABILITIES: Final = (
    b"PIPELINING", b"SIZE", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"CHUNKING",
    b"SMTPUTF8", b"DSN", b"ETRN", b"VRFY",
)
SIZE_VALUES: Final = (
    b"10485760", b"\xb2", b"1\xb2", b"\xb3\xb9", b"", b"0", b"-1", b"1000", b"9" * 15,
    b"9" * 16, b"18446744073709551616", b"1e9", b"\xd9\xa1\xd9\xa2", b"10485760\x00", b"0x10",
)
"""The SIZE parameter: the plain one, then numbers that are not quite numbers."""
MECHANISMS: Final = (b"PLAIN", b"LOGIN", b"CRAM-MD5", b"ANONYMOUS", b"XOAUTH2", b"NTLM",
                     b"GSSAPI", b"SCRAM-SHA-256")
CRAM_CHALLENGE: Final = base64.b64encode(b"<1896.697170952@postoffice.example.net>")
LOGIN_PROMPTS: Final = (base64.b64encode(b"Username:"), base64.b64encode(b"Password:"))
XOAUTH2_ERROR: Final = base64.b64encode(b'{"status":"401","schemes":"Bearer","scope":"x"}')


def reply(code: int, *texts: bytes) -> Reply:
    """A well-formed reply: ``250-a\\r\\n250 b\\r\\n`` (one empty text: ``250\\r\\n``)."""
    raw = b"%03d" % code
    last = len(texts) - 1
    return [Line(raw, b" " if i == last else b"-", text) for i, text in enumerate(texts)]


MAX_REPEATED_BYTES: Final = 1 << 20
"""A repeated line stops at 1 MiB: 100000 copies of a 64 KiB line would be 6.4 GB."""


def render(lines: Sequence[Line]) -> bytes:
    out = []
    for line in lines:
        unit = line.code + line.sep + line.text + line.end
        out.append(unit * min(line.times, max(1, MAX_REPEATED_BYTES // max(1, len(unit)))))
    return b"".join(out)


# ---- the EHLO reply ------------------------------------------------------------------------


def ehlo_capabilities(chooser: Chooser, *, offer_starttls: bool) -> list[bytes]:
    """The capability lines of one EHLO reply: a random set, sometimes with odd values."""
    lines = [cap for cap in BASE_CAPABILITIES if not chance(chooser, 30)]
    if b"SIZE" in lines:
        value = pick(chooser, SIZE_VALUES) if chance(chooser, 15) else SIZE_VALUES[0]
        lines[lines.index(b"SIZE")] = b"SIZE " + value
    if not chance(chooser, 10):
        count = chooser.integer(1, len(MECHANISMS))
        start = chooser.integer(0, len(MECHANISMS) - 1)
        chosen = [MECHANISMS[(start + i) % len(MECHANISMS)] for i in range(count)]
        lines.append(b"AUTH " + b" ".join(chosen))
    if offer_starttls:
        lines.append(b"STARTTLS")
    if chance(chooser, 10):  # a hostile parameter or keyword line
        keyword = pick(chooser, (b"SIZE", b"AUTH", b"STARTTLS", b"X-EXT", b"\xdfTARTTLS",
                                 b"AUTH=PLAIN", b"-SIZE", b"8BITMIME"))
        lines.insert(chooser.integer(0, len(lines)), keyword + b" " + pick(chooser,
                                                                           HOSTILE_TOKENS))
    if chance(chooser, 1):  # a capability bomb
        lines += [b"X-BOMB-%d" % i for i in range(pick(chooser, (300, 5000)))]
    return lines


# ---- mutations -----------------------------------------------------------------------------

def _line_index(chooser: Chooser, lines: Reply) -> int:
    return chooser.integer(0, len(lines) - 1)


def _code_value(chooser: Chooser, lines: Reply) -> Reply:
    code = b"%03d" % pick(chooser, MEANINGFUL_CODES)
    return [replace(line, code=code) for line in lines]


def _code_syntax(chooser: Chooser, lines: Reply) -> Reply:
    i = _line_index(chooser, lines)
    lines[i] = replace(lines[i], code=pick(chooser, BAD_CODES))
    return lines


def _separator(chooser: Chooser, lines: Reply) -> Reply:
    i = _line_index(chooser, lines)
    lines[i] = replace(lines[i], sep=pick(chooser, SEPARATORS))
    return lines


def _continuation(chooser: Chooser, lines: Reply) -> Reply:
    how = chooser.integer(0, 2)
    if how == 0:  # the last line says more follows: the reply never ends
        lines[-1] = replace(lines[-1], sep=b"-")
    elif how == 1 and len(lines) > 1:  # a middle line says it is the last
        i = chooser.integer(0, len(lines) - 2)
        lines[i] = replace(lines[i], sep=b" ")
    else:  # a line with another code
        i = _line_index(chooser, lines)
        lines[i] = replace(lines[i], code=b"%03d" % pick(chooser, MEANINGFUL_CODES))
    return lines


def _terminator(chooser: Chooser, lines: Reply) -> Reply:
    end = pick(chooser, TERMINATORS)
    if chance(chooser, 50):
        return [replace(line, end=end) for line in lines]
    i = _line_index(chooser, lines)
    lines[i] = replace(lines[i], end=end)
    return lines


def _length(chooser: Chooser, lines: Reply) -> Reply:
    i = _line_index(chooser, lines)
    lines[i] = replace(lines[i], text=pick(chooser, FILLS) * pick(chooser, LENGTHS))
    return lines


def _line_count(chooser: Chooser, lines: Reply) -> Reply:
    count = pick(chooser, LINE_COUNTS)
    if count == 0:
        return []
    first, last = lines[0], lines[-1]
    if count == 1:
        return [last]
    middle = replace(first, sep=b"-", text=b"more", times=count - 2)
    return [replace(first, sep=b"-"), middle, last]


def _odd_bytes(chooser: Chooser, lines: Reply) -> Reply:
    i = _line_index(chooser, lines)
    odd = pick(chooser, ODD_BYTES)
    line = lines[i]
    if chance(chooser, 25):  # in the code
        at = chooser.integer(0, len(line.code))
        lines[i] = replace(line, code=line.code[:at] + odd + line.code[at:])
    else:
        at = chooser.integer(0, len(line.text))
        lines[i] = replace(line, text=line.text[:at] + odd + line.text[at:])
    return lines


def _token(chooser: Chooser, lines: Reply) -> Reply:
    i = _line_index(chooser, lines)
    words = lines[i].text.split(b" ")
    words[chooser.integer(0, len(words) - 1)] = pick(chooser, HOSTILE_TOKENS)
    lines[i] = replace(lines[i], text=b" ".join(words))
    return lines


MUTATIONS: Final = (_code_value, _token, _code_syntax, _separator, _continuation,
                    _terminator, _length, _line_count, _odd_bytes)
"""Every mutation class, the plainest (a well-formed reply with another code) first."""


def mutate(chooser: Chooser, lines: Reply) -> tuple[Reply, bool]:
    """One or two mutations of ``lines``; also whether the result is still well-formed
    (a single reply that ends at its last byte, as a parser must see it)."""
    out = list(lines)
    well_formed = True
    for _ in range(1 + int(chance(chooser, 20))):
        mutation = pick(chooser, MUTATIONS)
        out = mutation(chooser, out) if out else out
        well_formed = well_formed and mutation is _code_value
    return out, well_formed and bool(out)
