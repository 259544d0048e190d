"""The directory: domains, accounts and addresses, logins, and where mail goes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from mfserver.accounts import Conflict, InvalidValue, NotFound
from mfserver.accounts.passwords import verify_password
from mfserver.db.models import Account
from tests.accounts.conftest import PASSWORD

# -- domains -------------------------------------------------------------------------------------


def test_domain_life_cycle(directory, clock):
    info = directory.add_domain("Example.ORG.")
    assert info.name == "example.org"
    assert info.catch_all is None and info.created_at == int(clock.now)
    assert directory.get_domain("EXAMPLE.org") == info
    directory.add_domain("b\u00fccher.example")
    assert [d.name for d in directory.list_domains()] == ["example.org", "xn--bcher-kva.example"]
    assert directory.get_domain("xn--bcher-kva.example").name == "xn--bcher-kva.example"
    directory.remove_domain("example.org")
    with pytest.raises(NotFound, match="example.org"):
        directory.get_domain("example.org")


def test_duplicate_domain_in_any_spelling(directory):
    directory.add_domain("b\u00fccher.example")
    with pytest.raises(Conflict, match="already exists"):
        directory.add_domain("XN--BCHER-KVA.example")


@pytest.mark.parametrize("name", ["", "nodot", "-a.org", "a-.org", "a_b.org", "a..org",
                                  "1.2.3.4", "x" * 64 + ".org", "a b.org", "a@b.org",
                                  ".example.org"])
def test_bad_domain_names(directory, name):
    with pytest.raises(InvalidValue):
        directory.add_domain(name)


def test_unknown_domain(directory):
    with pytest.raises(NotFound):
        directory.get_domain("example.net")
    with pytest.raises(NotFound):
        directory.remove_domain("example.net")


def test_domain_with_addresses_is_kept_unless_forced(directory, alice):
    directory.add_domain("example.net")
    directory.add_alias("alice", "al@example.net")
    with pytest.raises(Conflict, match="1 address"):
        directory.remove_domain("example.net")
    directory.remove_domain("example.net", force=True)
    assert [a.address for a in directory.list_addresses("alice")] == ["alice@example.org"]
    directory.remove_domain("example.org", force=True)
    account = directory.get_account("alice")
    assert account.primary_address is None and directory.list_addresses("alice") == []


def test_dkim_selectors(directory):
    directory.add_domain("example.org")
    directory.set_dkim_selectors("example.org", "MF2024r", "mf2024e")
    info = directory.get_domain("example.org")
    assert (info.dkim_rsa_selector, info.dkim_ed25519_selector) == ("mf2024r", "mf2024e")
    directory.set_dkim_selectors("example.org", None, "mf2025e")
    info = directory.get_domain("example.org")
    assert (info.dkim_rsa_selector, info.dkim_ed25519_selector) == (None, "mf2025e")
    with pytest.raises(InvalidValue):
        directory.set_dkim_selectors("example.org", "bad selector", None)
    with pytest.raises(NotFound):
        directory.set_dkim_selectors("example.net", "a", "b")


def test_catch_all(directory, alice):
    directory.set_catch_all("example.org", "ALICE")
    assert directory.get_domain("example.org").catch_all == "alice"
    directory.set_catch_all("example.org", None)
    assert directory.get_domain("example.org").catch_all is None
    with pytest.raises(NotFound):
        directory.set_catch_all("example.org", "bob")
    with pytest.raises(NotFound):
        directory.set_catch_all("example.net", "alice")


def test_removing_the_catch_all_account_clears_it(directory, alice):
    directory.add_account("bob", PASSWORD)
    directory.set_catch_all("example.org", "bob")
    directory.remove_account("bob")
    assert directory.get_domain("example.org").catch_all is None
    assert directory.resolve_recipient("unknown@example.org") is None


def test_is_local_domain(directory):
    directory.add_domain("b\u00fccher.example")
    assert directory.is_local_domain("xn--bcher-kva.example")
    assert directory.is_local_domain("B\u00dcCHER.example")
    assert not directory.is_local_domain("example.net")
    assert not directory.is_local_domain("not a domain")


# -- accounts ------------------------------------------------------------------------------------


def test_account_life_cycle(directory, clock):
    directory.add_domain("example.org")
    info = directory.add_account("Alice", PASSWORD, address="Alice@Example.org",
                                 display_name="Alice Liddell",
                                 recovery_address="alice+rescue@elsewhere.example")
    assert info.username == "alice" and info.maildir == "alice"
    assert info.primary_address == "alice@example.org"
    assert info.quota_bytes == 1_000_000 and info.used_bytes == 0
    assert not info.disabled and not info.totp_enabled
    assert info.recovery_address == "alice+rescue@elsewhere.example"
    assert info.created_at == int(clock.now)
    assert directory.get_account("ALICE") == info
    assert directory.get_account_by_id(info.id) == info

    removed = directory.remove_account("alice")
    assert removed == info
    with pytest.raises(NotFound):
        directory.get_account("alice")
    with pytest.raises(NotFound):
        directory.get_account_by_id(info.id)
    # the address is free again
    directory.add_account("alice2", PASSWORD, address="alice@example.org")


def test_account_without_address_and_with_quota(directory):
    info = directory.add_account("bob", PASSWORD, quota=0)
    assert info.primary_address is None and info.quota_bytes == 0


def test_duplicate_account(directory, alice):
    with pytest.raises(Conflict, match="alice"):
        directory.add_account("ALICE", PASSWORD)


def test_taken_address_creates_no_account(directory, alice):
    with pytest.raises(Conflict, match="alice@example.org"):
        directory.add_account("bob", PASSWORD, address="ALICE@example.org")
    with pytest.raises(NotFound):
        directory.get_account("bob")


def test_address_on_unknown_domain(directory):
    with pytest.raises(NotFound, match="example.net"):
        directory.add_account("bob", PASSWORD, address="bob@example.net")
    with pytest.raises(NotFound):
        directory.get_account("bob")


@pytest.mark.parametrize("username", ["", ".alice", "-alice", "al ice", "alice@example.org",
                                      "x" * 65, "al/ice", "\u00e4lice"])
def test_bad_usernames(directory, username):
    with pytest.raises(InvalidValue):
        directory.add_account(username, PASSWORD)


def test_usernames_at_the_limits(directory):
    directory.add_account("x" * 64, PASSWORD)
    directory.add_account("_a.b-c9", PASSWORD)


@pytest.mark.parametrize("kwargs", [
    {"password": "short"},
    {"quota": -1},
    {"display_name": "Alice\r\nBcc: everyone"},
    {"recovery_address": "not an address"},
    {"address": "bob+tag@example.org"},
    {"address": "bob"},
])
def test_bad_account_values(directory, kwargs):
    directory.add_domain("example.org")
    arguments = {"password": PASSWORD, **kwargs}
    with pytest.raises(InvalidValue):
        directory.add_account("bob", **arguments)


def test_list_accounts(directory, alice):
    directory.add_domain("example.net")
    directory.add_account("bob", PASSWORD, address="bob@example.net")
    directory.add_account("carol", PASSWORD)
    directory.add_alias("carol", "carol@example.org")
    assert [a.username for a in directory.list_accounts()] == ["alice", "bob", "carol"]
    assert [a.username for a in directory.list_accounts("example.org")] == ["alice", "carol"]
    assert [a.username for a in directory.list_accounts("EXAMPLE.net")] == ["bob"]
    with pytest.raises(NotFound):
        directory.list_accounts("example.com")


def test_set_password(directory, database, alice):
    directory.set_password("alice", "a new long password")
    with database.read() as session:
        stored = session.get(Account, alice.id).password_hash
    assert verify_password("a new long password", stored) == (True, None)
    assert verify_password(PASSWORD, stored)[0] is False
    with pytest.raises(InvalidValue):
        directory.set_password("alice", "short")
    with pytest.raises(NotFound):
        directory.set_password("bob", "long enough")


def test_disable_quota_and_update(directory, alice):
    directory.set_disabled("alice", True)
    assert directory.get_account("alice").disabled
    directory.set_disabled("alice", False)
    assert not directory.get_account("alice").disabled
    directory.set_quota("alice", 5 * 2**30)
    assert directory.get_account("alice").quota_bytes == 5 * 2**30
    with pytest.raises(InvalidValue):
        directory.set_quota("alice", -5)
    updated = directory.update_account("alice", display_name="Alice L.",
                                       recovery_address="Alice@Elsewhere.example")
    assert updated.display_name == "Alice L."
    assert updated.recovery_address == "alice@elsewhere.example"
    updated = directory.update_account("alice", recovery_address="")
    assert updated.recovery_address is None and updated.display_name == "Alice L."
    with pytest.raises(InvalidValue):
        directory.update_account("alice", display_name="x\x00y")
    for change in (lambda: directory.set_disabled("bob", True),
                   lambda: directory.set_quota("bob", 1),
                   lambda: directory.update_account("bob", display_name="Bob"),
                   lambda: directory.remove_account("bob")):
        with pytest.raises(NotFound):
            change()


# -- logins --------------------------------------------------------------------------------------


def test_find_login_by_username_or_any_enabled_address(directory, alice):
    directory.add_domain("b\u00fccher.example")
    directory.add_alias("alice", "ali@b\u00fccher.example")
    disposable = directory.add_disposable("alice", "example.org")
    for login in ("alice", "ALICE", "alice@example.org", "Alice@EXAMPLE.ORG",
                  "ali@xn--bcher-kva.example", "ali@B\u00dcCHER.example", disposable.address):
        found = directory.find_login(login)
        assert found is not None and found.username == "alice", login
    directory.set_address_enabled("ali@b\u00fccher.example", False)
    assert directory.find_login("ali@b\u00fccher.example") is None
    for login in ("bob", "bob@example.org", "alice@example.net", "alice+tag@example.org",
                  "", "@", "alice@", "@example.org", "a" * 400, "al ice", "alice@bad..domain"):
        assert directory.find_login(login) is None, login


def test_find_login_returns_disabled_accounts_marked(directory, alice):
    directory.set_disabled("alice", True)
    found = directory.find_login("alice@example.org")
    assert found is not None and found.disabled


# -- addresses -----------------------------------------------------------------------------------


def test_aliases(directory, alice, clock):
    directory.add_domain("example.net")
    alias = directory.add_alias("alice", "Postmaster@example.net", label="admin mail")
    assert alias.address == "postmaster@example.net" and alias.kind == "alias"
    assert alias.enabled and alias.label == "admin mail" and alias.username == "alice"
    assert alias.created_at == int(clock.now)
    directory.add_alias("alice", "a.liddell@example.org")
    assert [(a.address, a.kind) for a in directory.list_addresses("alice")] == [
        ("alice@example.org", "primary"),
        ("a.liddell@example.org", "alias"),
        ("postmaster@example.net", "alias"),
    ]
    directory.add_account("bob", PASSWORD)
    with pytest.raises(Conflict):
        directory.add_alias("bob", "POSTMASTER@example.net")
    with pytest.raises(NotFound):
        directory.add_alias("bob", "bob@example.com")
    with pytest.raises(NotFound):
        directory.add_alias("carol", "carol@example.org")
    for bad in ("bob+x@example.org", "b ob@example.org", ".bob@example.org", "bob..b@example.org",
                "x" * 65 + "@example.org", "no-at-sign"):
        with pytest.raises(InvalidValue):
            directory.add_alias("bob", bad)


def test_remove_address(directory, alice):
    directory.add_alias("alice", "al@example.org")
    with pytest.raises(InvalidValue, match="primary"):
        directory.remove_address("alice@example.org")
    directory.remove_address("AL@example.org")
    assert [a.address for a in directory.list_addresses("alice")] == ["alice@example.org"]
    with pytest.raises(NotFound):
        directory.remove_address("al@example.org")


def test_set_primary_address(directory, alice):
    directory.add_alias("alice", "al@example.org")
    disposable = directory.add_disposable("alice", "example.org")
    directory.set_primary_address("alice", "al@example.org")
    assert directory.get_account("alice").primary_address == "al@example.org"
    assert [(a.address, a.kind) for a in directory.list_addresses("alice")][:2] == [
        ("al@example.org", "primary"), ("alice@example.org", "alias")]
    directory.remove_address("alice@example.org")
    with pytest.raises(InvalidValue):
        directory.set_primary_address("alice", disposable.address)
    directory.add_account("bob", PASSWORD)
    with pytest.raises(InvalidValue):
        directory.set_primary_address("bob", "al@example.org")


def test_disposable_addresses(directory, alice):
    first = directory.add_disposable("alice", "EXAMPLE.org", label="shop")
    second = directory.add_disposable("alice", "example.org")
    for info in (first, second):
        assert re.fullmatch(r"d[a-z2-7]{12}@example\.org", info.address)
        assert info.kind == "disposable" and info.enabled
    assert first.address != second.address and first.label == "shop"
    with pytest.raises(NotFound):
        directory.add_disposable("alice", "example.net")
    with pytest.raises(NotFound):
        directory.add_disposable("bob", "example.org")


def test_address_enabled_flag(directory, alice):
    with pytest.raises(NotFound):
        directory.set_address_enabled("nobody@example.org", False)
    directory.set_address_enabled("alice@example.org", False)
    assert directory.list_addresses("alice")[0].enabled is False


# -- where mail goes -----------------------------------------------------------------------------


def _receiver(directory, address):
    account = directory.resolve_recipient(address)
    return account.username if account is not None else None


def test_resolve_recipient(directory, alice):
    directory.add_alias("alice", "al@example.org")
    directory.add_account("bob", PASSWORD, address="bob@example.org")
    assert _receiver(directory, "alice@example.org") == "alice"
    assert _receiver(directory, "ALICE@Example.Org") == "alice"
    assert _receiver(directory, "al@example.org") == "alice"
    assert _receiver(directory, "alice+lists@example.org") == "alice"
    assert _receiver(directory, "al+x+y@example.org") == "alice"
    assert _receiver(directory, "bob@example.org") == "bob"
    assert _receiver(directory, "carol@example.org") is None
    assert _receiver(directory, "+tag@example.org") is None
    assert _receiver(directory, "alice@example.net") is None
    assert _receiver(directory, "alice") is None
    assert _receiver(directory, "alice@") is None


def test_resolve_recipient_with_catch_all(directory, alice):
    directory.add_account("bob", PASSWORD, address="bob@example.org")
    directory.set_catch_all("example.org", "bob")
    assert _receiver(directory, "whatever@example.org") == "bob"
    assert _receiver(directory, "alice@example.org") == "alice"
    assert _receiver(directory, "alice+x@example.org") == "alice"
    assert _receiver(directory, "nobody+x@example.org") == "bob"
    assert _receiver(directory, "whatever@example.net") is None


def test_disabled_disposable_is_refused_even_with_catch_all(directory, alice):
    directory.set_catch_all("example.org", "alice")
    disposable = directory.add_disposable("alice", "example.org")
    assert _receiver(directory, disposable.address) == "alice"
    directory.set_address_enabled(disposable.address, False)
    assert _receiver(directory, disposable.address) is None
    local, domain = disposable.address.split("@")
    assert _receiver(directory, f"{local}+tag@{domain}") is None
    assert _receiver(directory, "anything-else@example.org") == "alice"


def test_disabled_account_receives_nothing(directory, alice):
    directory.set_catch_all("example.org", "alice")
    directory.set_disabled("alice", True)
    assert _receiver(directory, "alice@example.org") is None
    assert _receiver(directory, "unknown@example.org") is None


def test_rehash_is_stored_only_if_the_password_did_not_change(directory, database, alice):
    with database.read() as session:
        old = session.get(Account, alice.id).password_hash
    assert directory.replace_password_hash(alice.id, old, "$argon2id$new")
    assert not directory.replace_password_hash(alice.id, old, "$argon2id$newer")
    with database.write() as session:
        session.execute(update(Account).where(Account.id == alice.id)
                        .values(password_hash=old))
