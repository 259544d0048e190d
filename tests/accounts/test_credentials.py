"""The one credential check: logins, services, second factor, rehashing, timing."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from mfserver.accounts import passwords
from mfserver.accounts.passwords import verify_password
from mfserver.db.models import Account
from tests.accounts.conftest import PASSWORD

MAIL = ("imap", "pop3", "smtp", "dav")
# `doveadm pw -s SHA512-CRYPT -p 'Tr0ub4dor&3'`
DOVECOT_SHA512 = ("{SHA512-CRYPT}$6$CjkuGZLV12M24dry$T2vxtnrnrLj8RKVLXRQOk6MRKM6w2XM9/wVP5sjX."
                  "DtdpbB952siCkDA/.0.kzBZt.OS1kxhmGF3sORQU0Q2Q.")


def _login(authenticator, login, secret, service="imap"):
    account = authenticator.verify(login, secret, service=service)
    return account.username if account is not None else None


def _stored_hash(database, account_id):
    with database.read() as session:
        return session.get(Account, account_id).password_hash


def _set_hash(database, account_id, value):
    with database.write() as session:
        session.execute(update(Account).where(Account.id == account_id)
                        .values(password_hash=value))


@pytest.mark.parametrize("service", [*MAIL, "web"])
def test_password_login_by_username_or_address(authenticator, directory, alice, service):
    directory.add_alias("alice", "al@example.org")
    for login in ("alice", "Alice", "alice@example.org", "AL@Example.org"):
        assert _login(authenticator, login, PASSWORD, service) == "alice"
    assert _login(authenticator, "alice", PASSWORD + "x", service) is None
    assert _login(authenticator, "alice", "", service) is None


def test_unknown_login_spends_the_same_work(authenticator, alice, monkeypatch):
    spent = []
    monkeypatch.setattr(passwords, "spend_time", spent.append)
    assert _login(authenticator, "bob", PASSWORD) is None
    assert _login(authenticator, "bob@example.org", PASSWORD) is None
    assert _login(authenticator, "not a login", PASSWORD) is None
    assert spent == [PASSWORD] * 3


def test_disabled_account_or_address(authenticator, directory, alice, monkeypatch):
    directory.add_alias("alice", "al@example.org")
    directory.set_address_enabled("al@example.org", False)
    assert _login(authenticator, "al@example.org", PASSWORD) is None
    assert _login(authenticator, "alice", PASSWORD) == "alice"
    directory.set_disabled("alice", True)
    spent = []
    monkeypatch.setattr(passwords, "spend_time", spent.append)
    for service in (*MAIL, "web"):
        assert _login(authenticator, "alice", PASSWORD, service) is None
    assert len(spent) == 5


def test_app_password_without_totp(authenticator, second_factor, alice):
    secret = second_factor.add_app_password("alice", "phone")
    for service in MAIL:
        assert _login(authenticator, "alice@example.org", secret, service) == "alice"
        assert _login(authenticator, "alice", PASSWORD, service) == "alice"
    assert _login(authenticator, "alice", secret, "web") is None  # never opens the portal
    second_factor.revoke_app_password("alice", "phone")
    assert _login(authenticator, "alice", secret) is None


def test_totp_on_refuses_the_account_password_for_mail(authenticator, second_factor, alice,
                                                       monkeypatch):
    second_factor.enable_totp("alice", issuer="example.org")
    secret = second_factor.add_app_password("alice", "laptop")
    spent = []
    monkeypatch.setattr(passwords, "spend_time", spent.append)
    for service in MAIL:
        assert _login(authenticator, "alice", PASSWORD, service) is None
        assert _login(authenticator, "alice", secret, service) == "alice"
    assert spent == [PASSWORD] * 4  # a refusal costs as much as a wrong password
    # the portal takes the password as its first step, and sees that TOTP must follow
    account = authenticator.verify("alice", PASSWORD, service="web")
    assert account is not None and account.totp_enabled
    assert _login(authenticator, "alice", secret, "web") is None


def test_app_password_use_is_recorded(authenticator, second_factor, clock, alice):
    secret = second_factor.add_app_password("alice", "phone")
    assert _login(authenticator, "alice", secret, "smtp") == "alice"
    assert second_factor.list_app_passwords("alice")[0].last_used_day == int(clock.now // 86400)


def test_app_password_of_another_account(authenticator, directory, second_factor, alice):
    directory.add_account("bob", "bobs password")
    secret = second_factor.add_app_password("bob", "phone")
    assert _login(authenticator, "alice", secret) is None
    assert _login(authenticator, "bob", secret) == "bob"


def test_legacy_hash_is_rehashed_on_next_login(authenticator, database, alice):
    _set_hash(database, alice.id, DOVECOT_SHA512)
    assert _login(authenticator, "alice", "wrong password") is None
    assert _stored_hash(database, alice.id) == DOVECOT_SHA512  # a failure changes nothing
    assert _login(authenticator, "alice@example.org", "Tr0ub4dor&3", "pop3") == "alice"
    stored = _stored_hash(database, alice.id)
    assert stored.startswith("$argon2id$")
    assert verify_password("Tr0ub4dor&3", stored) == (True, None)
    assert _login(authenticator, "alice", "Tr0ub4dor&3") == "alice"
    assert _stored_hash(database, alice.id) == stored


def test_plaintext_is_rehashed_on_first_success(authenticator, database, alice):
    _set_hash(database, alice.id, "{PLAIN}migrated password")
    assert _login(authenticator, "alice", "migrated password", "web") == "alice"
    assert _stored_hash(database, alice.id).startswith("$argon2id$")


def test_unknown_scheme_refuses_quietly(authenticator, database, alice):
    _set_hash(database, alice.id, "{NTLM}8846f7eaee8fb117ad06bdd830b7586c")
    assert _login(authenticator, "alice", "password") is None


def test_bounds(authenticator, alice):
    assert _login(authenticator, "alice", "x" * 5000) is None
    with pytest.raises(ValueError, match="service"):
        authenticator.verify("alice", PASSWORD, service="ftp")
