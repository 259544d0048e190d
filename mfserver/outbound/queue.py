"""The persistent outbound queue: spool files plus database rows, claimed under a lease.

Implementation notes:
- `enqueue()` writes the spool file durably, then commits the rows; it returns the queue id only
  after both are on disk (SQLite synchronous=FULL, PostgreSQL commit). A failure on the way
  removes the file and raises: nothing half-queued stays behind.
- A message is worked on by whoever holds its claim: `claim()` sets `claimed_until` (now +
  lease) and a fresh `claim_token` in one write transaction. On PostgreSQL the candidate rows
  are read `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other; on SQLite the write
  transaction (BEGIN IMMEDIATE) serialises claimers. A process that dies mid-delivery leaves a
  lease that simply expires; the message is then claimed again. A recipient may so be delivered
  twice, but never lost.
- `record()` only changes recipients still `queued`, and clears the claim only when the token
  still matches (a slow process whose lease expired does not undo the new owner's claim).
  When no recipient is left `queued`, the rows are deleted first and the spool file after.
- Recipient states: queued -> delivered | failed. Times are Unix seconds from the injected
  `now` (tests give a fake clock).
- Every method blocks: the server calls them in the thread pool.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import case, delete, func, or_, select, update

from mfserver.db import Database
from mfserver.db.models import OutboundMessage, OutboundRecipient
from mfserver.outbound.spool import Spool

QUEUED, DELIVERED, FAILED = "queued", "delivered", "failed"
NOTIFY_VALUES = frozenset({"SUCCESS", "FAILURE", "DELAY"})
DEFAULT_LEASE = 15 * 60
MAX_ADDRESS = 512
_ENVID = re.compile(r"[\x21-\x7e]{1,100}")  # RFC 3461 §4.4: xtext-decoded, printable ASCII
_FORBIDDEN = re.compile(r"[\x00-\x20<>\x7f]")


class QueueError(Exception):
    """A queue operation that cannot be done, worded for the admin."""


class UnknownMessage(QueueError):
    def __init__(self, queue_id: str) -> None:
        super().__init__(f"no queued message {queue_id}")
        self.queue_id = queue_id


@dataclass(frozen=True)
class QueuedRecipient:
    """A recipient as the SMTP server hands it over, with its DSN parameters (RFC 3461)."""

    address: str
    notify: frozenset[str] = frozenset({"FAILURE"})  # {"NEVER"} or SUCCESS/FAILURE/DELAY
    orcpt: str | None = None  # e.g. "rfc822;bob@example.com"


@dataclass(frozen=True)
class RecipientStatus:
    """A recipient row as the queue sees it."""

    id: int
    address: str
    notify: frozenset[str]
    orcpt: str | None
    state: str
    attempts: int
    next_attempt: int
    last_reply: str | None
    remote_mta: str | None
    delay_notified: bool

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class QueuedMessage:
    """A queued message's envelope and recipients (all of them, or the claimed ones)."""

    id: str
    sender: str
    envid: str | None
    ret: str | None
    smtputf8: bool
    eightbit: bool
    size: int
    created_at: int
    account_id: int | None
    claimed_until: int | None
    recipients: tuple[RecipientStatus, ...] = field(default=())


@dataclass(frozen=True)
class Claim:
    """A message this process may deliver until `until`; `message.recipients` are the due ones."""

    message: QueuedMessage
    token: str
    until: int


@dataclass(frozen=True)
class RecipientUpdate:
    """The result of one attempt for one recipient, as `record()` stores it."""

    recipient_id: int
    state: str
    next_attempt: int
    last_reply: str | None
    remote_mta: str | None = None
    attempted: bool = True
    delay_notified: bool = False


def _check_address(address: str, what: str) -> str:
    if len(address) > MAX_ADDRESS or _FORBIDDEN.search(address):
        raise ValueError(f"bad {what} address {address[:80]!r}")
    return address


def _check_recipient(recipient: QueuedRecipient) -> QueuedRecipient:
    address = _check_address(recipient.address, "recipient")
    local, at, domain = address.rpartition("@")
    if not (local and at and domain):
        raise ValueError(f"recipient address without a domain: {address[:80]!r}")
    notify = frozenset(value.upper() for value in recipient.notify)
    if not notify or (notify != {"NEVER"} and not notify <= NOTIFY_VALUES):
        raise ValueError(f"bad NOTIFY {','.join(sorted(recipient.notify))!r} "
                         "(NEVER, or any of SUCCESS, FAILURE, DELAY)")
    if recipient.orcpt is not None and (";" not in recipient.orcpt
                                        or len(recipient.orcpt) > 600):
        raise ValueError(f"bad ORCPT {recipient.orcpt[:80]!r} (expected TYPE;ADDRESS)")
    return QueuedRecipient(address, notify, recipient.orcpt)


def to_crlf(message: bytes) -> bytes:
    """The message with CRLF line endings throughout and a final CRLF (RFC 5321 §2.3.8)."""
    message = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def _notify_text(notify: frozenset[str]) -> str:
    return ",".join(sorted(notify))


