"""SQL of the message index: the statements the store runs inside its short transactions.

Implementation notes:
- Every write transaction of the store begins with `lock_account()`: on PostgreSQL a
  `SELECT ... FOR UPDATE` of the account row, so all writers of one account queue in one order
  (account, then folder rows) and never deadlock; on SQLite `Database.write()` has already
  taken the database write lock (BEGIN IMMEDIATE) and the clause is left out.
- UIDs and MODSEQs come only from `allocate()`/`bump_modseq()`: an UPDATE of the folder row
  inside the transaction that inserts or changes the messages (see db.models). `uidnext` only
  grows, so a UID is never given twice in a folder, expunged or not.
- All messages changed by one operation share one MODSEQ (RFC 7162 allows it).
- A deleted folder's row stays as a tombstone (name and directory '/deleted/<id>', which no
  valid folder name can produce) without messages: new UIDVALIDITYs are chosen above every
  earlier one of the account, deleted folders included (RFC 3501 2.3.1.1: a folder recreated
  under an old name must not reuse its UIDVALIDITY), and SQLite never reuses the id of a
  deleted folder for a new one, so a session holding an old folder id cannot reach a new
  folder. Every lookup of live folders adds `LIVE`.
- Quota is reserved with one conditional UPDATE, so two deliveries can never both squeeze
  under the limit; `accounts.used_bytes` always moves in the same transaction as the rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from mfserver.db.models import Account, Expunged, Folder, Message, MessageHeader
from mfserver.store.errors import AccountNotFound, FolderNotFound, QuotaExceeded
from mfserver.store.flags import SEEN

accounts = Account.__table__
folders = Folder.__table__
messages = Message.__table__
headers = MessageHeader.__table__
expunged = Expunged.__table__

CHUNK = 500  # bound parameters per IN (...) list
TOMBSTONE = "/deleted/"
LIVE = ~folders.c.directory.startswith("/")

_RESERVE = text(
    "UPDATE accounts SET used_bytes = used_bytes + :size"
    " WHERE id = :id AND (quota_bytes = 0 OR used_bytes + :size <= quota_bytes)")


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def lock_account(session: Session, account_id: int) -> None:
    """Serialise this transaction with every other store write of the account."""
    row = session.execute(select(accounts.c.id).where(accounts.c.id == account_id)
                          .with_for_update()).first()
    if row is None:
        raise AccountNotFound(f"no account with id {account_id}")


def reserve_quota(session: Session, account_id: int, size: int) -> None:
    """Add `size` to the account's used bytes, or raise QuotaExceeded and change nothing."""
    if session.execute(_RESERVE, {"size": size, "id": account_id}).rowcount == 1:
        return
    row = session.execute(select(accounts.c.quota_bytes, accounts.c.used_bytes)
                          .where(accounts.c.id == account_id)).first()
    if row is None:
        raise AccountNotFound(f"no account with id {account_id}")
    raise QuotaExceeded(row.quota_bytes, row.used_bytes, size)


def add_used(session: Session, account_id: int, delta: int) -> None:
    """Change the account's used bytes without a quota check (expunge, rescan)."""
    if delta:
        session.execute(update(accounts).where(accounts.c.id == account_id)
                        .values(used_bytes=accounts.c.used_bytes + delta))


def allocate(session: Session, account_id: int, folder_id: int,
             count: int) -> tuple[int, int, str]:
    """Reserve `count` UIDs and one MODSEQ in the folder: (first uid, modseq, directory)."""
    row = session.execute(
        update(folders).where(folders.c.id == folder_id, folders.c.account_id == account_id,
                              LIVE)
        .values(uidnext=folders.c.uidnext + count,
                highestmodseq=folders.c.highestmodseq + 1)
        .returning(folders.c.uidnext, folders.c.highestmodseq, folders.c.directory)).first()
    if row is None:
        raise FolderNotFound(f"no folder with id {folder_id}")
    return row.uidnext - count, row.highestmodseq, row.directory


def bump_modseq(session: Session, account_id: int, folder_id: int) -> int:
    """A new MODSEQ for a change to the folder's messages."""
    return allocate(session, account_id, folder_id, 0)[1]


def new_uidvalidity(session: Session, account_id: int, now: float | None = None) -> int:
    """A UIDVALIDITY for a new folder: the time, but above every other folder's of the account."""
    highest = session.execute(select(func.max(folders.c.uidvalidity))
                              .where(folders.c.account_id == account_id)).scalar()
    value = int(time.time() if now is None else now)
    return max(value, (highest or 0) + 1)


def insert_folder(session: Session, account_id: int, name: str, directory: str,
                  special_use: str | None, now: float) -> int:
    return session.execute(insert(folders).values(
        account_id=account_id, name=name, directory=directory, special_use=special_use,
        uidvalidity=new_uidvalidity(session, account_id, now), uidnext=1, highestmodseq=1,
        created_at=int(now)).returning(folders.c.id)).scalar_one()


