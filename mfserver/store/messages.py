"""Message operations of the store: deliver, read, flags, expunge, copy, move.

Implementation notes:
- deliver: the message is parsed and written to tmp/ and fsynced before any transaction; the
  transaction then reserves quota, takes the UID, renames the file into new/ (or cur/ when it
  has flags), fsyncs the directory, inserts the index rows and commits. Deliveries made at
  the same time by several threads share that transaction (store.groupcommit), one savepoint
  each, and each directory is synced once per batch. Only then is the
  change published and the call returns. A failure removes the tmp file and, if the rename
  happened, the renamed file: nothing half-done stays visible. A SIGKILL between the rename
  and the commit leaves a complete file in new/ that the next rescan indexes (maildir's "at
  least once"); no partial file is ever visible in new/ or cur/.
- Flags are not written into file names after delivery: the index is the source of truth. A
  file's name carries the flags it was created with (deliver/APPEND with flags, COPY, MOVE
  go to cur/KEY:2,FLAGS), and STORE never renames files, which saves a rename and a directory
  fsync per change and keeps readers from racing a rename. Other maildir readers therefore
  see stale flags; an export writes them from the index.
- expunge unlinks the files and fsyncs the directories before the commit: a crash in between
  leaves index rows without files, which the next rescan expunges; the reverse order could
  bring deleted mail back as new messages.
- copy hard-links the file (a copy through tmp/ + fsync where links are refused), reserves
  quota for the copies (the quota counts every message, links or not), and is atomic: if any
  part fails, the copies made are removed and nothing is committed (RFC 3501 6.4.7).
- move renames the files into the target folder, gives them new UIDs there and records them
  as expunged from the source, in one transaction (RFC 6851); quota does not change.
- All messages changed by one call share one MODSEQ. Every call scopes the folder by account.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, update

from mfserver.store import flags as flagbits
from mfserver.store import index, maildir
from mfserver.store.base import FolderRow, StoreBase
from mfserver.store.changes import FlagsChanged, MessagesAdded, MessagesExpunged
from mfserver.store.errors import MessageNotFound, StoreError
from mfserver.store.groupcommit import GroupCommit, Item
from mfserver.store.index import messages
from mfserver.store.mime import ParsedMessage, normalize_crlf, parse_message
from mfserver.store.records import (
    Delivered,
    FlagMode,
    FlagUpdate,
    FolderView,
    MessageDetails,
    MessageInfo,
    StoreFlagsResult,
)

# everything of a message row but its id and folder
ROW_COLUMNS = (messages.c.uid, messages.c.key, messages.c.filename, messages.c.flags,
               messages.c.keywords, messages.c.internal_date, messages.c.internal_tz,
               messages.c.sent_date, messages.c.size, messages.c.bare_lf, messages.c.modseq,
               messages.c.envelope, messages.c.bodystructure)
INFO_COLUMNS = (messages.c.uid, messages.c.flags, messages.c.keywords, messages.c.modseq,
                messages.c.size, messages.c.internal_date, messages.c.internal_tz,
                messages.c.sent_date)
DELIVERY_ATTEMPTS = 3


class _FolderMoved(Exception):
    """The folder was renamed between writing tmp/ and the transaction; write again."""


@dataclass
class _PendingDelivery(Item):
    """A message written to tmp/, waiting for its turn in a group commit."""

    account_id: int = 0
    target: Any = None  # FolderRow
    key: str = ""
    tmp: Path = Path()
    bits: int = 0
    words: tuple[str, ...] = ()
    when: tuple[int, int] = (0, 0)
    parsed: Any = None  # ParsedMessage
    placed: Path | None = None


def _remove_delivery_files(item: _PendingDelivery) -> None:
    maildir.remove_quietly(item.tmp)
    if item.placed is not None:
        maildir.remove_quietly(item.placed)


def internal_date_of(value: datetime | None, now: float) -> tuple[int, int]:
    """(Unix seconds, minutes east of UTC) of an INTERNALDATE; naive datetimes are local time."""
    if value is None:
        value = datetime.fromtimestamp(now).astimezone()
    elif value.tzinfo is None:
        value = value.astimezone()
    offset = value.utcoffset()
    return int(value.timestamp()), int(offset.total_seconds() // 60) if offset else 0


def message_row(folder_id: int, uid: int, key: str, filename: str, bits: int,
                keywords: Iterable[str], when: tuple[int, int], parsed: ParsedMessage,
                bare_lf: bool, modseq: int) -> dict[str, Any]:
    return {
        "folder_id": folder_id, "uid": uid, "key": key, "filename": filename, "flags": bits,
        "keywords": flagbits.format_keywords(keywords), "internal_date": when[0],
        "internal_tz": when[1],
        "sent_date": int(parsed.sent_date.timestamp()) if parsed.sent_date else None,
        "size": parsed.size, "bare_lf": bare_lf, "modseq": modseq,
        "envelope": json.dumps(parsed.envelope, separators=(",", ":")),
        "bodystructure": json.dumps(parsed.bodystructure, separators=(",", ":")),
    }


def _check_keywords(keywords: Iterable[str]) -> tuple[str, ...]:
    return flagbits.merge_keywords((), [flagbits.check_keyword(k) for k in keywords])


class MessageOperations(StoreBase):

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deliveries: GroupCommit[_PendingDelivery] = GroupCommit(self._commit_deliveries)

    # -- delivery ---------------------------------------------------------------------------

    def deliver(self, account_id: int, raw: bytes, *, folder: str | int = maildir.INBOX,
                flags: int = 0, keywords: Iterable[str] = (),
                internal_date: datetime | None = None) -> Delivered:
        """Store `raw` durably in the folder (name or id); returns after the commit.

        Raises QuotaExceeded, FolderNotFound, AccountNotFound; nothing stays behind on failure.
        """
        data = normalize_crlf(raw)
        parsed = parse_message(data)
        bits = flags & flagbits.ALL
        words = _check_keywords(keywords)
        when = internal_date_of(internal_date, self.clock())
        for _ in range(DELIVERY_ATTEMPTS):
            with self.database.read() as session:
                target = self._folder(session, account_id, folder)
            try:
                key, tmp = maildir.write_tmp(target.path, data, mtime=when[0])
            except FileNotFoundError:  # directory removed by hand; the index still has it
                maildir.make_maildir(target.path)
                key, tmp = maildir.write_tmp(target.path, data, mtime=when[0])
            try:
                delivered = self._commit_delivery(account_id, target, key, tmp, bits, words,
                                                  when, parsed)
            except _FolderMoved:
                continue
            self._publish([MessagesAdded(account_id, target.id, target.name,
                                         (delivered.uid,), delivered.modseq,
                                         delivered.uid + 1)])
            return delivered
        raise StoreError("the folder kept moving during delivery; try again")

    def _commit_delivery(self, account_id: int, target: FolderRow, key: str, tmp: Path,
                         bits: int, words: tuple[str, ...], when: tuple[int, int],
                         parsed: ParsedMessage) -> Delivered:
        """Commit one delivery, in a batch with whatever other threads deliver meanwhile."""
        pending = _PendingDelivery(account_id=account_id, target=target, key=key, tmp=tmp,
                                   bits=bits, words=words, when=when, parsed=parsed)
        return self._deliveries.run(pending)

    def _commit_deliveries(self, batch: list[_PendingDelivery]) -> None:
        """One transaction for the batch, one savepoint per delivery: a delivery that fails
        (quota, a folder that moved) is rolled back alone and gets its error."""
        try:
            with self._write() as session:
                for item in batch:
                    try:
                        with session.begin_nested():
                            item.result = self._stage_delivery(session, item)
                    except Exception as error:  # noqa: BLE001 - this delivery's own error
                        item.result, item.error = None, error
                        _remove_delivery_files(item)
                for directory in {item.placed.parent for item in batch
                                  if item.result is not None and item.placed is not None}:
                    maildir.fsync_directory(directory)
        except BaseException as error:  # noqa: BLE001 - the commit failed: nothing stands
            for item in batch:
                if item.error is None:
                    item.result, item.error = None, error
                    _remove_delivery_files(item)

    @staticmethod
    def _stage_delivery(session: Any, item: _PendingDelivery) -> Delivered:
        index.lock_account(session, item.account_id)
        index.reserve_quota(session, item.account_id, item.parsed.size)
        uid, modseq, directory = index.allocate(session, item.account_id, item.target.id, 1)
        if directory != item.target.directory:
            raise _FolderMoved()
        filename = maildir.filename_for(item.key, item.bits)
        item.placed = item.target.path / filename
        os.rename(item.tmp, item.placed)
        index.insert_messages(session, [message_row(
            item.target.id, uid, item.key, filename, item.bits, item.words, item.when,
            item.parsed, False, modseq)], [item.parsed.header])
        return Delivered(item.target.id, uid, item.target.uidvalidity, modseq,
                         item.parsed.size, item.key)

    # -- reading ----------------------------------------------------------------------------

    def messages(self, account_id: int, folder_id: int, *, uids: Iterable[int] | None = None,
                 changed_since: int | None = None) -> list[MessageInfo]:
        """The folder's messages (all, or those of `uids`; with MODSEQ > `changed_since`)
        from the index, by UID."""
        where = messages.c.modseq > changed_since if changed_since is not None else None
        with self.database.read() as session:
            row = self._folder_by_id(session, account_id, folder_id)
            wanted = None if uids is None else sorted(set(uids))
            if where is None and (wanted is None or (wanted and index.is_dense(wanted))):
                span = None if wanted is None else (wanted[0], wanted[-1])
                rows = index.folder_listing(session, row.id, span)
                if wanted is not None:  # the range also holds UIDs not asked for
                    keep = set(wanted)
                    rows = [found for found in rows if found[0] in keep]
            else:
                rows = index.select_messages(session, row.id, wanted, *INFO_COLUMNS,
                                             where=where)
        return [MessageInfo(uid, bits, tuple(words.split()) if words else (), modseq, size,
                            date, tz, sent)
                for uid, bits, words, modseq, size, date, tz, sent in rows]

    def view(self, account_id: int, folder_id: int) -> FolderView:
        """What SELECT needs of the folder's messages, from the index in one read transaction:
        a list of UIDs and three aggregates, not a MessageInfo per message."""
        with self.database.read() as session:
            row = self._folder_by_id(session, account_id, folder_id)
            uids, highest, first_unseen, keywords = index.folder_view(session, row.id)
        words = sorted({word for text in keywords for word in text.split()})
        return FolderView(uids, highest, tuple(words), first_unseen)

    def details(self, account_id: int, folder_id: int,
                uids: Iterable[int]) -> list[MessageDetails]:
        """ENVELOPE, BODYSTRUCTURE and header block of messages, from the index."""
        with self.database.read() as session:
            row = self._folder_by_id(session, account_id, folder_id)
            rows = index.select_messages(session, row.id, uids, messages.c.id, messages.c.uid,
                                         messages.c.envelope, messages.c.bodystructure)
            blocks = index.header_blocks(session, [r.id for r in rows])
        return [MessageDetails(r.uid, json.loads(r.envelope), json.loads(r.bodystructure),
                               blocks.get(r.id, b"")) for r in rows]

    def vanished(self, account_id: int, folder_id: int, since_modseq: int) -> list[int]:
        """UIDs expunged with a MODSEQ above `since_modseq` (QRESYNC, RFC 7162 3.2.10)."""
        with self.database.read() as session:
            row = self._folder_by_id(session, account_id, folder_id)
            return list(session.execute(
                select(index.expunged.c.uid).where(index.expunged.c.folder_id == row.id,
                                                   index.expunged.c.modseq > since_modseq)
                .order_by(index.expunged.c.uid)).scalars())

    def message_path(self, account_id: int, folder_id: int, uid: int) -> Path:
        """The file of a message; MessageNotFound if there is no such UID or no file."""
        return self._message_file(account_id, folder_id, uid)[0]

    def read_message(self, account_id: int, folder_id: int, uid: int) -> bytes:
        """The message as RFC822.SIZE counts it (CRLF line endings, whatever is on disk)."""
        for _ in range(2):
            path, bare_lf = self._message_file(account_id, folder_id, uid)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # moved by another program between the lookup and the read
            return normalize_crlf(data) if bare_lf else data
        raise MessageNotFound(f"the file of message {uid} is gone")

    def _message_file(self, account_id: int, folder_id: int, uid: int) -> tuple[Path, bool]:
        with self.database.read() as session:
            folder = self._folder_by_id(session, account_id, folder_id)
            row = session.execute(select(messages.c.key, messages.c.filename, messages.c.bare_lf)
                                  .where(messages.c.folder_id == folder.id,
                                         messages.c.uid == uid)).first()
        if row is None:
            raise MessageNotFound(f"no message with UID {uid}")
        return _locate(folder.path, row.filename, row.key, uid), bool(row.bare_lf)

    # -- flags ------------------------------------------------------------------------------

    def store_flags(self, account_id: int, folder_id: int, uids: Iterable[int] | None,
                    mode: FlagMode | str, bits: int = 0, keywords: Iterable[str] = (), *,
                    unchanged_since: int | None = None) -> StoreFlagsResult:
        """STORE (RFC 3501 6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162 3.1.3).

        `uids` None means every message. Messages whose flags change get one new MODSEQ;
        messages with a MODSEQ above `unchanged_since` are left alone and listed in `failed`.
        """
        mode = FlagMode(mode)
        bits &= flagbits.ALL
        words = _check_keywords(keywords)
        updates: list[FlagUpdate] = []
        failed: list[int] = []
        modseq = None
        with self._write() as session:
            index.lock_account(session, account_id)
            folder = self._folder_by_id(session, account_id, folder_id)
            rows = index.select_messages(session, folder.id, uids, messages.c.id, messages.c.uid,
                                         messages.c.flags, messages.c.keywords,
                                         messages.c.modseq)
            changed: list[tuple[int, int, int, tuple[str, ...], int]] = []
            for row in rows:
                if unchanged_since is not None and row.modseq > unchanged_since:
                    failed.append(row.uid)
                    continue
                current = flagbits.parse_keywords(row.keywords)
                new_bits, new_words = _apply(mode, row.flags, current, bits, words)
                if new_bits != row.flags or _differ(new_words, current):
                    changed.append((row.id, row.uid, new_bits, new_words, row.modseq))
            if changed:
                modseq = index.bump_modseq(session, account_id, folder.id)
                session.execute(
                    update(messages).where(messages.c.id == bindparam("b_id"))
                    .values(flags=bindparam("b_flags"), keywords=bindparam("b_keywords"),
                            modseq=modseq),
                    [{"b_id": message_id, "b_flags": new_bits,
                      "b_keywords": flagbits.format_keywords(new_words)}
                     for message_id, _, new_bits, new_words, _ in changed])
                updates = [FlagUpdate(uid, new_bits, new_words, modseq, previous)
                           for _, uid, new_bits, new_words, previous in changed]
        self._publish([FlagsChanged(account_id, folder.id, u.uid, u.modseq, u.flags,
                                    u.keywords) for u in updates])
        return StoreFlagsResult(updates, failed, modseq)

    # -- expunge, copy, move ----------------------------------------------------------------

    def expunge(self, account_id: int, folder_id: int,
                uids: Iterable[int] | None = None) -> list[int]:
        """Remove the messages flagged \\Deleted (only those among `uids` if given, as UID
        EXPUNGE does); unlinks their files and releases their quota. Returns their UIDs."""
        with self._write() as session:
            index.lock_account(session, account_id)
            folder = self._folder_by_id(session, account_id, folder_id)
            rows = index.select_messages(
                session, folder.id, uids, messages.c.id, messages.c.uid, messages.c.key,
                messages.c.filename, messages.c.size,
                where=messages.c.flags.op("&")(flagbits.DELETED) != 0)
            if not rows:
                return []
            modseq = index.bump_modseq(session, account_id, folder.id)
            index.delete_messages(session, folder.id, rows, modseq)
            index.add_used(session, account_id, -sum(row.size for row in rows))
            _unlink_files(folder.path, rows)
        removed = tuple(row.uid for row in rows)
        self._publish([MessagesExpunged(account_id, folder.id, removed, modseq)])
        return list(removed)

    def copy(self, account_id: int, source_id: int, uids: Iterable[int] | None,
             target_id: int) -> list[tuple[int, int]]:
        """COPY (RFC 3501 6.4.7, UIDPLUS COPYUID): [(source uid, new uid)], all or nothing."""
        placed: list[Path] = []
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                source = self._folder_by_id(session, account_id, source_id)
                target = self._folder_by_id(session, account_id, target_id)
                rows = index.select_messages(session, source.id, uids, messages.c.id,
                                             *ROW_COLUMNS)
                if not rows:
                    return []
                index.reserve_quota(session, account_id, sum(row.size for row in rows))
                first, modseq, _ = index.allocate(session, account_id, target.id, len(rows))
                new_rows = []
                for number, row in enumerate(rows):
                    filename = maildir.place_copy(
                        _locate(source.path, row.filename, row.key, row.uid), target.path,
                        row.flags)
                    placed.append(target.path / filename)
                    new_rows.append(_copied_row(row, target.id, first + number, filename,
                                                modseq))
                _fsync_message_dirs(target.path)
                blocks = index.header_blocks(session, [row.id for row in rows])
                index.insert_messages(session, new_rows, [blocks[row.id] for row in rows])
        except BaseException:
            for path in placed:
                maildir.remove_quietly(path)
            raise
        pairs = [(row.uid, first + number) for number, row in enumerate(rows)]
        self._publish([MessagesAdded(account_id, target.id, target.name,
                                     tuple(new for _, new in pairs), modseq,
                                     first + len(rows))])
        return pairs

    def move(self, account_id: int, source_id: int, uids: Iterable[int] | None,
             target_id: int) -> list[tuple[int, int]]:
        """MOVE (RFC 6851): [(source uid, new uid)]; the sources are expunged, atomically."""
        renamed: list[tuple[Path, Path]] = []
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                source = self._folder_by_id(session, account_id, source_id)
                target = self._folder_by_id(session, account_id, target_id)
                rows = index.select_messages(session, source.id, uids, messages.c.id,
                                             *ROW_COLUMNS)
                if not rows:
                    return []
                first, added_modseq, _ = index.allocate(session, account_id, target.id,
                                                        len(rows))
                new_rows = []
                for number, row in enumerate(rows):
                    path = _locate(source.path, row.filename, row.key, row.uid)
                    filename = maildir.filename_for(maildir.unique_name(path.stat().st_size),
                                                    row.flags)
                    os.rename(path, target.path / filename)
                    renamed.append((path, target.path / filename))
                    new_rows.append(_copied_row(row, target.id, first + number, filename,
                                                added_modseq))
                _fsync_message_dirs(target.path)
                _fsync_message_dirs(source.path)
                blocks = index.header_blocks(session, [row.id for row in rows])
                removed_modseq = index.bump_modseq(session, account_id, source.id)
                index.delete_messages(session, source.id, rows, removed_modseq)
                index.insert_messages(session, new_rows, [blocks[row.id] for row in rows])
        except BaseException:
            for old, new in reversed(renamed):
                try:
                    os.rename(new, old)
                except OSError:
                    pass
            raise
        pairs = [(row.uid, first + number) for number, row in enumerate(rows)]
        self._publish([
            MessagesExpunged(account_id, source.id, tuple(old for old, _ in pairs),
                             removed_modseq),
            MessagesAdded(account_id, target.id, target.name, tuple(new for _, new in pairs),
                          added_modseq, first + len(rows))])
        return pairs


def _apply(mode: FlagMode, bits: int, words: tuple[str, ...], new_bits: int,
           new_words: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    if mode is FlagMode.SET:
        return new_bits, new_words
    if mode is FlagMode.ADD:
        return bits | new_bits, flagbits.merge_keywords(words, new_words)
    return bits & ~new_bits, flagbits.remove_keywords(words, new_words)


def _differ(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return {k.lower() for k in a} != {k.lower() for k in b}


def _copied_row(row: Any, folder_id: int, uid: int, filename: str,
                modseq: int) -> dict[str, Any]:
    values = {column.name: getattr(row, column.name) for column in ROW_COLUMNS}
    values.update(folder_id=folder_id, uid=uid, key=maildir.key_of(filename.split("/", 1)[1]),
                  filename=filename, modseq=modseq)
    return values


def _locate(folder_path: Path, filename: str, key: str, uid: int) -> Path:
    """The file of an index row, following a rename by another program (new/ -> cur/)."""
    path = maildir.message_file(folder_path, filename)
    if path.exists():
        return path
    found = maildir.find_key(folder_path, key)
    if found is None:
        raise MessageNotFound(f"the file of message {uid} is missing")
    return maildir.message_file(folder_path, found)


def _unlink_files(folder_path: Path, rows: list[Any]) -> None:
    """Unlink the files of expunged rows and make that durable before the commit."""
    missing = []
    for row in rows:
        try:
            os.unlink(maildir.message_file(folder_path, row.filename))
        except FileNotFoundError:
            missing.append(row.key)
    if missing:  # renamed by another program since it was indexed
        on_disk = maildir.scan(folder_path)
        for key in missing:
            if key in on_disk:
                maildir.remove_quietly(folder_path / on_disk[key])
    _fsync_message_dirs(folder_path)


def _fsync_message_dirs(folder_path: Path) -> None:
    for sub in ("new", "cur"):
        maildir.fsync_directory(folder_path / sub)