def _status(row: OutboundRecipient) -> RecipientStatus:
    return RecipientStatus(row.id, row.address, frozenset(row.notify.split(",")), row.orcpt,
                           row.state, row.attempts, row.next_attempt, row.last_reply,
                           row.remote_mta, row.delay_notified)


def _message(row: OutboundMessage, recipients: Iterable[OutboundRecipient]) -> QueuedMessage:
    return QueuedMessage(row.id, row.sender, row.envid, row.ret, row.smtputf8, row.eightbit,
                         row.size, row.created_at, row.account_id, row.claimed_until,
                         tuple(_status(r) for r in sorted(recipients, key=lambda r: r.id)))


class OutboundQueue:
    """Queued messages for other servers. Blocking: call it from the thread pool."""

    def __init__(self, database: Database, spool_dir: Path, *,
                 now: Callable[[], float] = time.time, lease: int = DEFAULT_LEASE) -> None:
        self.database = database
        self.spool = Spool(spool_dir)
        self.now = now
        self.lease = lease

    def _now(self) -> int:
        return int(self.now())

    # -- putting mail in -------------------------------------------------------------------

    def enqueue(self, sender: str, recipients: list[QueuedRecipient], message: bytes, *,
                envid: str | None = None, ret: str | None = None, smtputf8: bool = False,
                eightbit: bool = False, account_id: int | None = None) -> str:
        """Queue `message` for `recipients`; the queue id is returned once it is durable.

        `sender` "" is the null sender (a bounce: never bounced itself). A message with bytes
        over 127 is marked 8-bit whatever `eightbit` says, so it is never sent to a server
        that did not offer 8BITMIME; non-ASCII addresses likewise mark it SMTPUTF8.
        """
        _check_address(sender, "sender")
        if not recipients:
            raise ValueError("no recipients")
        checked = [_check_recipient(recipient) for recipient in recipients]
        if ret is not None and ret.upper() not in ("FULL", "HDRS"):
            raise ValueError(f"bad RET {ret!r} (FULL or HDRS)")
        if envid is not None and not _ENVID.fullmatch(envid):
            raise ValueError("bad ENVID (1 to 100 printable ASCII characters)")
        message = to_crlf(message)
        eightbit = eightbit or not message.isascii()
        smtputf8 = smtputf8 or not sender.isascii() or not all(
            recipient.address.isascii() for recipient in checked)
        queue_id = secrets.token_hex(8).upper()
        now = self._now()
        self.spool.write(queue_id, message)
        try:
            with self.database.write() as session:
                session.add(OutboundMessage(
                    id=queue_id, sender=sender, envid=envid, ret=ret.upper() if ret else None,
                    smtputf8=smtputf8, eightbit=eightbit, size=len(message), created_at=now,
                    account_id=account_id))
                session.flush()
                for recipient in checked:
                    session.add(OutboundRecipient(
                        message_id=queue_id, address=recipient.address,
                        notify=_notify_text(recipient.notify), orcpt=recipient.orcpt,
                        state=QUEUED, attempts=0, next_attempt=now, delay_notified=False))
        except BaseException:
            self.spool.remove(queue_id)
            raise
        return queue_id

    def read(self, queue_id: str) -> bytes:
        """The spooled bytes of a message (CRLF line endings)."""
        try:
            return self.spool.read(queue_id)
        except FileNotFoundError:
            raise UnknownMessage(queue_id) from None

    # -- what the admin sees and does -----------------------------------------------------

    def list(self) -> list[QueuedMessage]:
        """Every queued message with all its recipients, oldest first."""
        with self.database.read() as session:
            rows = session.scalars(select(OutboundMessage).order_by(
                OutboundMessage.created_at, OutboundMessage.id)).all()
            recipients: dict[str, list[OutboundRecipient]] = {}
            for recipient in session.scalars(select(OutboundRecipient)):
                recipients.setdefault(recipient.message_id, []).append(recipient)
            return [_message(row, recipients.get(row.id, ())) for row in rows]

    def get(self, queue_id: str) -> QueuedMessage:
        with self.database.read() as session:
            row = session.get(OutboundMessage, queue_id)
            if row is None:
                raise UnknownMessage(queue_id)
            return _message(row, session.scalars(select(OutboundRecipient).where(
                OutboundRecipient.message_id == queue_id)))

    def retry(self, queue_id: str | None = None) -> int:
        """Make the queued recipients of one message (or of all, `None`) due now.

        Returns how many recipients were rescheduled. A message being delivered right now
        keeps its claim; its recipients are tried again as soon as that attempt ends.
        """
        with self.database.write() as session:
            query = update(OutboundRecipient).where(OutboundRecipient.state == QUEUED)
            if queue_id is not None:
                if session.get(OutboundMessage, queue_id) is None:
                    raise UnknownMessage(queue_id)
                query = query.where(OutboundRecipient.message_id == queue_id)
            return session.execute(query.values(next_attempt=self._now())).rowcount

    def delete(self, queue_id: str) -> None:
        """Remove a message, rows and spool file, without telling its sender."""
        with self.database.write() as session:
            if session.get(OutboundMessage, queue_id) is None:
                raise UnknownMessage(queue_id)
            self._delete_rows(session, queue_id)
        self.spool.remove(queue_id)

    @staticmethod
    def _delete_rows(session, queue_id: str) -> None:  # type: ignore[no-untyped-def]
        session.execute(delete(OutboundRecipient).where(
            OutboundRecipient.message_id == queue_id))
        session.execute(delete(OutboundMessage).where(OutboundMessage.id == queue_id))

    # -- what the runner does -------------------------------------------------------------

    def claim(self, limit: int) -> list[Claim]:
        """Claim up to `limit` messages with due recipients that nobody else holds."""
        now = self._now()
        until = now + self.lease
        due = select(OutboundRecipient.message_id).where(
            OutboundRecipient.state == QUEUED, OutboundRecipient.next_attempt <= now)
        with self.database.write() as session:
            rows = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.id.in_(due),
                       or_(OutboundMessage.claimed_until.is_(None),
                           OutboundMessage.claimed_until <= now))
                .order_by(OutboundMessage.created_at, OutboundMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)).all()
            if not rows:
                return []
            claims = []
            ids = [row.id for row in rows]
            recipients: dict[str, list[OutboundRecipient]] = {}
            for recipient in session.scalars(select(OutboundRecipient).where(
                    OutboundRecipient.message_id.in_(ids), OutboundRecipient.state == QUEUED,
                    OutboundRecipient.next_attempt <= now)):
                recipients.setdefault(recipient.message_id, []).append(recipient)
            for row in rows:
                token = secrets.token_hex(16)
                row.claimed_until, row.claim_token = until, token
                claims.append(Claim(_message(row, recipients.get(row.id, ())), token, until))
            return claims

    def renew(self, claims: Iterable[Claim]) -> int:
        """Extend the lease of claims still held; returns how many were still held."""
        until = self._now() + self.lease
        held = 0
        with self.database.write() as session:
            for claim in claims:
                held += session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id == claim.message.id,
                           OutboundMessage.claim_token == claim.token)
                    .values(claimed_until=until)).rowcount
        return held

    def release(self, claims: Iterable[Claim]) -> None:
        """Give claims back unchanged (a stopping server), so others may take them at once."""
        with self.database.write() as session:
            for claim in claims:
                session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id == claim.message.id,
                           OutboundMessage.claim_token == claim.token)
                    .values(claimed_until=None, claim_token=None))

    def record(self, claim: Claim, updates: Iterable[RecipientUpdate]) -> bool:
        """Store the outcome of an attempt; True when the message is finished and removed."""
        queue_id = claim.message.id
        with self.database.write() as session:
            for change in updates:
                values = {"state": change.state, "next_attempt": change.next_attempt,
                          "last_reply": change.last_reply}
                if change.remote_mta is not None:
                    values["remote_mta"] = change.remote_mta
                if change.attempted:
                    values["attempts"] = OutboundRecipient.attempts + 1
                if change.delay_notified:
                    values["delay_notified"] = True
                session.execute(update(OutboundRecipient).where(
                    OutboundRecipient.id == change.recipient_id,
                    OutboundRecipient.message_id == queue_id,
                    OutboundRecipient.state == QUEUED).values(**values))
            session.execute(update(OutboundMessage).where(
                OutboundMessage.id == queue_id, OutboundMessage.claim_token == claim.token)
                .values(claimed_until=None, claim_token=None))
            remaining = session.scalar(select(func.count()).where(
                OutboundRecipient.message_id == queue_id, OutboundRecipient.state == QUEUED))
            finished = not remaining and session.get(OutboundMessage, queue_id) is not None
            if finished:
                self._delete_rows(session, queue_id)
        if finished:
            self.spool.remove(queue_id)
        return finished

    def next_due(self) -> int | None:
        """When something next becomes claimable: a due recipient or an expiring lease."""
        with self.database.read() as session:
            unclaimed = session.scalar(
                select(func.min(OutboundRecipient.next_attempt))
                .join(OutboundMessage, OutboundMessage.id == OutboundRecipient.message_id)
                .where(OutboundRecipient.state == QUEUED,
                       OutboundMessage.claimed_until.is_(None)))
            lease_end = session.scalar(
                select(func.min(case(
                    (OutboundMessage.claimed_until > OutboundRecipient.next_attempt,
                     OutboundMessage.claimed_until), else_=OutboundRecipient.next_attempt)))
                .join(OutboundRecipient, OutboundMessage.id == OutboundRecipient.message_id)
                .where(OutboundRecipient.state == QUEUED,
                       OutboundMessage.claimed_until.is_not(None)))
        times = [value for value in (unclaimed, lease_end) if value is not None]
        return min(times) if times else None

    def sweep(self, older_than: int = 3600) -> list[str]:
        """Remove spool files without rows (left by a crash between file and row)."""
        stale = self.spool.stale(time.time() - older_than)  # file times are real times
        if not stale:
            return []
        with self.database.read() as session:
            known = set(session.scalars(select(OutboundMessage.id).where(
                OutboundMessage.id.in_(stale))))
        orphans = [name for name in stale if name not in known]
        for name in orphans:
            self.spool.remove(name)
        return orphans
