"""The change bus: per-account delivery, order, failing subscribers, dispatch, cancel."""

from __future__ import annotations

from mfserver.store import ChangeBus, FolderCreated, MessagesExpunged


def test_subscribers_of_the_account_get_changes_in_order():
    bus = ChangeBus()
    alice, bob = [], []
    bus.subscribe(1, alice.append)
    bus.subscribe(2, bob.append)
    changes = [FolderCreated(1, 10, "A"), MessagesExpunged(1, 10, (1,), 5),
               FolderCreated(2, 20, "B")]
    bus.publish_many(changes)
    assert alice == changes[:2] and bob == changes[2:]


def test_a_failing_subscriber_breaks_nothing():
    bus = ChangeBus()
    seen = []

    def broken(change):
        raise RuntimeError("boom")

    bus.subscribe(1, broken)
    bus.subscribe(1, seen.append)
    bus.publish(FolderCreated(1, 10, "A"))
    bus.publish(FolderCreated(1, 11, "B"))
    assert [c.name for c in seen] == ["A", "B"]


def test_dispatch_and_cancel():
    queued = []
    bus = ChangeBus(dispatch=queued.append)
    seen = []
    subscription = bus.subscribe(1, seen.append)
    bus.publish(FolderCreated(1, 10, "A"))
    assert seen == [] and len(queued) == 1
    queued.pop()()
    assert [c.name for c in seen] == ["A"]
    bus.publish(FolderCreated(1, 11, "B"))
    subscription.cancel()
    subscription.cancel()
    queued.pop()()  # cancelled before dispatch ran: nothing delivered
    assert [c.name for c in seen] == ["A"]
    assert bus.subscriber_count(1) == 0
