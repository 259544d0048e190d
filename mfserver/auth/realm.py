"""The twisted.cred realm: from an authenticated username to the account a session works for.

Implementation notes:
- The avatar is a small immutable snapshot (id, username, primary address): every later
  lookup by a protocol is scoped by `account_id`.
- The account is read through `run_blocking` (a thread pool in the server). If it vanished
  between the check and here, the login is refused like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer
from zope.interface import Attribute, Interface, implementer

from mfserver.accounts.credentials import Authenticator
from mfserver.accounts.directory import AccountInfo, Directory
from mfserver.accounts.errors import InvalidValue, NotFound
from mfserver.auth.checker import REFUSED, AccountChecker
from mfserver.auth.throttle import Throttle


class IAccount(Interface):
    """The account a logged-in session acts for."""

    account_id = Attribute("int: the account's id, the scope of every lookup")
    username = Attribute("str: the login name (also the name of the maildir)")
    primary_address = Attribute("str | None: the account's primary e-mail address")


@implementer(IAccount)
@dataclass(frozen=True)
class AccountAvatar:
    account_id: int
    username: str
    primary_address: str | None


def _no_logout() -> None:
    return None


@implementer(IRealm)
class AccountRealm:
    def __init__(self, directory: Directory,
                 run_blocking: Callable[..., defer.Deferred[Any]]) -> None:
        self._directory = directory
        self._run_blocking = run_blocking

    def requestAvatar(self, avatarId: bytes | str, mind: object,
                      *interfaces: Any) -> defer.Deferred[tuple[Any, AccountAvatar, Callable]]:
        if IAccount not in interfaces:
            return defer.fail(NotImplementedError("mfserver offers only IAccount avatars"))
        try:
            username = avatarId.decode("ascii") if isinstance(avatarId, bytes) else avatarId
        except UnicodeDecodeError:
            return defer.fail(UnauthorizedLogin(REFUSED))
        result = defer.maybeDeferred(self._run_blocking, self._directory.get_account, username)
        return result.addCallbacks(self._avatar, self._missing)

    @staticmethod
    def _avatar(account: AccountInfo) -> tuple[Any, AccountAvatar, Callable[[], None]]:
        if account.disabled:
            raise UnauthorizedLogin(REFUSED)
        avatar = AccountAvatar(account.id, account.username, account.primary_address)
        return IAccount, avatar, _no_logout

    @staticmethod
    def _missing(failure: Any) -> Any:
        failure.trap(NotFound, InvalidValue)
        raise UnauthorizedLogin(REFUSED)


def make_portal(authenticator: Authenticator, directory: Directory, throttle: Throttle,
                run_blocking: Callable[..., defer.Deferred[Any]]) -> Portal:
    """The portal every protocol logs in through: `portal.login(Credentials(...), None,
    IAccount)` gives (IAccount, AccountAvatar, logout)."""
    return Portal(AccountRealm(directory, run_blocking),
                  [AccountChecker(authenticator, throttle, run_blocking)])
