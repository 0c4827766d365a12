"""Credentials never reach what a simulated run writes, unless asked (--show-secrets).

Every artifact (transcript.txt, trace.jsonl, capture.pcap, result.json), the JSON
lines, the JUnit XML and the pytest plugin's failure text are searched for the
password and every encoding of it a client sends: base64 of the password, of the user
name (the LOGIN lines), of the PLAIN and XOAUTH2 blobs, the CRAM-MD5 response, and the
hex of each (the trace lines write bytes as hex).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from pathlib import Path

import pytest

from emulator.trace import TraceRecord
from scenarios.artifacts import capture_epoch_s, transcript_lines, write_artifacts
from scenarios.artifactstream import StreamedArtifacts
from scenarios.cli.main import main
from scenarios.format import parse_scenario
from scenarios.masking import MaskingStream, masked_records
from scenarios.runner import resolve_scenario, run
from smtp.profiles import PROFILE_NAMES

USER, PASSWORD = b"pump7", b"s3cret-pump7"
TOKEN = b"ya29.token-of-pump7"


def _forms() -> list[bytes]:
    challenges = {resolve_scenario(name).server.cram_md5_challenge.encode()
                  for name in ("auth-cram-md5", "starttls")}
    digests = [hmac.new(PASSWORD, c, hashlib.md5).hexdigest().encode() for c in challenges]
    encoded = [base64.b64encode(v) for v in (
        PASSWORD, USER, b"\0" + USER + b"\0" + PASSWORD,
        b"user=pump7\x01auth=Bearer " + TOKEN + b"\x01\x01",
        *(b"pump7 " + d for d in digests))]
    forms = [PASSWORD, TOKEN, *encoded, *digests]
    return forms + [f.hex().encode() for f in forms]


FORMS = _forms()

XOAUTH2 = """
[scenario]
name = "xoauth2-probe"
title = "XOAUTH2"
time_limit_s = 600

[device.config.server]
security = "none"

[device.config.auth]
username = "pump7"
oauth_token = "ya29.token-of-pump7"
mechanism = "XOAUTH2"

[server]
starttls = false
capabilities = ["AUTH XOAUTH2"]
require_auth = true
credentials = { pump7 = "ya29.token-of-pump7" }

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
body = "x\\n"

