"""Public share links: which account shares what, with which limits.

Implementation notes:
- A link is `/s/<token>`: 32 random bytes (256 bits, URL-safe base64), generated here, shown
  once at creation and stored only as its SHA-256, so the database never holds a working link.
  Nothing in it derives from the username or an address.
- `find()` answers only for a link that is usable right now: not disabled, not expired, owner
  account not disabled. It is called on every request, so disabling or expiry takes effect
  at once.
- A share names its target by a path relative to the owner's tree: a calendar's collection
  name, or a document or folder under the account's files. Paths are normalised and refused
  if they contain `.` or `..` segments; the server resolves them again at each request.
- An optional password (hashed like account passwords) or an optional list of accounts of
  this server (usernames) restricts a link. The two are exclusive: a visitor answers one
  Basic-auth challenge, either with the link's password or with their own account.
- Every method blocks (database, argon2): call it from a thread.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from mfserver.accounts.directory import Directory, normalise_username
from mfserver.accounts.errors import InvalidValue, NotFound
from mfserver.accounts.passwords import check_password_policy, hash_password
from mfserver.db import Database
from mfserver.db.models import Account, Share

KINDS = ("calendar", "files")
MODES = ("read", "dropbox")
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def clean_path(path: str) -> str:
    """`path` without leading/trailing slashes; InvalidValue for `.`/`..` segments."""
    parts = [part for part in path.strip().strip("/").split("/") if part != ""]
    if any(part in (".", "..") or "\0" in part for part in parts):
        raise InvalidValue(f"{path!r} is not a path inside the account")
    return "/".join(parts)


@dataclass(frozen=True)
class ShareInfo:
    id: int
    account_id: int
    username: str
    kind: str
    path: str
    mode: str
    has_password: bool
    allowed: tuple[str, ...]
    label: str
    expires_at: int | None
    disabled: bool
    created_at: int

    def active(self, now: float) -> bool:
        return not self.disabled and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class ShareRecord:
    """A usable link with its password hash (for the share server only)."""

    share: ShareInfo
    password_hash: str | None


def _info(row: Share, username: str) -> ShareInfo:
    return ShareInfo(row.id, row.account_id, username, row.kind, row.path, row.mode,
                     row.password_hash is not None, tuple(row.allowed.split()), row.label,
                     row.expires_at, row.disabled, row.created_at)


class ShareBook:
    def __init__(self, database: Database, directory: Directory,
                 clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.directory = directory
        self._clock = clock

    def create(self, username: str, kind: str, path: str, *, mode: str = "read",
               password: str | None = None, allowed: list[str] | None = None,
               expires_at: int | None = None, label: str = "") -> tuple[ShareInfo, str]:
        """A new link; returns it with its token (shown once, never stored)."""
        account = self.directory.get_account(username)
        if kind not in KINDS:
            raise InvalidValue(f"kind must be one of {', '.join(KINDS)}")
        if mode not in MODES:
            raise InvalidValue(f"mode must be one of {', '.join(MODES)}")
        if kind == "calendar" and mode != "read":
            raise InvalidValue("a calendar link is read-only")
        path = clean_path(path)
        if kind == "calendar" and (not path or "/" in path):
            raise InvalidValue("a calendar link names one calendar of the account")
        if password is not None and allowed:
            raise InvalidValue("a link has either a password or a list of accounts, not both")
        if password is not None:
            check_password_policy(password)
        names = sorted({self.directory.get_account(name).username for name in allowed or []})
        if expires_at is not None and expires_at <= self._clock():
            raise InvalidValue("the expiry is in the past")
        if len(label) > 200:
            raise InvalidValue("the label is longer than 200 characters")
        password_hash = hash_password(password) if password is not None else None
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.database.write() as session:
            row = Share(account_id=account.id, token_hash=token_hash(token), kind=kind,
                        path=path, mode=mode, password_hash=password_hash,
                        allowed=" ".join(names), label=label, expires_at=expires_at,
                        disabled=False, created_at=int(self._clock()))
            session.add(row)
            session.flush()
            return _info(row, account.username), token

    def list(self, username: str) -> list[ShareInfo]:
        account = self.directory.get_account(username)
        with self.database.read() as session:
            rows = session.scalars(select(Share).where(Share.account_id == account.id)
                                   .order_by(Share.id)).all()
            return [_info(row, account.username) for row in rows]

    def disable(self, username: str, share_id: int) -> ShareInfo:
        """Switch a link off for good; NotFound unless it is one of the account's links."""
        account = self.directory.get_account(normalise_username(username))
        with self.database.write() as session:
            result = session.execute(update(Share).where(Share.id == share_id,
                                                         Share.account_id == account.id)
                                     .values(disabled=True))
            if result.rowcount != 1:
                raise NotFound(f"{account.username} has no share link {share_id}")
        return next(info for info in self.list(account.username) if info.id == share_id)

    def find(self, token: str) -> ShareRecord | None:
        """The usable link with this token, or None (unknown, disabled, expired)."""
        if not 16 <= len(token) <= 128:
            return None
        with self.database.read() as session:
            row = session.execute(select(Share, Account.username, Account.disabled)
                                  .join(Account, Account.id == Share.account_id)
                                  .where(Share.token_hash == token_hash(token))).first()
            if row is None or row[2]:
                return None
            info = _info(row[0], row[1])
            if not info.active(self._clock()):
                return None
            return ShareRecord(info, row[0].password_hash)
