"""The one credential check behind every protocol (through `mfserver.auth.checker`).

Implementation notes:
- A login is a username or any enabled address of the account. Unknown logins, disabled
  accounts and refused secrets all end in None after about the same work (one argon2
  verification), so the time taken does not tell which logins exist or have TOTP on.
- Mail protocols ("imap", "pop3", "smtp", "dav"): with TOTP on, only app passwords are
  accepted (a mail client cannot ask for a code); with TOTP off, the account password or an
  app password.
- "web" is the account portal: only the account password is accepted, never an app password,
  since an app password leaked from a device must not open the portal where app passwords
  are made. With TOTP on this is the first step only: the portal must then ask for a code
  (`SecondFactor.verify_totp` or `use_recovery_code`) before it treats the user as logged in;
  the returned `totp_enabled` says whether it must.
- A successful login against a legacy or outdated hash stores an argon2id hash in its place.
- Nothing here logs: the secret never, the login only by the callers that decide to.
"""

from __future__ import annotations

from mfserver.accounts import passwords
from mfserver.accounts.directory import AccountInfo, Directory
from mfserver.accounts.secondfactor import SecondFactor

MAIL_SERVICES = frozenset({"imap", "pop3", "smtp", "dav"})
WEB_SERVICE = "web"
SERVICES = MAIL_SERVICES | {WEB_SERVICE}


class Authenticator:
    """Checks a login and a secret for a service (blocking: run it in a thread pool)."""

    def __init__(self, directory: Directory, second_factor: SecondFactor) -> None:
        self.directory = directory
        self.second_factor = second_factor

    def verify(self, login: str, secret: str, *, service: str) -> AccountInfo | None:
        """The account if `secret` opens `login` for `service`, else None."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; expected one of {sorted(SERVICES)}")
        if len(secret.encode("utf-8", "surrogatepass")) > passwords.MAX_SECRET_BYTES:
            return None
        record = self.directory.login_record(login)
        if record is None or record.account.disabled:
            passwords.spend_time(secret)
            return None
        account = record.account
        if service in MAIL_SERVICES:
            if self.second_factor.check_app_password(account.id, secret):
                return account
            if account.totp_enabled:
                passwords.spend_time(secret)
                return None
        matched, new_hash = passwords.verify_password(secret, record.password_hash)
        if not matched:
            return None
        if new_hash is not None:
            self.directory.replace_password_hash(account.id, record.password_hash, new_hash)
        return account