[expect]
event = "sent"
mailbox_count = 1
"""


def _lossy_login(tmp_path: Path) -> Path:
    """auth-login with the segments carrying the user name and password lost once each:
    each crosses the link twice."""
    text = (Path("scenarios/catalog/auth-login.toml").read_text()
            .replace('name = "auth-login"', 'name = "auth-login-lossy"')
            .replace("[server]", "[[link.faults]]\nfault = \"drop_nth\"\nsrc = \"device\"\n"
                                 "n = 3\npayload_only = true\n\n[[link.faults]]\n"
                                 "fault = \"drop_nth\"\nsrc = \"device\"\nn = 4\n"
                                 "payload_only = true\n\n[server]", 1))
    path = tmp_path / "auth-login-lossy.toml"
    path.write_text(text)
    return path


def _failing(tmp_path: Path) -> Path:
    """AUTH PLAIN refused (the server knows another password): a short failing run, so
    the JUnit failure text and the pytest message hold the AUTH line."""
    text = (Path("scenarios/catalog/auth-plain.toml").read_text()
            .replace('name = "auth-plain"', 'name = "auth-plain-refused"')
            .replace('credentials = { pump7 = "s3cret-pump7" }',
                     'credentials = { pump7 = "other" }'))
    path = tmp_path / "auth-plain-refused.toml"
    path.write_text(text)
    return path


def _scenario_args(tmp_path: Path) -> list[str]:
    xoauth2 = tmp_path / "xoauth2.toml"
    xoauth2.write_text(XOAUTH2)
    return ["auth-plain", "auth-login", "auth-cram-md5", "starttls", str(xoauth2),
            str(_lossy_login(tmp_path)), str(_failing(tmp_path))]


def _everything(folder: Path, *texts: str) -> bytes:
    files = b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    return files + "".join(texts).encode()


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_no_credential_reaches_any_artifact_json_or_junit_by_default(tmp_path: Path) -> None:
    artifacts, junit = tmp_path / "out", tmp_path / "junit.xml"
    code, out, err = _cli("run", *_scenario_args(tmp_path), "--json", "--artifacts",
                          str(artifacts), "--junit", str(junit))
    assert code == 1 and err == ""  # the refused AUTH fails, as it should
    written = _everything(artifacts, out, junit.read_text())
    leaks = [f for f in FORMS if f in written]
    assert leaks == []
    transcript = (artifacts / "auth-plain--current--seed0" / "transcript.txt").read_text()
    assert "C: AUTH PLAIN <credentials hidden, 28 bytes>" in transcript
    login = (artifacts / "auth-login-lossy--current--seed0" / "transcript.txt").read_text()
    assert login.count("C: <credentials hidden, ") == 2
    assert "AUTH PLAIN &lt;credentials hidden, 28 bytes&gt;" in junit.read_text()


def test_with_show_secrets_every_view_has_the_bytes(tmp_path: Path) -> None:
    artifacts = tmp_path / "out"
    code, _, _ = _cli("run", "auth-plain", "auth-login",
                      "--artifacts", str(artifacts), "--show-secrets")
    assert code == 0
    for run_dir, secret in (
            ("auth-plain--current--seed0", base64.b64encode(b"\0" + USER + b"\0" + PASSWORD)),
            ("auth-login--current--seed0", base64.b64encode(PASSWORD))):
        folder = artifacts / run_dir
        assert secret in (folder / "transcript.txt").read_bytes()
        assert secret.hex().encode() in (folder / "trace.jsonl").read_bytes()
        assert secret in (folder / "capture.pcap").read_bytes()


def test_the_trace_keeps_the_bytes_and_its_hash() -> None:
    result = run(resolve_scenario("auth-plain"), "current", 0)
    records = result.world.kernel.trace.records
    plain = base64.b64encode(b"\0pump7\0s3cret-pump7")
    assert any(isinstance(r.fields.get("data"), bytes) and plain in r.fields["data"]
               for r in records)
    masked = masked_records(records)
    assert len(masked) == len(records)
    assert all(m is r for m, r in zip(masked, records, strict=True)
               if not any(isinstance(v, bytes) and plain in v for v in r.fields.values()))
    assert result.trace_sha256 == run(resolve_scenario("auth-plain"), "current", 0).trace_sha256
    shown = transcript_lines(records, show_secrets=True)
    assert any(plain.decode() in line for line in shown)
    assert not any(plain.decode() in line for line in transcript_lines(records))


@pytest.mark.parametrize("seed", range(6))
def test_a_lossy_link_never_carries_a_credential_into_the_pcap_records(
        seed: int, tmp_path: Path) -> None:
    scenario = parse_scenario(_lossy_login(tmp_path).read_text().replace(
        "[server]", "[link]\nloss = 0.2\n\n[server]", 1), source="lossy.toml")
    records = run(scenario, "current", seed).world.kernel.trace.records
    masked = masked_records(records)
    for rec in masked:
        for value in rec.fields.values():
            if isinstance(value, bytes):
                assert not any(f in value for f in FORMS), rec


# --- artifacts written as the run goes (scenarios/artifactstream.py) ----------------------

_STREAMED_FILES = ("transcript.txt", "trace.jsonl", "capture.pcap")


def _auth_scenarios() -> list[str]:
    """Every catalog scenario whose client or server holds a password."""
    return sorted(p.stem for p in Path("scenarios/catalog").glob("*.toml")
                  if "password" in p.read_text())


def test_streamed_artifacts_carry_no_credential(tmp_path: Path) -> None:
    """``run --artifacts`` alone writes as the run goes, from a lean run: no credential
    in any file, the transcript says what was hidden, and the runs' verdicts and hashes
    are those of runs that keep their whole trace."""
    artifacts = tmp_path / "out"
    args = _scenario_args(tmp_path)
    code, out, err = _cli("run", *args, "--json", "--artifacts", str(artifacts))
    assert code == 1 and err == ""  # the refused AUTH fails, as it should
    leaks = [f for f in FORMS if f in _everything(artifacts, out)]
    assert leaks == []
    transcript = (artifacts / "auth-plain--current--seed0" / "transcript.txt").read_text()
    assert "C: AUTH PLAIN <credentials hidden, 28 bytes>" in transcript
    login = (artifacts / "auth-login-lossy--current--seed0" / "transcript.txt").read_text()
    assert login.count("C: <credentials hidden, ") == 2
    _, full_out, _ = _cli("run", *args, "--json", "--junit", str(tmp_path / "j.xml"))
    assert ([(r["verdict"], r["trace_sha256"]) for r in map(json.loads, out.splitlines())]
            == [(r["verdict"], r["trace_sha256"])
                for r in map(json.loads, full_out.splitlines())])


@pytest.mark.parametrize("show_secrets", [False, True])
def test_streamed_artifacts_are_byte_for_byte_those_of_the_whole_trace(
        tmp_path: Path, show_secrets: bool) -> None:
    """Every catalog AUTH scenario on every release (and the lossy LOGIN on six seeds):
    the files written as the run goes are the very bytes write_artifacts writes from
    the same run's whole trace afterwards (the same run: TLS ciphertext differs between
    runs)."""
    cases = [(resolve_scenario(name), profile, 0)
             for name in _auth_scenarios() for profile in PROFILE_NAMES]
    lossy = parse_scenario(_lossy_login(tmp_path).read_text().replace(
        "[server]", "[link]\nloss = 0.2\n\n[server]", 1), source="lossy.toml")
    cases += [(lossy, "current", seed) for seed in range(6)]
    for scenario, profile, seed in cases:
        where = tmp_path / f"{scenario.name}-{profile}-{seed}"
        with StreamedArtifacts(where / "streamed", epoch_s=capture_epoch_s(scenario),
                               show_secrets=show_secrets) as streams:
            result = run(scenario, profile, seed, watch=[streams])
        whole = write_artifacts(result, where / "whole", show_secrets=show_secrets)
        for name in _STREAMED_FILES:
            assert (where / "streamed" / name).read_bytes() == (whole / name).read_bytes(), (
                scenario.name, profile, seed, name)
        if not show_secrets:
            assert not [f for f in FORMS if f in _everything(where / "streamed")], where


def test_a_segment_after_a_gap_waits_until_its_credential_is_known() -> None:
    """A client segment sent before the bytes ahead of it in its stream (crafted: TCP
    sends in order) is held back, with what follows it, until the gap is filled; then
    every record comes out in order, blanked as masked_records blanks the whole list."""
    client, server = "10.0.0.2:49152", "10.0.0.1:25"

    def segment(t_us: int, src: str, dst: str, seq: int, flags: str,
                payload: bytes = b"") -> TraceRecord:
        return TraceRecord(t_us, "link", "tx", {"src": src, "dst": dst, "seq": seq,
                                               "ack": 0, "flags": flags, "payload": payload})

    secret = base64.b64encode(b"\0" + USER + b"\0" + PASSWORD)
    first, second = b"AUTH PLAIN " + secret[:10], secret[10:] + b"\r\n"
    records = [segment(0, client, server, 1000, "S"),
               segment(1, server, client, 5000, "SA"),
               segment(2, server, client, 5001, "PA", b"250 AUTH PLAIN\r\n"),
               segment(3, client, server, 1001 + len(first), "PA", second),  # ahead of a gap
               TraceRecord(4, "board", "boot", {}),
               segment(5, client, server, 1001, "PA", first)]
    shown: list[TraceRecord] = []
    stream = MaskingStream(shown.append)
    for rec in records[:5]:
        stream(rec)
    assert len(shown) == 3 and stream.waiting == 2
    stream(records[5])
    stream.close()
    assert shown == masked_records(records)
    assert shown[3].fields["payload"] == b"*" * len(secret[10:]) + b"\r\n"
    assert not any(f in rec.fields.get("payload", b"") for rec in shown for f in FORMS
                   if isinstance(rec.fields.get("payload"), bytes))