def bury_folder(session: Session, account_id: int, folder_id: int) -> None:
    """Delete a folder's messages (releasing their quota) and turn its row into a tombstone."""
    size = session.execute(select(func.coalesce(func.sum(messages.c.size), 0))
                           .where(messages.c.folder_id == folder_id)).scalar_one()
    session.execute(delete(headers).where(headers.c.message_id.in_(
        select(messages.c.id).where(messages.c.folder_id == folder_id))))
    session.execute(delete(messages).where(messages.c.folder_id == folder_id))
    session.execute(delete(expunged).where(expunged.c.folder_id == folder_id))
    add_used(session, account_id, -int(size))
    session.execute(update(folders).where(folders.c.id == folder_id).values(
        name=f"{TOMBSTONE}{folder_id}", directory=f"{TOMBSTONE}{folder_id}", special_use=None))


def insert_messages(session: Session, rows: list[dict[str, Any]],
                    header_blocks: list[bytes]) -> list[int]:
    """Insert message rows and their header blocks; returns the new message ids."""
    if not rows:
        return []
    result = session.execute(insert(messages).returning(messages.c.id,
                                                        sort_by_parameter_order=True), rows)
    ids = [row.id for row in result]
    session.execute(insert(headers), [{"message_id": message_id, "header": block}
                                      for message_id, block in zip(ids, header_blocks,
                                                                   strict=True)])
    return ids


def delete_messages(session: Session, folder_id: int, rows: Iterable[Any], modseq: int) -> None:
    """Remove message rows (their headers go by cascade) and record their UIDs as expunged."""
    rows = list(rows)
    for part in chunks([row.id for row in rows]):
        session.execute(delete(headers).where(headers.c.message_id.in_(part)))
        session.execute(delete(messages).where(messages.c.id.in_(part)))
    if rows:
        session.execute(insert(expunged), [{"folder_id": folder_id, "uid": row.uid,
                                            "modseq": modseq} for row in rows])


def select_messages(session: Session, folder_id: int, uids: Iterable[int] | None,
                    *columns: Any, where: Any = None) -> list[Any]:
    """Rows of `columns` for the folder's messages (all, or those with `uids`), by UID."""
    condition = messages.c.folder_id == folder_id
    if where is not None:
        condition = condition & where
    base = select(*columns).where(condition)
    if uids is None:
        return session.execute(base.order_by(messages.c.uid)).all()
    wanted = sorted(set(uids))
    if not wanted:
        return []
    low, high = wanted[0], wanted[-1]
    if is_dense(wanted):
        keep = set(wanted)
        return [row for row in session.execute(base.where(messages.c.uid.between(low, high))
                                               .order_by(messages.c.uid)).all()
                if row.uid in keep]
    found: list[Any] = []
    for part in chunks(wanted):
        found.extend(session.execute(base.where(messages.c.uid.in_(part))).all())
    found.sort(key=lambda row: row.uid)
    return found


def is_dense(wanted: Sequence[int]) -> bool:
    """Whether one range scan of the (folder_id, uid) index beats IN lists for these sorted
    UIDs: they are large in number, or dense (a FETCH batch of a session's view); the rows in
    the range not asked for are dropped."""
    return len(wanted) > 4 * CHUNK or wanted[-1] - wanted[0] < 2 * len(wanted)


_INFO_SQL = ("SELECT uid, flags, keywords, modseq, size, internal_date, internal_tz, sent_date"
             " FROM messages WHERE folder_id = ?")


def folder_listing(session: Session, folder_id: int,
                   uid_range: tuple[int, int] | None = None) -> list[tuple[Any, ...]]:
    """(uid, flags, keywords, modseq, size, internal_date, internal_tz, sent_date) of every
    message of the folder (with a UID in `uid_range`, both ends included), by UID: the hot
    path of SELECT and FETCH, read through the driver's cursor (SQLAlchemy's row processing
    doubled the time of a 100,000-message folder)."""
    sql, params = _INFO_SQL, (folder_id,)
    if uid_range is not None:
        sql, params = sql + " AND uid BETWEEN ? AND ?", (folder_id, *uid_range)
    sql += " ORDER BY uid"
    if session.get_bind().dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


_VIEW_SQL = (
    "SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid",
    "SELECT MAX(modseq) FROM messages WHERE folder_id = ?",
    f"SELECT uid FROM messages WHERE folder_id = ? AND (flags & {SEEN}) = 0 ORDER BY uid LIMIT 1",
    "SELECT DISTINCT keywords FROM messages WHERE folder_id = ? AND keywords <> ''")


def folder_view(session: Session, folder_id: int) -> tuple[list[int], int, int | None,
                                                               list[str]]:
    """(UIDs in order, highest MODSEQ, first unseen UID, distinct keyword strings) of the
    folder: what SELECT needs, through the driver's cursor with no row object per message
    (the indexes on (folder_id, uid) and (folder_id, modseq) answer the first three)."""
    qmark = session.get_bind().dialect.paramstyle == "qmark"
    cursor = session.connection().connection.cursor()
    try:
        results = []
        for sql in _VIEW_SQL:
            cursor.execute(sql if qmark else sql.replace("?", "%s"), (folder_id,))
            results.append(cursor.fetchall())
    finally:
        cursor.close()
    uids, highest, unseen, keywords = results
    return ([uid for (uid,) in uids], highest[0][0] or 0, unseen[0][0] if unseen else None,
            [text for (text,) in keywords])


def header_blocks(session: Session, message_ids: Sequence[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for part in chunks(list(message_ids)):
        for row in session.execute(select(headers.c.message_id, headers.c.header)
                                   .where(headers.c.message_id.in_(part))):
            found[row.message_id] = bytes(row.header)
    return found
