"""What `imap.parser` makes of a client command: a `Command` and its argument dataclass.

Implementation notes:
- Pure data. Every argument has been checked against the grammar (RFC 3501 section 9 and the
  extensions named on each class) and decoded: mailbox names are Python str (modified UTF-7
  undone, "INBOX" in any case spelled "INBOX"), strings are str (UTF-8), numbers are int,
  dates are `datetime.date` / timezone-aware `datetime`, sequence sets are `SequenceSet`.
- What the grammar cannot say is left to the session: whether a command is allowed in the
  current state, whether a capability it relies on was advertised or ENABLEd (QRESYNC for
  VANISHED, UTF8=ACCEPT), and whether a flag can be stored (\\Recent is valid syntax).
- Keywords that the RFCs make case-insensitive (command names, options, STATUS items,
  capabilities, mechanism names) are given uppercased; system flags get their canonical
  spelling ("\\SEEN" -> "\\Seen"); keywords, strings and names keep the client's spelling.
- Commands without arguments (CAPABILITY NOOP LOGOUT STARTTLS IDLE NAMESPACE UNSELECT CHECK
  CLOSE, and EXPUNGE without UID) have `args=None`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mfserver.imap.syntax import FetchAttribute, SearchKey, SequenceSet


class ParseError(Exception):
    """A command the grammar refuses: the session answers `tag BAD message`.

    `tag` is None when not even the tag could be read (the answer is then `* BAD`).
    `code` is a response code without its brackets, for the few errors that have one.
    """

    def __init__(self, tag: str | None, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.tag = tag
        self.message = message
        self.code = code

    @property
    def text(self) -> str:
        """The resp-text of the answer: "[CODE] message" or "message"."""
        return f"[{self.code}] {self.message}" if self.code else self.message


class BadCharset(ParseError):
    """SEARCH with a CHARSET we do not search in: answered NO, not BAD (RFC 3501 6.4.4)."""

    SUPPORTED = ("UTF-8", "US-ASCII")

    def __init__(self, tag: str | None, message: str) -> None:
        super().__init__(tag, message, "BADCHARSET (" + " ".join(self.SUPPORTED) + ")")


@dataclass(frozen=True)
class Command:
    """One client command. `name` is uppercase ("FETCH"); `uid` marks UID FETCH and kin."""

    tag: str
    name: str
    uid: bool = False
    args: Any = None


@dataclass(frozen=True)
class LoginArgs:
    """LOGIN userid password (RFC 3501 6.2.3)."""

    username: str
    password: str


@dataclass(frozen=True)
class AuthenticateArgs:
    """AUTHENTICATE mechanism [initial-response] (RFC 3501 6.2.2, SASL-IR RFC 4959).

    `initial_response` is the decoded base64: None when absent, b"" when the client sent "=".
    """

    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True)
class IdArgs:
    """ID (RFC 2971): None for NIL, else the field/value pairs in the order sent."""

    fields: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True)
class EnableArgs:
    """ENABLE capability... (RFC 5161), uppercased."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class CompressArgs:
    """COMPRESS DEFLATE (RFC 4978); DEFLATE is the only algorithm the grammar has."""

    algorithm: str = "DEFLATE"


@dataclass(frozen=True)
class QResyncArgs:
    """The QRESYNC select parameter (RFC 7162 3.2.5).

    `modseq` may be 0 (a client that never saw one). `known_uids` and the
    (`known_sequence_set`, `known_uid_set`) pair are optional; "*" is refused in them.
    """

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    known_sequence_set: SequenceSet | None = None
    known_uid_set: SequenceSet | None = None


@dataclass(frozen=True)
class SelectArgs:
    """SELECT / EXAMINE mailbox [(CONDSTORE) | (QRESYNC (...))] (RFC 3501 6.3.1, RFC 7162)."""

    mailbox: str
    condstore: bool = False
    qresync: QResyncArgs | None = None


@dataclass(frozen=True)
class CreateArgs:
    """CREATE mailbox [(USE (\\Special ...))] (RFC 3501 6.3.3, RFC 6154 3)."""

    mailbox: str
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailboxArgs:
    """The commands whose one argument is a mailbox: DELETE, SUBSCRIBE, UNSUBSCRIBE,
    GETQUOTAROOT."""

    mailbox: str


@dataclass(frozen=True)
class RenameArgs:
    """RENAME existing-mailbox new-mailbox (RFC 3501 6.3.5)."""

    mailbox: str
    new_name: str


