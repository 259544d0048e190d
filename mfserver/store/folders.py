"""Folder operations of the store: provision, list, create, rename, delete, subscriptions, status.

Implementation notes:
- The directory of a folder changes only inside the write transaction that changes its row,
  after the account lock: a concurrent rescan waits, then re-checks under the lock, so it never
  adopts a directory the store is creating or renaming. If the transaction fails, the disk
  change is undone (created directories removed, renames reversed).
- CREATE makes the missing superior folders too (RFC 3501 6.3.3 SHOULD); they are ordinary
  selectable folders. Maildir++ is flat, so a folder can also exist without its parent
  (made by hand, or after its parent was renamed away); LIST shows such a parent as \\Noselect
  or \\NonExistent — that is for the IMAP layer to synthesise.
- DELETE (RFC 3501 6.3.4) is simplified: a folder with subfolders is refused (FolderNotEmpty)
  instead of being emptied and kept as \\Noselect; INBOX cannot be deleted. The directory is
  first renamed out of the folder namespace (`mfserver-deleted-*`, which no scan adopts), the
  messages deleted, the quota released, the row kept as a tombstone (see `index`), and only after the commit removed from disk. Deleting a
  special folder is allowed; `provision` makes it again. Subscriptions are kept (RFC 3501
  6.3.9: the server does not remove subscriptions on its own).
- RENAME (RFC 3501 6.3.5) keeps the folder's UIDVALIDITY and UIDs and moves its subfolders and
  their subscriptions along. RENAME of INBOX makes a new folder, moves every INBOX message into
  it (same UIDs, the new folder takes INBOX's UIDNEXT), records them as expunged from INBOX and
  leaves INBOX empty; INBOX's subfolders stay where they are.
- A new folder's UIDVALIDITY is the current time, raised above every other folder's of the
  account (`index.new_uidvalidity`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from mfserver.db.models import Subscription
from mfserver.store import flags as flagbits
from mfserver.store import index, maildir
from mfserver.store.base import FolderRow, StoreBase
from mfserver.store.changes import (
    Change,
    FolderCreated,
    FolderDeleted,
    FolderRenamed,
    MessagesAdded,
    MessagesExpunged,
)
from mfserver.store.errors import (
    FolderExists,
    FolderNotEmpty,
    FolderNotFound,
    FolderProtected,
    InvalidFolderName,
)
from mfserver.store.index import folders, messages
from mfserver.store.records import FolderInfo, FolderStatus

subscriptions = Subscription.__table__

SPECIAL_FOLDERS = (("INBOX", None), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                   ("Junk", "\\Junk"), ("Trash", "\\Trash"), ("Archive", "\\Archive"))
DELETED_PREFIX = "mfserver-deleted-"


class _DiskUndo:
    """Disk changes made inside a transaction, undone if it does not commit."""

    def __init__(self) -> None:
        self.created: list[Path] = []
        self.renamed: list[tuple[Path, Path]] = []

    def make_folder(self, path: Path, subfolder: bool) -> None:
        if not path.exists():
            self.created.append(path)
        maildir.make_maildir(path)
        if subfolder:
            maildir.mark_subfolder(path)

    def rename(self, source: Path, target: Path) -> None:
        os.rename(source, target)
        self.renamed.append((source, target))

    def undo(self) -> None:
        for source, target in reversed(self.renamed):
            try:
                os.rename(target, source)
            except OSError:
                pass
        for path in reversed(self.created):
            shutil.rmtree(path, ignore_errors=True)


class FolderOperations(StoreBase):

    # -- provisioning and creation ----------------------------------------------------------

    def provision(self, account_id: int) -> list[FolderInfo]:
        """Make INBOX and the special folders (subscribed) if missing. Idempotent."""
        root = self.account_root(account_id)
        maildir.make_maildir(root)
        undo = _DiskUndo()
        created: list[FolderRow] = []
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                existing = {row.name: row for row in self._account_folders(session, account_id)}
                uses = {row.special_use for row in existing.values()}
                for name, special_use in SPECIAL_FOLDERS:
                    row = existing.get(name)
                    if row is None:
                        created.append(self._create_row(session, undo, account_id, name,
                                                        special_use))
                        self._subscribe(session, account_id, name)
                    elif special_use and row.special_use is None and special_use not in uses:
                        session.execute(update(folders).where(folders.c.id == row.id)
                                        .values(special_use=special_use))
                    else:
                        undo.make_folder(row.path, subfolder=row.directory != "")
        except BaseException:
            undo.undo()
            raise
        self._publish([FolderCreated(account_id, row.id, row.name) for row in created])
        return self.list_folders(account_id)

    def create_folder(self, account_id: int, name: str) -> FolderInfo:
        """CREATE: the folder and any missing superior folders. FolderExists if it exists."""
        name = maildir.normalize_folder_name(name)
        maildir.folder_directory(name)  # raises InvalidFolderName before anything is touched
        if maildir.is_inbox(name):
            raise FolderExists("INBOX always exists")
        undo = _DiskUndo()
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                names = self._names(session, account_id)
                if name in names:
                    raise FolderExists(f"folder {name!r} already exists")
                created = [self._create_row(session, undo, account_id, parent, None)
                           for parent in maildir.parent_names(name) if parent not in names]
                created.append(self._create_row(session, undo, account_id, name, None))
        except BaseException:
            undo.undo()
            raise
        self._publish([FolderCreated(account_id, row.id, row.name) for row in created])
        return created[-1].info()

    def _create_row(self, session: Session, undo: _DiskUndo, account_id: int, name: str,
                    special_use: str | None) -> FolderRow:
        directory = maildir.folder_directory(name)
        folder_id = index.insert_folder(session, account_id, name, directory, special_use,
                                        self.clock())
        row = self._folder_by_id(session, account_id, folder_id)
        undo.make_folder(row.path, subfolder=directory != "")
        return row

    def _names(self, session: Session, account_id: int) -> set[str]:
        return set(session.execute(select(folders.c.name)
                                   .where(folders.c.account_id == account_id, index.LIVE))
                   .scalars())

    # -- reading ----------------------------------------------------------------------------

    def list_folders(self, account_id: int) -> list[FolderInfo]:
        """Every folder of the account, INBOX first, then by name."""
        with self.database.read() as session:
            rows = self._account_folders(session, account_id)
            subscribed = set(self._subscriptions(session, account_id))
        rows.sort(key=lambda row: (row.name != maildir.INBOX, row.name))
        return [row.info(row.name in subscribed) for row in rows]

    def get_folder(self, account_id: int, name: str) -> FolderInfo:
        """The folder `name` (INBOX in any case); FolderNotFound if there is none."""
        with self.database.read() as session:
            row = self._folder_by_name(session, account_id, name)
            subscribed = row.name in self._subscriptions(session, account_id)
        return row.info(subscribed)

    def get_folder_by_id(self, account_id: int, folder_id: int) -> FolderInfo:
        with self.database.read() as session:
            row = self._folder_by_id(session, account_id, folder_id)
            return row.info(row.name in self._subscriptions(session, account_id))

    def status(self, account_id: int, folder: str | int) -> FolderStatus:
        """STATUS of a folder (by name or id) from SQL aggregates; no file is read."""
        with self.database.read() as session:
            row = self._folder(session, account_id, folder)
            unseen = func.sum(case(((messages.c.flags.op("&")(flagbits.SEEN)) == 0, 1),
                                   else_=0))
            deleted = func.sum(case(((messages.c.flags.op("&")(flagbits.DELETED)) != 0, 1),
                                    else_=0))
            counts = session.execute(select(func.count(), unseen, deleted,
                                            func.sum(messages.c.size))
                                     .where(messages.c.folder_id == row.id)).one()
        return FolderStatus(messages=counts[0], unseen=int(counts[1] or 0),
                            deleted=int(counts[2] or 0), size=int(counts[3] or 0),
                            uidnext=row.uidnext, uidvalidity=row.uidvalidity,
                            highestmodseq=row.highestmodseq)

    # -- delete and rename ------------------------------------------------------------------

    def delete_folder(self, account_id: int, name: str) -> None:
        """DELETE a folder without subfolders, its messages and their quota. Not INBOX."""
        name = maildir.normalize_folder_name(name)
        if maildir.is_inbox(name):
            raise FolderProtected("INBOX cannot be deleted")
        undo = _DiskUndo()
        trash: Path | None = None
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                row = self._folder_by_name(session, account_id, name)
                if self._has_children(session, account_id, name):
                    raise FolderNotEmpty(f"folder {name!r} has subfolders; delete them first")
                index.bury_folder(session, account_id, row.id)
                if row.path.exists():
                    trash = row.path.parent / f"{DELETED_PREFIX}{uuid.uuid4().hex}"
                    undo.rename(row.path, trash)
        except BaseException:
            undo.undo()
            raise
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        self._publish([FolderDeleted(account_id, row.id, row.name)])

    def rename_folder(self, account_id: int, old: str, new: str) -> FolderInfo:
        """RENAME `old` to `new` with its subfolders; see the module notes for INBOX."""
        old = maildir.normalize_folder_name(old)
        new = maildir.normalize_folder_name(new)
        maildir.folder_directory(new)
        if maildir.is_inbox(new):
            raise FolderExists("INBOX always exists")
        if new.startswith(old + maildir.DELIMITER) and not maildir.is_inbox(old):
            raise InvalidFolderName(f"cannot move {old!r} into itself")
        undo = _DiskUndo()
        changes: list[Change] = []
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                names = self._names(session, account_id)
                if old not in names:
                    raise FolderNotFound(f"no folder named {old!r}")
                if new in names:
                    raise FolderExists(f"folder {new!r} already exists")
                if maildir.is_inbox(old):
                    target = self._rename_inbox(session, undo, account_id, names, new, changes)
                else:
                    target = self._rename_tree(session, undo, account_id, names, old, new,
                                               changes)
        except BaseException:
            undo.undo()
            raise
        self._publish(changes)
        return target.info()

    def _rename_tree(self, session: Session, undo: _DiskUndo, account_id: int,
                     names: set[str], old: str, new: str, changes: list[Change]) -> FolderRow:
        moving = [name for name in names
                  if name == old or name.startswith(old + maildir.DELIMITER)]
        renamed = {name: new + name[len(old):] for name in moving}
        for target in renamed.values():
            maildir.folder_directory(target)  # every new name must be valid...
            if target in names:                # ...and free
                raise FolderExists(f"folder {target!r} already exists")
        for parent in maildir.parent_names(new):
            if parent not in names and parent not in renamed.values():
                row = self._create_row(session, undo, account_id, parent, None)
                names.add(parent)
                changes.append(FolderCreated(account_id, row.id, parent))
        root = self.account_root(account_id, session)
        for name in sorted(moving):
            row = self._folder_by_name(session, account_id, name)
            target = renamed[name]
            directory = maildir.folder_directory(target)
            if row.path.exists():
                undo.rename(row.path, root / directory)
            else:
                undo.make_folder(root / directory, subfolder=True)
            session.execute(update(folders).where(folders.c.id == row.id)
                            .values(name=target, directory=directory))
            session.execute(delete(subscriptions).where(
                subscriptions.c.account_id == account_id, subscriptions.c.name == target))
            session.execute(update(subscriptions).where(
                subscriptions.c.account_id == account_id, subscriptions.c.name == name)
                .values(name=target))
            changes.append(FolderRenamed(account_id, row.id, name, target))
        return self._folder_by_name(session, account_id, new)

    def _rename_inbox(self, session: Session, undo: _DiskUndo, account_id: int,
                      names: set[str], new: str, changes: list[Change]) -> FolderRow:
        inbox = self._folder_by_name(session, account_id, maildir.INBOX)
        for parent in maildir.parent_names(new):
            if parent not in names:
                row = self._create_row(session, undo, account_id, parent, None)
                changes.append(FolderCreated(account_id, row.id, parent))
        target = self._create_row(session, undo, account_id, new, None)
        changes.append(FolderCreated(account_id, target.id, new))
        rows = index.select_messages(session, inbox.id, None, messages.c.id, messages.c.uid,
                                     messages.c.filename)
        if not rows:
            return target
        modseq = index.bump_modseq(session, account_id, inbox.id)
        for row in rows:
            source = maildir.message_file(inbox.path, row.filename)
            undo.rename(source, maildir.message_file(target.path, row.filename))
        for sub in ("new", "cur"):
            maildir.fsync_directory(target.path / sub)
        for part in index.chunks([row.id for row in rows]):
            session.execute(update(messages).where(messages.c.id.in_(part))
                            .values(folder_id=target.id, modseq=modseq))
        session.execute(insert(index.expunged), [
            {"folder_id": inbox.id, "uid": row.uid, "modseq": modseq} for row in rows])
        session.execute(update(folders).where(folders.c.id == target.id)
                        .values(uidnext=inbox.uidnext, highestmodseq=modseq))
        uids = tuple(row.uid for row in rows)
        changes.append(MessagesExpunged(account_id, inbox.id, uids, modseq))
        changes.append(MessagesAdded(account_id, target.id, new, uids, modseq, inbox.uidnext))
        return self._folder_by_id(session, account_id, target.id)

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(self, account_id: int, name: str) -> None:
        """SUBSCRIBE; the folder need not exist (RFC 3501 6.3.6 leaves that to the server)."""
        name = maildir.normalize_folder_name(name)
        with self._write() as session:
            index.lock_account(session, account_id)
            self._subscribe(session, account_id, name)

    def _subscribe(self, session: Session, account_id: int, name: str) -> None:
        if name not in self._subscriptions(session, account_id):
            session.execute(insert(subscriptions).values(account_id=account_id, name=name))

    def unsubscribe(self, account_id: int, name: str) -> bool:
        """UNSUBSCRIBE; False when the name was not subscribed."""
        name = maildir.normalize_folder_name(name)
        with self._write() as session:
            index.lock_account(session, account_id)
            result = session.execute(delete(subscriptions).where(
                subscriptions.c.account_id == account_id, subscriptions.c.name == name))
            return result.rowcount > 0

    def list_subscriptions(self, account_id: int) -> list[str]:
        with self.database.read() as session:
            return sorted(self._subscriptions(session, account_id))

    def _subscriptions(self, session: Session, account_id: int) -> list[str]:
        return list(session.execute(select(subscriptions.c.name)
                                    .where(subscriptions.c.account_id == account_id))
                    .scalars())
