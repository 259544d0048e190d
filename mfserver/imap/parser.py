"""The IMAP command parser: one complete command's bytes in, a `Command` out (RFC 3501 9).

Implementation notes:
- Pure and synchronous: no Twisted, no I/O, no session state but the one `utf8` flag
  (UTF8=ACCEPT enabled, RFC 6855 3: mailbox names come as UTF-8, not modified UTF-7). The
  protocol layer frames commands with `literal_at_end`, collects each literal's octets
  (sending "+" for synchronising ones), and hands `parse_command` the whole command
  without its final CRLF, with every `{n}` CRLF and its n octets in place.
- `parse_command` raises `ParseError` and nothing else, whatever the input (fuzzed in
  tests/imap/test_parser.py). `ParseError.tag` is None only when the tag itself is
  unreadable (answer `* BAD`). `BadCharset`, a ParseError, is answered NO [BADCHARSET].
- Commands dispatch from `COMMANDS` (name -> argument reader). `UID_COMMANDS` are those
  that take the UID prefix (RFC 3501 6.4.8, RFC 4315 UID EXPUNGE, RFC 6851 UID MOVE).
  Which state a command is allowed in is the session's table, not this module's.
- The grammar of each command is cited on its reader; the shared productions are in
  `parser_tokens` (strictness and leniency are listed there), FETCH items in
  `parser_fetch`, SEARCH keys in `parser_search`, the argument classes in `commands`.
- Extensions parsed: LITERAL+ (RFC 7888), BINARY literal8 in APPEND (RFC 3516), IDLE
  (RFC 2177), NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), UNSELECT (RFC 3691),
  COMPRESS (RFC 4978), UIDPLUS (RFC 4315), SASL-IR (RFC 4959), CONDSTORE/QRESYNC
  (RFC 7162), CREATE-SPECIAL-USE (RFC 6154), LIST-EXTENDED (RFC 5258), LIST-STATUS
  (RFC 5819), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), WITHIN (RFC 5032), MOVE
  (RFC 6851), QUOTA (RFC 9208), STATUS=SIZE (RFC 8438), APPENDLIMIT (RFC 7889).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from mfserver.imap.commands import (
    AppendArgs,
    AuthenticateArgs,
    BadCharset,
    Command,
    CompressArgs,
    CopyArgs,
    CreateArgs,
    EnableArgs,
    ExpungeArgs,
    FetchArgs,
    GetQuotaArgs,
    IdArgs,
    ListArgs,
    LoginArgs,
    MailboxArgs,
    ParseError,
    QResyncArgs,
    RenameArgs,
    SearchArgs,
    SelectArgs,
    SetQuotaArgs,
    StatusArgs,
    StoreArgs,
)
from mfserver.imap.parser_fetch import fetch_items, fetch_modifiers
from mfserver.imap.parser_search import search_program
from mfserver.imap.parser_tokens import MAX_DEPTH, MAX_ITEMS, Reader, shown

LITERAL_SIZE_CAP = 10**20  # what `literal_at_end` reports for an absurdly long size

# RFC 4648 base64 with padding, as SASL-IR (RFC 4959) and AUTHENTICATE use it
_BASE64 = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

STATUS_ITEMS = frozenset({  # RFC 3501 6.3.10, RFC 7162, RFC 8438, RFC 9051, RFC 7889
    "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE",
    "DELETED", "APPENDLIMIT"})
LIST_SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
SPECIAL_USES = {name.lower(): name for name in (  # RFC 6154 2
    "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")}
_STORE_OPERATIONS = {"FLAGS": "replace", "+FLAGS": "add", "-FLAGS": "remove"}


def parse_command(data: bytes, *, utf8: bool = False) -> Command:
    """The command in `data` (one whole command, no final CRLF, literals in place).

    `utf8` is True once the session has ENABLEd UTF8=ACCEPT (RFC 6855). Raises ParseError.
    """
    reader = Reader(bytes(data), utf8=utf8)
    tag = reader.tag_()
    reader.tag = tag
    if reader.at_end():
        raise reader.error("missing command")
    reader.sp()
    name = _command_name(reader)
    uid = name == "UID"
    if uid:
        reader.sp()
        name = _command_name(reader)
        if name not in UID_COMMANDS:
            raise reader.error(f"unknown command UID {shown(name)}")
    read_arguments = COMMANDS.get(name)
    if read_arguments is None:
        raise reader.error(f"unknown command {shown(name)}")
    args = read_arguments(reader, uid)
    reader.end()
    return Command(tag, name, uid, args)


def literal_at_end(line: bytes) -> tuple[int, bool, bool] | None:
    """(size, non_synchronizing, binary) if `line` (no CRLF) ends in a literal announcement.

    `{n}`, `{n+}` (LITERAL+, RFC 7888), `~{n}` and `~{n+}` (literal8, RFC 3516). The size is
    reported whatever it is (sizes over 20 digits as LITERAL_SIZE_CAP), so the protocol can
    refuse it and still knows that octets are coming. Only the end of the line is looked
    at: a "{5}" that ends an unterminated quoted string is taken for a literal too, and the
    command then fails to parse, which is the best that can be made of it.
    """
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    if start < 0:
        return None
    digits = line[start + 1:-1]
    non_synchronizing = digits.endswith(b"+")
    if non_synchronizing:
        digits = digits[:-1]
    if not digits or not digits.isdigit():
        return None
    size = int(digits) if len(digits) <= 20 else LITERAL_SIZE_CAP
    return size, non_synchronizing, line[start - 1:start] == b"~"


def _command_name(reader: Reader) -> str:
    if reader.at_end():
        raise reader.error("missing command")
    return reader.keyword("invalid command name")


# --- any state (RFC 3501 6.1) and not authenticated (6.2) ----------------------------------

def _no_arguments(reader: Reader, uid: bool) -> None:
    return None


def _id(reader: Reader, uid: bool) -> IdArgs:
    """RFC 2971 3.1: "ID" SP ("(" *(string SP nstring) ")" / NIL); "()" tolerated."""
    reader.sp()
    if reader.nil():
        return IdArgs(None)
    fields = []
    for _ in reader.each(empty=True):
        name = reader.string()
        reader.sp()
        fields.append((name, reader.nstring()))
    return IdArgs(tuple(fields))


def _enable(reader: Reader, uid: bool) -> EnableArgs:
    """RFC 5161: "ENABLE" 1*(SP capability)."""
    capabilities = []
    while True:
        reader.sp()
        reader.count()
        capabilities.append(reader.keyword("expected a capability"))
        if not reader.more():
            return EnableArgs(tuple(capabilities))


def _compress(reader: Reader, uid: bool) -> CompressArgs:
    """RFC 4978: "COMPRESS" SP algorithm; algorithm = "DEFLATE"."""
    reader.sp()
    algorithm = reader.keyword("expected a compression algorithm")
    if algorithm != "DEFLATE":
        raise reader.error(f"unknown compression algorithm {shown(algorithm)}")
    return CompressArgs(algorithm)


def _login(reader: Reader, uid: bool) -> LoginArgs:
    """RFC 3501 9: "LOGIN" SP userid SP password (both astring)."""
    reader.sp()
    username = reader.astring()
    reader.sp()
    return LoginArgs(username, reader.astring())


def _authenticate(reader: Reader, uid: bool) -> AuthenticateArgs:
    """RFC 3501 9 and RFC 4959 7: "AUTHENTICATE" SP auth-type [SP (base64 / "=")]."""
    reader.sp()
    mechanism = reader.keyword("expected a mechanism name")
    if not reader.more():
        return AuthenticateArgs(mechanism)
    reader.sp()
    token = reader.atom("invalid base64")
    if token == "=":
        return AuthenticateArgs(mechanism, b"")
    raw = token.encode("ascii")
    if not _BASE64.fullmatch(raw):
        raise reader.error("invalid base64")
    try:
        return AuthenticateArgs(mechanism, base64.b64decode(raw, validate=True))
    except binascii.Error:
        raise reader.error("invalid base64") from None


# --- authenticated state (RFC 3501 6.3) -----------------------------------------------------

def _select(reader: Reader, uid: bool) -> SelectArgs:
    """RFC 3501 9 and RFC 4466 2.1: mailbox [SP "(" select-param *(SP select-param) ")"]."""
    reader.sp()
    mailbox = reader.mailbox()
    condstore = False
    qresync = None
    if reader.more():
        reader.sp()
        seen: set[str] = set()
        for _ in reader.each():
            param = reader.keyword("expected a SELECT parameter")
            if param in seen:
                raise reader.error(f"duplicate SELECT parameter {param}")
            seen.add(param)
            if param == "CONDSTORE":  # RFC 7162 3.1.8
                condstore = True
            elif param == "QRESYNC":
                reader.sp()
                qresync = _qresync(reader)
            else:
                raise reader.error(f"unknown SELECT parameter {shown(param)}")
    return SelectArgs(mailbox, condstore, qresync)


def _qresync(reader: Reader) -> QResyncArgs:
    """RFC 7162 7: "(" uidvalidity SP mod-sequence-value [SP known-uids]
    [SP seq-match-data] ")"; "*" and "$" are not allowed in the sets."""
    reader.open()
    uidvalidity = reader.number(nonzero=True)
    reader.sp()
    modseq = reader.number64()  # 0 tolerated, see parser_fetch on CHANGEDSINCE
    known_uids = sequences = uids = None
    if reader.more() and not reader.startswith(b" ("):
        reader.sp()
        known_uids = reader.sequence_set(star=False, saved=False)
    if reader.more():
        reader.sp()
        reader.open()
        sequences = reader.sequence_set(star=False, saved=False)
        reader.sp()
        uids = reader.sequence_set(star=False, saved=False)
        reader.close()
    reader.close()
    return QResyncArgs(uidvalidity, modseq, known_uids, sequences, uids)


def _create(reader: Reader, uid: bool) -> CreateArgs:
    """RFC 3501 9, RFC 4466 2.2 and RFC 6154 6: mailbox [SP "(" "USE" SP "(" ... ")" ")"]."""
    reader.sp()
    mailbox = reader.mailbox()
    uses: tuple[str, ...] = ()
    if reader.more():
        reader.sp()
        seen: set[str] = set()
        for _ in reader.each():
            param = reader.keyword("expected a CREATE parameter")
            if param != "USE":
                raise reader.error(f"unknown CREATE parameter {shown(param)}")
            if param in seen:
                raise reader.error(f"duplicate CREATE parameter {param}")
            seen.add(param)
            reader.sp()
            uses = tuple(_special_use(reader) for _ in reader.each(empty=True))
    return CreateArgs(mailbox, uses)


def _special_use(reader: Reader) -> str:
    """RFC 6154 6: use-attr = "\\All" / ... / use-attr-ext ("\\" atom)."""
    if not reader.take(b"\\"):
        raise reader.fail("invalid special-use attribute")
    name = "\\" + reader.atom("invalid special-use attribute")
    return SPECIAL_USES.get(name.lower(), name)


def _mailbox(reader: Reader, uid: bool) -> MailboxArgs:
    """DELETE, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 9), GETQUOTAROOT (RFC 9208)."""
    reader.sp()
    return MailboxArgs(reader.mailbox())


def _rename(reader: Reader, uid: bool) -> RenameArgs:
    """RFC 3501 9: "RENAME" SP mailbox SP mailbox."""
    reader.sp()
    mailbox = reader.mailbox()
    reader.sp()
    return RenameArgs(mailbox, reader.mailbox())


def _list(reader: Reader, uid: bool) -> ListArgs:
    """RFC 5258 6: "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    [SP list-return-opts]; with RFC 6154 6 and RFC 5819 options."""
    reader.sp()
    extended = False
    select: set[str] = set()
    if reader.peek() == ord("("):
        extended = True
        for _ in reader.each(empty=True):
            option = reader.keyword("expected a LIST option")
            if option not in LIST_SELECT_OPTIONS:
                raise reader.error(f"unknown LIST option {shown(option)}")
            select.add(option)  # duplicates are allowed (RFC 9051 6.3.9)
        if "RECURSIVEMATCH" in select and not select & {"SUBSCRIBED", "SPECIAL-USE"}:
            raise reader.error("RECURSIVEMATCH needs a selection option")  # RFC 5258 3
        reader.sp()
    reference = reader.mailbox()
    reader.sp()
    if reader.peek() == ord("("):
        extended = True
        patterns = tuple(reader.list_mailbox() for _ in reader.each())
    else:
        patterns = (reader.list_mailbox(),)
    returns: set[str] = set()
    status_items: tuple[str, ...] = ()
    if reader.more():
        reader.sp()
        if not reader.word_ahead(b"RETURN"):
            raise reader.error("unexpected data at end of command")
        extended = True
        reader.sp()
        for _ in reader.each(empty=True):
            option = reader.keyword("expected a LIST option")
            if option not in LIST_RETURN_OPTIONS:
                raise reader.error(f"unknown LIST option {shown(option)}")
            if option == "STATUS":  # RFC 5819
                reader.sp()
                status_items = _status_items(reader)
            returns.add(option)
    return ListArgs(reference, patterns, frozenset(select), frozenset(returns), status_items,
                    extended)


