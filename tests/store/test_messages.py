"""Flags with MODSEQ, expunge, copy, move, and reading from the index."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from mfserver.db.models import Message
from mfserver.store import (
    FlagMode,
    FlagsChanged,
    FolderView,
    InvalidFlag,
    MessagesAdded,
    MessagesExpunged,
    QuotaExceeded,
    flags,
)
from tests.store.conftest import add_account
from tests.store.samples import make_message
from tests.store.test_delivery import used_bytes


@pytest.fixture
def inbox(store, account):
    for number in range(1, 5):
        store.deliver(account, make_message(number))
    return store.get_folder(account, "INBOX")


def flag_view(store, account, folder_id):
    return {m.uid: (m.flags, m.keywords, m.modseq) for m in store.messages(account, folder_id)}


def test_store_flags_bumps_modseq_of_changed_messages_only(store, account, inbox, bus):
    before = flag_view(store, account, inbox.id)
    seen = []
    bus.subscribe(account, seen.append)
    result = store.store_flags(account, inbox.id, [1, 2, 9], FlagMode.ADD, flags.SEEN,
                               ["$Label1"])
    assert result.failed == [] and result.modseq == inbox.highestmodseq + 1
    assert [(u.uid, u.flags, u.keywords) for u in result.changed] == \
        [(1, flags.SEEN, ("$Label1",)), (2, flags.SEEN, ("$Label1",))]
    after = flag_view(store, account, inbox.id)
    assert after[1][2] == after[2][2] == result.modseq
    assert after[3] == before[3] and after[4] == before[4]
    assert seen == [FlagsChanged(account, inbox.id, 1, result.modseq, flags.SEEN, ("$Label1",)),
                    FlagsChanged(account, inbox.id, 2, result.modseq, flags.SEEN, ("$Label1",))]
    assert store.status(account, "INBOX").highestmodseq == result.modseq

    again = store.store_flags(account, inbox.id, [1], "add", flags.SEEN, ["$label1"])
    assert again.changed == [] and again.modseq is None  # nothing changed, no new MODSEQ
    assert store.status(account, "INBOX").highestmodseq == result.modseq

    removed = store.store_flags(account, inbox.id, [1], FlagMode.REMOVE, 0, ["$LABEL1"])
    assert removed.changed[0].keywords == ()
    replaced = store.store_flags(account, inbox.id, None, FlagMode.SET, flags.FLAGGED)
    assert {u.uid for u in replaced.changed} == {1, 2, 3, 4}
    assert {m.flags for m in store.messages(account, inbox.id)} == {flags.FLAGGED}
    assert store.messages(account, inbox.id, changed_since=removed.modseq)[0].modseq == \
        replaced.modseq


def test_unchanged_since_fails_recently_changed_messages(store, account, inbox):
    first = store.store_flags(account, inbox.id, [2], FlagMode.ADD, flags.FLAGGED)
    result = store.store_flags(account, inbox.id, [1, 2, 3], FlagMode.ADD, flags.SEEN,
                               unchanged_since=first.modseq - 1)
    assert result.failed == [2]
    assert [u.uid for u in result.changed] == [1, 3]
    assert flag_view(store, account, inbox.id)[2][0] == flags.FLAGGED


def test_bad_flags_are_refused(store, account, inbox):
    with pytest.raises(InvalidFlag):
        store.store_flags(account, inbox.id, [1], FlagMode.ADD, 0, ["bad word"])
    with pytest.raises(InvalidFlag):
        flags.from_imap_names(["\\Recent"])


def test_expunge_removes_deleted_files_rows_and_quota(store, account, inbox, database, bus):
    store.store_flags(account, inbox.id, [2, 3], FlagMode.ADD, flags.DELETED)
    paths = {uid: store.message_path(account, inbox.id, uid) for uid in (1, 2, 3, 4)}
    seen = []
    bus.subscribe(account, seen.append)
    assert store.expunge(account, inbox.id, [3, 4]) == [3]  # UID EXPUNGE: only \Deleted ones
    assert store.expunge(account, inbox.id) == [2]
    assert store.expunge(account, inbox.id) == []
    assert [m.uid for m in store.messages(account, inbox.id)] == [1, 4]
    assert not paths[2].exists() and not paths[3].exists() and paths[4].exists()
    assert [type(c) for c in seen] == [MessagesExpunged, MessagesExpunged]
    assert seen[0].uids == (3,) and seen[1].modseq > seen[0].modseq
    assert store.vanished(account, inbox.id, seen[0].modseq - 1) == [2, 3]
    with database.read() as session:
        total = session.execute(select(func.sum(Message.size))).scalar_one()
    assert used_bytes(database, account) == total
    assert store.deliver(account, make_message()).uid == 5  # UIDs are never reused


def test_copy_links_files_keeps_flags_and_charges_quota(store, account, inbox, database, bus):
    store.store_flags(account, inbox.id, [2], FlagMode.ADD, flags.SEEN, ["$Work"])
    archive = store.get_folder(account, "Archive")
    seen = []
    bus.subscribe(account, seen.append)
    pairs = store.copy(account, inbox.id, [2, 3, 99], archive.id)
    assert pairs == [(2, 1), (3, 2)]
    copied = store.messages(account, archive.id)
    assert [(m.uid, m.flags, m.keywords) for m in copied] == \
        [(1, flags.SEEN, ("$Work",)), (2, 0, ())]
    assert store.read_message(account, archive.id, 1) == store.read_message(account, inbox.id, 2)
    source = store.message_path(account, inbox.id, 2)
    target = store.message_path(account, archive.id, 1)
    assert os.path.samefile(source, target) and target.name.endswith(":2,S")
    [copy_details] = store.details(account, archive.id, [1])
    [source_details] = store.details(account, inbox.id, [2])
    assert (copy_details.uid, copy_details.envelope, copy_details.header) == \
        (1, source_details.envelope, source_details.header)
    assert [type(c) for c in seen] == [MessagesAdded] and seen[0].uids == (1, 2)
    with database.read() as session:
        total = session.execute(select(func.sum(Message.size))).scalar_one()
    assert used_bytes(database, account) == total
    store.store_flags(account, archive.id, [1], FlagMode.ADD, flags.DELETED)
    store.expunge(account, archive.id)
    assert source.exists()  # the source keeps its link


def test_copy_over_quota_is_refused_whole(store, database):
    account = add_account(database, quota=4000)
    store.provision(account)
    for number in range(2):
        store.deliver(account, make_message(number, size=1000))
    inbox = store.get_folder(account, "INBOX")
    trash = store.get_folder(account, "Trash")
    before = used_bytes(database, account)
    with pytest.raises(QuotaExceeded):
        store.copy(account, inbox.id, None, trash.id)
    assert store.status(account, "Trash").messages == 0
    assert os.listdir(store.account_root(account) / ".Trash" / "new") == []
    assert used_bytes(database, account) == before


def test_copy_is_undone_when_a_source_file_is_missing(store, account, inbox):
    trash = store.get_folder(account, "Trash")
    os.unlink(store.message_path(account, inbox.id, 3))
    with pytest.raises(Exception, match="missing"):
        store.copy(account, inbox.id, [1, 2, 3], trash.id)
    root = store.account_root(account) / ".Trash"
    assert os.listdir(root / "new") == [] and os.listdir(root / "cur") == []
    assert store.get_folder(account, "Trash").uidnext == 1


def test_move_renames_files_and_expunges_source(store, account, inbox, database, bus):
    store.store_flags(account, inbox.id, [1], FlagMode.ADD, flags.ANSWERED)
    archive = store.get_folder(account, "Archive")
    contents = {uid: store.read_message(account, inbox.id, uid) for uid in (1, 4)}
    used = used_bytes(database, account)
    seen = []
    bus.subscribe(account, seen.append)
    assert store.move(account, inbox.id, [1, 4], archive.id) == [(1, 1), (4, 2)]
    assert [m.uid for m in store.messages(account, inbox.id)] == [2, 3]
    assert [(m.uid, m.flags) for m in store.messages(account, archive.id)] == \
        [(1, flags.ANSWERED), (2, 0)]
    assert store.read_message(account, archive.id, 1) == contents[1]
    assert store.read_message(account, archive.id, 2) == contents[4]
    assert used_bytes(database, account) == used
    assert [type(c) for c in seen] == [MessagesExpunged, MessagesAdded]
    assert seen[0].uids == (1, 4) and seen[1].uids == (1, 2)
    root = store.account_root(account)
    assert len(os.listdir(root / "new")) + len(os.listdir(root / "cur")) == 2
    assert store.vanished(account, inbox.id, 0) == [1, 4]


def test_messages_and_details_come_from_the_index(store, account, inbox):
    os.unlink(store.message_path(account, inbox.id, 1))  # no file is opened for these
    [info] = store.messages(account, inbox.id, uids=[1])
    assert info.size > 0 and info.sent_date is not None
    [details] = store.details(account, inbox.id, [1])
    assert details.envelope[1] == "message 1"
    assert details.header.startswith(b"From: Alice")
    assert details.bodystructure[:2] == ["TEXT", "PLAIN"]
    big = store.messages(account, inbox.id, uids=range(1, 5000))
    assert [m.uid for m in big] == [1, 2, 3, 4]


def test_view_is_what_select_needs_without_a_row_per_message(store, account, inbox):
    empty = store.create_folder(account, "Empty")
    assert store.view(account, empty.id) == FolderView([], 0, (), None)
    store.store_flags(account, inbox.id, [1, 2], FlagMode.ADD, flags.SEEN)
    store.store_flags(account, inbox.id, [3], FlagMode.ADD, 0, ["$Work", "Later"])
    store.store_flags(account, inbox.id, [4], FlagMode.ADD, 0, ["$Work"])
    store.store_flags(account, inbox.id, [2], FlagMode.ADD, flags.DELETED)
    store.expunge(account, inbox.id)
    view = store.view(account, inbox.id)
    infos = store.messages(account, inbox.id)
    assert view.uids == [info.uid for info in infos] == [1, 3, 4]
    assert view.highestmodseq == max(info.modseq for info in infos)
    assert view.keywords == ("$Work", "Later")
    assert view.first_unseen == 3
    assert [m.uid for m in store.messages(account, inbox.id, uids=[4, 1, 99])] == [1, 4]
    assert [m.uid for m in store.messages(account, inbox.id, uids=[1, 2, 3])] == [1, 3]
    assert [m.uid for m in store.messages(account, inbox.id, uids=[4, 1])] == [1, 4]
    assert store.messages(account, inbox.id, uids=[]) == []
