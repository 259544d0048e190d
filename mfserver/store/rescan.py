"""Rescan: bringing the index in line with what other programs did to an account's maildirs.

Implementation notes:
- The disk says which folders and messages exist; the index keeps UIDs, flags and MODSEQs.
  A file that appeared in new/ or cur/ gets a new UID (uidnext only grows, so a UID is never
  reused), its flags from the ':2,' info, its INTERNALDATE from the file's mtime, and counts
  towards the account's used bytes (no quota check: the file is already there). A file that
  vanished is expunged (expunged rows, a MODSEQ bump, quota released, published). A file
  renamed by another program (new/ -> cur/, other info letters) keeps its UID and flags; only
  its file name is updated, since the index is the source of truth for flags.
- Files are read and parsed before the write transaction, in batches of `RESCAN_BATCH`, so
  a large maildir taken over from another server costs bounded memory and short transactions. Under the
  account lock every finding is checked again, because the store itself may have delivered,
  moved or expunged in the meantime: a key indexed meanwhile is skipped, and a file missing
  from the first listing is looked for once more before its row is expunged.
- Files with bare LF are indexed as they are (bare_lf=True, size counted with CRLF).
- Folder directories made by others (`.Name` with cur/, canonically escaped) are adopted as
  new folders; a subfolder whose directory is gone is dropped from the index. INBOX's
  subdirectories are recreated when missing; a missing account root changes nothing (an
  unmounted file system must not look like an empty mailbox).
- tmp/ files older than 36 hours are removed (maildir spec), and so are leftovers of folder
  deletions interrupted by a crash.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from twisted.logger import Logger

from mfserver.store import index, maildir
from mfserver.store.base import FolderRow, StoreBase
from mfserver.store.changes import (
    Change,
    FolderCreated,
    FolderDeleted,
    MessagesAdded,
    MessagesExpunged,
)
from mfserver.store.errors import FolderNotFound
from mfserver.store.folders import DELETED_PREFIX
from mfserver.store.index import messages
from mfserver.store.messages import message_row
from mfserver.store.mime import ParsedMessage, normalize_crlf, parse_message
from mfserver.store.records import RescanResult

log = Logger()
RESCAN_BATCH = 500  # new files read, parsed and indexed per transaction


@dataclass(frozen=True)
class _Found:
    key: str
    filename: str
    bits: int
    when: tuple[int, int]
    parsed: ParsedMessage
    bare_lf: bool


def _read(folder_path: Path, key: str, filename: str) -> _Found | None:
    path = maildir.message_file(folder_path, filename)
    try:
        data = path.read_bytes()
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    normalized = normalize_crlf(data)
    offset = datetime.fromtimestamp(mtime).astimezone().utcoffset()
    when = (int(mtime), int(offset.total_seconds() // 60) if offset else 0)
    return _Found(key, filename, maildir.flags_of_filename(filename), when,
                  parse_message(normalized), normalized != data)


class RescanOperations(StoreBase):

    def rescan(self, account_id: int) -> RescanResult:
        """Index what other programs added, expunge what they removed; see the module notes."""
        result = RescanResult()
        root = self.account_root(account_id)
        if not root.is_dir():
            log.warn("maildir root of account {account} is missing; rescan skipped",
                     account=account_id)
            return result
        maildir.make_maildir(root)
        self._remove_leftovers(root)
        self._rescan_folders(account_id, root, result)
        with self.database.read() as session:
            rows = self._account_folders(session, account_id)
        for row in rows:
            self._rescan_messages(account_id, row, result)
        return result

    def _remove_leftovers(self, root: Path) -> None:
        for path in root.iterdir():
            if path.name.startswith(DELETED_PREFIX) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    def _rescan_folders(self, account_id: int, root: Path, result: RescanResult) -> None:
        on_disk: dict[str, str] = {}
        for directory in maildir.folder_directories(root):
            name = maildir.folder_name_of(directory)
            if name is None or name == maildir.INBOX:
                log.debug("not a folder directory, left alone: {directory!r}",
                          directory=directory)
                continue
            on_disk[directory] = name
        with self.database.read() as session:
            rows = self._account_folders(session, account_id)
        known = {row.directory for row in rows}
        gone = [row for row in rows if row.directory and not row.path.exists()]
        if not (set(on_disk) - known or gone):
            return
        changes: list[Change] = []
        with self._write() as session:
            index.lock_account(session, account_id)
            rows = {row.directory: row for row in self._account_folders(session, account_id)}
            for directory, name in sorted(on_disk.items()):
                if directory not in rows and (root / directory / "cur").is_dir():
                    folder_id = index.insert_folder(session, account_id, name, directory,
                                                    None, self.clock())
                    result.folders_added.append(name)
                    changes.append(FolderCreated(account_id, folder_id, name))
            for old in gone:
                row = rows.get(old.directory)
                if row is None or row.id != old.id or row.path.exists():
                    continue
                index.bury_folder(session, account_id, row.id)
                result.folders_removed.append(row.name)
                changes.append(FolderDeleted(account_id, row.id, row.name))
        self._publish(changes)

    def _rescan_messages(self, account_id: int, folder: FolderRow,
                         result: RescanResult) -> None:
        if not folder.path.is_dir():
            return
        result.tmp_cleaned += maildir.clean_tmp(folder.path, self.clock())
        listing = maildir.scan(folder.path)
        with self.database.read() as session:
            indexed = {row.key: row.filename for row in index.select_messages(
                session, folder.id, None, messages.c.uid, messages.c.key, messages.c.filename)}
        new_keys = [key for key in listing if key not in indexed]
        doubtful = [key for key, filename in indexed.items() if listing.get(key) != filename]
        if not new_keys and not doubtful:
            return
        batches = list(index.chunks(new_keys, RESCAN_BATCH)) or [[]]
        for number, batch in enumerate(batches):
            found = [item for item in (_read(folder.path, key, listing[key]) for key in batch)
                     if item is not None]
            try:
                added, removed = self._commit_rescan(account_id, folder, found,
                                                     doubtful if number == 0 else [])
            except FolderNotFound:
                return  # deleted meanwhile
            self._report(account_id, folder, added, removed, result)

    def _report(self, account_id: int, folder: FolderRow, added: tuple[list[int], int],
                removed: tuple[list[int], int], result: RescanResult) -> None:
        result.added.extend((folder.name, uid) for uid in added[0])
        result.removed.extend((folder.name, uid) for uid in removed[0])
        changes: list[Change] = []
        if added[0]:
            changes.append(MessagesAdded(account_id, folder.id, folder.name, tuple(added[0]),
                                         added[1], added[0][-1] + 1))
        if removed[0]:
            changes.append(MessagesExpunged(account_id, folder.id, tuple(removed[0]),
                                            removed[1]))
        self._publish(changes)

    def _commit_rescan(self, account_id: int, folder: FolderRow, found: list[_Found],
                       doubtful: list[str]) -> tuple[tuple[list[int], int], tuple[list[int], int]]:
        added: list[int] = []
        removed: list[int] = []
        added_modseq = removed_modseq = 0
        with self._write() as session:
            index.lock_account(session, account_id)
            current = self._folder_by_id(session, account_id, folder.id)
            if current.directory != folder.directory:
                return (added, 0), (removed, 0)  # renamed meanwhile: the next rescan sees it
            keys = [item.key for item in found] + doubtful
            rows = {}
            for part in index.chunks(keys):
                for row in session.execute(
                        select(messages.c.id, messages.c.uid, messages.c.key,
                               messages.c.filename, messages.c.size)
                        .where(messages.c.folder_id == folder.id, messages.c.key.in_(part))):
                    rows[row.key] = row
            fresh = maildir.scan(folder.path) if doubtful else {}
            gone = []
            for key in doubtful:
                row = rows.get(key)
                if row is None:
                    continue
                if key in fresh:
                    if fresh[key] != row.filename:
                        session.execute(update(messages).where(messages.c.id == row.id)
                                        .values(filename=fresh[key]))
                else:
                    gone.append(row)
            new = [item for item in found if item.key not in rows]
            if new:
                first, added_modseq, _ = index.allocate(session, account_id, folder.id,
                                                        len(new))
                index.insert_messages(session, [
                    message_row(folder.id, first + n, item.key, item.filename, item.bits, (),
                                item.when, item.parsed, item.bare_lf, added_modseq)
                    for n, item in enumerate(new)], [item.parsed.header for item in new])
                index.add_used(session, account_id, sum(item.parsed.size for item in new))
                added = list(range(first, first + len(new)))
            if gone:
                removed_modseq = index.bump_modseq(session, account_id, folder.id)
                index.delete_messages(session, folder.id, gone, removed_modseq)
                index.add_used(session, account_id, -sum(row.size for row in gone))
                removed = sorted(row.uid for row in gone)
        return (added, added_modseq), (removed, removed_modseq)
