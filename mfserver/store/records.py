"""The values the store hands to protocols: folders, their status, messages, operation results."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple


@dataclass(frozen=True)
class FolderInfo:
    id: int
    account_id: int
    name: str
    special_use: str | None  # "\\Sent", "\\Drafts", "\\Junk", "\\Trash", "\\Archive" or None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool = False


@dataclass(frozen=True)
class FolderStatus:
    """STATUS items (RFC 3501 6.3.10, RFC 7162, RFC 9051 SIZE and DELETED), from SQL aggregates."""

    messages: int
    unseen: int
    deleted: int
    size: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int


class MessageInfo(NamedTuple):
    """One message as the index knows it; enough for SELECT, FETCH FLAGS/UID/RFC822.SIZE/
    INTERNALDATE and most of SEARCH without opening the file. A NamedTuple: a folder of
    100,000 messages makes 100,000 of these on SELECT."""

    uid: int
    flags: int
    keywords: tuple[str, ...]
    modseq: int
    size: int
    internal_date: int  # Unix seconds
    internal_tz: int    # minutes east of UTC
    sent_date: int | None

    @property
    def internal_datetime(self) -> datetime:
        zone = timezone(timedelta(minutes=self.internal_tz))
        return datetime.fromtimestamp(self.internal_date, zone)


@dataclass(frozen=True)
class FolderView:
    """What SELECT needs of a folder's messages (RFC 3501 6.3.1) without an object per
    message: their UIDs in order, the highest MODSEQ among them, the keywords in use, and the
    UID of the first message without \\Seen."""

    uids: list[int]
    highestmodseq: int
    keywords: tuple[str, ...]
    first_unseen: int | None


@dataclass(frozen=True)
class MessageDetails:
    """The cached parse of one message: FETCH ENVELOPE, BODY, BODYSTRUCTURE, header fields."""

    uid: int
    envelope: list
    bodystructure: list
    header: bytes  # the top-level header block, CRLF, with its empty line


@dataclass(frozen=True)
class Delivered:
    folder_id: int
    uid: int
    uidvalidity: int
    modseq: int
    size: int
    key: str


class FlagMode(enum.Enum):
    """How STORE combines the given flags with a message's flags (RFC 3501 6.4.6)."""

    SET = "set"        # FLAGS
    ADD = "add"        # +FLAGS
    REMOVE = "remove"  # -FLAGS


@dataclass(frozen=True)
class FlagUpdate:
    """A message's flags after a STORE; `previous_modseq` is its MODSEQ before, which tells a
    session whether someone else changed the flags since it last looked (RFC 3501 6.4.6)."""

    uid: int
    flags: int
    keywords: tuple[str, ...]
    modseq: int
    previous_modseq: int = 0


@dataclass(frozen=True)
class StoreFlagsResult:
    """`changed`: messages whose flags changed (new modseq); `failed`: UIDs left alone because
    their MODSEQ was above UNCHANGEDSINCE (RFC 7162 3.1.3, the MODIFIED response code)."""

    changed: list[FlagUpdate]
    failed: list[int]
    modseq: int | None  # the MODSEQ given to the changed messages; None when nothing changed


@dataclass
class RescanResult:
    """What a rescan changed: (folder name, uid) of messages indexed and removed, and folders
    adopted from disk or dropped because their directory is gone."""

    added: list[tuple[str, int]] = field(default_factory=list)
    removed: list[tuple[str, int]] = field(default_factory=list)
    folders_added: list[str] = field(default_factory=list)
    folders_removed: list[str] = field(default_factory=list)
    tmp_cleaned: int = 0
