"""rescan(): files and folders that other programs added or removed."""

from __future__ import annotations

import os
import time

from sqlalchemy import func, select

from mfserver.db.models import Message
from mfserver.store import FolderCreated, MessagesAdded, MessagesExpunged, Store, flags
from tests.store.samples import make_message
from tests.store.test_delivery import used_bytes


def drop(path, data, mtime=None):
    path.write_bytes(data)
    if mtime:
        os.utime(path, (mtime, mtime))


def test_nothing_to_do(store, account):
    store.deliver(account, make_message())
    result = store.rescan(account)
    assert (result.added, result.removed, result.folders_added) == ([], [], [])


def test_outside_files_are_indexed_with_new_uids_and_vanished_ones_expunged(
        store, account, database, bus):
    first = store.deliver(account, make_message(1))
    second = store.deliver(account, make_message(2))
    inbox = store.get_folder(account, "INBOX")
    store.store_flags(account, inbox.id, [2], "add", flags.DELETED)
    store.expunge(account, inbox.id)  # uid 2 is used up
    root = store.account_root(account)
    drop(root / "new" / "1700000000.outside1.host", make_message(10, eol=b"\n"),
         mtime=1700000000)
    drop(root / "cur" / "1700000001.outside2.host:2,FS", make_message(11))
    drop(root / "cur" / ".hidden", b"not a message")
    os.unlink(store.message_path(account, inbox.id, first.uid))
    seen = []
    bus.subscribe(account, seen.append)

    result = store.rescan(account)
    assert result.added == [("INBOX", 3), ("INBOX", 4)]
    assert result.removed == [("INBOX", first.uid)]
    assert second.uid == 2
    infos = {m.uid: m for m in store.messages(account, inbox.id)}
    assert set(infos) == {3, 4}
    by_flags = {m.flags: m for m in infos.values()}
    lf = by_flags[0]
    assert lf.internal_date == 1700000000
    lf_data = store.read_message(account, inbox.id, lf.uid)
    assert b"\r\n" in lf_data and b"\n" not in lf_data.replace(b"\r\n", b"")
    assert lf.size == len(lf_data)
    assert by_flags[flags.FLAGGED | flags.SEEN].keywords == ()
    with database.read() as session:
        assert session.execute(select(Message.bare_lf).where(Message.uid == lf.uid)).scalar()
        total = session.execute(select(func.sum(Message.size))).scalar_one()
    assert used_bytes(database, account) == total
    assert [type(c) for c in seen] == [MessagesAdded, MessagesExpunged]
    assert store.deliver(account, make_message()).uid == 5
    assert store.rescan(account).added == []


def test_file_moved_by_another_program_keeps_uid_and_flags(store, account):
    delivered = store.deliver(account, make_message())
    inbox = store.get_folder(account, "INBOX")
    store.store_flags(account, inbox.id, [delivered.uid], "add", flags.FLAGGED)
    root = store.account_root(account)
    os.rename(root / "new" / delivered.key, root / "cur" / f"{delivered.key}:2,S")
    assert store.read_message(account, inbox.id, delivered.uid).startswith(b"From:")
    result = store.rescan(account)
    assert (result.added, result.removed) == ([], [])
    [info] = store.messages(account, inbox.id)
    assert (info.uid, info.flags) == (delivered.uid, flags.FLAGGED)
    assert store.message_path(account, inbox.id, delivered.uid).name.endswith(":2,S")


def test_folders_made_and_removed_by_hand(store, account, bus):
    root = store.account_root(account)
    for sub in ("cur", "new", "tmp"):
        (root / ".Lists.python%2Eorg" / sub).mkdir(parents=True)
    drop(root / ".Lists.python%2Eorg" / "new" / "123.abc.host", make_message())
    (root / ".not%zz" / "cur").mkdir(parents=True)   # not a canonical name: left alone
    (root / ".Junk").rename(root / "elsewhere")       # folder directory gone
    seen = []
    bus.subscribe(account, seen.append)
    result = store.rescan(account)
    assert result.folders_added == ["Lists/python.org"]
    assert result.folders_removed == ["Junk"]
    assert result.added == [("Lists/python.org", 1)]
    names = {f.name for f in store.list_folders(account)}
    assert "Lists/python.org" in names and "Junk" not in names
    assert not any(name.startswith("not") for name in names)
    assert FolderCreated in {type(c) for c in seen}


def test_old_tmp_files_are_cleaned(database, mail_root, account):
    store = Store(database, mail_root, clock=lambda: time.time() + 37 * 3600)
    root = store.account_root(account)
    drop(root / "tmp" / "stale", b"x")
    drop(root / ".Sent" / "tmp" / "stale", b"x")
    assert store.rescan(account).tmp_cleaned == 2
    assert Store(database, mail_root).rescan(account).tmp_cleaned == 0


def test_missing_account_root_changes_nothing(store, account):
    store.deliver(account, make_message())
    root = store.account_root(account)
    root.rename(root.with_name("away"))
    result = store.rescan(account)
    assert (result.removed, result.folders_removed) == ([], [])
    root.with_name("away").rename(root)
    assert store.status(account, "INBOX").messages == 1


def test_many_new_files_are_indexed_in_batches(store, account, monkeypatch):
    from mfserver.store import rescan
    monkeypatch.setattr(rescan, "RESCAN_BATCH", 2)
    root = store.account_root(account)
    for number in range(5):
        drop(root / "new" / f"17000000{number:02d}.batch.host", make_message(number))
    os.close(os.open(os.fsencode(root / "new") + b"/bad\xffname", os.O_CREAT | os.O_WRONLY))
    result = store.rescan(account)
    assert [uid for _, uid in result.added] == [1, 2, 3, 4, 5]
    assert store.status(account, "INBOX").messages == 5
    assert store.rescan(account).added == []


def test_rescan_racing_deliveries_neither_duplicates_nor_drops(store, account):
    import threading
    done = threading.Event()
    totals = {"added": 0, "removed": 0}

    def rescan_loop():
        while not done.is_set():
            result = store.rescan(account)
            totals["added"] += len(result.added)
            totals["removed"] += len(result.removed)

    def deliver(number):
        for n in range(5):
            store.deliver(account, make_message(number * 10 + n))

    scanner = threading.Thread(target=rescan_loop)
    scanner.start()
    senders = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    done.set()
    scanner.join()
    assert totals == {"added": 0, "removed": 0}
    status = store.status(account, "INBOX")
    assert (status.messages, status.uidnext) == (30, 31)
