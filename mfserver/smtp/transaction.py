"""From the end of DATA/BDAT to the reply: checks, authentication results, milters, delivery.

Implementation notes:
- Order (ARCHITECTURE "Flows"): header checks → (inbound) SPF/DKIM/DMARC/ARC recorded in
  `Authentication-Results`, forged copies of our own results removed → the milter chain →
  (submission) DKIM signing → local copies into the store and remote recipients into the
  outbound queue → only then the reply. A 250 means every copy is on disk.
- Failures after the message is in: nothing delivered → 451 (552 5.2.2 when every mailbox is
  full); some delivered and some not → 250 and a bounce for the others when the queue can
  send one, else 451 so the sender tries again (a duplicate is better than a loss).
- DMARC (RFC 7489 6.6.4): a `reject` disposition is refused with 550 5.7.1, `quarantine`
  files into Junk. The header checks refuse header lines over 998 octets (RFC 5322 2.1.1) and,
  for BDAT, bare CR/LF (DATA closes the connection on those, see smtp.data).
- Submission: every From address must belong to the account (553 5.7.1); Date and
  Message-ID are added when missing.
- BDAT (RFC 3030): each chunk is answered; one that would pass the size limit, or comes
  without a recipient, is read and dropped, and the sequence is refused at its LAST chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from mfserver.milter import Action, ChainResult
from mfserver.smtp import codes, delivery, headers, recipients
from mfserver.smtp.codes import Reply
from mfserver.smtp.data import bare_line_ends, long_header_line
from mfserver.smtp.milters import refusal

if TYPE_CHECKING:
    from mfserver.smtp.session import SMTPSession, Transaction

log = Logger()

JUNK = "Junk"
BARE_IN_MESSAGE = Reply(554, "5.5.2", "Bare CR or LF in message (RFC 5321 2.3.8)")
NO_FROM = Reply(554, "5.6.0", "Message has no From header field")
DMARC_REJECTED = Reply(550, "5.7.1", "Rejected by the DMARC policy of {domain}")
HELD = Reply(554, "5.7.1", "Message held by policy")


@dataclass
class Authenticated:
    """What the inbound checks give back (the adapter in service.py builds it)."""

    message: bytes            # forged results removed, our Authentication-Results on top
    results: Any              # mfserver.mailauth results, for milters that score on them
    disposition: str = "none"  # DMARC: "none" | "quarantine" | "reject"
    policy_domain: str = ""


# -- BDAT ----------------------------------------------------------------------------------

def start_chunk(session: SMTPSession, size: int, last: bool) -> None:
    """After `BDAT size [LAST]`: the connection reads the chunk, kept or dropped."""
    transaction = session.transaction
    session.bdat_last = last
    if transaction is None or not transaction.recipients:
        session.bdat_refusal = codes.BAD_SEQUENCE.with_text("Need MAIL and RCPT before BDAT")
    elif transaction.bdat_failed is not None:
        session.bdat_refusal = transaction.bdat_failed
    elif transaction.chunk_octets + size > session.services.max_message_size:
        transaction.bdat_failed = codes.MESSAGE_TOO_BIG
        transaction.chunks.clear()
        session.bdat_refusal = codes.MESSAGE_TOO_BIG
    else:
        session.bdat_refusal = None
    session.connection.expect_chunk(size, keep=session.bdat_refusal is None)


def chunk_ended(session: SMTPSession, chunk: bytes | None,
                size: int) -> Reply | defer.Deferred[Reply]:
    transaction = session.transaction
    if session.bdat_refusal is not None:
        if session.bdat_last or transaction is None:
            session.reset()
        return session.bdat_refusal
    assert transaction is not None and chunk is not None
    transaction.chunks.append(chunk)
    transaction.chunk_octets += size
    if not session.bdat_last:
        return Reply(250, "2.0.0", f"{size} octets received")
    message = b"".join(transaction.chunks)
    transaction.chunks.clear()
    if bare_line_ends(message):
        session.reset()
        return BARE_IN_MESSAGE
    return take_message(session, message)


# -- the message ---------------------------------------------------------------------------

def take_message(session: SMTPSession, message: bytes) -> defer.Deferred[Reply]:
    transaction = session.transaction
    assert transaction is not None
    if long_header_line(message):
        return defer.succeed(codes.HEADER_TOO_LONG)
    if session.role == "submission":
        return _submitted(session, transaction, message)
    return _received(session, transaction, message)


def _received(session: SMTPSession, transaction: Transaction,
              message: bytes) -> defer.Deferred[Reply]:
    services = session.services
    envelope = transaction.envelope
    received = headers.received_inbound(
        helo=session.helo or "unknown",
        address=session.peer.address if services.received_client_ip else None,
        hostname=services.hostname,
        protocol=headers.protocol_name(esmtp=session.esmtp, tls=session.connection.secure,
                                       authenticated=False, smtputf8=transaction.smtputf8),
        queue_id=transaction.id, recipients=[r.address for r in envelope.recipients])
    if services.check_authentication is None:
        checked: defer.Deferred[Any] = defer.succeed(Authenticated(message, None))
    else:
        checked = session.blocking(services.check_authentication, message, session.peer.address,
                                   session.helo or "", envelope.mail_from)

    def authenticated(result: Authenticated) -> Any:
        envelope.authentication = result.results
        if result.disposition == "reject":
            return DMARC_REJECTED.with_text(DMARC_REJECTED.text.format(
                domain=result.policy_domain or "the sender's domain"))
        folder = JUNK if result.disposition == "quarantine" else None
        chained = session.chain.message(session.peer, envelope, received + result.message)
        return chained.addCallback(_deliver_inbound, session, transaction, folder)

    return checked.addCallback(authenticated)


def _deliver_inbound(result: ChainResult, session: SMTPSession, transaction: Transaction,
                     folder: str | None) -> Reply | defer.Deferred[Reply]:
    stop = _verdict_reply(result, transaction)
    if stop is not None:
        return stop
    if result.verdict.action is Action.QUARANTINE:
        folder = result.verdict.folder or JUNK
    pairs = [(r.address, r.account_id, result.folders.get(r.address) or folder or r.folder)
             for r in result.recipients if r.account_id is not None]
    where = delivery.targets(pairs)
    sender = transaction.envelope.mail_from
    done = session.blocking(delivery.deliver_copies, session.services.store, sender,
                            result.message, where)
    return done.addCallback(_delivered, session, transaction, result.message)


def _verdict_reply(result: ChainResult, transaction: Transaction) -> Reply | None:
    """The reply that ends the transaction without delivery, if the chain says so."""
    refused = refusal(result.verdict)
    if refused is not None:
        return refused
    if result.verdict.action is Action.DISCARD:
        log.info("SMTP {id}: discarded by a milter", id=transaction.id)
        return _queued(transaction)
    return None


def _queued(transaction: Transaction) -> Reply:
    return Reply(250, "2.0.0", f"OK: queued as {transaction.id}")


def _delivered(outcomes: list[delivery.Outcome], session: SMTPSession,
               transaction: Transaction, message: bytes) -> Reply:
    failed = [outcome for outcome in outcomes if not outcome.delivered]
    log.info("SMTP {role} {id}: {size} octets, {copies} local copies, {failed} failed",
             role=session.role, id=transaction.id, size=len(message), copies=len(outcomes),
             failed=len(failed))
    if not failed:
        return _queued(transaction)
    if len(failed) == len(outcomes):
        if all(outcome.permanent for outcome in failed):
            return codes.QUOTA_EXCEEDED
        return codes.LOCAL_ERROR
    # some copies are on disk: a retry would duplicate them, a 250 would lose the others
    # unless a bounce reports them; without a way to bounce, a duplicate is the lesser harm
    return codes.LOCAL_ERROR


# -- submission ----------------------------------------------------------------------------

def _submitted(session: SMTPSession, transaction: Transaction,
               message: bytes) -> defer.Deferred[Reply]:
    services = session.services
    from_values = headers.header_values(message, "From")
    if not from_values:
        return defer.succeed(NO_FROM)
    senders = headers.addresses(from_values)
    owned = session.blocking(recipients.owned_addresses, services.directory,
                             session.account.username)

    def checked(addresses: set[str]) -> Any:
        if not senders or any(recipients.canonical(address) not in addresses
                              for address in senders):
            return codes.NOT_OWNER.with_text("From header address not owned by the "
                                             "authenticated user")
        received = headers.received_submission(
            hostname=services.hostname, queue_id=transaction.id,
            protocol=headers.protocol_name(esmtp=session.esmtp, tls=session.connection.secure,
                                           authenticated=True, smtputf8=transaction.smtputf8))
        completed = (received + headers.missing_submission_fields(message, services.hostname)
                     + message)
        chained = session.chain.message(session.peer, transaction.envelope, completed)
        domain = senders[0].rpartition("@")[2]
        return chained.addCallback(_send, session, transaction, domain)

    return owned.addCallback(checked)


def _send(result: ChainResult, session: SMTPSession, transaction: Transaction,
          domain: str) -> Reply | defer.Deferred[Reply]:
    stop = _verdict_reply(result, transaction)
    if stop is not None:
        return stop
    if result.verdict.action is Action.QUARANTINE:
        return HELD
    return session.blocking(send_blocking, session.services, transaction, result,
                            domain).addCallback(
        lambda outcomes: _delivered(outcomes, session, transaction, result.message))


def send_blocking(services: Any, transaction: Transaction, result: ChainResult,
                  domain: str) -> list[delivery.Outcome]:
    """Sign, deliver the local copies, queue the rest; the outcomes of the local copies.

    Raises when the queue cannot take the message (the client gets 451 and tries again).
    """
    message = result.message
    if services.sign is not None:
        message = services.sign(message, domain)
    local = [r for r in result.recipients if r.account_id is not None]
    remote = [r for r in result.recipients if r.account_id is None]
    if remote:
        assert services.enqueue is not None
        services.enqueue(transaction.envelope, remote, message, transaction)
    where = delivery.targets([(r.address, r.account_id, None) for r in local])
    return delivery.deliver_copies(services.store, transaction.envelope.mail_from, message,
                                   where)
