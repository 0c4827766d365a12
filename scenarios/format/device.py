"""``[device]``: the emulated board, its RTC, its firmware, and its partial device
configuration.

The board's own keys (pool, buffer size, RTC, RTC drift, address, names, watchdog, the
trust anchors) sit in ``[device]``; ``[device.config]`` holds the rest of the device
configuration, checked against :class:`smtp.config.DeviceConfig` and worded where the
scenario file sets it (``device.config.features.pipelinning: unknown key``).
``[server] host`` and (unless the scenario sets one) the port are the runner's: the
scripted server's address. The configuration is checked on its own, so its problems are
reported together with those of the section's other keys (a bad key elsewhere stands in
with its default there).

This module knows the section's keys and the device configuration's schema; nothing of
the other sections, nothing of running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from scenarios.firmware_choice import MODEL, FirmwareSetting
from scenarios.format.datetimes import RtcSetting, UtcDateTime
from scenarios.format.vocabulary import DEFAULT_RTC, STRICT, seconds_to_us
from smtp.bounds import BufferSize, PoolBuffers, PositiveSeconds
from smtp.config import CONFIG_VERSION, DOMAIN_PATTERN, HOSTNAME_PATTERN, DeviceConfig, IPv4String
from smtp.inputwording import Problem, describe_error, problems_error
from stack.tls.badcerts import TrustAnchor

MAX_RTC_VARIANTS: Final = 100
"""Each RTC variant is a whole run."""


def _trust_the_test_ca() -> list[TrustAnchor]:
    return ["test_ca"]


def _domain_value(value: object) -> object:
    return None if value == "" else value


_DEVICE_CONFIG_MOVED: Final = {
    "device": "set device.ip, device.domain and device.hostname instead",
    "stack": "set device.pool_buffers and device.buffer_size instead",
}
_RUNNER_HOST: Final = "server.invalid"
"""Stands in for ``[server] host`` while validating; the runner sets the real one."""


class DeviceSection(BaseModel):
    """``[device]``: the emulated board, its RTC, and its partial device configuration.

    ``rtc`` None means ``"unset"`` (a flat backup battery); ``domain`` None means none
    (EHLO then uses the address literal of ``ip``). ``config`` is the partial device
    configuration ([device.config]), checked against ``smtp.config.DeviceConfig``.
    """

    model_config = STRICT
    pool_buffers: PoolBuffers = 16
    buffer_size: BufferSize = 1536
    rtc: RtcSetting = DEFAULT_RTC
    rtc_variants: Annotated[list[UtcDateTime], Field(max_length=MAX_RTC_VARIANTS)] = Field(
        default_factory=list)
    """Run the scenario once per RTC setting listed here (and the server clock with it);
    it passes only when every variant passes."""
    rtc_drift_ppm: Annotated[int, Field(ge=-500_000, le=500_000)] = 0
    ip: IPv4String = "192.0.2.10"
    domain: Annotated[
        Annotated[str, Field(pattern=DOMAIN_PATTERN)] | None,
        BeforeValidator(_domain_value),
        Field(description="a domain name or address literal such as device.example.com "
                          "or [192.0.2.10], or \"\" for none"),
    ] = "device.example.com"
    hostname: Annotated[str, Field(pattern=HOSTNAME_PATTERN,
                                   description="a host name such as device")] = "device"
    watchdog_timeout_s: PositiveSeconds = 2.0
    config: dict[str, Any] = Field(default_factory=dict)
    firmware: FirmwareSetting = MODEL
    """The board's firmware (``scenarios.firmware_choice``); ``--firmware`` overrides it."""
    firmware_options: dict[str, str] = Field(default_factory=dict)
    """``key = "value"`` handed to a C firmware's init (each firmware documents its own)."""
    trusts: Annotated[list[TrustAnchor], Field(min_length=1)] = Field(
        default_factory=_trust_the_test_ca)
    """The device's trust anchors (:data:`stack.tls.badcerts.TrustAnchor`): the test CA,
    the other CA (the issuer of ``unknown_ca`` certificates), or the certificate the
    server presents (pinned). To check nothing, set ``config.tls.verify = false``."""

    @property
    def watchdog_timeout_us(self) -> int:
        return seconds_to_us(self.watchdog_timeout_s)

    @property
    def rtc_unset(self) -> bool:
        return self.rtc is None

    @field_validator("config")
    @classmethod
    def _check_config(cls, config: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Against ``DeviceConfig``, whatever the section's other keys (one that failed
        its own check stands in with its default: its problem is reported already)."""
        # The moved keys are overwritten by the scenario's own ones: check the rest too.
        problems = _moved_keys(config)
        board = {name: info.data.get(name, field.default)
                 for name, field in cls.model_fields.items() if name in _BOARD_KEYS}
        try:
            DeviceConfig.model_validate(_whole_config(config, board, _RUNNER_HOST),
                                        context={"check_version": False})
        except ValidationError as exc:
            # keyed under [device.config] (a board key the config refuses cannot occur:
            # both check it with the same bounds, and the section's own check came first)
            problems += [(where[1:] if where[:1] == ("config",) else where, message)
                         for where, message in map(_device_config_problem, exc.errors())]
        if problems:
            raise problems_error(problems)
        return config

    def _board(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _BOARD_KEYS}

    def config_overrides(self) -> dict[str, Any]:
        """The device configuration this scenario sets, as a partial config dict: every
        table but ``server.host`` (and ``server.port`` unless [device.config.server] sets
        it: the runner fills both in from the scripted server)."""
        return _config_overrides(self.config, self._board())

    def full_config_dict(self, host: str, port: int | None = None) -> dict[str, Any]:
        """A whole device configuration dict: the overrides, ``config_version`` (this
        client's unless the scenario sets one), ``server.host`` and the default port."""
        return _whole_config(self.config, self._board(), host, port)


_BOARD_KEYS: Final = ("ip", "hostname", "domain", "pool_buffers", "buffer_size")
"""The section's keys that are device configuration keys too (its [device] and [stack])."""


def _config_overrides(config: Mapping[str, Any], board: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: _deep_copy(v) for k, v in config.items()}
    device: dict[str, Any] = {"ip": board["ip"], "hostname": board["hostname"]}
    if board["domain"] is not None:
        device["domain"] = board["domain"]
    out["device"] = device
    out["stack"] = {"pool_buffers": board["pool_buffers"],
                    "buffer_size": board["buffer_size"]}
    return out


def _whole_config(config: Mapping[str, Any], board: Mapping[str, Any], host: str,
                  port: int | None = None) -> dict[str, Any]:
    data = _config_overrides(config, board)
    data.setdefault("config_version", CONFIG_VERSION)
    server = data.get("server", {})
    if isinstance(server, Mapping):  # anything else: DeviceConfig says what is wrong
        server = {**server, "host": host}
        if port is not None:
            server.setdefault("port", port)
    data["server"] = server
    return data


def _moved_keys(config: Mapping[str, Any]) -> list[Problem]:
    """``[device.config]`` keys that belong elsewhere (key paths under the config)."""
    problems: list[Problem] = []
    for key, advice in _DEVICE_CONFIG_MOVED.items():
        if key in config:
            problems.append(((key,), advice))
    server = config.get("server")
    if isinstance(server, Mapping) and "host" in server:
        problems.append((("server", "host"),
                         "set by the runner (the scripted server's address)"))
    return problems


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _device_config_problem(err: Any) -> Problem:
    """A ``DeviceConfig`` finding, keyed where the scenario file sets it."""
    loc = tuple(err["loc"])
    head = loc[0] if loc else None
    # The config's [device] and [stack] keys are [device] keys of the scenario.
    where = loc[1:] if head in _DEVICE_CONFIG_MOVED else ("config", *loc)
    _, message = describe_error(err, DeviceConfig)
    return where, message

