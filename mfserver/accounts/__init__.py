"""Accounts: domains, accounts (username ≠ address), addresses, passwords and second factors.

Everything here blocks (database, argon2): servers call it in a thread pool, the `mfserver`
command calls it directly.
"""

from mfserver.accounts.credentials import SERVICES, Authenticator
from mfserver.accounts.directory import AccountInfo, AddressInfo, Directory, DomainInfo
from mfserver.accounts.errors import AccountError, Conflict, InvalidValue, NotFound
from mfserver.accounts.passwords import hash_password, verify_password
from mfserver.accounts.secondfactor import AppPasswordInfo, SecondFactor, TotpEnrollment

__all__ = [
    "SERVICES",
    "AccountError",
    "AccountInfo",
    "AddressInfo",
    "AppPasswordInfo",
    "Authenticator",
    "Conflict",
    "Directory",
    "DomainInfo",
    "InvalidValue",
    "NotFound",
    "SecondFactor",
    "TotpEnrollment",
    "hash_password",
    "verify_password",
]