@dataclass(frozen=True)
class ListArgs:
    """LIST and LSUB (RFC 3501 6.3.8/6.3.9), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819).

    `patterns` are decoded mailbox patterns with their "%" and "*". `extended` is True when
    the command used any RFC 5258 syntax (selection options, a pattern list, or RETURN), which
    changes the answer (RFC 5258 3). Options are uppercased; "STATUS" is in `return_options`
    when `status_items` was asked for.
    """

    reference: str
    patterns: tuple[str, ...]
    select_options: frozenset[str] = frozenset()
    return_options: frozenset[str] = frozenset()
    status_items: tuple[str, ...] = ()
    extended: bool = False


@dataclass(frozen=True)
class StatusArgs:
    """STATUS mailbox (item ...) (RFC 3501 6.3.10; RFC 7162, RFC 8438 SIZE, RFC 9051 DELETED,
    RFC 7889 APPENDLIMIT). `items` are uppercased, without duplicates, in the order sent."""

    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class AppendArgs:
    """APPEND mailbox [(flags)] [date-time] literal (RFC 3501 6.3.11, RFC 3516 literal8).

    `binary` is True when the message came as a literal8 (`~{n}`), which may hold NULs.
    """

    mailbox: str
    message: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None
    binary: bool = False


@dataclass(frozen=True)
class SearchArgs:
    """SEARCH [RETURN (...)] [CHARSET x] keys (RFC 3501 6.4.4, ESEARCH RFC 4731,
    SEARCHRES RFC 5182).

    `criteria` is the whole program as one tree (several keys are an "AND").
    `return_options` is None without RETURN (the classic `* SEARCH` answer), else the
    uppercased options, with "RETURN ()" given as {"ALL"} (RFC 4731 3.1).
    `charset` is the uppercased CHARSET, or None when none was given.
    """

    criteria: SearchKey
    return_options: frozenset[str] | None = None
    charset: str | None = None

    def mentions(self, name: str) -> bool:
        """Whether a key named `name` appears anywhere in the criteria (e.g. "MODSEQ",
        whose presence adds the (MODSEQ n) data to the answer, RFC 7162 3.1.5)."""
        pending = [self.criteria]
        while pending:
            key = pending.pop()
            if key.name == name:
                return True
            pending.extend(key.children)
        return False


@dataclass(frozen=True)
class FetchArgs:
    """FETCH sequence-set items [(CHANGEDSINCE n [VANISHED])] (RFC 3501 6.4.5, RFC 7162).

    The macros ALL, FAST and FULL are already expanded in `attributes`. `vanished` is only
    ever True for UID FETCH with CHANGEDSINCE (RFC 7162 3.2.6); whether QRESYNC was enabled
    is for the session to check.
    """

    sequence_set: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    changed_since: int | None = None
    vanished: bool = False


@dataclass(frozen=True)
class StoreArgs:
    """STORE sequence-set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] flags (RFC 3501 6.4.6,
    RFC 7162 3.1.3). `operation` is "replace" (FLAGS), "add" (+FLAGS) or "remove" (-FLAGS)."""

    sequence_set: SequenceSet
    operation: str
    flags: tuple[str, ...]
    silent: bool = False
    unchanged_since: int | None = None


@dataclass(frozen=True)
class CopyArgs:
    """COPY and MOVE sequence-set mailbox (RFC 3501 6.4.7, RFC 6851)."""

    sequence_set: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class ExpungeArgs:
    """UID EXPUNGE sequence-set (RFC 4315 2.1)."""

    sequence_set: SequenceSet


@dataclass(frozen=True)
class GetQuotaArgs:
    """GETQUOTA quota-root (RFC 9208); a quota root is a plain string, not a mailbox."""

    root: str


@dataclass(frozen=True)
class SetQuotaArgs:
    """SETQUOTA quota-root (resource limit ...) (RFC 9208); resources uppercased."""

    root: str
    limits: tuple[tuple[str, int], ...] = field(default_factory=tuple)


__all__ = [
    "AppendArgs", "AuthenticateArgs", "BadCharset", "Command", "CompressArgs", "CopyArgs",
    "CreateArgs", "EnableArgs", "ExpungeArgs", "FetchArgs", "GetQuotaArgs", "IdArgs",
    "ListArgs", "LoginArgs", "MailboxArgs", "ParseError", "QResyncArgs", "RenameArgs",
    "SearchArgs", "SelectArgs", "SetQuotaArgs", "StatusArgs", "StoreArgs",
]
