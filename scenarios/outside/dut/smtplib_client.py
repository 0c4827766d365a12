"""A minimal SMTP client on the standard library's ``smtplib``: the ``smtplib`` DUT.

Sends one message file to one server, the way a small script would: EHLO, STARTTLS when
asked (``--security starttls``: when offered; ``required``: or give up; ``tls``:
implicit TLS), AUTH when given a user (smtplib picks the mechanism), then
``sendmail``. It checks the server certificate against ``--cafile``.

Exit status: 0 when the server accepted the message (for at least one recipient;
refused ones are listed on stderr), 1 when the mail was not delivered (an SMTP error, a
TLS or network failure), 2 on bad arguments. It knows nothing about smtp-hil.
"""

from __future__ import annotations

import argparse
import smtplib
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="send one message file with smtplib")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--from", dest="sender", required=True)
    parser.add_argument("--to", action="append", required=True, help="repeat per recipient")
    parser.add_argument("--message", type=Path, required=True, help="the message file")
    parser.add_argument("--security", choices=("none", "starttls", "required", "tls"),
                        default="none")
    parser.add_argument("--cafile", help="trust this CA (PEM)")
    parser.add_argument("--user")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--helo", help="the EHLO name (default: the host's FQDN)")
    parser.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def _context(cafile: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def _connect(args: argparse.Namespace) -> smtplib.SMTP:
    if args.security == "tls":
        return smtplib.SMTP_SSL(args.host, args.port, local_hostname=args.helo,
                                timeout=args.timeout, context=_context(args.cafile))
    client = smtplib.SMTP(args.host, args.port, local_hostname=args.helo, timeout=args.timeout)
    client.ehlo()
    if args.security in ("starttls", "required"):
        if client.has_extn("starttls"):
            client.starttls(context=_context(args.cafile))
            client.ehlo()
        elif args.security == "required":
            client.quit()
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
    return client


def send(args: argparse.Namespace) -> int:
    message = args.message.read_bytes()
    client = _connect(args)
    try:
        if args.user:
            password = args.password_file.read_text() if args.password_file else ""
            client.login(args.user, password)
        refused = client.sendmail(args.sender, args.to, message)
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    for address, (code, text) in refused.items():
        print(f"smtplib_client: recipient {address} refused: {code} "
              f"{text.decode('utf-8', 'replace')}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        return send(args)
    except (smtplib.SMTPException, OSError) as exc:
        print(f"smtplib_client: not delivered: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
