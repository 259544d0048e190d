"""Commands of the TRANSACTION state: STAT, LIST, UIDL, RETR, TOP, DELE, NOOP, RSET.

Implementation notes:
- STAT, LIST and UIDL answer from the session's maildrop snapshot (pop3.maildrop): no file
  and no database is read. Messages marked deleted are left out of listings and refused by
  number (RFC 1939 5).
- RETR and TOP stream the file through `pop3.transfer.MessageReader`: each chunk is read in
  the thread pool while the one before is being sent, and written when the client has taken
  that one (the connection is the transport's push producer). "+OK" goes out only once the file is open, so a message
  another client expunged meanwhile gets a clean -ERR. RETR of a whole message remembers
  its UID for \\Seen (set when the session ends); TOP does not. After a RETR the next
  message is read ahead (`ReadAhead`), as clients fetch in order.
- DELE only marks; RSET unmarks (RFC 1939 5); the store is changed in UPDATE (QUIT).
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from mfserver.pop3.maildrop import Maildrop, NoSuchMessage
from mfserver.pop3.parser import Command, number
from mfserver.pop3.session import (
    TRANSACTION,
    AlreadySent,
    POP3Session,
    Reply,
    command,
    err,
    ok,
)
from mfserver.pop3.transfer import MessageReader
from mfserver.store import MessageNotFound

log = Logger()

IN_TRANSACTION = {TRANSACTION}


def _maildrop(session: POP3Session) -> Maildrop:
    assert session.maildrop is not None
    return session.maildrop


def _summary(maildrop: Maildrop) -> str:
    return f"{maildrop.count} messages ({maildrop.octets} octets)"


@command("STAT", IN_TRANSACTION)
def stat(session: POP3Session, cmd: Command) -> Reply:
    maildrop = _maildrop(session)
    return ok(f"{maildrop.count} {maildrop.octets}")


@command("LIST", IN_TRANSACTION, (0, 1))
def list_(session: POP3Session, cmd: Command) -> Reply:
    maildrop = _maildrop(session)
    if cmd.args:
        try:
            message = maildrop.message(cmd.args[0])
        except NoSuchMessage as error:
            return err(str(error), bad=True)
        return ok(f"{message} {maildrop.size(message)}")
    sizes = maildrop.sizes
    return ok(_summary(maildrop), [b"%d %d" % (n, sizes[n - 1]) for n in maildrop.live()])


@command("UIDL", IN_TRANSACTION, (0, 1))
def uidl(session: POP3Session, cmd: Command) -> Reply:
    maildrop = _maildrop(session)
    if cmd.args:
        try:
            message = maildrop.message(cmd.args[0])
        except NoSuchMessage as error:
            return err(str(error), bad=True)
        return ok(f"{message} {maildrop.unique_id(message)}")
    return ok("", [f"{n} {maildrop.unique_id(n)}".encode() for n in maildrop.live()])


@command("DELE", IN_TRANSACTION, (1, 1))
def dele(session: POP3Session, cmd: Command) -> Reply:
    maildrop = _maildrop(session)
    try:
        message = maildrop.message(cmd.args[0])
    except NoSuchMessage as error:
        return err(str(error), bad=True)
    maildrop.deleted.add(message)
    return ok(f"Message {message} deleted")


@command("RSET", IN_TRANSACTION)
def rset(session: POP3Session, cmd: Command) -> Reply:
    maildrop = _maildrop(session)
    maildrop.deleted.clear()
    return ok(_summary(maildrop))


@command("NOOP", IN_TRANSACTION)
def noop(session: POP3Session, cmd: Command) -> Reply:
    return ok()


@command("RETR", IN_TRANSACTION, (1, 1))
def retr(session: POP3Session, cmd: Command) -> Reply | defer.Deferred[Reply]:
    try:
        message = _maildrop(session).message(cmd.args[0])
    except NoSuchMessage as error:
        return err(str(error), bad=True)
    return defer.ensureDeferred(_send(session, message, None))


@command("TOP", IN_TRANSACTION, (2, 2))
def top(session: POP3Session, cmd: Command) -> Reply | defer.Deferred[Reply]:
    try:
        message = _maildrop(session).message(cmd.args[0])
    except NoSuchMessage as error:
        return err(str(error), bad=True)
    lines = number(cmd.args[1])
    if lines is None:
        return err(f"Invalid number of lines: {cmd.args[1][:20]}", bad=True)
    return defer.ensureDeferred(_send(session, message, lines))


class ReadAhead:
    """The next message, opened and its first chunk read while the client takes this one.

    POP3 clients RETR one message after the other (fetchmail, getmail, Thunderbird), so once
    RETR n is out the session starts RETR n+1's file lookup and first read in the pool; a
    RETR of that number then answers without waiting for the index. Anything else (another
    number, TOP, QUIT, a lost connection) closes the reader unused.
    """

    def __init__(self, session: POP3Session, message: int) -> None:
        maildrop = _maildrop(session)
        self.session = session
        self.message = message
        self.reader = MessageReader(session.services.store, session.account_id,
                                    maildrop.folder_id, maildrop.uid(message))
        self.first = session.blocking(self.reader.start)

    def take(self) -> tuple[MessageReader, defer.Deferred[bytes]]:
        return self.reader, self.first

    def discard(self) -> None:
        def close(_: object) -> None:
            if not self.reader.finished:
                self.session.blocking(self.reader.close)
        self.first.addBoth(close)


def _read_ahead_after(session: POP3Session, message: int) -> None:
    maildrop = _maildrop(session)
    following = message + 1
    while following in maildrop.deleted:
        following += 1
    if following <= len(maildrop.uids) and not session.connection.closing:
        session.read_ahead = ReadAhead(session, following)


async def _send(session: POP3Session, message: int, body_lines: int | None) -> Reply:
    """The multi-line answer of RETR (body_lines None) or TOP, streamed from the file."""
    maildrop = _maildrop(session)
    uid = maildrop.uid(message)
    ahead, session.read_ahead = session.read_ahead, None
    if ahead is not None and ahead.message == message and body_lines is None:
        reader, starting = ahead.take()
    else:
        if ahead is not None:
            ahead.discard()
        reader = MessageReader(session.services.store, session.account_id, maildrop.folder_id,
                               uid, body_lines)
        starting = session.blocking(reader.start)
    try:
        first = await starting
    except MessageNotFound:
        return err(f"Message {message} is gone; another client removed it")
    head = f"+OK {maildrop.size(message)} octets\r\n" if body_lines is None else "+OK\r\n"
    session.send(head.encode() + first)
    connection = session.connection
    # the next chunk is read while the one before goes out: at most two are in memory
    reading = None if reader.finished else session.blocking(reader.read)
    try:
        while reading is not None:
            pending, reading = reading, None
            chunk = await pending
            await connection.wait_writable()
            if connection.closing:
                break
            session.send(chunk)
            if not reader.finished:
                reading = session.blocking(reader.read)
    except Exception:  # noqa: BLE001 - the answer is half sent: the connection must end
        log.failure("POP3 could not send message {uid}", uid=uid)
        connection.close()
    finally:
        if reading is not None:
            await reading
        if not reader.finished:
            await session.blocking(reader.close)
    if reader.text.done and body_lines is None and not connection.closing:
        session.retrieved.add(uid)
        _read_ahead_after(session, message)
    return AlreadySent()
