"""`mfserver init`, `dns` and `check`, run as the admin runs them."""

from __future__ import annotations

import socket

from mfserver.config import load_settings
from tests.harness import cli, write_config


def test_init_prepares_an_empty_directory_and_prints_dns_records(tmp_path):
    data = tmp_path / "srv"
    result = cli("init", "--data", str(data), "--domain", "Example.ORG",
                 "--hostname", "mail.example.org")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    settings = load_settings(data / "mfserver.toml", environ={})
    assert settings.server.hostname == "mail.example.org"
    assert settings.data_dir == data
    assert (data / "mfserver.sqlite3").exists()
    assert (data / "tls" / "selfsigned.pem").exists()
    assert (data / "keys" / "server.key").stat().st_mode & 0o077 == 0
    dkim = sorted(p.name for p in (data / "dkim" / "example.org").iterdir())
    assert len(dkim) == 2 and all(p.endswith(".key") for p in dkim)
    assert "example.org. IN MX 10 mail.example.org." in out
    assert 'example.org. IN TXT "v=spf1 mx -all"' in out
    assert out.count("._domainkey.example.org. IN TXT") == 2
    assert "k=rsa; p=MII" in out and "k=ed25519; p=" in out
    assert '_dmarc.example.org. IN TXT "v=DMARC1; p=quarantine' in out
    assert "autoconfig.example.org. IN CNAME mail.example.org." in out
    for service, port in (("_imaps", 2993), ("_imap", 2143), ("_submissions", 2465),
                          ("_submission", 2587), ("_pop3s", 2995), ("_caldavs", 8443),
                          ("_carddavs", 8443)):
        assert f"{service}._tcp.example.org. IN SRV 0 1 {port} mail.example.org." in out
    assert "self-signed" in out


def test_init_refuses_to_overwrite_without_force(tmp_path):
    args = ("init", "--data", str(tmp_path), "--domain", "example.org", "--hostname", "mx.example.org")
    assert cli(*args).returncode == 0
    again = cli(*args)
    assert again.returncode == 1
    assert "exists already" in again.stderr and "Traceback" not in again.stderr
    assert cli(*args, "--force").returncode == 0


def test_init_with_a_bad_hostname_writes_nothing(tmp_path):
    result = cli("init", "--data", str(tmp_path / "d"), "--domain", "example.org",
                 "--hostname", "not a host")
    assert result.returncode == 1
    assert "[server] hostname: not a valid host name" in result.stderr
    assert not (tmp_path / "d" / "mfserver.toml").exists()


def test_dns_for_a_listener_that_is_off(tmp_path):
    config = write_config(tmp_path, ports={"pop3": 0, "pop3s": 0})
    cli("domain", "add", "example.net", config=config, check=True)
    out = cli("dns", "example.net", config=config, check=True).stdout
    assert "_pop3s._tcp.example.net. IN SRV 0 0 0 ." in out
    assert "_pop3._tcp.example.net. IN SRV 0 0 0 ." in out


def test_check_reports_ok_and_a_busy_port(tmp_path):
    config = write_config(tmp_path)
    settings = load_settings(config, environ={})
    result = cli("check", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check: ok" in result.stdout
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", settings.listen.imap))
        busy.listen()
        result = cli("check", config=config)
    assert result.returncode == 0
    assert f"warning: port imap 127.0.0.1:{settings.listen.imap}: in use" in result.stdout


def test_check_fails_on_a_broken_certificate(tmp_path):
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    config = write_config(tmp_path, tls={"certificate": str(tmp_path / "cert.pem"),
                                         "private_key": str(tmp_path / "key.pem")})
    result = cli("check", config=config)
    assert result.returncode == 1
    assert "not a PEM certificate" in result.stdout
    assert result.stderr.strip() == "mfserver: check failed: 1 error(s)"


def test_check_fails_on_a_certificate_for_another_host(tmp_path):
    import trustme

    authority = trustme.CA()
    leaf = authority.issue_cert("other.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    config = write_config(tmp_path, tls={"certificate": str(tmp_path / "cert.pem"),
                                         "private_key": str(tmp_path / "key.pem")})
    result = cli("check", config=config)
    assert result.returncode == 1
    assert "not valid for mail.example.test" in result.stdout


def test_configuration_errors_are_one_line(tmp_path):
    missing = cli("user", "list", config=tmp_path / "nope.toml")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (f"mfserver: {tmp_path / 'nope.toml'}: "
                                      "configuration file not found")
    bad = tmp_path / "bad.toml"
    bad.write_text("[listen]\nimap = 'x'\n")
    result = cli("check", config=bad)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "[listen] imap: expected an integer" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    result = cli("user", "frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_default_data_directory_is_var_under_the_working_directory(tmp_path):
    result = cli("domain", "add", "example.org", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "mfserver.sqlite3").exists()
    result = cli("domain", "list", cwd=tmp_path, MFSERVER_DATA=str(tmp_path / "elsewhere"))
    assert result.stdout == ""
    assert (tmp_path / "elsewhere" / "mfserver.sqlite3").exists()
