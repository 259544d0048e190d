"""What every part of `Store` shares: the database, the mail root, the change bus, folder lookups.

Implementation notes:
- Every lookup is scoped by account: a folder is found by (account_id, name) or
  (account_id, folder_id), never by an id alone, so one account cannot reach another's folder
  even with a guessed id.
- An account's maildir root comes from `accounts.maildir` (checked to be a plain relative path
  under the mail root) and is cached; it never changes while the account exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mfserver.db import Database
from mfserver.store import maildir
from mfserver.store.changes import Change, ChangeBus
from mfserver.store.errors import AccountNotFound, FolderNotFound
from mfserver.store.index import LIVE, accounts, folders
from mfserver.store.records import FolderInfo

FOLDER_COLUMNS = (folders.c.id, folders.c.account_id, folders.c.name, folders.c.directory,
                  folders.c.special_use, folders.c.uidvalidity, folders.c.uidnext,
                  folders.c.highestmodseq)


@dataclass(frozen=True)
class FolderRow:
    """A folder as read inside one transaction, with the path of its maildir."""

    id: int
    account_id: int
    name: str
    directory: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    path: Path

    def info(self, subscribed: bool = False) -> FolderInfo:
        return FolderInfo(self.id, self.account_id, self.name, self.special_use,
                          self.uidvalidity, self.uidnext, self.highestmodseq, subscribed)


class StoreBase:
    def __init__(self, database: Database, mail_root: Path | str, *,
                 bus: ChangeBus | None = None, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.mail_root = Path(mail_root)
        self.bus = bus or ChangeBus()
        self.clock = clock
        self._roots: dict[int, Path] = {}
        self._roots_lock = threading.Lock()

    def _write(self) -> AbstractContextManager[Session]:
        """A write transaction of the store."""
        return self.database.write()

    # -- accounts ---------------------------------------------------------------------------

    def account_root(self, account_id: int, session: Session | None = None) -> Path:
        """The maildir root (INBOX) of the account; AccountNotFound if there is no account."""
        with self._roots_lock:
            root = self._roots.get(account_id)
        if root is not None:
            return root
        query = select(accounts.c.maildir).where(accounts.c.id == account_id)
        if session is None:
            with self.database.read() as own:
                value = own.execute(query).scalar()
        else:
            value = session.execute(query).scalar()
        if value is None:
            raise AccountNotFound(f"no account with id {account_id}")
        root = maildir.account_root(self.mail_root, value)
        with self._roots_lock:
            self._roots[account_id] = root
        return root

    def _forget_root(self, account_id: int) -> None:
        with self._roots_lock:
            self._roots.pop(account_id, None)

    # -- folders ----------------------------------------------------------------------------

    def _row(self, session: Session, account_id: int, row: Any) -> FolderRow:
        root = self.account_root(account_id, session)
        return FolderRow(row.id, row.account_id, row.name, row.directory, row.special_use,
                         row.uidvalidity, row.uidnext, row.highestmodseq,
                         root / row.directory if row.directory else root)

    def _folder_by_name(self, session: Session, account_id: int, name: str) -> FolderRow:
        name = maildir.normalize_folder_name(name)
        row = session.execute(select(*FOLDER_COLUMNS).where(
            folders.c.account_id == account_id, folders.c.name == name)).first()
        if row is None:
            raise FolderNotFound(f"no folder named {name!r}")
        return self._row(session, account_id, row)

    def _folder_by_id(self, session: Session, account_id: int, folder_id: int) -> FolderRow:
        row = session.execute(select(*FOLDER_COLUMNS).where(
            folders.c.account_id == account_id, folders.c.id == folder_id, LIVE)).first()
        if row is None:
            raise FolderNotFound(f"no folder with id {folder_id}")
        return self._row(session, account_id, row)

    def _folder(self, session: Session, account_id: int, folder: int | str) -> FolderRow:
        if isinstance(folder, str):
            return self._folder_by_name(session, account_id, folder)
        return self._folder_by_id(session, account_id, folder)

    def _account_folders(self, session: Session, account_id: int) -> list[FolderRow]:
        rows = session.execute(select(*FOLDER_COLUMNS)
                               .where(folders.c.account_id == account_id, LIVE)
                               .order_by(folders.c.name))
        return [self._row(session, account_id, row) for row in rows]

    def _has_children(self, session: Session, account_id: int, name: str) -> bool:
        prefix = name + maildir.DELIMITER
        count = session.execute(select(func.count()).select_from(folders).where(
            folders.c.account_id == account_id,
            func.substr(folders.c.name, 1, len(prefix)) == prefix)).scalar_one()
        return count > 0

    # -- notifications ----------------------------------------------------------------------

    def _publish(self, changes: Sequence[Change]) -> None:
        """Tell subscribers; called only after the transaction that made `changes` committed."""
        if changes:
            self.bus.publish_many(changes)
