"""Credentials out of the report's records (scenarios/report/masking.py)."""

from __future__ import annotations

from emulator.trace import TraceRecord
from scenarios.report.masking import report_records


def _dialogue(*parts: tuple[str, bytes]) -> list[TraceRecord]:
    records = [TraceRecord(0, "server.c1", "accept", {"peer": "192.0.2.10:49152"})]
    records += [TraceRecord(i + 1, "server.c1", kind, {"data": data})
                for i, (kind, data) in enumerate(parts)]
    return records


def _client_bytes(records: list[TraceRecord]) -> list[bytes]:
    out = []
    for rec in records:
        data = rec.fields.get("data")
        if rec.kind == "rx" and isinstance(data, bytes):
            out.append(data)
    return out


def test_plain_initial_response_is_blanked_and_the_rest_is_kept() -> None:
    records = _dialogue(("rx", b"AUTH PLAIN AHB1bXA3AHMzY3JldA==\r\n"),
                        ("tx", b"235 2.7.0 Authentication successful\r\n"),
                        ("rx", b"MAIL FROM:<pump7@example.com>\r\n"))
    masked = _client_bytes(report_records(records))
    assert masked == [b"AUTH PLAIN " + b"*" * len(b"AHB1bXA3AHMzY3JldA==") + b"\r\n",
                      b"MAIL FROM:<pump7@example.com>\r\n"]


def test_login_lines_are_blanked_until_the_final_reply() -> None:
    records = _dialogue(("rx", b"AUTH LOGIN\r\n"), ("tx", b"334 VXNlcm5hbWU6\r\n"),
                        ("rx", b"cHVtcDc=\r\n"), ("tx", b"334 UGFzc3dvcmQ6\r\n"),
                        ("rx", b"czNjcmV0\r\n"), ("tx", b"535 5.7.8 No\r\n"),
                        ("rx", b"QUIT\r\n"))
    masked = _client_bytes(report_records(records))
    assert masked == [b"AUTH LOGIN\r\n", b"********\r\n", b"********\r\n", b"QUIT\r\n"]


def test_a_command_split_across_reads_is_still_hidden() -> None:
    records = _dialogue(("rx", b"AUTH PL"), ("rx", b"AIN AHB1bXA3AHMzY3JldA==\r\n"),
                        ("tx", b"235 2.7.0 OK\r\n"))
    masked = b"".join(_client_bytes(report_records(records)))
    assert b"AHB1bXA3" not in masked and len(masked) == len(b"AUTH PLAIN AHB1bXA3AHMzY3JldA==\r\n")


def test_records_without_credentials_are_the_same_objects() -> None:
    records = _dialogue(("rx", b"EHLO x\r\n"), ("tx", b"250 ok\r\n"))
    records.append(TraceRecord(9, "board.smtp", "send", {"label": "EHLO", "length": 8}))
    assert all(a is b for a, b in zip(records, report_records(records), strict=True))
