"""The directory of domains, accounts and addresses: who exists, who receives what, who may log in.

Implementation notes:
- A username is a login name only (and the name of the account's maildir); e-mail addresses are
  rows of their own that point at an account: a primary address, aliases, disposable aliases.
- Every name is normalised before it is stored or looked up: lowercase, domains in their IDNA
  ASCII form (UTS #46 mapping, so `Bücher.Example` and `xn--bcher-kva.example` are one domain).
  Names given by an administrator are validated and refused with InvalidValue; names that come
  from the wire (`find_login`, `resolve_recipient`, `is_local_domain`) never raise: an invalid
  one is simply not found.
- New local parts are RFC 5322 dot-atoms without `+`, which is the subaddress separator
  (RFC 5233): `user+tag@example.org` is delivered to `user@example.org`.
- A disabled address is refused outright: mail to it does not fall through to the catch-all,
  which is what makes switching off a leaked disposable alias useful.
- Passwords are hashed before the write transaction starts, so the SQLite write lock is never
  held while argon2 runs.
- Every method blocks (database, argon2): servers call them in a thread pool.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import idna
from sqlalchemy import ColumnElement, Select, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mfserver.accounts.errors import Conflict, InvalidValue, NotFound
from mfserver.accounts.passwords import check_password_policy, hash_password
from mfserver.db import Database
from mfserver.db.models import Account, Address, Domain

ADDRESS_KINDS = ("primary", "alias", "disposable")
SUBADDRESS_SEPARATOR = "+"
MAX_QUOTA = 2**63 - 1

_USERNAME = re.compile(r"[a-z0-9_][a-z0-9._-]{0,63}\Z")
_ATEXT = r"[a-z0-9!#$%&'*/=?^_`{|}~+-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*\Z")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
DISPOSABLE_PREFIX = "d"
DISPOSABLE_LENGTH = 12  # base32 characters: 60 bits


@dataclass(frozen=True)
class DomainInfo:
    id: int
    name: str
    catch_all: str | None  # username of the catch-all account
    dkim_rsa_selector: str | None
    dkim_ed25519_selector: str | None
    created_at: int


@dataclass(frozen=True)
class AccountInfo:
    id: int
    username: str
    display_name: str
    recovery_address: str | None
    quota_bytes: int  # 0: no limit
    used_bytes: int
    disabled: bool
    maildir: str
    totp_enabled: bool
    created_at: int
    primary_address: str | None


@dataclass(frozen=True)
class AddressInfo:
    id: int
    address: str
    username: str
    kind: str  # "primary" | "alias" | "disposable"
    enabled: bool
    label: str | None
    created_at: int


@dataclass(frozen=True)
class LoginRecord:
    """What the Authenticator needs about a login; never leaves the accounts package."""

    account: AccountInfo
    password_hash: str


# -- names ---------------------------------------------------------------------------------------

def normalise_domain(name: str) -> str:
    """`name` in lowercase IDNA ASCII form, or InvalidValue."""
    candidate = name[:-1] if name.endswith(".") else name
    try:
        ascii_name = idna.encode(candidate, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidValue(f"{name!r} is not a valid domain name") from None
    labels = ascii_name.split(".")
    if (len(ascii_name) > 253 or len(labels) < 2 or labels[-1].isdigit()
            or not all(_LABEL.match(label) for label in labels)):
        raise InvalidValue(f"{name!r} is not a valid domain name (it needs a dot and "
                           "labels of letters, digits and hyphens)")
    return ascii_name


def normalise_username(username: str) -> str:
    """`username` in lowercase, or InvalidValue."""
    lowered = username.lower()
    if not _USERNAME.match(lowered):
        raise InvalidValue(f"{username!r} is not a valid username: use 1 to 64 of a-z 0-9 . _ -, "
                           "not starting with '.' or '-'")
    return lowered


def split_address(address: str, *, allow_subaddress: bool = False) -> tuple[str, str]:
    """(local part, domain) of `address`, both normalised, or InvalidValue.

    New addresses cannot contain `+` (the subaddress separator) unless `allow_subaddress`,
    which is for addresses elsewhere (a recovery address).
    """
    local, at, domain = address.rpartition("@")
    local = local.lower()
    if not at or not local or len(local) > 64 or not _DOT_ATOM.match(local):
        raise InvalidValue(f"{address!r} is not a valid e-mail address")
    if not allow_subaddress and SUBADDRESS_SEPARATOR in local:
        raise InvalidValue(f"{address!r}: '+' is reserved for subaddresses (user+tag@domain)")
    domain = normalise_domain(domain)
    if len(local) + 1 + len(domain) > 254:
        raise InvalidValue(f"{address!r} is too long for an e-mail address")
    return local, domain


def _split_wire_address(address: str) -> tuple[str, str] | None:
    """Lenient form of split_address for addresses from the wire: None when invalid."""
    local, at, domain = address.rpartition("@")
    if not at or not local or len(local) > 64:
        return None
    try:
        return local.lower(), normalise_domain(domain)
    except InvalidValue:
        return None


def _check_text(value: str, what: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidValue(f"{what} has at most {limit} characters")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise InvalidValue(f"{what} cannot contain control characters")
    return value


def _check_label(label: str | None) -> str | None:
    return _check_text(label, "a label", 200) if label else None


def _check_quota(quota: int) -> int:
    if isinstance(quota, bool) or not isinstance(quota, int) or not 0 <= quota <= MAX_QUOTA:
        raise InvalidValue(f"{quota!r} is not a valid quota: give a number of bytes, 0 for none")
    return quota


def _check_selector(selector: str | None) -> str | None:
    if selector is None:
        return None
    lowered = selector.lower()
    if len(lowered) > 63 or not all(_LABEL.match(label) for label in lowered.split(".")):
        raise InvalidValue(f"{selector!r} is not a valid DKIM selector")
    return lowered


# -- rows to infos -------------------------------------------------------------------------------

def _account_query() -> Select[tuple[Account, str | None, str | None]]:
    return (select(Account, Address.local_part, Domain.name)
            .outerjoin(Address, and_(Address.account_id == Account.id,
                                     Address.kind == "primary"))
            .outerjoin(Domain, Domain.id == Address.domain_id))


def _account_info(account: Account, local: str | None, domain: str | None) -> AccountInfo:
    return AccountInfo(
        id=account.id, username=account.username, display_name=account.display_name,
        recovery_address=account.recovery_address, quota_bytes=account.quota_bytes,
        used_bytes=account.used_bytes, disabled=account.disabled, maildir=account.maildir,
        totp_enabled=account.totp_enabled, created_at=account.created_at,
        primary_address=f"{local}@{domain}" if local is not None else None)


def _accounts(session: Session, *where: ColumnElement[bool]) -> list[AccountInfo]:
    rows = session.execute(_account_query().where(*where).order_by(Account.username))
    return [_account_info(*row) for row in rows]


def _address_query() -> Select[tuple[Address, str, str]]:
    return (select(Address, Domain.name, Account.username)
            .join(Domain, Domain.id == Address.domain_id)
            .join(Account, Account.id == Address.account_id))


def _address_info(address: Address, domain: str, username: str) -> AddressInfo:
    return AddressInfo(id=address.id, address=f"{address.local_part}@{domain}",
                       username=username, kind=address.kind, enabled=address.enabled,
                       label=address.label, created_at=address.created_at)


def _domain_info(domain: Domain, catch_all: str | None) -> DomainInfo:
    return DomainInfo(id=domain.id, name=domain.name, catch_all=catch_all,
                      dkim_rsa_selector=domain.dkim_rsa_selector,
                      dkim_ed25519_selector=domain.dkim_ed25519_selector,
                      created_at=domain.created_at)


def _domain_query() -> Select[tuple[Domain, str | None]]:
    return (select(Domain, Account.username)
            .outerjoin(Account, Account.id == Domain.catch_all_account_id))


def _receiving(session: Session, account_id: int) -> AccountInfo | None:
    accounts = _accounts(session, Account.id == account_id)
    return accounts[0] if accounts and not accounts[0].disabled else None


def _domain_row(session: Session, name: str) -> Domain:
    domain = session.scalars(select(Domain).where(Domain.name == name)).one_or_none()
    if domain is None:
        raise NotFound(f"domain {name} is not served here")
    return domain


def _account_row(session: Session, username: str) -> Account:
    account = session.scalars(select(Account).where(Account.username == username)).one_or_none()
    if account is None:
        raise NotFound(f"no account {username}")
    return account


def _address_row(session: Session, local: str, domain: str) -> Address:
    address = session.scalars(
        select(Address).join(Domain, Domain.id == Address.domain_id)
        .where(Domain.name == domain, Address.local_part == local)).one_or_none()
    if address is None:
        raise NotFound(f"no address {local}@{domain}")
    return address


class Directory:
    """Domains, accounts and their addresses, in the database (every call blocks)."""

    def __init__(self, database: Database, *, default_quota: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.default_quota = _check_quota(default_quota)
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    # -- domains ---------------------------------------------------------------------------------

    def add_domain(self, name: str) -> DomainInfo:
        name = normalise_domain(name)
        try:
            with self.database.write() as session:
                if session.scalars(select(Domain.id).where(Domain.name == name)).first():
                    raise Conflict(f"domain {name} already exists")
                domain = Domain(name=name, created_at=self._now())
                session.add(domain)
                session.flush()
                return _domain_info(domain, None)
        except IntegrityError:
            raise Conflict(f"domain {name} already exists") from None

    def get_domain(self, name: str) -> DomainInfo:
        name = normalise_domain(name)
        with self.database.read() as session:
            row = session.execute(_domain_query().where(Domain.name == name)).first()
            if row is None:
                raise NotFound(f"domain {name} is not served here")
            return _domain_info(*row)

    def list_domains(self) -> list[DomainInfo]:
        with self.database.read() as session:
            return [_domain_info(*row)
                    for row in session.execute(_domain_query().order_by(Domain.name))]

    def remove_domain(self, name: str, *, force: bool = False) -> None:
        """Remove a domain. While it has addresses this is refused, unless `force`: then its
        addresses are removed with it (the accounts stay, with their other addresses)."""
        name = normalise_domain(name)
        with self.database.write() as session:
            domain = _domain_row(session, name)
            count = session.scalar(
                select(func.count()).select_from(Address).where(Address.domain_id == domain.id))
            if count and not force:
                raise Conflict(f"domain {name} still has {count} address(es): remove them first "
                               "or force the removal")
            session.execute(delete(Address).where(Address.domain_id == domain.id))
            session.execute(delete(Domain).where(Domain.id == domain.id))

    def set_dkim_selectors(self, name: str, rsa: str | None, ed25519: str | None) -> None:
        name = normalise_domain(name)
        rsa, ed25519 = _check_selector(rsa), _check_selector(ed25519)
        with self.database.write() as session:
            domain = _domain_row(session, name)
            domain.dkim_rsa_selector = rsa
            domain.dkim_ed25519_selector = ed25519

    def set_catch_all(self, domain: str, username: str | None) -> None:
        """Deliver mail for unknown local parts of `domain` to `username` (None: refuse it)."""
        domain = normalise_domain(domain)
        username = normalise_username(username) if username is not None else None
        with self.database.write() as session:
            row = _domain_row(session, domain)
            row.catch_all_account_id = (_account_row(session, username).id
                                        if username is not None else None)

    def is_local_domain(self, domain: str) -> bool:
        try:
            name = normalise_domain(domain)
        except InvalidValue:
            return False
        with self.database.read() as session:
            return session.scalars(select(Domain.id).where(Domain.name == name)).first() is not None

    # -- accounts --------------------------------------------------------------------------------

    def add_account(self, username: str, password: str, *, address: str | None = None,
                    display_name: str = "", quota: int | None = None,
                    recovery_address: str | None = None) -> AccountInfo:
        """Create an account; `address`, if given, becomes its primary address."""
        username = normalise_username(username)
        check_password_policy(password)
        display_name = _check_text(display_name, "a display name", 200)
        quota = self.default_quota if quota is None else _check_quota(quota)
        recovery = self._check_recovery(recovery_address)
        parts = split_address(address) if address is not None else None
        password_hash = hash_password(password)
        now = self._now()
        try:
            with self.database.write() as session:
                if session.scalars(select(Account.id).where(Account.username == username)).first():
                    raise Conflict(f"account {username} already exists")
                if session.scalars(select(Account.id).where(Account.maildir == username)).first():
                    raise Conflict(f"the maildir {username} is already used by another account")
                domain_id = None
                if parts is not None:
                    domain_id = _domain_row(session, parts[1]).id
                    self._check_address_free(session, domain_id, *parts)
                account = Account(username=username, display_name=display_name,
                                  password_hash=password_hash, recovery_address=recovery,
                                  quota_bytes=quota, used_bytes=0, disabled=False,
                                  maildir=username, totp_enabled=False, created_at=now)
                session.add(account)
                session.flush()
                if parts is not None:
                    session.add(Address(local_part=parts[0], domain_id=domain_id,
                                        account_id=account.id, kind="primary", enabled=True,
                                        created_at=now))
                    session.flush()
                return _account_info(account, *(parts or (None, None)))
        except IntegrityError:
            raise Conflict(f"account {username} or its address already exists") from None

    def get_account(self, username: str) -> AccountInfo:
        username = normalise_username(username)
        with self.database.read() as session:
            accounts = _accounts(session, Account.username == username)
        if not accounts:
            raise NotFound(f"no account {username}")
        return accounts[0]

    def get_account_by_id(self, account_id: int) -> AccountInfo:
        with self.database.read() as session:
            accounts = _accounts(session, Account.id == account_id)
        if not accounts:
            raise NotFound(f"no account with id {account_id}")
        return accounts[0]

    def list_accounts(self, domain: str | None = None) -> list[AccountInfo]:
        """Every account, or those with at least one address (of any kind) in `domain`."""
        with self.database.read() as session:
            if domain is None:
                return _accounts(session)
            domain_id = _domain_row(session, normalise_domain(domain)).id
            return _accounts(session, Account.id.in_(
                select(Address.account_id).where(Address.domain_id == domain_id)))

    def remove_account(self, username: str) -> AccountInfo:
        """Delete the account and everything that hangs off it in the database (addresses,
        app passwords, recovery codes, the message index); the caller removes the maildir."""
        info = self.get_account(username)
        with self.database.write() as session:
            if session.execute(delete(Account).where(Account.id == info.id)).rowcount != 1:
                raise NotFound(f"no account {info.username}")
        return info

    def set_password(self, username: str, password: str) -> None:
        username = normalise_username(username)
        check_password_policy(password)
        password_hash = hash_password(password)
        with self.database.write() as session:
            _account_row(session, username).password_hash = password_hash

    def set_disabled(self, username: str, disabled: bool) -> None:
        username = normalise_username(username)
        with self.database.write() as session:
            _account_row(session, username).disabled = bool(disabled)

    def set_quota(self, username: str, quota: int) -> None:
        """Set the quota in bytes; 0 means no limit."""
        username = normalise_username(username)
        quota = _check_quota(quota)
        with self.database.write() as session:
            _account_row(session, username).quota_bytes = quota

    def update_account(self, username: str, *, display_name: str | None = None,
                       recovery_address: str | None = None) -> AccountInfo:
        """Change what is given; None leaves a field alone, "" clears the recovery address."""
        username = normalise_username(username)
        if display_name is not None:
            display_name = _check_text(display_name, "a display name", 200)
        recovery = self._check_recovery(recovery_address)
        with self.database.write() as session:
            account = _account_row(session, username)
            if display_name is not None:
                account.display_name = display_name
            if recovery_address is not None:
                account.recovery_address = recovery
        return self.get_account(username)

    @staticmethod
    def _check_recovery(recovery_address: str | None) -> str | None:
        if not recovery_address:
            return None
        local, domain = split_address(recovery_address, allow_subaddress=True)
        return f"{local}@{domain}"

    # -- logins ----------------------------------------------------------------------------------

    def find_login(self, login: str) -> AccountInfo | None:
        """The account that `login` names: its username, or any of its enabled addresses
        (case-insensitive, Unicode or IDNA domain). Disabled accounts are returned too, with
        `disabled` set: refusing them is the Authenticator's business."""
        record = self.login_record(login)
        return record.account if record is not None else None

    def login_record(self, login: str) -> LoginRecord | None:
        """find_login with the password hash (for the Authenticator only)."""
        if len(login) > 320:
            return None
        if "@" in login:
            parts = _split_wire_address(login)
            if parts is None:
                return None
            account_ids = (select(Address.account_id)
                           .join(Domain, Domain.id == Address.domain_id)
                           .where(Domain.name == parts[1], Address.local_part == parts[0],
                                  Address.enabled.is_(True)))
            where = Account.id.in_(account_ids)
        else:
            username = login.lower()
            if not _USERNAME.match(username):
                return None
            where = Account.username == username
        with self.database.read() as session:
            row = session.execute(_account_query().where(where)).first()
            if row is None:
                return None
            return LoginRecord(_account_info(*row), row[0].password_hash)

    def replace_password_hash(self, account_id: int, old: str, new: str) -> bool:
        """Store `new` in place of `old` (a rehash after login) unless the password changed
        meanwhile; True if stored."""
        with self.database.write() as session:
            result = session.execute(update(Account)
                                     .where(Account.id == account_id,
                                            Account.password_hash == old)
                                     .values(password_hash=new))
            return result.rowcount == 1

    # -- addresses -------------------------------------------------------------------------------

    def add_alias(self, username: str, address: str, *, label: str | None = None) -> AddressInfo:
        username = normalise_username(username)
        local, domain = split_address(address)
        label = _check_label(label)
        return self._add_address(username, local, domain, "alias", label)

    def add_disposable(self, username: str, domain: str, *,
                       label: str | None = None) -> AddressInfo:
        """A new address with a random, unguessable local part (60 bits) in `domain`."""
        username = normalise_username(username)
        domain = normalise_domain(domain)
        label = _check_label(label)
        for _attempt in range(5):
            local = DISPOSABLE_PREFIX + "".join(secrets.choice(_BASE32)
                                                for _ in range(DISPOSABLE_LENGTH))
            try:
                return self._add_address(username, local, domain, "disposable", label)
            except Conflict:
                continue
        raise Conflict(f"could not find a free disposable address in {domain}")

    def _add_address(self, username: str, local: str, domain: str, kind: str,
                     label: str | None) -> AddressInfo:
        try:
            with self.database.write() as session:
                account = _account_row(session, username)
                domain_id = _domain_row(session, domain).id
                self._check_address_free(session, domain_id, local, domain)
                row = Address(local_part=local, domain_id=domain_id, account_id=account.id,
                              kind=kind, enabled=True, label=label, created_at=self._now())
                session.add(row)
                session.flush()
                return _address_info(row, domain, username)
        except IntegrityError:
            raise Conflict(f"address {local}@{domain} already exists") from None

    @staticmethod
    def _check_address_free(session: Session, domain_id: int, local: str, domain: str) -> None:
        taken = session.scalars(select(Address.id).where(Address.domain_id == domain_id,
                                                         Address.local_part == local)).first()
        if taken is not None:
            raise Conflict(f"address {local}@{domain} already exists")

    def set_address_enabled(self, address: str, enabled: bool) -> None:
        local, domain = split_address(address, allow_subaddress=True)
        with self.database.write() as session:
            _address_row(session, local, domain).enabled = bool(enabled)

    def set_primary_address(self, username: str, address: str) -> None:
        """Make `address`, an alias of the account, its primary address; the former primary
        becomes an alias."""
        username = normalise_username(username)
        local, domain = split_address(address, allow_subaddress=True)
        with self.database.write() as session:
            account = _account_row(session, username)
            row = _address_row(session, local, domain)
            if row.account_id != account.id:
                raise InvalidValue(f"{local}@{domain} is not an address of {username}")
            if row.kind == "disposable":
                raise InvalidValue(f"{local}@{domain} is disposable: it cannot be the primary")
            session.execute(update(Address)
                            .where(Address.account_id == account.id, Address.kind == "primary")
                            .values(kind="alias"))
            row.kind = "primary"

    def remove_address(self, address: str) -> None:
        """Remove an alias or disposable address; the primary address cannot be removed."""
        local, domain = split_address(address, allow_subaddress=True)
        with self.database.write() as session:
            row = _address_row(session, local, domain)
            if row.kind == "primary":
                raise InvalidValue(f"{local}@{domain} is the primary address of its account: "
                                   "make another address primary first")
            session.delete(row)

    def list_addresses(self, username: str) -> list[AddressInfo]:
        """The account's addresses: primary first, then aliases, then disposable ones."""
        username = normalise_username(username)
        with self.database.read() as session:
            account = _account_row(session, username)
            rows = session.execute(_address_query().where(Address.account_id == account.id))
            infos = [_address_info(*row) for row in rows]
        return sorted(infos, key=lambda info: (ADDRESS_KINDS.index(info.kind), info.address))

    def resolve_recipient(self, address: str) -> AccountInfo | None:
        """The account that receives mail for `address`, or None.

        In order: the address itself; else without its `+tag` (RFC 5233); else the domain's
        catch-all. A disabled address or a disabled account is None, with no fall-through to
        the catch-all. A domain not served here is None.
        """
        parts = _split_wire_address(address)
        if parts is None:
            return None
        local, domain_name = parts
        with self.database.read() as session:
            domain = session.scalars(
                select(Domain).where(Domain.name == domain_name)).one_or_none()
            if domain is None:
                return None
            candidates = [local]
            base, separator, _tag = local.partition(SUBADDRESS_SEPARATOR)
            if separator and base:
                candidates.append(base)
            for candidate in candidates:
                hit = session.execute(select(Address.account_id, Address.enabled).where(
                    Address.domain_id == domain.id, Address.local_part == candidate)).first()
                if hit is not None:
                    return _receiving(session, hit.account_id) if hit.enabled else None
            if domain.catch_all_account_id is None:
                return None
            return _receiving(session, domain.catch_all_account_id)
