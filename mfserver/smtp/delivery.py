"""Local delivery of an accepted message into the store; blocking.

Implementation notes:
- One copy per (account, folder): two addresses of the same account in one message give one
  copy, as the account holder sees one mailbox (Dovecot LMTP does the same per user).
- Each copy goes through `Store.deliver`, which returns only when the file and its index row
  are durable; the SMTP answer is sent only after every copy here has returned.
- A folder that no longer exists (the user deleted Junk) falls back to INBOX: mail is never
  refused for a filing choice. A full mailbox is a permanent failure of that copy; any other
  error a temporary one.
- `LocalDelivery.deliver` is what the outbound queue calls for bounces and reports addressed
  to our own accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.logger import Logger

from mfserver.accounts import Directory
from mfserver.smtp.headers import return_path
from mfserver.store import FolderNotFound, QuotaExceeded, Store
from mfserver.store.maildir import INBOX

log = Logger()


@dataclass
class Target:
    account_id: int
    folder: str | None
    addresses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    target: Target
    delivered: bool
    permanent: bool = False   # a failure that retrying will not fix (quota)
    reason: str = ""


def targets(pairs: list[tuple[str, int, str | None]]) -> list[Target]:
    """(address, account, folder) triples grouped into one target per account and folder."""
    grouped: dict[tuple[int, str | None], Target] = {}
    for address, account_id, folder in pairs:
        key = (account_id, folder)
        grouped.setdefault(key, Target(account_id, folder)).addresses.append(address)
    return list(grouped.values())


def deliver_copies(store: Store, sender: str, message: bytes,
                   where: list[Target]) -> list[Outcome]:
    """Deliver one copy per target with a Return-Path; every outcome, in order."""
    data = return_path(sender) + message
    outcomes = []
    for target in where:
        outcomes.append(_deliver_one(store, data, target))
    return outcomes


def _deliver_one(store: Store, data: bytes, target: Target) -> Outcome:
    try:
        try:
            store.deliver(target.account_id, data, folder=target.folder or INBOX)
        except FolderNotFound:
            store.deliver(target.account_id, data, folder=INBOX)
    except QuotaExceeded as error:
        return Outcome(target, False, True, str(error))
    except Exception as error:  # noqa: BLE001 - reported as a temporary failure, logged
        log.failure("delivery into account {account} failed", account=target.account_id)
        return Outcome(target, False, False, type(error).__name__)
    return Outcome(target, True)


class LocalDelivery:
    """Delivery of a finished message to one address, if it is ours (for the queue)."""

    def __init__(self, directory: Directory, store: Store) -> None:
        self.directory = directory
        self.store = store

    def deliver(self, address: str, message: bytes, sender: str = "") -> bool:
        """True when `address` is in one of our domains (and the message is in its INBOX);
        False when it is not ours. Store errors propagate (the queue retries)."""
        domain = address.rpartition("@")[2]
        if not self.directory.is_local_domain(domain):
            return False
        account = self.directory.resolve_recipient(address)
        if account is None:  # ours, but nobody: a double bounce, dropped as Postfix does
            log.warn("a report to an unknown local address was dropped")
            return True
        self.store.deliver(account.id, return_path(sender) + message, folder=INBOX)
        return True