def _lsub(reader: Reader, uid: bool) -> ListArgs:
    """RFC 3501 9: "LSUB" SP mailbox SP list-mailbox."""
    reader.sp()
    reference = reader.mailbox()
    reader.sp()
    return ListArgs(reference, (reader.list_mailbox(),))


def _status(reader: Reader, uid: bool) -> StatusArgs:
    """RFC 3501 9: "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"."""
    reader.sp()
    mailbox = reader.mailbox()
    reader.sp()
    return StatusArgs(mailbox, _status_items(reader))


def _status_items(reader: Reader) -> tuple[str, ...]:
    items: dict[str, None] = {}
    for _ in reader.each():
        item = reader.keyword("expected a STATUS item")
        if item not in STATUS_ITEMS:
            raise reader.error(f"unknown STATUS item {shown(item)}")
        items[item] = None
    return tuple(items)


def _append(reader: Reader, uid: bool) -> AppendArgs:
    """RFC 3501 9: "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal, and
    literal8 (RFC 3516). NUL is accepted in a plain literal too: the store decides."""
    reader.sp()
    mailbox = reader.mailbox()
    reader.sp()
    flags: tuple[str, ...] = ()
    if reader.peek() == ord("("):
        flags = reader.flag_list()
        reader.sp()
    internal_date = None
    if reader.peek() == ord('"'):
        internal_date = reader.date_time()
        reader.sp()
    if not (reader.startswith(b"{") or reader.startswith(b"~{")):
        raise reader.fail("expected a message literal")
    message, binary = reader.literal(binary=True, nul=True)
    return AppendArgs(mailbox, message, flags, internal_date, binary)


