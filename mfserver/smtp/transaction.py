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

from mfserver.milter import Action, ChainResult, Recipient
from mfserver.smtp import codes, delivery, headers, recipients, reports
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
    local = [(r, result.folders.get(r.address) or folder or r.folder)
             for r in result.recipients if r.account_id is not None]
    return session.blocking(finish, session.services, transaction, result.message, local, [])


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


def finish(services: Any, transaction: Transaction, message: bytes,
           local: list[tuple[Recipient, str | None]], remote: list[Recipient],
           sign_domain: str | None = None) -> Reply:
    """Blocking: sign, queue the remote recipients, deliver the local copies, report.

    Raises when signing or the queue fails: the client gets 451 and tries again.
    """
    if sign_domain is not None and services.sign is not None:
        message = services.sign(message, sign_domain)
    if remote:
        services.enqueue(transaction.envelope, remote, message, transaction)
    where = delivery.targets([(r.address, r.account_id, folder) for r, folder in local])
    outcomes = delivery.deliver_copies(services.store, transaction.envelope.mail_from,
                                       message, where)
    return _conclude(services, transaction, message, local, outcomes, queued=bool(remote))


def _conclude(services: Any, transaction: Transaction, message: bytes,
              local: list[tuple[Recipient, str | None]], outcomes: list[delivery.Outcome],
              *, queued: bool) -> Reply:
    failed = [outcome for outcome in outcomes if not outcome.delivered]
    log.info("SMTP {id}: {size} octets, {copies} local copies, {failed} failed, "
             "{queued}", id=transaction.id, size=len(message), copies=len(outcomes),
             failed=len(failed), queued="queued for remote recipients" if queued else
             "nothing queued")
    if failed and len(failed) == len(outcomes) and not queued:
        return codes.QUOTA_EXCEEDED if all(o.permanent for o in failed) else codes.LOCAL_ERROR
    if any(not outcome.permanent for outcome in failed):
        # some copies are on disk: a retry duplicates them; a 250 would lose these
        return codes.LOCAL_ERROR
    by_address = {recipient.address: recipient for recipient, _ in local}
    delivered = [by_address[a] for o in outcomes if o.delivered for a in o.target.addresses]
    bounced = [(by_address[a], o.reason) for o in failed for a in o.target.addresses]
    if services.return_to_sender is None:
        # no way to report the failed copies: let the sender retry
        return codes.LOCAL_ERROR if bounced else _queued(transaction)
    try:
        for notice in reports.notices(services.hostname, transaction.envelope, transaction,
                                      message, delivered, bounced):
            services.return_to_sender(transaction.envelope.mail_from, notice,
                                      transaction.smtputf8)
    except Exception:  # noqa: BLE001 - copies are on disk: a 451 now would duplicate them
        log.failure("SMTP {id}: a delivery status notification could not be sent",
                    id=transaction.id)
        if bounced:
            return codes.LOCAL_ERROR
    return _queued(transaction)


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
        domain = (recipients.canonical(senders[0]) or "").rpartition("@")[2]
        return chained.addCallback(_send, session, transaction, domain)

    return owned.addCallback(checked)


def _send(result: ChainResult, session: SMTPSession, transaction: Transaction,
          domain: str) -> Reply | defer.Deferred[Reply]:
    stop = _verdict_reply(result, transaction)
    if stop is not None:
        return stop
    if result.verdict.action is Action.QUARANTINE:
        return HELD
    local = [(r, None) for r in result.recipients if r.account_id is not None]
    remote = [r for r in result.recipients if r.account_id is None]
    return session.blocking(finish, session.services, transaction, result.message, local,
                            remote, domain)
