"""Tests of smtp/settings.py and smtp/timers.py: the client's settings refuse what is not
in their closed sets (security modes, timer names) instead of falling back to a default."""

from __future__ import annotations

import pytest

from smtp.config import TimeoutsSection
from smtp.settings import SECOND_US, ClientSettings
from smtp.timers import RFC5321_TIMEOUTS_S, TIMER_NAMES


def test_an_unknown_timer_name_is_refused_not_given_300_seconds() -> None:
    settings = ClientSettings(server_host="mx.example.net")

    with pytest.raises(ValueError, match=r"unknown timer 'sleep' \(known: connect, greeting"):
        settings.timeout_us("sleep")  # type: ignore[arg-type]


def test_settings_with_an_unknown_timer_are_refused() -> None:
    with pytest.raises(ValueError, match=r"timeouts_us: unknown timer 'data_end' \(known: "):
        ClientSettings(server_host="mx.example.net",
                       timeouts_us={"data_end": SECOND_US})  # type: ignore[dict-item]


@pytest.mark.parametrize("security", ["tsl", "STARTTLS", "", None])
def test_an_unknown_security_mode_is_refused_not_taken_for_plaintext(security: object) -> None:
    with pytest.raises(ValueError, match="security: expected one of none, starttls, tls, "
                                         "required, got "):
        ClientSettings(server_host="mx.example.net", security=security)  # type: ignore[arg-type]


def test_a_timer_the_settings_do_not_name_runs_for_its_rfc_default() -> None:
    settings = ClientSettings(server_host="mx.example.net", timeouts_us={"mail": 7 * SECOND_US})

    assert settings.timeout_us("mail") == 7 * SECOND_US
    assert settings.timeout_us("data_term") == 600 * SECOND_US
    assert settings.timeout_us("bdat") == RFC5321_TIMEOUTS_S["bdat"] * SECOND_US


def test_every_timer_has_a_default_and_every_configurable_timeout_is_a_timer() -> None:
    assert set(RFC5321_TIMEOUTS_S) == set(TIMER_NAMES)
    assert set(TimeoutsSection.model_fields) <= set(TIMER_NAMES)
