"""Message commands of the selected state: FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, UID EXPUNGE.

Implementation notes:
- FETCH answers from the index in batches run in the thread pool; message files are read only
  for the items that need the body (imap.fetch decides), and each batch waits until the
  client has read the previous one, so a FETCH 1:* of 100,000 messages neither blocks other
  sessions nor fills memory. Batches of index-only items (FLAGS, UID, sizes, dates) are
  larger: each batch costs a thread round trip and its queries, and its lines are short.
- Message numbers are turned into UIDs by the session's view (imap.selected) before the store
  is asked; the store never sees a sequence number. A number beyond EXISTS is BAD; UID sets
  silently skip what does not exist (RFC 3501 6.4.8).
- A message another session expunged while this one still shows it (its EXPUNGE not yet
  told) is skipped: non-UID FETCH then answers NO [EXPUNGEISSUED] (RFC 5530).
- Fetching a body without .PEEK sets \\Seen (RFC 3501 6.4.5) before the data is read, and
  the FLAGS are then part of the answer.
- CONDSTORE (RFC 7162): CHANGEDSINCE, UNCHANGEDSINCE with [MODIFIED], MODSEQ in FETCH answers
  once enabled; QRESYNC: VANISHED (EARLIER) for UID FETCH ... (CHANGEDSINCE n VANISHED).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from twisted.internet import defer

from mfserver.imap import fetch
from mfserver.imap.commands import Command
from mfserver.imap.encode import encode_value
from mfserver.imap.mailboxes import store_error, store_failure
from mfserver.imap.selected import (
    InvalidSequence,
    SelectedMailbox,
    flag_list,
    flag_names,
    uid_set,
)
from mfserver.imap.session import SELECTED, IMAPSession, Reply, bad, command, no, ok
from mfserver.imap.syntax import FetchAttribute, SearchKey, SequenceSet
from mfserver.store import FlagMode, FolderNotFound, InvalidFlag, StoreError, flags

FETCH_BATCH = 200
INDEX_FETCH_BATCH = 2000  # when no file and no cached details are needed
UID_ITEM, MODSEQ_ITEM, FLAGS_ITEM = FetchAttribute("UID"), FetchAttribute("MODSEQ"), \
    FetchAttribute("FLAGS")
IN_SELECTED = frozenset({SELECTED})


def _uids(session: IMAPSession, numbers: SequenceSet, uid: bool) -> list[int]:
    mailbox = session.selected
    assert mailbox is not None
    if numbers.saved:
        saved = session.saved_search
        return [u for u in saved if mailbox.msn(u) is not None]
    return mailbox.resolve(numbers, uid=uid)


def _uid_or_bad(session: IMAPSession, cmd: Command) -> list[int] | Reply:
    try:
        return _uids(session, cmd.args.sequence_set, cmd.uid)
    except InvalidSequence as error:
        return bad(f"Invalid message number: {error}")


# -- FETCH --------------------------------------------------------------------------------

def _load_batch(store: Any, account_id: int, folder_id: int, uids: Sequence[int],
                needs: Any) -> list[tuple[Any, Any, bytes | None]]:
    """Blocking: index rows, cached details and (when needed) files of a batch of messages."""
    infos = {info.uid: info for info in store.messages(account_id, folder_id, uids=uids)}
    details = {}
    if needs.details:
        details = {item.uid: item for item in store.details(account_id, folder_id, list(infos))}
    result = []
    for uid in uids:
        info = infos.get(uid)
        if info is None:
            continue
        raw = None
        if needs.file:
            try:
                raw = store.read_message(account_id, folder_id, uid)
            except StoreError:  # expunged meanwhile
                continue
        result.append((info, details.get(uid), raw))
    return result


def _set_seen(store: Any, account_id: int, folder_id: int, uids: list[int]) -> Any:
    return store.store_flags(account_id, folder_id, uids, FlagMode.ADD, flags.SEEN)


@command("FETCH", IN_SELECTED, allows_expunge=False, uid_allows_expunge=True)
def fetch_(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    uids = _uid_or_bad(session, cmd)
    if isinstance(uids, Reply):
        return uids
    return defer.ensureDeferred(_fetch(session, cmd, uids))


async def _fetch(session: IMAPSession, cmd: Command, uids: list[int]) -> Reply:
    mailbox = session.selected
    assert mailbox is not None
    args = cmd.args
    attributes = list(args.attributes)
    names = {attribute.name for attribute in attributes}
    if cmd.uid and "UID" not in names:
        attributes.insert(0, UID_ITEM)
    if args.changed_since is not None:
        session.enabled.add("CONDSTORE")
        mailbox.condstore = True
    if mailbox.condstore and ("FLAGS" in names or args.changed_since is not None) \
            and "MODSEQ" not in names:
        attributes.append(MODSEQ_ITEM)
    if args.vanished:
        if not cmd.uid or "QRESYNC" not in session.enabled or args.changed_since is None:
            return bad("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
        vanished = await session.blocking(session.services.store.vanished, session.account_id,
                                   mailbox.folder.id, args.changed_since)
        largest = max(uids[-1] if uids else 0, mailbox.uidnext - 1)
        gone = [uid for uid in vanished if args.sequence_set.contains(uid, largest)]
        if gone:
            session.send(b"* VANISHED (EARLIER) " + uid_set(gone).encode() + b"\r\n")
    needs = fetch.needs(attributes)
    if fetch.marks_seen(attributes) and not mailbox.readonly:
        result = await session.blocking(_set_seen, session.services.store, session.account_id,
                                 mailbox.folder.id, uids)
        for update in result.changed:
            mailbox.own_flags(update.uid, update.modseq)
        if result.changed and "FLAGS" not in names:
            attributes.append(FLAGS_ITEM)
    missing = 0
    size = FETCH_BATCH if needs.details or needs.file else INDEX_FETCH_BATCH
    quick = _flags_line_writer(attributes)
    for start in range(0, len(uids), size):
        batch = uids[start:start + size]
        rows = await session.blocking(_load_batch, session.services.store, session.account_id,
                               mailbox.folder.id, batch, needs)
        missing += len(batch) - len(rows)
        lines = []
        for info, details, raw in rows:
            if args.changed_since is not None and info.modseq <= args.changed_since:
                continue
            number = mailbox.msn(info.uid)
            if number is None:
                continue
            if quick is not None:
                lines.append(quick(number, info, info.uid in mailbox.recent))
                continue
            shown = flag_names(info.flags, info.keywords, recent=True) \
                if info.uid in mailbox.recent else None
            try:
                items = fetch.render(attributes, info, details, raw, flags_override=shown)
            except fetch.UnknownCTE:
                return no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE")  # RFC 3516 4.3
            session.send(_fetch_line(number, items))
        if lines:
            session.send(b"".join(lines))
        await session.connection.wait_writable()
        if session.connection.closing:
            return ok("Connection closing")
    if missing and not cmd.uid:
        return no("Some messages were expunged meanwhile", "EXPUNGEISSUED")
    return ok("FETCH completed")


def _fetch_line(number: int, items: Iterable[tuple[str, Any]]) -> bytes:
    body = b" ".join(name.encode() + b" " + encode_value(value) for name, value in items)
    return b"* %d FETCH (%s)\r\n" % (number, body)


def _flags_line_writer(attributes: Sequence[FetchAttribute]) -> Any:
    """For a FETCH of UID, FLAGS and MODSEQ only (a client's flag resync of a whole folder):
    `write(number, info, recent)` makes the same line as `fetch.render` and `_fetch_line`,
    with each distinct flag list encoded once; that path costs ten times more per message.
    None for any other list of items."""
    names = [attribute.name for attribute in attributes]
    if not set(names) <= {"UID", "FLAGS", "MODSEQ"}:
        return None
    flag_lists: dict[tuple[int, tuple[str, ...], bool], bytes] = {}

    def write(number: int, info: Any, recent: bool) -> bytes:
        key = (info.flags, info.keywords, recent)
        listed = flag_lists.get(key)
        if listed is None:
            listed = flag_lists[key] = b"FLAGS " + flag_list(info.flags, info.keywords,
                                                             recent=recent)
        items = [b"UID %d" % info.uid if name == "UID" else listed if name == "FLAGS"
                 else b"MODSEQ (%d)" % info.modseq for name in names]
        return b"* %d FETCH (%s)\r\n" % (number, b" ".join(items))
    return write


# -- STORE --------------------------------------------------------------------------------

MODES = {"replace": FlagMode.SET, "add": FlagMode.ADD, "remove": FlagMode.REMOVE}


def _store_and_read(store: Any, account_id: int, folder_id: int, uids: list[int], mode: Any,
                    bits: int, keywords: tuple[str, ...], unchanged_since: int | None,
                    silent: bool) -> tuple[Any, list[Any]]:
    result = store.store_flags(account_id, folder_id, uids, mode, bits, keywords,
                               unchanged_since=unchanged_since)
    changed = {update.uid for update in result.changed}
    failed = set(result.failed)
    untouched = [uid for uid in uids if uid not in changed and uid not in failed]
    current = [] if silent or not untouched else \
        store.messages(account_id, folder_id, uids=untouched)
    return result, current


@command("STORE", IN_SELECTED, allows_expunge=False, uid_allows_expunge=True)
def store_(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    mailbox = session.selected
    assert mailbox is not None
    if mailbox.readonly:
        return no("The mailbox is read-only", "READ-ONLY")
    uids = _uid_or_bad(session, cmd)
    if isinstance(uids, Reply):
        return uids
    args = cmd.args
    try:
        bits, keywords = flags.from_imap_names(args.flags)
    except InvalidFlag as error:
        return bad(str(error))
    if args.unchanged_since is not None:
        session.enabled.add("CONDSTORE")
        mailbox.condstore = True
    result = session.blocking(_store_and_read, session.services.store, session.account_id,
                       mailbox.folder.id, uids, MODES[args.operation], bits, keywords,
                       args.unchanged_since, args.silent)

    def answer(outcome: tuple[Any, list[Any]]) -> Reply:
        stored, current = outcome
        for update in stored.changed:
            # RFC 3501 6.4.6: even after .SILENT, flags another session changed since this
            # one last told them are sent (by the sync after this answer), so they are known
            if not args.silent or update.previous_modseq <= mailbox.highestmodseq:
                mailbox.own_flags(update.uid, update.modseq)
            number = mailbox.msn(update.uid)
            if number is None:
                continue
            items = [b"UID %d" % update.uid]
            if not args.silent:
                items.append(b"FLAGS " + flag_list(update.flags, update.keywords,
                                                   recent=update.uid in mailbox.recent))
            if mailbox.condstore:
                items.append(b"MODSEQ (%d)" % update.modseq)
            if not args.silent or mailbox.condstore:
                session.send(b"* %d FETCH (%s)\r\n" % (number, b" ".join(items)))
        for info in current:
            number = mailbox.msn(info.uid)
            if number is not None:
                items = [b"UID %d" % info.uid, b"FLAGS " + flag_list(
                    info.flags, info.keywords, recent=info.uid in mailbox.recent)]
                if mailbox.condstore:
                    items.append(b"MODSEQ (%d)" % info.modseq)
                session.send(b"* %d FETCH (%s)\r\n" % (number, b" ".join(items)))
        if stored.failed:
            failed = stored.failed if cmd.uid else \
                [mailbox.msn(uid) for uid in stored.failed if mailbox.msn(uid)]
            return ok("Conditional STORE failed", f"MODIFIED {uid_set(sorted(failed))}")
        return ok("STORE completed")
    return result.addCallbacks(answer, store_failure)


# -- SEARCH -------------------------------------------------------------------------------

def _to_uids(session: IMAPSession, key: SearchKey) -> SearchKey:
    """The criteria with message-number sets and "$" turned into UID sets."""
    mailbox = session.selected
    assert mailbox is not None
    if key.name in ("SEQSET", "UID") and isinstance(key.value, SequenceSet):
        if key.value.saved:
            uids = [uid for uid in session.saved_search if mailbox.msn(uid) is not None]
        else:
            uids = mailbox.resolve(key.value, uid=key.name == "UID") if mailbox.uids or \
                key.name == "UID" else []
        ranges = tuple((uid, uid) for uid in uids)
        return SearchKey("UID", SequenceSet(ranges))
    if key.children:
        return replace(key, children=tuple(_to_uids(session, child) for child in key.children))
    return key


@command("SEARCH", IN_SELECTED, allows_expunge=False, uid_allows_expunge=True)
def search(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    mailbox = session.selected
    assert mailbox is not None
    args = cmd.args
    try:
        criteria = _to_uids(session, args.criteria)
    except InvalidSequence as error:
        return bad(f"Invalid message number: {error}")
    with_modseq = args.mentions("MODSEQ")
    if with_modseq:
        session.enabled.add("CONDSTORE")
        mailbox.condstore = True
    store = session.services.store

    def run() -> tuple[list[int], int | None]:
        found = store.search(session.account_id, mailbox.folder.id, criteria,
                             recent_uids=frozenset(mailbox.recent))
        highest = None
        if with_modseq and found:
            highest = max(info.modseq for info in store.messages(
                session.account_id, mailbox.folder.id, uids=found))
        return found, highest

    result = session.blocking(run)

    def answer(outcome: tuple[list[int], int | None]) -> Reply:
        found, highest = outcome
        uids = [uid for uid in found if mailbox.msn(uid) is not None]
        numbers = uids if cmd.uid else [mailbox.msn(uid) for uid in uids]
        options = args.return_options
        if options is None:
            tail = b" (MODSEQ %d)" % highest if highest is not None else b""
            session.send(b"* SEARCH" + b"".join(b" %d" % n for n in numbers) + tail + b"\r\n")
            return ok("SEARCH completed")
        _esearch(session, cmd, options, uids, numbers, highest)
        return ok("SEARCH completed")
    return result.addCallbacks(answer, _search_failure)


def _esearch(session: IMAPSession, cmd: Command, options: frozenset[str], uids: list[int],
             numbers: list[Any], highest: int | None) -> None:
    """RFC 4731 ESEARCH answer and RFC 5182 SAVE."""
    if "SAVE" in options:
        session.saved_search = list(uids)
        if options == {"SAVE"}:
            return
    parts = [b'* ESEARCH (TAG "' + cmd.tag.encode() + b'")']
    if cmd.uid:
        parts.append(b"UID")
    if numbers:
        if "MIN" in options:
            parts.append(b"MIN %d" % min(numbers))
        if "MAX" in options:
            parts.append(b"MAX %d" % max(numbers))
        if "ALL" in options:
            parts.append(b"ALL " + uid_set(sorted(numbers)).encode())
    if "COUNT" in options:
        parts.append(b"COUNT %d" % len(numbers))
    if highest is not None:
        parts.append(b"MODSEQ %d" % highest)
    session.send(b" ".join(parts) + b"\r\n")


def _search_failure(failure: Any) -> Reply:
    if failure.check(ValueError):
        return bad(str(failure.value))
    return store_failure(failure)


# -- COPY / MOVE --------------------------------------------------------------------------

def _transfer(session: IMAPSession, cmd: Command, move: bool) -> defer.Deferred[Reply] | Reply:
    mailbox = session.selected
    assert mailbox is not None
    if move and mailbox.readonly:
        return no("The mailbox is read-only", "READ-ONLY")
    uids = _uid_or_bad(session, cmd)
    if isinstance(uids, Reply):
        return uids
    store = session.services.store
    account_id = session.account_id

    def run() -> tuple[Any, list[tuple[int, int]]]:
        target = store.get_folder(account_id, cmd.args.mailbox)
        if not uids:
            return target, []
        operation = store.move if move else store.copy
        return target, operation(account_id, mailbox.folder.id, uids, target.id)

    def answer(outcome: tuple[Any, list[tuple[int, int]]]) -> Reply:
        target, pairs = outcome
        if not pairs:
            return ok("No messages", None)
        if session.services.filed is not None:  # e.g. the spam milter learns from Junk
            session.services.filed(account_id, mailbox.folder.name, target.name, target.id,
                                   [new for _, new in pairs])
        code = f"COPYUID {target.uidvalidity} {uid_set([a for a, _ in pairs])} " \
               f"{uid_set([b for _, b in pairs])}"
        if not move:
            return ok("COPY completed", code)
        session.send(f"* OK [{code}] Moved\r\n".encode())
        for line in mailbox.removed(source for source, _ in pairs):
            session.send(line)
        return ok("MOVE completed")

    def failed(failure: Any) -> Reply:
        failure.trap(StoreError)
        if isinstance(failure.value, FolderNotFound):
            return no("No such mailbox", "TRYCREATE")
        return store_error(failure.value)
    return session.blocking(run).addCallbacks(answer, failed)


@command("COPY", IN_SELECTED)
def copy(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    return _transfer(session, cmd, move=False)


@command("MOVE", IN_SELECTED)
def move(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    return _transfer(session, cmd, move=True)


# -- EXPUNGE ------------------------------------------------------------------------------

@command("EXPUNGE", IN_SELECTED)
def expunge(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply] | Reply:
    mailbox = session.selected
    assert mailbox is not None
    if mailbox.readonly:
        return no("The mailbox is read-only", "READ-ONLY")
    uids = None
    if cmd.uid:
        uids = _uid_or_bad(session, cmd)
        if isinstance(uids, Reply):
            return uids
        if not uids:
            return ok("EXPUNGE completed")
    result = session.blocking(session.services.store.expunge, session.account_id,
                       mailbox.folder.id, uids)

    def answer(removed: list[int]) -> Reply:
        for line in mailbox.removed(removed):
            session.send(line)
        return ok("EXPUNGE completed")
    return result.addCallbacks(answer, store_failure)


__all__ = ["SelectedMailbox"]
