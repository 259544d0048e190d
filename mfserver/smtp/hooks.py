"""What the SMTP server needs from the rest of the server, built once in service.py.

Implementation notes:
- `inbound_checks`: mfserver.mailauth's SPF/DKIM/ARC/DMARC for each inbound message, after
  removing Authentication-Results that claim to be ours (RFC 8601 5), with our header on top.
- `dkim_signer`: signs with the sender domain's keys (created at init; read once per domain).
- `enqueuer` / `return_to_sender`: remote recipients and DSNs into the outbound queue, then a
  kick so delivery starts at once; DSNs to our own accounts straight into their mailbox.
- All of these block; the SMTP server calls them in the thread pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mfserver.mailauth import check_message, sign_message, strip_forged_results
from mfserver.milter import Envelope, Recipient
from mfserver.outbound.queue import OutboundQueue, QueuedRecipient
from mfserver.resolver import Resolver
from mfserver.smtp.delivery import LocalDelivery
from mfserver.smtp.transaction import Authenticated


def inbound_checks(resolver: Resolver, authserv_id: str
                   ) -> Callable[[bytes, str, str, str], Authenticated]:
    def check(message: bytes, client_ip: str, helo: str, mail_from: str) -> Authenticated:
        message = strip_forged_results(message, authserv_id)
        results = check_message(message, client_ip=client_ip, helo=helo, mail_from=mail_from,
                                resolver=resolver, authserv_id=authserv_id)
        return Authenticated(results.header() + message, results, results.dmarc.disposition,
                             results.dmarc.from_domain)
    return check


def dkim_signer(runtime: Any) -> Callable[[bytes, str], bytes]:
    keys: dict[str, list[Any]] = {}
    lock = threading.Lock()

    def sign(message: bytes, domain: str) -> bytes:
        with lock:
            if domain not in keys:
                keys[domain] = runtime.ensure_domain_keys(domain)
        return sign_message(message, domain, keys[domain])
    return sign


def queued_recipient(recipient: Recipient) -> QueuedRecipient:
    notify = recipient.params.get("NOTIFY") or "FAILURE"
    return QueuedRecipient(recipient.address, frozenset(notify.split(",")),
                           recipient.params.get("ORCPT"))


def enqueuer(queue: OutboundQueue, kick: Callable[[], None]) -> Callable[..., str]:
    def enqueue(envelope: Envelope, recipients: list[Recipient], message: bytes,
                transaction: Any) -> str:
        queue_id = queue.enqueue(envelope.mail_from, [queued_recipient(r) for r in recipients],
                                 message, envid=envelope.params.get("ENVID"),
                                 ret=envelope.params.get("RET"),
                                 smtputf8=transaction.smtputf8, eightbit=transaction.eightbit,
                                 account_id=transaction.account_id)
        kick()
        return queue_id
    return enqueue


def return_to_sender(local: LocalDelivery, queue: OutboundQueue,
                     kick: Callable[[], None]) -> Callable[[str, bytes, bool], None]:
    """A notification for `sender`: into its mailbox when ours, else queued (null sender)."""
    def send(sender: str, notice: bytes, smtputf8: bool) -> None:
        if local.deliver(sender, notice):
            return
        queue.enqueue("", [QueuedRecipient(sender, frozenset({"NEVER"}))], notice,
                      smtputf8=smtputf8)
        kick()
    return send
