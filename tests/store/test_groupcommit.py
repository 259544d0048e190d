"""Group commit: deliveries from many threads at once, each committed, each with its own UID,
a failure in a batch (quota) confined to its own delivery."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mfserver.db import Database
from mfserver.store import QuotaExceeded, Store
from mfserver.store.groupcommit import GroupCommit, Item
from tests.store.conftest import add_account


def message(number: int, size: int = 0) -> bytes:
    return (f"Subject: parallel {number}\r\n\r\n".encode() + b"x" * size + b"\r\n")


def test_parallel_deliveries_all_land_with_distinct_uids(store: Store, account: int) -> None:
    with ThreadPoolExecutor(8) as pool:
        delivered = list(pool.map(lambda n: store.deliver(account, message(n)), range(200)))
    uids = [d.uid for d in delivered]
    assert sorted(uids) == list(range(1, 201))
    files = os.listdir(store.account_root(account) / "new")
    assert len(files) == 200


def test_a_full_mailbox_fails_alone_in_its_batch(database: Database, store: Store) -> None:
    roomy = add_account(database)
    tight = add_account(database, quota=2000)
    for account_id in (roomy, tight):
        store.provision(account_id)
    start = threading.Barrier(16)

    def deliver(number: int) -> str:
        target = tight if number % 2 else roomy
        start.wait()
        try:
            store.deliver(target, message(number, 600))
            return "ok"
        except QuotaExceeded:
            return "full"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(deliver, range(16)))
    assert outcomes[0::2] == ["ok"] * 8
    assert outcomes[1::2].count("ok") == 3  # 3 of ~620 octets fit in 2000
    assert len(os.listdir(store.account_root(tight) / "new")) == 3
    assert len(os.listdir(store.account_root(tight) / "tmp")) == 0
    assert len(os.listdir(store.account_root(roomy) / "new")) == 8


def test_a_commit_that_raises_fails_every_item_of_its_batch() -> None:
    def commit(batch: list[Item]) -> None:
        batch[0].result = "first"
        raise OSError("disk gone")

    group: GroupCommit[Item] = GroupCommit(commit)
    with pytest.raises(OSError):
        group.run(Item())
    calls: list[int] = []
    ok: GroupCommit[Item] = GroupCommit(lambda batch: calls.append(len(batch)) or
                                        [setattr(i, "result", 1) for i in batch] and None)
    assert ok.run(Item()) == 1 and calls == [1]
