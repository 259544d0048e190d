"""The realm: from a username to the IAccount avatar a session works for."""

from __future__ import annotations

import pytest
from twisted.cred.error import UnauthorizedLogin
from zope.interface import Interface
from zope.interface.verify import verifyObject

from mfserver.auth import AccountRealm, IAccount
from tests.auth.conftest import result_of, run_blocking


@pytest.fixture
def realm(directory):
    return AccountRealm(directory, run_blocking)


def test_avatar(realm, directory, alice):
    interface, avatar, logout = result_of(realm.requestAvatar(b"alice", None, IAccount))
    assert interface is IAccount
    verifyObject(IAccount, avatar)
    assert avatar.account_id == alice.id
    assert avatar.username == "alice"
    assert avatar.primary_address == "alice@example.org"
    assert logout() is None


def test_avatar_for_an_account_without_address(realm, directory, alice):
    directory.add_account("bob", "bobs password")
    _, avatar, _ = result_of(realm.requestAvatar("bob", None, IAccount))
    assert avatar.primary_address is None


def test_only_iaccount_is_offered(realm, alice):
    class IOther(Interface):
        pass

    with pytest.raises(NotImplementedError):
        result_of(realm.requestAvatar(b"alice", None, IOther))


def test_account_gone_or_disabled_after_the_check(realm, directory, alice):
    directory.add_account("bob", "bobs password")
    directory.set_disabled("bob", True)
    with pytest.raises(UnauthorizedLogin):
        result_of(realm.requestAvatar(b"bob", None, IAccount))
    directory.remove_account("bob")
    with pytest.raises(UnauthorizedLogin):
        result_of(realm.requestAvatar(b"bob", None, IAccount))
    for bad in (b"\xff", "not a username"):
        with pytest.raises(UnauthorizedLogin):
            result_of(realm.requestAvatar(bad, None, IAccount))
