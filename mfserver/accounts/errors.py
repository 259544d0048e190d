"""Errors of the account directory, each one readable line for an administrator.

Implementation notes:
- Messages name the thing (domain, account, address) and never contain a password, a secret or
  a hash: the `mfserver` command prints them as they are.
"""

from __future__ import annotations


class AccountError(Exception):
    """Base class; `str(error)` is one line that an administrator can read."""


class NotFound(AccountError):
    """The named domain, account, address or app password does not exist."""


class Conflict(AccountError):
    """The thing already exists, or the current state forbids the change."""


class InvalidValue(AccountError):
    """A name, address, password or number is not acceptable."""