def _getquota(reader: Reader, uid: bool) -> GetQuotaArgs:
    """RFC 9208: "GETQUOTA" SP quota-root-name (an astring)."""
    reader.sp()
    return GetQuotaArgs(reader.astring())


def _setquota(reader: Reader, uid: bool) -> SetQuotaArgs:
    """RFC 9208: "SETQUOTA" SP quota-root-name SP "(" [resource SP limit ...] ")"."""
    reader.sp()
    root = reader.astring()
    reader.sp()
    limits = []
    for _ in reader.each(empty=True):
        resource = reader.keyword("expected a resource name")
        reader.sp()
        limits.append((resource, reader.number64()))
    return SetQuotaArgs(root, tuple(limits))


# --- selected state (RFC 3501 6.4) ----------------------------------------------------------

def _expunge(reader: Reader, uid: bool) -> ExpungeArgs | None:
    """RFC 3501 6.4.3 EXPUNGE; RFC 4315 2.1: "UID EXPUNGE" SP sequence-set."""
    if not uid:
        return None
    reader.sp()
    return ExpungeArgs(reader.sequence_set())


def _search(reader: Reader, uid: bool) -> SearchArgs:
    reader.sp()
    return search_program(reader)


def _fetch(reader: Reader, uid: bool) -> FetchArgs:
    """RFC 3501 9 and RFC 4466 2.4: sequence-set SP items [SP fetch-modifiers]."""
    reader.sp()
    sequence_set = reader.sequence_set()
    reader.sp()
    attributes = fetch_items(reader)
    changed_since, vanished = None, False
    if reader.more():
        reader.sp()
        changed_since, vanished = fetch_modifiers(reader, uid)
    return FetchArgs(sequence_set, attributes, changed_since, vanished)


