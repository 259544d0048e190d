"""Change notifications: what the store tells open sessions (IMAP IDLE, other sessions, POP3).

Implementation notes:
- The store publishes only after the write transaction has committed, and never for a write
  that failed: a subscriber that sees a change can read it from the index.
- Changes of one store operation are published together (`publish_many`); each subscriber gets
  them in order, in one call of `dispatch`. The server passes `reactor.callFromThread` as
  `dispatch`, so callbacks run on the reactor thread even though the store runs in a pool.
- A callback that raises is logged and forgotten: it breaks neither the publisher nor the other
  subscribers.
- Subscriptions are per account: a session never hears of another account's changes.
- Changes cross no process boundary here. Deliveries by the `mfserver` command or another node
  reach sessions through the periodic rescan; PostgreSQL LISTEN/NOTIFY is the planned bridge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted.logger import Logger

log = Logger()

Dispatch = Callable[[Callable[[], None]], None]


@dataclass(frozen=True)
class MessagesAdded:
    account_id: int
    folder_id: int
    folder: str
    uids: tuple[int, ...]
    modseq: int
    uidnext: int


@dataclass(frozen=True)
class FlagsChanged:
    account_id: int
    folder_id: int
    uid: int
    modseq: int
    flags: int
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class MessagesExpunged:
    account_id: int
    folder_id: int
    uids: tuple[int, ...]
    modseq: int


@dataclass(frozen=True)
class FolderCreated:
    account_id: int
    folder_id: int
    name: str


@dataclass(frozen=True)
class FolderDeleted:
    account_id: int
    folder_id: int
    name: str


@dataclass(frozen=True)
class FolderRenamed:
    account_id: int
    folder_id: int
    old_name: str
    new_name: str


Change = (MessagesAdded | FlagsChanged | MessagesExpunged | FolderCreated | FolderDeleted
          | FolderRenamed)
Callback = Callable[[Change], None]


def _call_now(function: Callable[[], None]) -> None:
    function()


class Subscription:
    """A subscriber's handle; `cancel()` stops further callbacks (idempotent)."""

    def __init__(self, bus: ChangeBus, account_id: int, callback: Callback) -> None:
        self.account_id = account_id
        self.callback = callback
        self.active = True
        self._bus = bus

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self._bus._remove(self)


class ChangeBus:
    """Per-account publish/subscribe of store changes, safe to use from any thread."""

    def __init__(self, dispatch: Dispatch | None = None) -> None:
        self._dispatch = dispatch or _call_now
        self._lock = threading.Lock()
        self._subscribers: dict[int, list[Subscription]] = {}

    def subscribe(self, account_id: int, callback: Callback) -> Subscription:
        subscription = Subscription(self, account_id, callback)
        with self._lock:
            self._subscribers.setdefault(account_id, []).append(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.account_id, [])
            if subscription in subscribers:
                subscribers.remove(subscription)
            if not subscribers:
                self._subscribers.pop(subscription.account_id, None)

    def subscriber_count(self, account_id: int) -> int:
        with self._lock:
            return len(self._subscribers.get(account_id, ()))

    def publish(self, change: Change) -> None:
        self.publish_many([change])

    def publish_many(self, changes: Sequence[Change]) -> None:
        """Deliver `changes` to the subscribers of their accounts, in order."""
        by_account: dict[int, list[Change]] = {}
        for change in changes:
            by_account.setdefault(change.account_id, []).append(change)
        for account_id, own in by_account.items():
            with self._lock:
                subscribers = list(self._subscribers.get(account_id, ()))
            for subscription in subscribers:
                try:
                    self._dispatch(lambda s=subscription, c=own: _deliver(s, c))
                except Exception:
                    log.failure("dispatching store changes failed")


def _deliver(subscription: Subscription, changes: Sequence[Change]) -> None:
    for change in changes:
        if not subscription.active:
            return
        try:
            subscription.callback(change)
        except Exception:
            log.failure("store change subscriber {callback!r} failed on {change}",
                        callback=subscription.callback, change=type(change).__name__)
