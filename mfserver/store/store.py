"""The message store: the one narrow interface through which IMAP, POP3, SMTP delivery and the
`mfserver` command reach mail.

Implementation notes:
- Layout: per account a Maildir++ tree under `<mail_root>/<accounts.maildir>/` (see
  `maildir`); the index of folders and messages lives in the database (see `index`), with
  everything FETCH and SEARCH need cached at delivery (size, dates, flags, envelope,
  bodystructure, header block), so protocols open files only for body content.
- Every method blocks and is short: protocols call them in a thread pool. Every method takes
  the account id first and scopes every folder lookup by it. Parsing and file writes happen
  before a write transaction, never inside one; inside one happen only renames, links, unlinks
  and fsyncs that must be atomic with the rows.
- Writers of one account serialise on the account row (PostgreSQL `FOR UPDATE`) or the database
  write lock (SQLite `BEGIN IMMEDIATE`); UIDs are allocated by an UPDATE of the folder row in
  the transaction that inserts the messages, so concurrent deliveries — threads or processes,
  SQLite or PostgreSQL — get distinct UIDs that become visible in increasing order.
- The index is the source of truth for flags (see `messages`); the file system is the source of
  truth for which messages and folders exist (see `rescan`).
- `accounts.used_bytes` always equals the sum of the account's message sizes: it changes in the
  same transaction as the message rows. Quota is checked on deliver (APPEND too) and copy.
- Changes are published on the `ChangeBus` after the commit, never for a failed write.
"""

from __future__ import annotations

import shutil
import uuid

from sqlalchemy import delete, select, update

from mfserver.store import index
from mfserver.store.changes import FolderDeleted
from mfserver.store.folders import DELETED_PREFIX, FolderOperations, subscriptions
from mfserver.store.index import accounts, folders, messages
from mfserver.store.messages import MessageOperations
from mfserver.store.query import SearchKey
from mfserver.store.rescan import RescanOperations
from mfserver.store.search import search_folder


class Store(FolderOperations, MessageOperations, RescanOperations):
    """`Store(database, mail_root, bus=ChangeBus(), clock=time.time)`; see the module notes."""

    def search(self, account_id: int, folder_id: int, criteria: SearchKey, *,
               charset_ok: bool = True,
               recent_uids: frozenset[int] = frozenset()) -> list[int]:
        """UIDs (ascending) of the folder's messages matching `criteria` (RFC 3501 6.4.4);
        `recent_uids` are the session's \\Recent messages. See `mfserver.store.search`."""
        return search_folder(self, account_id, folder_id, criteria, charset_ok=charset_ok,
                             recent_uids=recent_uids)

    def destroy(self, account_id: int) -> None:
        """Remove the account's maildir tree and its index (folders, messages, subscriptions),
        and set its used bytes to 0. Call it before the account row itself is deleted."""
        root = self.account_root(account_id)
        trash = root.parent / f"{DELETED_PREFIX}{uuid.uuid4().hex}"
        moved = False
        try:
            with self._write() as session:
                index.lock_account(session, account_id)
                rows = self._account_folders(session, account_id)
                for row in rows:
                    session.execute(delete(index.headers).where(index.headers.c.message_id.in_(
                        select(messages.c.id).where(messages.c.folder_id == row.id))))
                    session.execute(delete(messages).where(messages.c.folder_id == row.id))
                    session.execute(delete(index.expunged)
                                    .where(index.expunged.c.folder_id == row.id))
                session.execute(delete(folders).where(folders.c.account_id == account_id))
                session.execute(delete(subscriptions)
                                .where(subscriptions.c.account_id == account_id))
                session.execute(update(accounts).where(accounts.c.id == account_id)
                                .values(used_bytes=0))
                if root.exists():
                    root.rename(trash)
                    moved = True
        except BaseException:
            if moved:
                trash.rename(root)
            raise
        if moved:
            shutil.rmtree(trash, ignore_errors=True)
        self._forget_root(account_id)
        self._publish([FolderDeleted(account_id, row.id, row.name) for row in rows])
