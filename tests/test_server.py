"""`twistd -ny mfserver.tac`: start, first start, upgrade, configuration errors, privacy of logs."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess

import pytest
from cryptography import x509

from mfserver.config import load_settings
from mfserver.db import Database, migrate
from tests.harness import TWISTD, Server, cli, environment, free_port, write_config


def run_tac(config, timeout=60) -> subprocess.CompletedProcess:
    """Start the server expecting it to fail at once."""
    return subprocess.run(
        TWISTD,
        capture_output=True, text=True, timeout=timeout, cwd=config.parent,
        env=environment(MFSERVER_CONFIG=str(config)))


def https_get(port: int, path: str = "/", source: str = "127.0.0.1") -> tuple[bytes, dict]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) as raw:
        with context.wrap_socket(raw, server_hostname="mail.example.test") as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            der = tls.getpeercert(binary_form=True)
    return data, {"cert": x509.load_der_x509_certificate(der)}


@pytest.mark.parametrize("pattern, replacement, expected", [
    (r"(?m)^imap = \d+$", "imap = 'x'", "[listen] imap: expected an integer, got a string"),
    (r"(?m)^hostname = ", "hostnam = ", "[server] hostnam: unknown key"),
    (r"(?m)^\[store\]$", "[store", "not valid TOML"),
])
def test_configuration_error_exits_before_any_listener(tmp_path, pattern, replacement, expected):
    port = free_port()
    config = write_config(tmp_path, ports={"https": port})
    config.write_text(re.sub(pattern, replacement, config.read_text()))
    result = run_tac(config)
    assert result.returncode != 0
    assert expected in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_missing_configuration_file(tmp_path):
    result = run_tac(tmp_path / "absent.toml")
    assert result.returncode != 0
    assert "configuration file not found" in result.stderr and "absent.toml" in result.stderr


def test_first_start_creates_everything_and_serves_tls(tmp_path):
    data = tmp_path / "fresh"
    port = free_port()
    config = write_config(data, ports={"https": port})
    with Server(config).start(wait_for=port) as server:
        body, info = https_get(port)
        assert b"200 OK" in body.split(b"\r\n")[0]
        assert b"Strict-Transport-Security: max-age=" in body
        names = info["cert"].extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        assert "mail.example.test" in names
        assert server.stop()
    log = server.log_text()
    assert "SELF-SIGNED certificate for mail.example.test" in log
    assert (data / "mfserver.sqlite3").exists() and (data / "tls" / "selfsigned.key").exists()
    assert (data / "tls" / "selfsigned.key").stat().st_mode & 0o077 == 0
    database = Database(load_settings(config, environ={}).database_url)
    assert migrate.current_revision(database) == migrate.head_revision()
    database.dispose()


def test_start_upgrades_an_older_schema_and_keeps_accounts(tmp_path):
    port = free_port()
    config = write_config(tmp_path, ports={"https": port})
    settings = load_settings(config, environ={})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    migrate.upgrade(database, "0001")
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO accounts (id, username, display_name, password_hash, quota_bytes,"
            " used_bytes, disabled, maildir, totp_enabled, created_at)"
            " VALUES (1, 'olduser', '', '{PLAIN}x', 0, 0, 0, 'olduser', 0, 0)")
    database.dispose()
    with Server(config).start(wait_for=port) as server:
        assert server.stop()
    assert "database schema 0001 -> " in server.log_text()
    shown = cli("user", "show", "olduser", config=config, check=True).stdout
    assert "folder: INBOX" in shown and "folder: Archive" in shown  # provisioned at start


def test_commands_work_while_the_server_runs(tmp_path):
    port = free_port()
    config = write_config(tmp_path, ports={"https": port})
    with Server(config).start(wait_for=port):
        cli("domain", "add", "example.org", config=config, check=True)
        cli("user", "add", "zoe@example.org", "--password-stdin", config=config,
            stdin="a long enough password", check=True)
        cli("deliver", "zoe", config=config, stdin=b"Subject: x\r\n\r\nbody\r\n", check=True)
        assert "zoe" in cli("user", "list", config=config, check=True).stdout


def test_default_start_uses_var_under_the_working_directory(tmp_path):
    env = environment()
    env.pop("MFSERVER_CONFIG", None)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 8443))
        except OSError:
            pytest.fail("port 8443 is taken on this machine; the default start needs it")
    process = subprocess.Popen(
        TWISTD,
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = Server(tmp_path / "unused.toml", process=process, log=tmp_path / "none")
    try:
        server.wait_for_port(8443)
        assert (tmp_path / "var" / "mfserver.sqlite3").exists()
    finally:
        assert server.stop()


def test_logs_carry_no_client_address_and_no_secret(tmp_path):
    port = free_port()
    config = write_config(tmp_path, ports={"https": port}, log={"level": "debug"})
    secret = "a very secret password 123"
    with Server(config).start(wait_for=port) as server:
        cli("domain", "add", "example.org", config=config, check=True)
        cli("user", "add", "max@example.org", "--password-stdin", config=config,
            stdin=secret, check=True)
        https_get(port, "/nothing-here?token=abc", source="127.0.0.7")
        https_get(port, "/", source="127.0.0.7")
        assert server.stop()
    log = server.log_text()
    assert '"GET /nothing-here" 404' in log
    assert "127.0.0.7" not in log and "token=abc" not in log and secret not in log


def test_logs_may_carry_client_addresses_when_the_admin_says_so(tmp_path):
    port = free_port()
    config = write_config(tmp_path, ports={"https": port}, privacy={"log_client_ip": True})
    with Server(config).start(wait_for=port) as server:
        https_get(port, "/", source="127.0.0.7")
        assert server.stop()
    assert "127.0.0.7 \"GET /\" 200" in server.log_text()
