"""deliver(): the file, the index rows, quota, notifications, and concurrent deliveries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from mfserver.db.models import Account, Message, MessageHeader
from mfserver.store import (
    FolderNotFound,
    MessagesAdded,
    QuotaExceeded,
    Store,
    flags,
)
from tests.store.conftest import add_account
from tests.store.samples import make_message

REPO = Path(__file__).resolve().parents[2]


def used_bytes(database, account_id):
    with database.read() as session:
        return session.execute(select(Account.used_bytes)
                               .where(Account.id == account_id)).scalar_one()


def files_in(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_deliver_writes_crlf_file_in_new_and_index_row(store, account, database):
    raw = make_message(1, eol=b"\n")
    delivered = store.deliver(account, raw)
    inbox = store.get_folder(account, "inbox")
    assert (delivered.folder_id, delivered.uid) == (inbox.id, 1)
    assert delivered.uidvalidity == inbox.uidvalidity
    assert inbox.uidnext == 2 and inbox.highestmodseq == delivered.modseq
    root = store.account_root(account)
    assert files_in(root / "new") == [delivered.key]
    assert files_in(root / "tmp") == []
    stored = (root / "new" / delivered.key).read_bytes()
    assert stored == raw.replace(b"\n", b"\r\n")
    assert delivered.size == len(stored)
    assert f",S={len(stored)}" in delivered.key
    assert oct((root / "new" / delivered.key).stat().st_mode & 0o777) == "0o600"
    with database.read() as session:
        row = session.execute(select(Message.__table__).where(Message.folder_id == inbox.id)).one()
        header = session.execute(select(MessageHeader.header)
                                 .where(MessageHeader.message_id == row.id)).scalar_one()
    assert (row.uid, row.key, row.filename) == (1, delivered.key, f"new/{delivered.key}")
    assert row.size == len(stored) and row.bare_lf is False and row.flags == 0
    assert row.modseq == delivered.modseq
    assert json.loads(row.envelope)[1] == "message 1"
    assert json.loads(row.bodystructure)[0] == "TEXT"
    assert row.sent_date == int(datetime(2023, 1, 2, 9, 0, tzinfo=UTC).timestamp())
    assert bytes(header).startswith(b"From: Alice") and bytes(header).endswith(b"\r\n\r\n")
    assert used_bytes(database, account) == len(stored)
    assert store.read_message(account, inbox.id, 1) == stored


def test_deliver_with_flags_goes_to_cur_with_info(store, account):
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-4)))
    delivered = store.deliver(account, make_message(), folder="Drafts",
                              flags=flags.DRAFT | flags.SEEN, keywords=["$Work"],
                              internal_date=when)
    path = store.message_path(account, delivered.folder_id, delivered.uid)
    assert path.parent.name == "cur" and path.name == f"{delivered.key}:2,DS"
    assert path.parent.parent.name == ".Drafts"
    [info] = store.messages(account, delivered.folder_id)
    assert (info.flags, info.keywords) == (flags.DRAFT | flags.SEEN, ("$Work",))
    assert info.internal_datetime == when and info.internal_tz == -240
    assert int(path.stat().st_mtime) == int(when.timestamp())


def test_deliver_into_missing_folder_is_refused(store, account):
    with pytest.raises(FolderNotFound):
        store.deliver(account, make_message(), folder="Nope")


def test_quota_refusal_leaves_nothing_behind(store, database, bus):
    account = add_account(database, quota=5000)
    store.provision(account)
    seen = []
    bus.subscribe(account, seen.append)
    first = store.deliver(account, make_message(1, size=1000))
    with pytest.raises(QuotaExceeded) as caught:
        store.deliver(account, make_message(2, size=4000))
    assert str(caught.value).startswith(f"mailbox full: quota 5000, used {first.size}")
    root = store.account_root(account)
    assert files_in(root / "new") == [first.key]
    assert files_in(root / "tmp") == []
    assert used_bytes(database, account) == first.size
    status = store.status(account, "INBOX")
    assert (status.messages, status.uidnext) == (1, 2)
    assert [type(change) for change in seen] == [MessagesAdded]


def test_change_published_after_commit_only(store, account, bus, database):
    seen = []

    def check(change):
        # the change is visible in the index when the subscriber hears of it
        with database.read() as session:
            count = session.execute(select(func.count()).select_from(Message)).scalar_one()
        seen.append((change, count))

    bus.subscribe(account, check)
    delivered = store.deliver(account, make_message())
    [(change, count)] = seen
    assert change == MessagesAdded(account, delivered.folder_id, "INBOX", (1,),
                                   delivered.modseq, 2)
    assert count == 1


def test_failed_commit_removes_the_renamed_file_and_publishes_nothing(store, account, bus,
                                                                      monkeypatch):
    seen = []
    bus.subscribe(account, seen.append)
    from mfserver.store import index

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(index, "insert_messages", broken)
    with pytest.raises(RuntimeError):
        store.deliver(account, make_message())
    root = store.account_root(account)
    assert files_in(root / "new") == [] and files_in(root / "tmp") == []
    assert seen == []
    monkeypatch.undo()
    assert store.deliver(account, make_message()).uid == 1  # the failed UID was rolled back


def test_twenty_threads_get_distinct_increasing_uids(store, account, database):
    results: list[list[int]] = [[] for _ in range(20)]
    barrier = threading.Barrier(20)

    def deliver(slot):
        barrier.wait()
        results[slot].append(store.deliver(account, make_message(slot)).uid)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    uids = sorted(uid for slot in results for uid in slot)
    assert uids == list(range(1, 21))
    status = store.status(account, "INBOX")
    assert (status.messages, status.uidnext) == (20, 21)
    assert len(os.listdir(store.account_root(account) / "new")) == 20
    with database.read() as session:
        total = session.execute(select(func.sum(Message.size))).scalar_one()
    assert used_bytes(database, account) == total


def database_spec(database) -> tuple[str, str]:
    if database.is_sqlite:
        return database.url, "-"
    with database.read() as session:
        return database.url, session.execute(text("SELECT current_schema()")).scalar_one()


def test_four_processes_get_distinct_increasing_uids(store, account, database, mail_root,
                                                     tmp_path):
    url, schema = database_spec(database)
    go = tmp_path / "go"
    workers = [subprocess.Popen(
        [sys.executable, "-m", "tests.store.worker", url, schema, str(mail_root), str(account),
         "5", "--wait-for", str(go)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(4)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "READY"
    go.touch()
    per_worker = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        per_worker.append([int(line.split()[1]) for line in out.splitlines()])
    for uids in per_worker:
        assert uids == sorted(uids) and len(uids) == 5
    assert sorted(uid for uids in per_worker for uid in uids) == list(range(1, 21))
    assert [m.uid for m in store.messages(account, store.get_folder(account, "INBOX").id)] \
        == list(range(1, 21))


def test_store_reads_only_its_own_account(store, database):
    alice, bob = add_account(database), add_account(database)
    store.provision(alice)
    store.provision(bob)
    delivered = store.deliver(alice, make_message())
    with pytest.raises(FolderNotFound):
        store.messages(bob, delivered.folder_id)
    with pytest.raises(FolderNotFound):
        store.read_message(bob, delivered.folder_id, delivered.uid)
    with pytest.raises(FolderNotFound):
        store.deliver(bob, make_message(), folder=delivered.folder_id)
    assert store.status(bob, "INBOX").messages == 0
    assert Store(database, store.mail_root).status(alice, "INBOX").messages == 1


def test_deliver_remakes_a_folder_directory_removed_by_hand(store, account):
    import shutil
    shutil.rmtree(store.account_root(account) / ".Sent")
    delivered = store.deliver(account, make_message(), folder="Sent")
    assert store.read_message(account, delivered.folder_id, delivered.uid).startswith(b"From")
    assert store.rescan(account).folders_removed == []
