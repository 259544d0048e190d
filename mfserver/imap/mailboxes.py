"""Mailbox commands: SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
STATUS, APPEND, CHECK, CLOSE, UNSELECT, GETQUOTA, GETQUOTAROOT, SETQUOTA.

Implementation notes:
- The hierarchy delimiter is "/" (the store's); names reach the store decoded, and go back to
  the client in modified UTF-7 (RFC 3501 5.1.3).
- SELECT reads the index only (the UID list and flags; RFC 3501 6.3.1 responses, UIDNEXT,
  PERMANENTFLAGS, UNSEEN, HIGHESTMODSEQ), and with QRESYNC (RFC 7162 3.2.5) tells what changed
  since the client's MODSEQ: VANISHED (EARLIER) and FETCH FLAGS.
- LIST follows RFC 5258 (LIST-EXTENDED) and RFC 5819 (LIST-STATUS); CHILDREN and SPECIAL-USE
  attributes always; the basic form keeps RFC 3501's answers.
- Store errors become the response codes of RFC 5530: TRYCREATE, NONEXISTENT, ALREADYEXISTS,
  OVERQUOTA, CANNOT, INUSE.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer

from mfserver.imap.commands import Command
from mfserver.imap.encode import quote_mailbox
from mfserver.imap.selected import SelectedMailbox, flag_list, uid_set
from mfserver.imap.session import AUTHED, SELECTED, IMAPSession, Reply, bad, command, no, ok
from mfserver.store import (
    FolderExists,
    FolderNotEmpty,
    FolderNotFound,
    FolderProtected,
    InvalidFlag,
    InvalidFolderName,
    QuotaExceeded,
    StoreError,
    flags,
)

DELIMITER = "/"
SYSTEM_FLAGS = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft"


def _name(name: str) -> bytes:
    value = quote_mailbox(name)
    return value if isinstance(value, bytes) else value.encode()


def store_error(error: Exception) -> Reply:
    """The NO answer for a store error, with its RFC 5530 response code."""
    if isinstance(error, FolderNotFound):
        return no(str(error) or "No such mailbox", "NONEXISTENT")
    if isinstance(error, FolderExists):
        return no(str(error) or "Mailbox exists", "ALREADYEXISTS")
    if isinstance(error, QuotaExceeded):
        return no(str(error), "OVERQUOTA")
    if isinstance(error, (InvalidFolderName, FolderProtected, FolderNotEmpty, InvalidFlag)):
        return no(str(error), "CANNOT")
    return no(str(error) or "Cannot do that", "SERVERBUG")


# -- SELECT / EXAMINE ---------------------------------------------------------------------

def _select_state(store: Any, account_id: int, name: str, qresync: Any) -> dict[str, Any]:
    folder = store.get_folder(account_id, name)
    state: dict[str, Any] = {"folder": folder, "view": store.view(account_id, folder.id)}
    if qresync is not None and qresync.uidvalidity == folder.uidvalidity:
        state["vanished"] = store.vanished(account_id, folder.id, qresync.modseq)
        state["changed"] = store.messages(account_id, folder.id, changed_since=qresync.modseq)
    return state


def _select(session: IMAPSession, cmd: Command, readonly: bool) -> defer.Deferred[Reply]:
    args = cmd.args
    if args.qresync is not None and "QRESYNC" not in session.enabled:
        return defer.succeed(bad("QRESYNC must be enabled first"))
    session.leave_mailbox()  # RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected
    if args.condstore:
        session.enabled.add("CONDSTORE")
    result = session.blocking(_select_state, session.services.store, session.account_id,
                       args.mailbox, args.qresync)

    def selected(state: dict[str, Any]) -> Reply:
        folder, view = state["folder"], state["view"]
        uids = view.uids
        highest = max(folder.highestmodseq, view.highestmodseq)
        mailbox = SelectedMailbox(folder, readonly, uids, highest, folder.uidnext,
                                  condstore="CONDSTORE" in session.enabled,
                                  qresync="QRESYNC" in session.enabled)
        extra = b"".join(b" " + word.encode() for word in view.keywords)
        send = session.send
        send(b"* FLAGS (" + SYSTEM_FLAGS + extra + b")\r\n")
        permanent = b"()" if readonly else b"(" + SYSTEM_FLAGS + extra + b" \\*)"
        send(b"* OK [PERMANENTFLAGS " + permanent + b"] Flags allowed\r\n")
        send(b"* %d EXISTS\r\n* 0 RECENT\r\n" % len(uids))
        if view.first_unseen is not None:
            send(b"* OK [UNSEEN %d] First unseen\r\n" % mailbox.msn(view.first_unseen))
        send(b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % folder.uidvalidity)
        send(b"* OK [UIDNEXT %d] Predicted next UID\r\n" % folder.uidnext)
        send(b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % highest)
        session.enter_mailbox(mailbox)
        if "vanished" in state:
            _qresync_answers(session, mailbox, cmd.args.qresync, state["vanished"],
                             state["changed"])
        mode = "READ-ONLY" if readonly else "READ-WRITE"
        return ok(f"{'EXAMINE' if readonly else 'SELECT'} completed", mode)

    return result.addCallbacks(selected, store_failure)


def _qresync_answers(session: IMAPSession, mailbox: SelectedMailbox, qresync: Any,
                     vanished: list[int], changed: list[Any]) -> None:
    """RFC 7162 3.2.5.1: what changed since the client's MODSEQ, told at SELECT; `changed`
    are the messages with a higher MODSEQ (those not in the view yet arrive as EXISTS)."""
    known = qresync.known_uids
    if known is not None:
        largest = max(vanished[-1] if vanished else 0, mailbox.uids[-1] if mailbox.uids else 0)
        vanished = [uid for uid in vanished if known.contains(uid, largest)]
    if vanished:
        session.send(b"* VANISHED (EARLIER) " + uid_set(vanished).encode() + b"\r\n")
    for info in changed:
        number = mailbox.msn(info.uid)
        if number is not None:
            session.send(b"* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n" % (
                number, info.uid, flag_list(info.flags, info.keywords), info.modseq))


def store_failure(failure: Any) -> Reply:
    failure.trap(StoreError)
    return store_error(failure.value)


@command("SELECT", AUTHED)
def select(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    return _select(session, cmd, readonly=False)


@command("EXAMINE", AUTHED)
def examine(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    return _select(session, cmd, readonly=True)


# -- CREATE / DELETE / RENAME / SUBSCRIBE -------------------------------------------------

def _simple(session: IMAPSession, function: Any, *args: Any, done: str) -> defer.Deferred:
    result = session.blocking(function, session.account_id, *args)
    return result.addCallbacks(lambda _: ok(done), store_failure)


@command("CREATE", AUTHED)
def create(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    name = cmd.args.mailbox.rstrip(DELIMITER)  # RFC 3501 6.3.3: a trailing delimiter is ok
    if cmd.args.special_use:
        return no("Special-use attributes are set by the server", "USEATTR")
    if name.upper() == "INBOX":
        return no("INBOX exists", "ALREADYEXISTS")
    return _simple(session, session.services.store.create_folder, name, done="CREATE completed")


@command("DELETE", AUTHED)
def delete(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    name = cmd.args.mailbox
    if name == "INBOX":
        return no("INBOX cannot be deleted", "CANNOT")
    if session.selected is not None and session.selected.folder.name == name:
        session.leave_mailbox()
    return _simple(session, session.services.store.delete_folder, name, done="DELETE completed")


@command("RENAME", AUTHED)
def rename(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    return _simple(session, session.services.store.rename_folder, cmd.args.mailbox,
                   cmd.args.new_name, done="RENAME completed")


@command("SUBSCRIBE", AUTHED)
def subscribe(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    return _simple(session, session.services.store.subscribe, cmd.args.mailbox,
                   done="SUBSCRIBE completed")


@command("UNSUBSCRIBE", AUTHED)
def unsubscribe(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    return _simple(session, session.services.store.unsubscribe, cmd.args.mailbox,
                   done="UNSUBSCRIBE completed")


# -- LIST / LSUB --------------------------------------------------------------------------

def pattern_matcher(reference: str, pattern: str) -> re.Pattern[str]:
    """RFC 3501 6.3.8: "*" matches anything, "%" anything but the delimiter; INBOX is
    matched case-insensitively."""
    full = pattern if pattern.startswith(DELIMITER) or not reference else reference + pattern
    expression = "".join(".*" if char == "*" else "[^/]*" if char == "%" else re.escape(char)
                         for char in full)
    return re.compile(expression + r"\Z", re.DOTALL)


def _matches(matcher: re.Pattern[str], name: str) -> bool:
    if matcher.match(name):
        return True
    if name == "INBOX":
        return bool(re.compile(matcher.pattern, re.IGNORECASE | re.DOTALL).match(name))
    return False


def _list_state(store: Any, account_id: int, status_items: tuple[str, ...]) -> dict[str, Any]:
    folders = store.list_folders(account_id)
    state: dict[str, Any] = {"folders": folders,
                             "subscribed": set(store.list_subscriptions(account_id))}
    if status_items:
        state["status"] = {folder.name: store.status(account_id, folder.id)
                           for folder in folders}
    return state


def _list(session: IMAPSession, cmd: Command, lsub: bool) -> defer.Deferred[Reply] | Reply:
    args = cmd.args
    if not lsub and len(args.patterns) == 1 and args.patterns[0] == "" \
            and not args.select_options:
        # RFC 3501 6.3.8: the empty pattern asks for the delimiter and the root.
        session.send(b'* LIST (\\Noselect) "/" ""\r\n')
        return ok("LIST completed")
    items = args.status_items if "STATUS" in args.return_options else ()
    result = session.blocking(_list_state, session.services.store, session.account_id, items)
    return result.addCallback(lambda state: _answer_list(session, args, lsub, state))


def _answer_list(session: IMAPSession, args: Any, lsub: bool, state: dict[str, Any]) -> Reply:
    folders = {folder.name: folder for folder in state["folders"]}
    subscribed: set[str] = state["subscribed"]
    matchers = [pattern_matcher(args.reference, pattern) for pattern in args.patterns]
    only_subscribed = lsub or "SUBSCRIBED" in args.select_options
    only_special = "SPECIAL-USE" in args.select_options
    names = sorted(set(folders) | (subscribed if only_subscribed else set()),
                   key=lambda name: (name != "INBOX", name))
    verb = b"LSUB" if lsub else b"LIST"
    for name in names:
        if not any(_matches(matcher, name) for matcher in matchers):
            continue
        if only_subscribed and name not in subscribed:
            continue
        folder = folders.get(name)
        if only_special and (folder is None or not folder.special_use):
            continue
        attributes: list[str] = []
        if folder is None:
            attributes.append("\\NonExistent" if args.extended else "\\Noselect")
        else:
            children = any(other.startswith(name + DELIMITER) for other in folders)
            attributes.append("\\HasChildren" if children else "\\HasNoChildren")
            if folder.special_use and (not args.extended or only_special
                                       or "SPECIAL-USE" in args.return_options
                                       or not args.return_options):
                attributes.append(folder.special_use)
        if args.extended and ("SUBSCRIBED" in args.return_options or only_subscribed) \
                and name in subscribed:
            attributes.append("\\Subscribed")
        line = verb + b" (" + " ".join(attributes).encode() + b') "/" ' + _name(name)
        session.send(b"* " + line + b"\r\n")
        status = state.get("status", {}).get(name)
        if status is not None:
            session.send(b"* STATUS " + _name(name) + b" ("
                         + _status_items(session, status, args.status_items) + b")\r\n")
    return ok(f"{verb.decode()} completed")


@command("LIST", AUTHED)
def list_(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    return _list(session, cmd, lsub=False)


@command("LSUB", AUTHED)
def lsub(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    return _list(session, cmd, lsub=True)


# -- STATUS -------------------------------------------------------------------------------

def _status_items(session: IMAPSession, status: Any, items: tuple[str, ...]) -> bytes:
    values = {"MESSAGES": status.messages, "RECENT": 0, "UIDNEXT": status.uidnext,
              "UIDVALIDITY": status.uidvalidity, "UNSEEN": status.unseen,
              "HIGHESTMODSEQ": status.highestmodseq, "SIZE": status.size,
              "DELETED": status.deleted, "APPENDLIMIT": session.services.append_limit}
    return " ".join(f"{item} {values[item]}" for item in items if item in values).encode()


@command("STATUS", AUTHED)
def status(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    if "HIGHESTMODSEQ" in cmd.args.items:
        session.enabled.add("CONDSTORE")  # RFC 7162 3.1: a CONDSTORE-enabling command
    result = session.blocking(session.services.store.status, session.account_id,
                       cmd.args.mailbox)

    def answer(folder_status: Any) -> Reply:
        session.send(b"* STATUS " + _name(cmd.args.mailbox) + b" ("
                     + _status_items(session, folder_status, cmd.args.items) + b")\r\n")
        return ok("STATUS completed")
    return result.addCallbacks(answer, store_failure)


# -- APPEND -------------------------------------------------------------------------------

@command("APPEND", AUTHED)
def append(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    args = cmd.args
    if len(args.message) > session.services.append_limit:
        return no("Message larger than APPENDLIMIT", "TOOBIG")
    if not args.message:
        return no("Empty message", "CANNOT")
    try:
        bits, keywords = flags.from_imap_names(args.flags)
    except (InvalidFlag, ValueError) as error:
        return bad(f"Invalid flag: {error}")
    result = session.blocking(session.services.store.deliver, session.account_id,
                       args.message, folder=args.mailbox, flags=bits, keywords=keywords,
                       internal_date=args.internal_date)

    def appended(delivered: Any) -> Reply:
        return ok("APPEND completed", f"APPENDUID {delivered.uidvalidity} {delivered.uid}")

    def failed(failure: Any) -> Reply:
        failure.trap(StoreError)
        if isinstance(failure.value, FolderNotFound):
            return no("No such mailbox", "TRYCREATE")
        return store_error(failure.value)
    return result.addCallbacks(appended, failed)


# -- CHECK / CLOSE / UNSELECT -------------------------------------------------------------

@command("CHECK", frozenset({SELECTED}))
def check(session: IMAPSession, cmd: Command) -> Reply:
    return ok("CHECK completed")


@command("UNSELECT", frozenset({SELECTED}))
def unselect(session: IMAPSession, cmd: Command) -> Reply:
    session.leave_mailbox()
    return ok("UNSELECT completed")


@command("CLOSE", frozenset({SELECTED}))
def close(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    mailbox = session.selected
    assert mailbox is not None
    session.leave_mailbox()  # RFC 3501 6.4.2: no EXPUNGE responses are sent
    if mailbox.readonly:
        return ok("CLOSE completed")
    result = session.blocking(session.services.store.expunge, session.account_id,
                       mailbox.folder.id, None)
    return result.addCallbacks(lambda _: ok("CLOSE completed"), store_failure)


# -- QUOTA (RFC 9208) ---------------------------------------------------------------------

def _quota_line(session: IMAPSession, account: Any) -> bytes:
    used = account.used_bytes // 1024
    if account.quota_bytes:
        return b'* QUOTA "" (STORAGE %d %d)\r\n' % (used, account.quota_bytes // 1024)
    return b'* QUOTA "" ()\r\n'


def _account_info(session: IMAPSession) -> defer.Deferred[Any]:
    return session.blocking(session.services.directory.get_account_by_id, session.account_id)


@command("GETQUOTAROOT", AUTHED)
def getquotaroot(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    result = session.blocking(session.services.store.get_folder, session.account_id,
                       cmd.args.mailbox)
    result.addCallback(lambda _: _account_info(session))

    def answer(account: Any) -> Reply:
        session.send(b"* QUOTAROOT " + _name(cmd.args.mailbox) + b' ""\r\n')
        session.send(_quota_line(session, account))
        return ok("GETQUOTAROOT completed")
    return result.addCallbacks(answer, store_failure)


@command("GETQUOTA", AUTHED)
def getquota(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    if cmd.args.root != "":
        return no("No such quota root", "NONEXISTENT")

    def answer(account: Any) -> Reply:
        session.send(_quota_line(session, account))
        return ok("GETQUOTA completed")
    return _account_info(session).addCallback(answer)


@command("SETQUOTA", AUTHED)
def setquota(session: IMAPSession, cmd: Command) -> Reply:
    return no("Quotas are set by the administrator", "NOPERM")
