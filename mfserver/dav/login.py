"""DAV logins: HTTP Basic credentials checked through the one twisted.cred portal.

Implementation notes:
- Radicale, WsgiDAV and the share links run in pool threads. A login is checked by handing
  `portal.login(Credentials(..., service="dav"), None, IAccount)` to the reactor with
  `blockingCallFromThread` and waiting for it: the checker, its throttle (kept on the reactor
  thread, as for IMAP and POP3) and the argon2 verification in the blocking pool are exactly
  those of every other protocol, with no second path to keep in step.
- DAV clients send the password with every request; an argon2 check each time would cost
  ~0.13 s per request. A success is therefore remembered for `cache_seconds`, keyed by an HMAC
  (per-process random key) of login and secret, so the cache never holds a secret and a
  different secret for the same login is checked again. Failures are never cached: they go
  through the throttle each time. A disabled account or a changed password takes effect after
  at most `cache_seconds`.
- Outcomes map onto HTTP: a refusal is 401 with a Basic challenge (RFC 7617), a throttled
  login 429 with Retry-After (RFC 6585 4), an unreachable account database 503.
- The source address is used for throttling only and never logged here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import threads

from mfserver.auth import AccountAvatar, AuthenticationUnavailable, Credentials, IAccount
from mfserver.auth.checker import LoginThrottled

REALM = "mfserver"
CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Refusal(Exception):
    """An HTTP answer instead of a login: status, headers, short text."""

    status: int
    headers: tuple[tuple[str, str], ...]
    text: str


def challenge(realm: str = REALM, text: str = "Authentication required") -> Refusal:
    return Refusal(401, (("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"'),),
                   text)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(login, secret) from an `Authorization: Basic` header (RFC 7617 2), or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    login, colon, secret = decoded.partition(":")
    if not colon:
        return None
    return login, secret


class DavLogin:
    """Checks Basic credentials through the portal, from a pool thread (blocking)."""

    def __init__(self, portal: Any, reactor: Any, cache_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._portal = portal
        self._reactor = reactor
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[AccountAvatar, float]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None, source: str | None,
                     realm: str = REALM) -> AccountAvatar:
        """The account the header opens; Refusal otherwise. Call from a pool thread."""
        credentials = basic_credentials(authorization)
        if credentials is None:
            raise challenge(realm)
        login, secret = credentials
        key = hmac.new(self._key, f"{login}\0{secret}".encode("utf-8", "surrogatepass"),
                       hashlib.sha256).digest()
        cached = self._cached(key)
        if cached is not None:
            return cached
        try:
            _interface, avatar, _logout = threads.blockingCallFromThread(
                self._reactor, self._portal.login,
                Credentials(login, secret, source=source, service="dav"), None, IAccount)
        except LoginThrottled as exc:
            raise Refusal(429, (("Retry-After", str(max(1, math.ceil(exc.retry_after)))),),
                          "Too many failed logins; try again later") from None
        except UnauthorizedLogin:
            raise challenge(realm, "Invalid credentials") from None
        except AuthenticationUnavailable:
            raise Refusal(503, (("Retry-After", "30"),),
                          "Logins are unavailable; try again later") from None
        self._remember(key, avatar)
        return avatar

    def _cached(self, key: bytes) -> AccountAvatar | None:
        if self._cache_seconds <= 0:
            return None
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._cache[key]
                return None
            return entry[0]

    def _remember(self, key: bytes, avatar: AccountAvatar) -> None:
        if self._cache_seconds <= 0:
            return
        with self._lock:
            self._cache[key] = (avatar, self._clock() + self._cache_seconds)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
