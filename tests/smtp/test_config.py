"""Device configuration: a full file, the defaults, and one clear line per problem naming
the file and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtp.config import CONFIG_VERSION, ConfigError, DeviceConfig, load_config, parse_config

FULL = """\
config_version = 3

[device]
domain = "pump7.example.com"
ip = "198.51.100.7"
hostname = "pump7"

[server]
host = "mail.example.com"
port = 587
security = "required"
tls_server_name = "smtp.example.com"

[auth]
username = "pump7"
password = "secret"
mechanism = "CRAM-MD5"

[timeouts]
connect = 5
greeting = 2.5
data_term = 600.0

[features]
pipelining = false
chunking = false
chunk_size = 512
dsn = false
size = false
eight_bit_mime = false
smtputf8 = false

[tls]
ciphers = "ECDHE-RSA-AES256-SHA"
min_version = "TLSv1.2"
max_version = "TLSv1.3"
ca_file = "ca.pem"
verify = false

[stack]
pool_buffers = 4
buffer_size = 512
"""

MINIMAL = 'config_version = 3\n[server]\nhost = "mail.example.com"\n'


def problems(text: str, **kwargs: bool) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="device.toml", **kwargs)
    assert str(info.value).splitlines() == list(info.value.problems)
    return list(info.value.problems)


def test_full_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text(FULL, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.config_version == CONFIG_VERSION == 3
    assert (cfg.device.domain, cfg.device.ip, cfg.device.hostname) == (
        "pump7.example.com", "198.51.100.7", "pump7")
    assert (cfg.server.host, cfg.server.port, cfg.server.security) == (
        "mail.example.com", 587, "required")
    assert cfg.server.tls_server_name == "smtp.example.com"
    assert (cfg.auth.username, cfg.auth.password, cfg.auth.mechanism) == (
        "pump7", "secret", "CRAM-MD5")
    assert cfg.auth.oauth_token is None
    assert cfg.timeouts.connect == 5.0
    assert cfg.timeouts.us("greeting") == 2_500_000
    assert cfg.features.model_dump() == {
        "pipelining": False, "chunking": False, "chunk_size": 512, "dsn": False,
        "size": False, "eight_bit_mime": False, "smtputf8": False}
    assert cfg.tls.model_dump() == {
        "ciphers": "ECDHE-RSA-AES256-SHA", "min_version": "TLSv1.2",
        "max_version": "TLSv1.3", "ca_file": "ca.pem", "verify": False}
    assert (cfg.stack.pool_buffers, cfg.stack.buffer_size) == (4, 512)


def test_defaults() -> None:
    cfg = parse_config(MINIMAL, source="device.toml")
    assert cfg.device.model_dump() == {"domain": None, "ip": "192.0.2.10", "hostname": "device"}
    assert (cfg.server.port, cfg.server.security, cfg.server.tls_server_name) == (
        25, "starttls", None)
    assert cfg.auth.model_dump() == {"username": None, "password": None, "oauth_token": None,
                                     "mechanism": None}
    assert cfg.features.model_dump() == {
        "pipelining": True, "chunking": True, "chunk_size": 4096, "dsn": True, "size": True,
        "eight_bit_mime": True, "smtputf8": True}
    assert cfg.tls.model_dump() == {"ciphers": None, "min_version": None, "max_version": None,
                                    "ca_file": None, "verify": True}
    assert (cfg.stack.pool_buffers, cfg.stack.buffer_size) == (16, 1536)


def test_timeout_defaults_follow_rfc_5321_in_microseconds() -> None:
    cfg = parse_config(MINIMAL, source="device.toml")
    s = 1_000_000
    assert cfg.timeouts_us() == {
        "connect": 30 * s, "greeting": 300 * s, "ehlo": 300 * s, "starttls": 120 * s,
        "tls_handshake": 60 * s, "auth": 300 * s, "mail": 300 * s, "rcpt": 300 * s,
        "data_init": 120 * s, "data_block": 180 * s, "data_term": 600 * s, "rset": 120 * s,
        "quit": 60 * s, "vrfy": 300 * s, "etrn": 300 * s}
    assert all(isinstance(v, int) for v in cfg.timeouts_us().values())
    with pytest.raises(ValueError, match="timeouts: unknown timeout 'sleep'"):
        cfg.timeouts.us("sleep")


def test_config_is_immutable() -> None:
    cfg = parse_config(MINIMAL, source="device.toml")
    with pytest.raises(ValueError, match="frozen"):
        cfg.server.port = 2525


def test_wrong_version() -> None:
    assert problems(MINIMAL.replace("= 3", "= 2")) == [
        "device.toml: config_version: file has version 2, this client expects version 3"]


def test_missing_version() -> None:
    assert problems('[server]\nhost = "h"\n') == [
        "device.toml: config_version: missing (this client expects version 3)"]


def test_version_is_not_checked_when_the_caller_says_so() -> None:
    assert parse_config('[server]\nhost = "h"\n', source="d.toml",
                        check_version=False).config_version is None
    old = parse_config(MINIMAL.replace("= 3", "= 1"), source="d.toml", check_version=False)
    assert old.config_version == 1
    assert problems(MINIMAL.replace("= 3", '= "3"'), check_version=False) == [
        "device.toml: config_version: expected an integer, got '3'"]


def test_unknown_keys_nested_and_top_level() -> None:
    text = "colour = 'blue'\n" + MINIMAL + "[features]\npipelinning = true\n[extras]\nx = 1\n"
    assert problems(text) == [
        "device.toml: features.pipelinning: unknown key",
        "device.toml: colour: unknown key",
        "device.toml: [extras]: unknown section"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[server]\nhost = "h"\nport = "abc"',
         "device.toml: server.port: expected an integer, got 'abc'"),
        ('[server]\nhost = "h"\nport = 0',
         "device.toml: server.port: expected an integer >= 1, got 0"),
        ('[server]\nhost = "h"\nport = 65536',
         "device.toml: server.port: expected an integer <= 65535, got 65536"),
        ('[server]\nhost = "h"\nport = 25.0',
         "device.toml: server.port: expected an integer, got 25.0"),
        ('[server]\nhost = "h"\nport = true',
         "device.toml: server.port: expected an integer, got true"),
        ('[server]\nhost = "h"\nsecurity = "ssl"',
         "device.toml: server.security: expected one of none, starttls, tls, required, "
         "got 'ssl'"),
        ('[server]\nhost = 1', "device.toml: server.host: expected a string, got 1"),
        ('[server]\nport = 25', "device.toml: server.host: missing, expected a string"),
        ('server = "mail.example.com"',
         "device.toml: server: expected a table, got 'mail.example.com'"),
        ('[server]\nhost = "h"\n[features]\npipelining = "yes"',
         "device.toml: features.pipelining: expected true or false, got 'yes'"),
        ('[server]\nhost = "h"\n[features]\nchunk_size = 0',
         "device.toml: features.chunk_size: expected an integer >= 1, got 0"),
        ('[server]\nhost = "h"\n[timeouts]\nrcpt = 0',
         "device.toml: timeouts.rcpt: expected a number > 0, got 0"),
        ('[server]\nhost = "h"\n[timeouts]\nrcpt = -1.5',
         "device.toml: timeouts.rcpt: expected a number > 0, got -1.5"),
        ('[server]\nhost = "h"\n[timeouts]\nrcpt = inf',
         "device.toml: timeouts.rcpt: expected a finite number, got inf"),
        ('[server]\nhost = "h"\n[timeouts]\nrcpt = "5m"',
         "device.toml: timeouts.rcpt: expected a number, got '5m'"),
        ('[server]\nhost = "h"\n[auth]\nmechanism = "DIGEST-MD5"',
         "device.toml: auth.mechanism: expected one of PLAIN, LOGIN, CRAM-MD5, ANONYMOUS, "
         "XOAUTH2, got 'DIGEST-MD5'"),
        ('[server]\nhost = "h"\n[device]\nip = "192.0.2.300"',
         "device.toml: device.ip: expected an IPv4 address such as 192.0.2.10, "
         "got '192.0.2.300'"),
        ('[server]\nhost = "h"\n[device]\ndomain = "bad domain"',
         "device.toml: device.domain: expected a domain name or address literal such as "
         "device.example.com or [192.0.2.10], got 'bad domain'"),
        ('[server]\nhost = "h"\n[device]\nhostname = "pump_7"',
         "device.toml: device.hostname: expected a host name such as device, got 'pump_7'"),
        ('[server]\nhost = "h"\n[tls]\nmin_version = "TLSv1.1"',
         "device.toml: tls.min_version: expected one of TLSv1.2, TLSv1.3, got 'TLSv1.1'"),
        ('[server]\nhost = "h"\n[tls]\nmin_version = "TLSv1.3"\nmax_version = "TLSv1.2"',
         "device.toml: tls: expected min_version (TLSv1.3) not above max_version (TLSv1.2)"),
        ('[server]\nhost = "h"\n[tls]\nciphers = "NOPE"',
         "device.toml: tls.ciphers: OpenSSL accepts no cipher in 'NOPE'"),
        ('[server]\nhost = "h"\n[tls]\nciphers = "ECDHE-RSA-AES256-SHA:!ALL"',
         "device.toml: tls.ciphers: OpenSSL accepts no cipher in 'ECDHE-RSA-AES256-SHA:!ALL'"),
        ('[server]\nhost = "h"\n[stack]\npool_buffers = 1',
         "device.toml: stack.pool_buffers: expected an integer >= 2, got 1"),
        ('[server]\nhost = "h"\n[stack]\nbuffer_size = 255',
         "device.toml: stack.buffer_size: expected an integer >= 256, got 255"),
        # every number has a ceiling too (smtp/bounds.py)
        ('[server]\nhost = "h"\n[timeouts]\nrcpt = 1e308',
         "device.toml: timeouts.rcpt: expected a number <= 31536000, got 1e+308"),
        ('[server]\nhost = "h"\n[timeouts]\nrcpt = 1' + "0" * 400,
         "device.toml: timeouts.rcpt: expected a number <= 31536000, got "
         "100000000000000000000000000000... (401 digits)"),
        ('[server]\nhost = "h"\n[stack]\npool_buffers = 100000000000000000000000000',
         "device.toml: stack.pool_buffers: expected an integer <= 65536, "
         "got 100000000000000000000000000"),
        ('[server]\nhost = "h"\n[stack]\nbuffer_size = 1099511627776',
         "device.toml: stack.buffer_size: expected an integer <= 65536, got 1099511627776"),
        ('[server]\nhost = "h"\n[features]\nchunk_size = 1099511627776',
         "device.toml: features.chunk_size: expected an integer <= 1048576, got 1099511627776"),
        ('[server]\nhost = "' + "h" * 1000 + '"\nport = "' + "9" * 1000 + '"',
         "device.toml: server.port: expected an integer, "
         "got '999999999999999999999999999999...' (1000 characters)"),
    ],
)
def test_bad_values_name_file_key_and_expectation(extra: str, expected: str) -> None:
    assert problems("config_version = 3\n" + extra + "\n") == [expected]


def test_several_problems_one_line_each() -> None:
    text = 'config_version = 2\n[server]\nhost = "h"\nport = "abc"\n[features]\nchnking = 1\n'
    assert problems(text) == [
        "device.toml: config_version: file has version 2, this client expects version 3",
        "device.toml: server.port: expected an integer, got 'abc'",
        "device.toml: features.chnking: unknown key"]


def test_device_ip_and_domain_forms() -> None:
    cfg = parse_config(MINIMAL + '[device]\nip = "10.0.0.1"\ndomain = "[10.0.0.1]"\n',
                       source="device.toml")
    assert (cfg.device.ip, cfg.device.domain) == ("10.0.0.1", "[10.0.0.1]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config_version = 3\n[server]\nhost = \n",
         "device.toml: line 3, column 8: TOML syntax error: Invalid value"),
        ('config_version = 3\n[server\nhost = "h"\n',
         "device.toml: line 2, column 8: TOML syntax error:"),
        ('config_version = 3\nname = "unterminated',
         "device.toml: line 2, column 21: TOML syntax error: Unterminated string"),
        ("config_version = 3\nconfig_version = 3\n", "device.toml: line 2, column "),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, expected: str) -> None:
    [line] = problems(text)
    assert line.startswith(expected)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^no such device configuration file: .*missing\.toml$"):
        load_config(tmp_path / "missing.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'config_version = 3\n# caf\xe9\n')
    with pytest.raises(ConfigError, match=r"latin\.toml: not UTF-8 text"):
        load_config(latin)


def test_model_can_be_built_in_python() -> None:
    cfg = DeviceConfig.model_validate({"config_version": 3, "server": {"host": "h"}})
    assert cfg.server.host == "h"
