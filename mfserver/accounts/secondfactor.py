"""Second factors: TOTP (RFC 6238), one-time recovery codes, and app passwords.

Implementation notes:
- TOTP seeds are 160 random bits (RFC 4226 §4), encrypted at rest with the server key
  (Fernet: AES-128-CBC + HMAC-SHA256). A seed that the key cannot decrypt makes every code
  fail and is logged (without the seed) so that the administrator learns the key is wrong.
- A TOTP code is accepted for the current 30-second step and the one on either side, and each
  step only once (RFC 6238 §5.2): `totp_last_step` is read and moved forward in one write
  transaction (row lock on PostgreSQL, the database write lock on SQLite), so two concurrent
  logins cannot both use the same code.
- Recovery codes (16 letters, 75 bits) and app passwords (28 letters, 131 bits) are random
  enough that a plain SHA-256 of the normalised secret is a safe hash: no salt or stretching
  needed, and a lookup by hash stays an index lookup. Neither is ever stored nor logged in
  the clear; an app password is shown once, when it is made.
- An app password's use is recorded by day only (`last_used_day`, days since 1970-01-01 UTC),
  written at most once a day: enough to spot a forgotten device, not a usage log.
- Every method blocks on the database: servers call them in a thread pool.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twisted.logger import Logger

from mfserver.accounts.directory import normalise_username
from mfserver.accounts.errors import Conflict, InvalidValue, NotFound
from mfserver.db import Database
from mfserver.db.models import Account, AppPassword, RecoveryCode

log = Logger()

TOTP_STEP = 30  # seconds (RFC 6238 default, what every authenticator app uses)
TOTP_DIGITS = 6
TOTP_WINDOW = 1  # steps accepted on either side of the current one
TOTP_SECRET_LENGTH = 32  # base32 characters: 160 bits
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_GROUPS = 4  # of 4 letters: 16 letters, 75 bits
APP_PASSWORD_GROUPS = 7  # of 4 letters: 28 letters, 131 bits
GROUP_LENGTH = 4
SECONDS_PER_DAY = 86_400

_SEPARATORS = re.compile(r"[\s-]+")


@dataclass(frozen=True)
class TotpEnrollment:
    secret: str  # base32, for manual entry
    uri: str  # otpauth://totp/…, for a QR code
    recovery_codes: list[str]


@dataclass(frozen=True)
class AppPasswordInfo:
    name: str
    created_at: int
    last_used_day: int | None  # days since 1970-01-01 (UTC)


def _grouped_letters(groups: int) -> str:
    return "-".join("".join(secrets.choice(string.ascii_lowercase) for _ in range(GROUP_LENGTH))
                    for _ in range(groups))


def _normalised(secret: str) -> str:
    return _SEPARATORS.sub("", secret).lower()


def secret_hash(secret: str) -> str:
    """The stored form of a recovery code or app password: SHA-256 hex of the normalised text."""
    return hashlib.sha256(_normalised(secret).encode("utf-8")).hexdigest()


def _looks_like(secret: str, groups: int) -> bool:
    normalised = _normalised(secret)
    return (len(normalised) == groups * GROUP_LENGTH and normalised.isascii()
            and normalised.isalpha())


def _account_row(session: Session, username: str, *, lock: bool = False) -> Account:
    query = select(Account).where(Account.username == normalise_username(username))
    account = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if account is None:
        raise NotFound(f"no account {username}")
    return account


class SecondFactor:
    """TOTP, recovery codes and app passwords of accounts (every call blocks)."""

    def __init__(self, database: Database, server_key: bytes, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.database = database
        try:
            self._fernet = Fernet(server_key)
        except (ValueError, TypeError):
            message = "the server key is not a valid key (32 bytes, urlsafe base64)"
            raise InvalidValue(message) from None
        self.clock = clock

    def today(self) -> int:
        """Days since 1970-01-01, UTC."""
        return int(self.clock() // SECONDS_PER_DAY)

    # -- TOTP ------------------------------------------------------------------------------------

    def enable_totp(self, username: str, *, issuer: str) -> TotpEnrollment:
        """Turn TOTP on now, with a new seed and new recovery codes (Conflict if already on).

        The otpauth URI labels the account with its username, the name that is typed to log in,
        rather than an address: it does not disclose an address to whoever sees the app's list,
        and it stays right when addresses change.
        """
        secret = pyotp.random_base32(TOTP_SECRET_LENGTH)
        with self.database.write() as session:
            account = _account_row(session, username, lock=True)
            if account.totp_enabled:
                raise Conflict(f"two-factor authentication is already on for {account.username}")
            account.totp_secret = self._fernet.encrypt(secret.encode("ascii")).decode("ascii")
            account.totp_enabled = True
            account.totp_last_step = None
            codes = self._replace_recovery_codes(session, account.id)
            uri = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).provisioning_uri(
                name=account.username, issuer_name=issuer)
        return TotpEnrollment(secret=secret, uri=uri, recovery_codes=codes)

    def disable_totp(self, username: str) -> None:
        """Turn TOTP off and delete the seed and the recovery codes (nothing to do if off)."""
        with self.database.write() as session:
            account = _account_row(session, username, lock=True)
            account.totp_enabled = False
            account.totp_secret = None
            account.totp_last_step = None
            session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))

    def verify_totp(self, username: str, code: str) -> bool:
        """Whether `code` is the account's TOTP code now (±1 step), each step usable once."""
        code = _SEPARATORS.sub("", code)
        if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
            return False
        step = int(self.clock() // TOTP_STEP)
        with self.database.write() as session:
            try:
                account = _account_row(session, username, lock=True)
            except (NotFound, InvalidValue):
                return False
            if not account.totp_enabled or account.totp_secret is None:
                return False
            seed = self._decrypt(account.totp_secret, account.username)
            if seed is None:
                return False
            totp = pyotp.TOTP(seed, digits=TOTP_DIGITS, interval=TOTP_STEP)
            matched = None
            for candidate in range(step - TOTP_WINDOW, step + TOTP_WINDOW + 1):
                if hmac.compare_digest(totp.generate_otp(candidate), code):
                    matched = candidate
            last = account.totp_last_step
            if matched is None or (last is not None and matched <= last):
                return False
            account.totp_last_step = matched
            return True

    def _decrypt(self, token: str, username: str) -> str | None:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            log.error("The TOTP seed of {username} cannot be decrypted with the server key",
                      username=username)
            return None

    # -- recovery codes --------------------------------------------------------------------------

    def regenerate_recovery_codes(self, username: str) -> list[str]:
        """Ten new one-time recovery codes (shown once); the old ones stop working.

        Conflict when TOTP is off: recovery codes stand in for a TOTP code and nothing else.
        """
        with self.database.write() as session:
            account = _account_row(session, username, lock=True)
            if not account.totp_enabled:
                raise Conflict(f"two-factor authentication is not on for {account.username}")
            return self._replace_recovery_codes(session, account.id)

    @staticmethod
    def _replace_recovery_codes(session: Session, account_id: int) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
        codes = [_grouped_letters(RECOVERY_CODE_GROUPS) for _ in range(RECOVERY_CODE_COUNT)]
        session.add_all(RecoveryCode(account_id=account_id, code_hash=secret_hash(code))
                        for code in codes)
        return codes

    def use_recovery_code(self, username: str, code: str) -> bool:
        """Whether `code` is an unused recovery code of the account; it is used up if so.
        Dashes, spaces and case do not matter."""
        if not _looks_like(code, RECOVERY_CODE_GROUPS):
            return False
        with self.database.write() as session:
            try:
                account = _account_row(session, username)
            except (NotFound, InvalidValue):
                return False
            result = session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.account_id == account.id,
                       RecoveryCode.code_hash == secret_hash(code),
                       RecoveryCode.used_at.is_(None))
                .values(used_at=int(self.clock())))
            return result.rowcount == 1

    def count_recovery_codes(self, username: str) -> int:
        """How many unused recovery codes the account has left."""
        with self.database.read() as session:
            account = _account_row(session, username)
            return len(session.scalars(select(RecoveryCode.id).where(
                RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))).all())

    # -- app passwords ---------------------------------------------------------------------------

    def add_app_password(self, username: str, name: str) -> str:
        """A new app password called `name`; the secret is returned here and never again."""
        name = _check_name(name)
        secret = _grouped_letters(APP_PASSWORD_GROUPS)
        try:
            with self.database.write() as session:
                account = _account_row(session, username)
                taken = session.scalars(select(AppPassword.id).where(
                    AppPassword.account_id == account.id, AppPassword.name == name)).first()
                if taken is not None:
                    raise Conflict(f"{account.username} already has an app password {name!r}")
                session.add(AppPassword(account_id=account.id, name=name,
                                        secret_hash=secret_hash(secret),
                                        created_at=int(self.clock()), last_used_day=None))
        except IntegrityError:
            raise Conflict(f"{username} already has an app password {name!r}") from None
        return secret

    def list_app_passwords(self, username: str) -> list[AppPasswordInfo]:
        with self.database.read() as session:
            account = _account_row(session, username)
            rows = session.scalars(select(AppPassword)
                                   .where(AppPassword.account_id == account.id)
                                   .order_by(AppPassword.name))
            return [AppPasswordInfo(name=row.name, created_at=row.created_at,
                                    last_used_day=row.last_used_day) for row in rows]

    def revoke_app_password(self, username: str, name: str) -> None:
        with self.database.write() as session:
            account = _account_row(session, username)
            result = session.execute(delete(AppPassword).where(
                AppPassword.account_id == account.id, AppPassword.name == name.strip()))
            if result.rowcount != 1:
                raise NotFound(f"{account.username} has no app password {name!r}")

    def check_app_password(self, account_id: int, secret: str) -> bool:
        """Whether `secret` is one of the account's app passwords (for the Authenticator);
        records the day of use, at most one write a day."""
        if not _looks_like(secret, APP_PASSWORD_GROUPS):
            return False
        digest = secret_hash(secret)
        with self.database.read() as session:
            row = session.execute(select(AppPassword.id, AppPassword.last_used_day).where(
                AppPassword.account_id == account_id,
                AppPassword.secret_hash == digest)).first()
        if row is None:
            return False
        today = self.today()
        if row.last_used_day != today:
            with self.database.write() as session:
                session.execute(update(AppPassword).where(AppPassword.id == row.id)
                                .values(last_used_day=today))
        return True


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidValue("an app password name has 1 to 100 characters")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidValue("an app password name cannot contain control characters")
    return name