def _store(reader: Reader, uid: bool) -> StoreArgs:
    """RFC 3501 9, RFC 4466 2.5, RFC 7162 3.1.3: sequence-set [SP "(" UNCHANGEDSINCE
    mod-sequence-valzer ")"] SP (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / flag...)."""
    reader.sp()
    sequence_set = reader.sequence_set()
    reader.sp()
    unchanged_since = None
    if reader.peek() == ord("("):
        for _ in reader.each():
            modifier = reader.keyword("expected a STORE modifier")
            if modifier != "UNCHANGEDSINCE":
                raise reader.error(f"unknown STORE modifier {shown(modifier)}")
            if unchanged_since is not None:
                raise reader.error(f"duplicate STORE modifier {modifier}")
            reader.sp()
            unchanged_since = reader.number64()
        reader.sp()
    action = reader.keyword("expected FLAGS, +FLAGS or -FLAGS")
    silent = action.endswith(".SILENT")
    operation = _STORE_OPERATIONS.get(action.removesuffix(".SILENT"))
    if operation is None:
        raise reader.error("expected FLAGS, +FLAGS or -FLAGS")
    reader.sp()
    if reader.peek() == ord("("):
        flags = reader.flag_list()
    else:
        reader.count()
        flag_list = [reader.flag()]
        while reader.more():
            reader.sp()
            reader.count()
            flag_list.append(reader.flag())
        flags = tuple(flag_list)
    return StoreArgs(sequence_set, operation, flags, silent, unchanged_since)


