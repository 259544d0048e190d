"""The twisted.cred checker every protocol logs in through.

Implementation notes:
- The throttle is asked first, on the reactor thread: a throttled attempt fails at once with
  LoginThrottled and no password is verified (no thread, no argon2 spent on it).
- Verification runs through `run_blocking` (a thread pool in the server), never on the
  reactor thread.
- Every refusal is the same UnauthorizedLogin, whether the login exists or not.
- Nothing here logs the password or the source address; a failure of the account database
  is logged (its type and first line, never SQL parameters) and passed on as
  AuthenticationUnavailable, so that a protocol can answer "try again later" rather than
  "wrong password".
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mfserver.accounts.credentials import SERVICES, Authenticator
from mfserver.accounts.directory import AccountInfo
from mfserver.auth.throttle import Throttle

log = Logger()

REFUSED = "Invalid credentials"
DEFAULT_SERVICE = "imap"  # for credentials that do not say: the strictest rules


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


@implementer(IUsernamePassword)
class Credentials:
    """A login and a secret, with where they came from and for which service.

    `username` is the login as typed (a username or an address); `source` is the client's
    address (None when unknown), used for throttling only; `service` is one of
    mfserver.accounts.SERVICES. Bytes are accepted and read as UTF-8.
    """

    def __init__(self, username: str | bytes, password: str | bytes,
                 source: str | None = None, service: str = DEFAULT_SERVICE) -> None:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        self.username = username
        self.password = password
        self.source = source
        self.service = service

    def checkPassword(self, password: str | bytes) -> bool:
        try:
            mine, theirs = _text(self.password), _text(password)
        except UnicodeDecodeError:
            return False
        return hmac.compare_digest(mine.encode("utf-8"), theirs.encode("utf-8"))

    def __repr__(self) -> str:  # never show the password, nor the source
        return f"<Credentials {self.service}>"


class LoginThrottled(UnauthorizedLogin):
    """Too many failures lately: retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("Too many failed attempts; try again later")
        self.retry_after = retry_after


class AuthenticationUnavailable(Exception):
    """The account database could not be asked: a temporary failure, not a refusal."""


@implementer(ICredentialsChecker)
class AccountChecker:
    """Checks IUsernamePassword credentials with the Authenticator, behind the Throttle.

    The avatar ID is the account's username, as ASCII bytes.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, authenticator: Authenticator, throttle: Throttle,
                 run_blocking: Callable[..., defer.Deferred[Any]]) -> None:
        self._authenticator = authenticator
        self._throttle = throttle
        self._run_blocking = run_blocking

    def requestAvatarId(self, credentials: Any) -> defer.Deferred[bytes]:
        try:
            login = _text(credentials.username)
            password = _text(credentials.password)
        except (UnicodeDecodeError, AttributeError):
            return defer.fail(UnauthorizedLogin(REFUSED))
        source = getattr(credentials, "source", None)
        service = getattr(credentials, "service", DEFAULT_SERVICE)
        key = login.lower()
        wait = self._throttle.delay(key, source)
        if wait > 0:
            return defer.fail(LoginThrottled(wait))
        verify = partial(self._authenticator.verify, service=service)
        result = defer.maybeDeferred(self._run_blocking, verify, login, password)
        return result.addCallbacks(partial(self._checked, key, source), self._broken)

    def _checked(self, key: str, source: str | None, account: AccountInfo | None) -> bytes:
        if account is None:
            self._throttle.failure(key, source)
            raise UnauthorizedLogin(REFUSED)
        self._throttle.success(key, source)
        return account.username.encode("ascii")

    @staticmethod
    def _broken(failure: Failure) -> Failure:
        # The first line of a database error names the problem; later lines may quote SQL
        # parameters (logins, hashes), so they are left out.
        first_line = str(failure.value).split("\n", 1)[0][:200]
        log.error("Checking credentials failed: {error_type}: {error}",
                  error_type=type(failure.value).__name__, error=first_line)
        return Failure(AuthenticationUnavailable("the account database is unavailable"))
