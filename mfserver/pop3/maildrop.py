"""The maildrop of a POP3 session: the account's INBOX as the index had it at login.

Implementation notes:
- A snapshot (RFC 1939 5: the maildrop is fixed for the session): message numbers, sizes and
  unique ids come from the index when the session enters TRANSACTION and do not change.
  Mail that arrives later is shown by the next session; a message another client expunges
  meanwhile keeps its number here, and RETR of it fails. STAT, LIST and UIDL read no file.
- Sizes are the index's, which counts the message with CRLF line endings, as RETR sends it
  before byte-stuffing (RFC 1939 11 leaves the stuffing out of the count).
- Unique ids (RFC 1939 7 UIDL) are Dovecot's default `pop3_uidl_format` `%08Xu%08Xv`: the
  UID, then the folder's UIDVALIDITY, each as at least eight uppercase hex digits. The pair
  names one message for good (UIDs are never reused within a UIDVALIDITY, and a recreated
  INBOX gets a higher UIDVALIDITY), survives restarts, and is 16 printable characters (the
  RFC allows 1 to 70 of 0x21-0x7E). A store that keeps UIDs and UIDVALIDITY across a
  migration from Dovecot therefore keeps the "leave mail on server" lists of POP3 clients.
- Deletions are marks in this snapshot until QUIT (the UPDATE state, RFC 1939 6); RSET clears
  them. Nothing here touches the store except `read_maildrop`, which blocks (thread pool).
- `MaildropLocks`: one POP3 session per maildrop at a time (RFC 1939 8: the server may
  refuse a second one; RFC 2449 8.1.2 [IN-USE]). The lock lives in this process: on
  several nodes sharing one database, two nodes may each hold one session on a maildrop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mfserver.pop3.parser import number
from mfserver.store import INBOX, Store


def unique_id(uidvalidity: int, uid: int) -> str:
    """The UIDL of a message: `%08Xu%08Xv` (Dovecot's default format)."""
    return f"{uid:08X}{uidvalidity:08X}"


class NoSuchMessage(ValueError):
    """A message number that does not name a message of the maildrop (the text says why)."""


@dataclass
class Maildrop:
    """The messages of one session, numbered from 1; `uids[i]` and `sizes[i]` are message
    i + 1's."""

    folder_id: int
    uidvalidity: int
    uids: list[int]
    sizes: list[int]
    deleted: set[int] = field(default_factory=set)  # message numbers marked by DELE

    @property
    def count(self) -> int:
        """Messages not marked deleted (STAT's first number)."""
        return len(self.uids) - len(self.deleted)

    @property
    def octets(self) -> int:
        """Their size (STAT's second number)."""
        return sum(self.sizes) - sum(self.sizes[n - 1] for n in self.deleted)

    def message(self, text: str) -> int:
        """The message number in `text`, if it names a message not marked deleted."""
        value = number(text)
        if value is None:
            raise NoSuchMessage(f"Invalid message number: {text[:20]}")
        if not 1 <= value <= len(self.uids):
            raise NoSuchMessage(f"No such message; the maildrop has {len(self.uids)}")
        if value in self.deleted:
            raise NoSuchMessage(f"Message {value} is deleted")
        return value

    def uid(self, message: int) -> int:
        return self.uids[message - 1]

    def size(self, message: int) -> int:
        return self.sizes[message - 1]

    def unique_id(self, message: int) -> str:
        return unique_id(self.uidvalidity, self.uids[message - 1])

    def live(self) -> list[int]:
        """Numbers of the messages not marked deleted, ascending."""
        return [n for n in range(1, len(self.uids) + 1) if n not in self.deleted]

    def deleted_uids(self) -> list[int]:
        return sorted(self.uids[n - 1] for n in self.deleted)


def read_maildrop(store: Store, account_id: int) -> Maildrop:
    """Blocking: the snapshot of the account's INBOX, from the index only."""
    folder = store.get_folder(account_id, INBOX)
    infos = store.messages(account_id, folder.id)
    return Maildrop(folder.id, folder.uidvalidity, [info.uid for info in infos],
                    [info.size for info in infos])


class MaildropLocks:
    """Which maildrops (account ids) have a POP3 session in this process."""

    def __init__(self) -> None:
        self._owners: dict[int, Any] = {}

    def acquire(self, account_id: int, owner: Any) -> bool:
        """Take the maildrop for `owner`; False when another session has it."""
        holder = self._owners.setdefault(account_id, owner)
        return holder is owner

    def release(self, account_id: int, owner: Any) -> None:
        """Give it back; only its owner can (a second call does nothing)."""
        if self._owners.get(account_id) is owner:
            del self._owners[account_id]

    def held(self, account_id: int) -> bool:
        return account_id in self._owners
