"""The round trip over the whole catalog: run -> artifacts -> import -> run again.

``smtp-hil run X --artifacts D``, ``smtp-hil import D/capture.pcap --keylog
D/keylog.txt -o Y.toml``, ``smtp-hil run Y.toml --artifacts E``: the server of Y behaves
as X's did. Compared from the two runs' ``trace.jsonl`` (the transcript's source): every
write of the server, byte for byte and in order (so the same replies and the same
segmentation), each at the same time after what the server last received or sent (the
same delays, to the microsecond), and the same ways of ending (close, reset, TLS dropped,
silence). The imported scenario also passes on ``current``: its expectations are what a
correct client does with these answers.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from scenarios.catalog import catalog_names
from scenarios.cli.main import main
from scenarios.format import load_scenario

# What a capture cannot give back; each reason is what the round trip showed.
_NO_PACKETS = ("the client refuses the job before it connects (CR or LF in an address or "
               "a header): the capture holds no packet to import")
NOT_ROUND_TRIPPED = {
    "config-version-check": "the client refuses its configuration before it connects: the "
                            "capture holds no packet and no server behaviour to import "
                            "(import says so and exits 2, checked below)",
    "midnight-burst": "a fleet: its capture holds eight devices' connections, and import "
                      "makes the scenario of one device and one connection",
    "envelope-bare-cr-in-recipient": _NO_PACKETS,
    "envelope-bare-lf-in-sender": _NO_PACKETS,
    "envelope-crlf-in-dsn-envid": _NO_PACKETS,
    "envelope-crlf-in-recipient": _NO_PACKETS,
    "envelope-quoted-local-part": _NO_PACKETS,
    "header-bare-cr-in-subject": _NO_PACKETS,
    "header-bare-lf-in-display-name": _NO_PACKETS,
    "header-crlf-in-subject": _NO_PACKETS,
    "auth-challenge-1mb": "the client stopped reading the 1 MiB challenge: its last ~60 KB and "
                          "the server's 501 never left the server's queue, so the capture "
                          "holds neither; import generates the challenge one 64 KiB chunk "
                          "beyond what it shows (it passes on current), and the generated "
                          "reply's length and hash differ from the recorded one",
    "starttls-220-without-tls": "the server said 220 to STARTTLS, did not start TLS and took "
                                "the client's ClientHello for command lines (three 500 "
                                "replies); a [[server.replay]] entry cannot say a 220 that "
                                "does not start TLS, so import keeps the 500s in the STARTTLS "
                                "answer at their recorded gap, and the first comes 2.559 ms "
                                "after the 220 instead of when the ClientHello arrived",
    "starttls-injection-ehlo-ignored": "the server ignored the EHLO inside TLS (rule action "
                                       "ignore); silent-after-starttls falls silent (action "
                                       "silent): on the wire both are a command never "
                                       "answered, import writes then = \"silent\", and the "
                                       "trace's silence record is the one difference",
}
ENDINGS = ("close", "reset", "drop_tls", "silence")


def server_behaviour(trace: Path) -> list[tuple[str, int]]:
    """Each server write (hex) or ending, with its time after the server's last event."""
    out: list[tuple[str, int]] = []
    last = 0
    for line in trace.read_text().splitlines():
        record = json.loads(line)
        if not record["source"].startswith("server."):
            continue
        kind, t_us = record["kind"], record["t_us"]
        if kind == "rx":
            last = t_us
        elif kind == "tx":
            out.append((record["fields"]["data"]["hex"], t_us - last))
            last = t_us
        elif kind == "tx_generated":  # what went out of a generated reply (its total
            fields = record["fields"]   # length is not on the wire, so not in a capture)
            out.append((f"generated {fields['sent']} {fields['sha256']}", t_us - last))
            last = t_us
        elif kind in ENDINGS:
            out.append((kind, t_us - last))
    return out


def accepted(trace: Path) -> bool:
    """Whether the server accepted a connection (a server that did may still never
    write: a TLS handshake the client refused under implicit TLS)."""
    return any(json.loads(line)["kind"] == "accept" for line in trace.read_text().splitlines()
               if '"server.' in line)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(args), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def record_and_import(name: str, tmp_path: Path) -> tuple[Path, tuple[int, str, str]]:
    status, _, err = cli("run", name, "--artifacts", str(tmp_path / "first"))
    assert status in (0, 1), err
    recorded = tmp_path / "first" / f"{name}--current--seed0"
    imported = tmp_path / f"{name}-imported.toml"
    return recorded, cli("import", str(recorded / "capture.pcap"), "--keylog",
                         str(recorded / "keylog.txt"), "-o", str(imported))


@pytest.mark.parametrize("name", catalog_names())
def test_the_imported_scenario_replays_the_same_server(name: str, tmp_path: Path) -> None:
    if name in NOT_ROUND_TRIPPED:
        pytest.skip(f"{name} cannot round-trip: {NOT_ROUND_TRIPPED[name]}")
    recorded, (status, _, err) = record_and_import(name, tmp_path)
    assert status == 0, err
    imported = tmp_path / f"{name}-imported.toml"
    status, out, err = cli("run", str(imported), "--artifacts", str(tmp_path / "second"))
    replayed = tmp_path / "second" / f"{name}-imported--current--seed0"
    before = server_behaviour(recorded / "trace.jsonl")
    after = server_behaviour(replayed / "trace.jsonl")
    if not accepted(recorded / "trace.jsonl"):  # nobody listened: nor may the import's
        assert not after and not load_scenario(imported).server.listen
    assert [w for w, _ in after] == [w for w, _ in before], "different writes or endings"
    assert after == before, "same writes, different timing"
    assert status == 0, f"the imported scenario fails on current: {out}{err}"


def test_a_run_with_no_connection_has_nothing_to_import(tmp_path: Path) -> None:
    _, (status, _, err) = record_and_import("config-version-check", tmp_path)
    assert status == 2
    assert err.count("\n") == 1 and "no TCP traffic" in err