def _copy(reader: Reader, uid: bool) -> CopyArgs:
    """RFC 3501 9 COPY, RFC 6851 MOVE: sequence-set SP mailbox."""
    reader.sp()
    sequence_set = reader.sequence_set()
    reader.sp()
    return CopyArgs(sequence_set, reader.mailbox())


COMMANDS: dict[str, Callable[[Reader, bool], Any]] = {
    # any state
    "CAPABILITY": _no_arguments, "NOOP": _no_arguments, "LOGOUT": _no_arguments,
    "ID": _id, "ENABLE": _enable, "COMPRESS": _compress,
    # not authenticated
    "STARTTLS": _no_arguments, "LOGIN": _login, "AUTHENTICATE": _authenticate,
    # authenticated
    "SELECT": _select, "EXAMINE": _select, "CREATE": _create, "DELETE": _mailbox,
    "RENAME": _rename, "SUBSCRIBE": _mailbox, "UNSUBSCRIBE": _mailbox, "LIST": _list,
    "LSUB": _lsub, "STATUS": _status, "APPEND": _append, "IDLE": _no_arguments,
    "NAMESPACE": _no_arguments, "GETQUOTA": _getquota, "GETQUOTAROOT": _mailbox,
    "SETQUOTA": _setquota,
    # selected
    "CHECK": _no_arguments, "CLOSE": _no_arguments, "UNSELECT": _no_arguments,
    "EXPUNGE": _expunge, "SEARCH": _search, "FETCH": _fetch, "STORE": _store,
    "COPY": _copy, "MOVE": _copy,
}
UID_COMMANDS = frozenset({"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE"})

__all__ = [
    "COMMANDS", "LITERAL_SIZE_CAP", "MAX_DEPTH", "MAX_ITEMS", "UID_COMMANDS", "BadCharset",
    "Command", "ParseError", "literal_at_end", "parse_command",
]
