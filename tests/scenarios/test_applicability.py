"""Which scenarios a C firmware can run, from its declared capabilities (no C needed)."""

from __future__ import annotations

import pytest

from emulator.cfirmware.abi import Capability
from scenarios.applicability import NotApplicable, check_applicable, missing_capabilities
from scenarios.catalog import load_named
from scenarios.cli.main import main

LWIP_LIKE = Capability.AUTH_PLAIN | Capability.AUTH_LOGIN
EVERYTHING = Capability(sum(int(c) for c in Capability))


@pytest.mark.parametrize(("name", "reasons"), [
    ("blank-line-truncation", ()),
    ("auth-plain", ()),
    ("starttls", ("STARTTLS (the server offers it and the device's security is starttls)",
                  "the scenario expects TLS to be used")),
    ("implicit-tls", ("implicit TLS (device security = tls)",
                      "the scenario expects TLS to be used")),
    ("pipelining", ("the scenario expects PIPELINING", "3 To recipients")),
    ("chunking", ("the scenario expects CHUNKING (BDAT)",)),
    ("attachments", ("attachments",)),
    ("auth-cram-md5", ("AUTH CRAM-MD5",)),
    ("vrfy", ("a VRFY job",)),
    ("config-version-check", ("a configuration header version check",)),
])
def test_the_reasons_come_from_the_scenario(name: str, reasons: tuple[str, ...]) -> None:
    scenario = load_named(name)
    assert missing_capabilities(scenario, LWIP_LIKE) == reasons
    assert missing_capabilities(scenario, EVERYTHING) == ()


def test_not_applicable_is_an_exception_never_a_result() -> None:
    with pytest.raises(NotApplicable) as caught:
        check_applicable(load_named("dsn"), "lwip", LWIP_LIKE)
    assert str(caught.value) == ("dsn is not applicable to lwip: 2 To recipients; "
                                 "DSN parameters")


def test_a_missing_firmware_library_is_bad_input(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SMTP_HIL_LWIP_LIB", "/nonexistent/libhil_lwip.so")
    assert main(["run", "auth-plain", "--firmware", "lwip"]) == 2
    assert capsys.readouterr().err == (
        "smtp-hil: SMTP_HIL_LWIP_LIB=/nonexistent/libhil_lwip.so: no such file\n")
    assert main(["matrix", "--firmware", "nonsense"]) == 2
    assert "--firmware: expected 'model', 'lwip' or the path" in capsys.readouterr().err
