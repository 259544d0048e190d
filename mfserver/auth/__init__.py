"""Authentication for every protocol: a twisted.cred portal, its checker, and throttling.

A protocol builds `Credentials(login, secret, source=client address, service=...)` and calls
`portal.login(credentials, None, IAccount)`; it gets an IAccount avatar, UnauthorizedLogin
(LoginThrottled, with `retry_after`, when it must wait), or AuthenticationUnavailable.
"""

from mfserver.auth.checker import (
    AccountChecker,
    AuthenticationUnavailable,
    Credentials,
    LoginThrottled,
)
from mfserver.auth.realm import AccountAvatar, AccountRealm, IAccount, make_portal
from mfserver.auth.throttle import Throttle

__all__ = [
    "AccountAvatar",
    "AccountChecker",
    "AccountRealm",
    "AuthenticationUnavailable",
    "Credentials",
    "IAccount",
    "LoginThrottled",
    "Throttle",
    "make_portal",
]
