"""Configuration: the schema, the shipped files, and every error path."""

from __future__ import annotations

import pytest

from mfserver.config import ConfigError, load_settings, render_config
from mfserver.config.generate import PRODUCTION
from mfserver.config.schema import SCHEMA, duration, size
from tests.paths import REPO


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.source is None
    assert settings.data_dir == tmp_path / "var"
    assert settings.listen.imap == 2143 and settings.listen.https == 8443
    assert settings.listen.addresses == ["127.0.0.1"]
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'mfserver.sqlite3'}"
    assert settings.privacy.log_client_ip is False


def test_environment_names_the_file_and_the_data(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[server]\nhostname = "Mail.Example.ORG"\n')
    settings = load_settings(environ={"MFSERVER_CONFIG": str(path),
                                      "MFSERVER_DATA": str(tmp_path / "d")})
    assert settings.source == path
    assert settings.server.hostname == "mail.example.org"
    assert settings.data_dir == tmp_path / "d"


def test_shipped_files_are_generated_from_the_schema():
    assert (REPO / "conf" / "mfserver.toml").read_text() == render_config()
    assert (REPO / "conf" / "production.toml").read_text() == render_config(PRODUCTION)


@pytest.mark.parametrize("name", ["mfserver.toml", "production.toml"])
def test_shipped_files_match_the_schema(name):
    settings = load_settings(REPO / "conf" / name, environ={})
    for section, (_, options) in SCHEMA.items():
        for option in options:
            getattr(getattr(settings, section), option.name)


def test_production_example_uses_standard_ports():
    listen = load_settings(REPO / "conf" / "production.toml", environ={}).listen
    assert [listen.smtp, listen.submission, listen.smtps, listen.imap, listen.imaps,
            listen.pop3, listen.pop3s,
            listen.https] == [25, 587, 465, 143, 993, 110, 995, 443]


@pytest.mark.parametrize("text, expected", [
    ('[server]\nhostnme = "x"\n', "[server] hostnme: unknown key"),
    ('[servr]\nhostname = "x"\n', "unknown section [servr]"),
    ('[listen]\nimap = "143"\n', "[listen] imap: expected an integer, got a string"),
    ('[listen]\nimap = 70000\n', "[listen] imap: expected an integer from 0 to 65535"),
    ('[listen]\nimap = true\n', "[listen] imap: expected an integer, got a boolean"),
    ('[listen]\naddresses = ["nowhere"]\n', "[listen] addresses: not an IP address"),
    ('[listen]\naddresses = []\n', "[listen] addresses: expected a non-empty list"),
    ('[server]\nhostname = "bad host"\n', "[server] hostname: not a valid host name"),
    ('[database]\nurl = "mysql://x"\n', "[database] url: expected"),
    ('[store]\ndefault_quota = "lots"\n', "[store] default_quota: expected a size"),
    ('[auth]\nmax_delay = "1 week"\n', "[auth] max_delay: expected a duration"),
    ('[log]\nlevel = "loud"\n', "[log] level: expected one of"),
    ('[privacy]\nlog_client_ip = "yes"\n', "[privacy] log_client_ip: expected true or false"),
    ('[dns]\nnameservers = ["resolver.example"]\n', "[dns] nameservers: not an IP address"),
    ('[dns]\nnameservers = "9.9.9.9"\n', "[dns] nameservers: expected a non-empty list"),
    ('[dns]\ntimeout = "0s"\n', "[dns] timeout: expected a duration of at least 1s"),
    ('server = 1\n', "[server] must be a table"),
    ('[tls]\ncertificate = "/x.pem"\n', "[tls] certificate and private_key must be set together"),
    ('[server\n', "not valid TOML"),
])
def test_errors_name_the_file_and_the_key(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, environ={})


def test_sizes_and_durations():
    assert size("2G") == 2 * 1024 ** 3 and size("500M") == 500 * 1024 ** 2 and size(0) == 0
    assert size("10KiB") == 10240
    assert duration("15m") == 900 and duration("5d") == 432000 and duration(30) == 30
