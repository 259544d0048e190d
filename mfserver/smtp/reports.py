"""Delivery status notifications (RFC 3464) about local deliveries; blocking.

Implementation notes:
- RFC 3461 5.2.2/6.2: a recipient with NOTIFY=SUCCESS delivered into one of our mailboxes
  earns a "delivered" DSN; a recipient whose copy failed for good (its mailbox is full) while
  others of the same message were delivered earns a "failed" DSN, so the 250 that the
  delivered copies need loses nothing. NOTIFY=NEVER and the null sender never get one.
- The DSN is built by the outbound queue's `build_dsn` (one format for every DSN the server
  sends) and goes back to the sender through `return_to_sender`: into a local mailbox when the
  sender is ours, else into the outbound queue with the null sender.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mfserver.milter import Recipient
from mfserver.outbound.dsn import build_dsn
from mfserver.outbound.outcome import DELIVERED, Outcome
from mfserver.outbound.queue import QueuedMessage, RecipientStatus
from mfserver.outbound.schedule import Report

ReturnToSender = Callable[[str, bytes, bool], None]


def _notify(recipient: Recipient) -> frozenset[str]:
    value = recipient.params.get("NOTIFY") or "FAILURE"
    return frozenset(value.split(","))


def _status(number: int, recipient: Recipient) -> RecipientStatus:
    return RecipientStatus(number, recipient.address, _notify(recipient),
                           recipient.params.get("ORCPT"), "done", 1, 0, None, None, False)


def notices(hostname: str, envelope: Any, transaction: Any, message: bytes,
            delivered: list[Recipient], failed: list[tuple[Recipient, str]],
            ) -> list[bytes]:
    """The DSNs owed for local deliveries: "failed" ones and "delivered" ones."""
    if envelope.mail_from == "":
        return []
    now = int(time.time())
    queued = QueuedMessage(transaction.id, envelope.mail_from, envelope.params.get("ENVID"),
                           envelope.params.get("RET"), transaction.smtputf8,
                           transaction.eightbit, len(message), now, None, None)
    failures = [Report(_status(n, r), Outcome.permanent("5.2.2", reason), "failed")
                for n, (r, reason) in enumerate(failed) if "FAILURE" in _notify(r)]
    successes = [Report(_status(n, r), Outcome(DELIVERED, "2.0.0", "delivered to mailbox"),
                        "delivered")
                 for n, r in enumerate(delivered) if "SUCCESS" in _notify(r)]
    return [build_dsn(hostname, queued, group, message, now, now)
            for group in (failures, successes) if group]


