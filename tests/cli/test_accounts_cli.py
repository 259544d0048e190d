"""`mfserver domain|user|alias|2fa|app-password`: the account life cycle as an admin drives it."""

from __future__ import annotations

import re

import pyotp
import pytest

from mfserver.config import load_settings
from mfserver.runtime import open_runtime
from tests.harness import cli, write_config

PASSWORD = "correct horse battery staple"


@pytest.fixture
def config(tmp_path):
    path = write_config(tmp_path / "data")
    cli("domain", "add", "example.org", config=path, check=True)
    return path


def run(config, *args, stdin=None):
    return cli(*args, config=config, stdin=stdin)


def ok(config, *args, stdin=None) -> str:
    result = run(config, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(config, *args, stdin=None) -> str:
    result = run(config, *args, stdin=stdin)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("mfserver: ") and result.stderr.count("\n") == 1
    return result.stderr


def authenticate(config, login: str, secret: str, service: str = "imap"):
    runtime = open_runtime(load_settings(config, environ={}))
    try:
        return runtime.authenticator.verify(login, secret, service=service)
    finally:
        runtime.close()


def test_user_life_cycle(config):
    out = ok(config, "user", "add", "Alice@Example.org", "--name", "Alice Liddell",
             "--quota", "1G", "--password-stdin", stdin=PASSWORD + "\n")
    assert out.strip() == "added user alice <alice@example.org>"
    listing = ok(config, "user", "list")
    assert listing.startswith("alice\talice@example.org\t0/1.0G")
    shown = ok(config, "user", "show", "alice@example.org")
    assert "username: alice" in shown and "name: Alice Liddell" in shown
    assert "address: alice@example.org [primary]" in shown
    for folder in ("INBOX", "Sent", "Drafts", "Junk", "Trash", "Archive"):
        assert f"folder: {folder} " in shown

    ok(config, "user", "passwd", "alice", "--password-stdin", stdin="a new secret phrase\n")
    assert authenticate(config, "alice", PASSWORD) is None
    assert authenticate(config, "alice", "a new secret phrase").username == "alice"

    ok(config, "user", "disable", "alice")
    assert "(disabled)" in ok(config, "user", "list")
    assert authenticate(config, "alice", "a new secret phrase") is None
    ok(config, "user", "enable", "alice")

    ok(config, "user", "set", "alice", "--quota", "0", "--recovery", "alice@elsewhere.test")
    assert "recovery address: alice@elsewhere.test" in ok(config, "user", "show", "alice")
    maildir = config.parent / "mail" / "alice"
    assert maildir.is_dir()
    assert "Refusing without --yes" in fails(config, "user", "remove", "alice")
    ok(config, "user", "remove", "alice", "--yes")
    assert ok(config, "user", "list") == ""
    assert not maildir.exists()
    assert "no such user: alice" in fails(config, "user", "show", "alice")


def test_username_apart_from_address_and_login_by_either(config):
    ok(config, "user", "add", "carol@example.org", "--username", "c.smith",
       "--password-stdin", stdin=PASSWORD + "\n")
    ok(config, "alias", "add", "info@example.org", "--user", "c.smith")
    for login in ("c.smith", "C.Smith", "carol@example.org", "CAROL@EXAMPLE.ORG",
                  "info@example.org"):
        account = authenticate(config, login, PASSWORD)
        assert account is not None and account.username == "c.smith", login
    assert authenticate(config, "carol", PASSWORD) is None
    assert authenticate(config, "nobody@example.org", PASSWORD) is None


@pytest.mark.parametrize("args, stdin, message", [
    (("user", "add", "dave@unknown.test", "--password-stdin"), PASSWORD, "unknown.test"),
    (("user", "add", "bad name", "--password-stdin"), PASSWORD, "username"),
    (("user", "add", "eve@example.org", "--password-stdin"), "short", "8"),
    (("user", "add", "eve@example.org", "--password-stdin"), "", "no password on standard input"),
    (("user", "add", "eve@example.org"), PASSWORD, "use --password-stdin"),
    (("user", "passwd", "ghost", "--password-stdin"), PASSWORD, "no such user: ghost"),
    (("alias", "add", "x@example.org", "--user", "ghost"), None, "no such user: ghost"),
    (("domain", "remove", "nowhere.test"), None, "nowhere.test"),
])
def test_bad_input_is_one_line_and_changes_nothing(config, args, stdin, message):
    before = ok(config, "user", "list")
    assert message in fails(config, *args, stdin=stdin)
    assert ok(config, "user", "list") == before


def test_duplicate_user_and_address(config):
    ok(config, "user", "add", "frank@example.org", "--password-stdin", stdin=PASSWORD)
    assert "frank" in fails(config, "user", "add", "frank@example.org", "--password-stdin",
                            stdin=PASSWORD)
    assert "frank@example.org" in fails(config, "user", "add", "frank@example.org",
                                        "--username", "frank2", "--password-stdin",
                                        stdin=PASSWORD)
    assert ok(config, "user", "list").count("\n") == 1


def test_aliases_disposables_and_catch_all(config):
    ok(config, "user", "add", "gina@example.org", "--password-stdin", stdin=PASSWORD)
    ok(config, "alias", "add", "sales@example.org", "--user", "gina", "--label", "shop")
    address = ok(config, "alias", "disposable", "--user", "gina", "--domain", "example.org",
                 "--label", "newsletter").strip()
    assert re.fullmatch(r"[a-z0-9]{8,}@example\.org", address)
    listing = ok(config, "alias", "list", "gina")
    assert "gina@example.org\tprimary\tenabled" in listing
    assert "sales@example.org\talias\tenabled\tshop" in listing
    assert f"{address}\tdisposable\tenabled\tnewsletter" in listing

    runtime = open_runtime(load_settings(config, environ={}))
    try:
        resolve = runtime.directory.resolve_recipient
        assert resolve(address).username == "gina"
        ok(config, "alias", "disable", address)
        ok(config, "domain", "catch-all", "example.org", "--user", "gina")
        assert resolve(address) is None
        assert resolve("anything@example.org").username == "gina"
        assert resolve("gina+lists@example.org").username == "gina"
        ok(config, "domain", "catch-all", "example.org", "--off")
        assert resolve("anything@example.org") is None
    finally:
        runtime.close()
    assert "primary" in fails(config, "alias", "remove", "gina@example.org")
    ok(config, "alias", "remove", "sales@example.org")
    assert "sales@" not in ok(config, "alias", "list", "gina")
    fails(config, "domain", "remove", "example.org")
    ok(config, "domain", "remove", "example.org", "--force")
    assert ok(config, "domain", "list") == ""


def test_two_factor_and_app_passwords(config):
    ok(config, "user", "add", "hal@example.org", "--password-stdin", stdin=PASSWORD)
    out = ok(config, "2fa", "enable", "hal")
    uri = re.search(r"^uri: (otpauth://totp/\S+)$", out, re.M).group(1)
    secret = re.search(r"^secret: (\S+)$", out, re.M).group(1)
    assert "issuer=mail.example.test" in uri
    assert "hal%40example.org" not in uri and "hal@example.org" not in uri
    codes = re.findall(r"^  (\S+)$", out, re.M)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "█" in out or "▀" in out or "▄" in out  # the terminal QR code
    assert "two-factor on" in ok(config, "2fa", "status", "hal@example.org")
    assert "already" in fails(config, "2fa", "enable", "hal")

    assert authenticate(config, "hal", PASSWORD) is None  # the password alone no longer works
    out = ok(config, "app-password", "add", "hal", "thunderbird")
    app_secret = out.strip().splitlines()[-1]
    assert len(app_secret.replace("-", "")) >= 24
    assert authenticate(config, "hal@example.org", app_secret).username == "hal"
    assert authenticate(config, "hal", app_secret.upper().replace("-", " ")).username == "hal"
    assert "thunderbird\tcreated" in ok(config, "app-password", "list", "hal")
    fails(config, "app-password", "add", "hal", "thunderbird")

    database = (config.parent / "mfserver.sqlite3").read_bytes()
    for needle in (app_secret, app_secret.replace("-", ""), secret, *codes):
        assert needle.encode() not in database

    assert ok(config, "2fa", "verify", "hal", stdin=pyotp.TOTP(secret).now() + "\n")
    ok(config, "app-password", "remove", "hal", "thunderbird")
    assert authenticate(config, "hal", app_secret) is None
    fails(config, "app-password", "remove", "hal", "thunderbird")
    ok(config, "2fa", "disable", "hal")
    assert authenticate(config, "hal", PASSWORD).username == "hal"


def test_deliver_and_rescan(config, tmp_path):
    ok(config, "user", "add", "ida@example.org", "--password-stdin", stdin=PASSWORD)
    message = b"From: a@example.net\r\nTo: ida@example.org\r\nSubject: hi\r\n\r\nHello\r\n"
    out = ok(config, "deliver", "ida@example.org", stdin=message)
    assert out.strip() == "delivered to ida/INBOX uid 1"
    inbox_new = config.parent / "mail" / "ida" / "new"
    assert [p.read_bytes() for p in inbox_new.iterdir()] == [message]
    (inbox_new / "1700000000.outside.host").write_bytes(message.replace(b"hi", b"dropped"))
    assert "ida: 1 added, 0 removed" in ok(config, "rescan", "ida")
    assert "INBOX  2 messages, 2 unseen" in ok(config, "user", "show", "ida")
    assert "no such recipient" in fails(config, "deliver", "ghost@example.org", stdin=message)
    assert "empty message" in fails(config, "deliver", "ida", stdin=b"")
