"""Allow and block lists, and per-account milter settings (blocking: run in the pool).

Implementation notes:
- A pattern is an address (`someone@example.net`) or a domain (`example.net`, which also
  covers its subdomains); both are lowercased, the domain in its IDNA ASCII form. One pattern
  is on at most one list per account (adding it to the other list moves it).
- `match(account_id, sender)` answers the list of the most specific pattern: the address
  beats its domain, a subdomain beats its parent. An empty (null) sender matches nothing.
- Settings are free-form name/value pairs checked against `SETTINGS` (the names and the
  values each allows); an account without a row gets the default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select

from mfserver.db import Database
from mfserver.db.models import FilterEntry, FilterSetting

ALLOW, BLOCK = "allow", "block"

# name -> (default, allowed values)
SETTINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "trackers": ("on", ("on", "off")),        # remove trackers from this account's mail
    "blocked": ("junk", ("junk", "reject")),  # what happens to a blocked sender's mail
    "spam": ("on", ("on", "off")),            # score and file this account's mail
}


class FilterError(Exception):
    """A bad pattern, setting or value, worded for the admin."""


@dataclass(frozen=True)
class Listing:
    kind: str
    pattern: str


def normalise_pattern(pattern: str) -> str:
    pattern = pattern.strip().strip("<>").lower().rstrip(".")
    local, at, domain = pattern.rpartition("@")
    if at and not local:
        raise FilterError(f"not an address or domain: {pattern!r}")
    if not at:
        domain = pattern
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise FilterError(f"not an address or domain: {pattern!r}") from None
    if not domain or "." not in domain or any(c in domain for c in " /\\,;:"):
        raise FilterError(f"not an address or domain: {pattern!r}")
    return f"{local}@{domain}" if at else domain


def candidates(sender: str) -> list[str]:
    """The patterns that match `sender`, most specific first."""
    sender = sender.strip("<>").lower()
    if "@" not in sender:
        return []
    local, _, domain = sender.rpartition("@")
    labels = domain.split(".")
    return [f"{local}@{domain}"] + [".".join(labels[i:]) for i in range(len(labels) - 1)]


class FilterLists:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- lists ------------------------------------------------------------------------------

    def add(self, account_id: int, kind: str, pattern: str) -> str:
        if kind not in (ALLOW, BLOCK):
            raise FilterError(f"no list {kind!r}")
        pattern = normalise_pattern(pattern)
        with self.database.write() as session:
            session.execute(delete(FilterEntry).where(FilterEntry.account_id == account_id,
                                                      FilterEntry.pattern == pattern))
            session.add(FilterEntry(account_id=account_id, kind=kind, pattern=pattern,
                                    created_at=int(time.time())))
        return pattern

    def remove(self, account_id: int, pattern: str) -> bool:
        pattern = normalise_pattern(pattern)
        with self.database.write() as session:
            result = session.execute(delete(FilterEntry).where(
                FilterEntry.account_id == account_id, FilterEntry.pattern == pattern))
            return bool(result.rowcount)

    def entries(self, account_id: int) -> list[Listing]:
        with self.database.read() as session:
            rows = session.execute(select(FilterEntry.kind, FilterEntry.pattern).where(
                FilterEntry.account_id == account_id).order_by(FilterEntry.kind,
                                                               FilterEntry.pattern))
            return [Listing(kind, pattern) for kind, pattern in rows]

    def match(self, account_id: int, sender: str) -> str | None:
        """ALLOW, BLOCK or None for `sender` (an address) in this account's lists."""
        wanted = candidates(sender)
        if not wanted:
            return None
        with self.database.read() as session:
            found = dict(session.execute(select(FilterEntry.pattern, FilterEntry.kind).where(
                FilterEntry.account_id == account_id, FilterEntry.pattern.in_(wanted))).all())
        for pattern in wanted:
            if pattern in found:
                return found[pattern]
        return None

    # -- settings ---------------------------------------------------------------------------

    def set(self, account_id: int, name: str, value: str) -> None:
        if name not in SETTINGS:
            raise FilterError(f"no setting {name!r} (known: {', '.join(SETTINGS)})")
        if value not in SETTINGS[name][1]:
            raise FilterError(f"setting {name} takes {' or '.join(SETTINGS[name][1])}, "
                              f"not {value!r}")
        with self.database.write() as session:
            row = session.get(FilterSetting, (account_id, name))
            if row is None:
                session.add(FilterSetting(account_id=account_id, name=name, value=value))
            else:
                row.value = value

    def settings(self, account_id: int) -> dict[str, str]:
        values = {name: default for name, (default, _) in SETTINGS.items()}
        with self.database.read() as session:
            values.update(session.execute(select(FilterSetting.name, FilterSetting.value).where(
                FilterSetting.account_id == account_id)).all())
        return values
