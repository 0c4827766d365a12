"""Scenarios that cannot give the same trace hash twice say so wherever the hash shows.

Two settings do: an ECDSA server certificate (see scenarios/reproducibility.py for why it
cannot be made reproducible with OpenSSL 3.0 through Python's ssl), and a server that
answers STARTTLS with 220 but stays in plaintext, reading the ClientHello as commands.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from scenarios.cli.main import main
from scenarios.format import parse_scenario
from scenarios.reproducibility import (
    ECDSA_NOT_REPRODUCIBLE,
    PLAINTEXT_CLIENT_HELLO_NOT_REPRODUCIBLE,
    why_not_reproducible,
)
from scenarios.runner import resolve_scenario, run

ECDSA = """
[scenario]
name = "ecdsa-probe"
title = "probe"

[device.config.server]
security = "starttls"

[server]
tls_cert = "ecdsa"

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
body = "Pressure nominal.\\n"

[expect]
event = "sent"
"""


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue()


def _ecdsa_file(tmp_path: Path) -> str:
    path = tmp_path / "ecdsa-probe.toml"
    path.write_text(ECDSA, encoding="utf-8")
    return str(path)


def test_an_ecdsa_server_certificate_really_makes_the_hash_vary_and_rsa_does_not() -> None:
    """The reason given is the real one: twenty runs with an ECDSA certificate give more
    than one hash (all equal by chance: about 1 in 10^8), the same with RSA give one."""
    ecdsa = parse_scenario(ECDSA, source="ecdsa-probe.toml")
    rsa = parse_scenario(ECDSA.replace('tls_cert = "ecdsa"', 'tls_cert = "rsa"'),
                         source="rsa-probe.toml")
    assert len({run(ecdsa).trace_sha256 for _ in range(20)}) > 1
    assert len({run(rsa).trace_sha256 for _ in range(20)}) == 1


def test_only_an_ecdsa_certificate_is_not_reproducible() -> None:
    assert why_not_reproducible(parse_scenario(ECDSA, source="x.toml")) == \
        ECDSA_NOT_REPRODUCIBLE
    assert why_not_reproducible(resolve_scenario("starttls")) is None
    not_listening = ECDSA.replace('tls_cert = "ecdsa"', 'tls_cert = "ecdsa"\nlisten = false')
    assert why_not_reproducible(parse_scenario(not_listening, source="x.toml")) is None


def test_run_prints_the_hash_with_the_reason_and_json_carries_it(tmp_path: Path) -> None:
    path = _ecdsa_file(tmp_path)
    code, out = _cli("run", path)
    assert code == 0, out
    assert "note: this trace hash is not reproducible: tls_cert = \"ecdsa\"" in out
    code, out = _cli("run", path, "--json")
    assert json.loads(out)["trace_not_reproducible"] == ECDSA_NOT_REPRODUCIBLE
    code, out = _cli("run", "starttls", "--json")
    assert json.loads(out)["trace_not_reproducible"] is None
    code, out = _cli("run", "starttls")
    assert "not reproducible" not in out


def test_check_determinism_reports_it_as_not_checked_with_the_reason(tmp_path: Path) -> None:
    path = _ecdsa_file(tmp_path)
    code, out = _cli("run", path, "--check-determinism")
    assert code == 0, out
    assert "determinism not checked: not reproducible by design: tls_cert = \"ecdsa\"" in out
    assert "deterministic:" not in out
    code, out = _cli("run", path, "--check-determinism", "--json")
    data = json.loads(out)
    assert data["deterministic"] is None
    assert data["determinism"] == {"checked": False, "why": ECDSA_NOT_REPRODUCIBLE}


def test_a_220_without_tls_really_makes_the_hash_vary_and_says_why() -> None:
    """The catalog's starttls-220-without-tls: the server reads the random ClientHello as
    plaintext commands. Twenty runs give more than one hash (the outcome is always the
    same); a server that starts TLS after its 220 gives one."""
    plaintext = resolve_scenario("starttls-220-without-tls")
    assert why_not_reproducible(plaintext) == PLAINTEXT_CLIENT_HELLO_NOT_REPRODUCIBLE
    results = [run(plaintext) for _ in range(20)]
    assert len({r.trace_sha256 for r in results}) > 1
    assert all(r.passed for r in results)
    assert why_not_reproducible(resolve_scenario("starttls-refused-454")) is None
