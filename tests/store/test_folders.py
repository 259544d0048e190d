"""Folders: provision, create, rename (INBOX too), delete, subscriptions, hostile names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfserver.store import (
    FolderCreated,
    FolderDeleted,
    FolderExists,
    FolderNotEmpty,
    FolderNotFound,
    FolderProtected,
    FolderRenamed,
    InvalidFolderName,
    MessagesAdded,
    MessagesExpunged,
    flags,
)
from tests.store.conftest import add_account
from tests.store.samples import make_message

SPECIAL = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Junk": "\\Junk", "Trash": "\\Trash",
           "Archive": "\\Archive"}


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root.parent.parent)) for path in root.parent.parent.rglob("*")}


def test_provision_creates_special_folders_subscribed(store, database):
    account = add_account(database)
    folders = store.provision(account)
    assert [f.name for f in folders] == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    assert {f.name: f.special_use for f in folders if f.special_use} == SPECIAL
    assert all(f.subscribed for f in folders)
    assert len({f.uidvalidity for f in folders}) == 6
    root = store.account_root(account)
    for name in ("", ".Sent", ".Drafts", ".Junk", ".Trash", ".Archive"):
        for sub in ("cur", "new", "tmp"):
            assert (root / name / sub).is_dir()
    assert (root / ".Sent" / "maildirfolder").exists()
    assert oct(root.stat().st_mode & 0o777) == "0o700"
    assert store.provision(account) == store.list_folders(account)  # idempotent
    assert len(store.list_folders(account)) == 6


def test_provision_keeps_unsubscriptions_and_recreates_deleted_special(store, account):
    store.unsubscribe(account, "Junk")
    store.delete_folder(account, "Trash")
    store.provision(account)
    folders = {f.name: f for f in store.list_folders(account)}
    assert not folders["Junk"].subscribed
    assert folders["Trash"].special_use == "\\Trash"


def test_create_makes_parents_and_escaped_directories(store, account, bus):
    seen = []
    bus.subscribe(account, seen.append)
    folder = store.create_folder(account, "Projects/2024.Q1/Bücher")
    assert folder.name == "Projects/2024.Q1/Bücher"
    names = [f.name for f in store.list_folders(account)]
    assert {"Projects", "Projects/2024.Q1", "Projects/2024.Q1/Bücher"} <= set(names)
    root = store.account_root(account)
    assert (root / ".Projects.2024%2EQ1.Bücher" / "cur").is_dir()
    assert (root / ".Projects.2024%2EQ1" / "cur").is_dir()
    assert [type(c) for c in seen] == [FolderCreated] * 3
    with pytest.raises(FolderExists):
        store.create_folder(account, "Projects")
    with pytest.raises(FolderExists):
        store.create_folder(account, "inbox")
    assert store.get_folder(account, "Projects/2024.Q1/Bücher").id == folder.id


@pytest.mark.parametrize("name", ["", "..", ".", "a/../b", "a/./b", "/x", "x/", "a//b",
                                  "a\x00b", "x" * 256, "ü" * 128])
def test_invalid_names_are_refused_and_touch_nothing(store, account, name):
    before = tree(store.account_root(account))
    with pytest.raises(InvalidFolderName):
        store.create_folder(account, name)
    with pytest.raises(InvalidFolderName):
        store.rename_folder(account, "Archive", name)
    assert tree(store.account_root(account)) == before


@pytest.mark.parametrize("name", [".hidden", "..x", "a.b", "%2E", "../../etc", "a\\b", "~",
                                  "x\ny", "%", ". x", "..", "\x7f"])
def test_odd_names_stay_inside_the_account_root(store, account, mail_root, name):
    root = store.account_root(account)
    outside = {p for p in mail_root.rglob("*") if root not in p.parents}
    entries = set(os.listdir(root))
    try:
        store.create_folder(account, name)
    except InvalidFolderName:
        assert name in ("../../etc", "..")
        assert set(os.listdir(root)) == entries
        return
    [directory] = set(os.listdir(root)) - entries
    assert directory.startswith(".") and "/" not in directory
    assert directory.count(".") == 1  # one component: no '.' of the name survives unescaped
    assert (root / directory).resolve().parent == root.resolve()
    assert {p for p in mail_root.rglob("*") if root not in p.parents} == outside
    assert store.get_folder(account, name).name == name
    store.deliver(account, make_message(), folder=name)
    assert len(os.listdir(root / directory / "new")) == 1


def test_names_that_differ_only_in_escapes_do_not_collide(store, account):
    a = store.create_folder(account, "a.b")
    b = store.create_folder(account, "a%2Eb")
    c = store.create_folder(account, "a/b")
    assert len({a.id, b.id, c.id}) == 3
    root = store.account_root(account)
    assert {".a%2Eb", ".a%252Eb", ".a.b"} <= set(os.listdir(root))


def test_two_accounts_do_not_see_each_others_folders(store, database):
    alice, bob = add_account(database), add_account(database)
    store.provision(alice)
    store.provision(bob)
    secret = store.create_folder(alice, "Secret")
    assert "Secret" not in [f.name for f in store.list_folders(bob)]
    with pytest.raises(FolderNotFound):
        store.get_folder(bob, "Secret")
    with pytest.raises(FolderNotFound):
        store.get_folder_by_id(bob, secret.id)
    with pytest.raises(FolderNotFound):
        store.status(bob, secret.id)
    with pytest.raises(FolderNotFound):
        store.delete_folder(bob, "Secret")
    store.create_folder(bob, "Secret")  # same name, own folder
    assert store.get_folder(bob, "Secret").id != secret.id
    assert store.account_root(alice) != store.account_root(bob)


def test_rename_moves_children_subscriptions_and_keeps_uids(store, account, bus):
    store.create_folder(account, "Work/Old")
    store.subscribe(account, "Work/Old")
    delivered = store.deliver(account, make_message(), folder="Work/Old")
    before = store.get_folder(account, "Work")
    seen = []
    bus.subscribe(account, seen.append)
    renamed = store.rename_folder(account, "Work", "Jobs/Past")
    assert renamed.id == before.id and renamed.uidvalidity == before.uidvalidity
    names = {f.name for f in store.list_folders(account)}
    assert {"Jobs", "Jobs/Past", "Jobs/Past/Old"} <= names and "Work" not in names
    assert "Jobs/Past/Old" in store.list_subscriptions(account)
    child = store.get_folder(account, "Jobs/Past/Old")
    assert child.id == delivered.folder_id
    assert store.read_message(account, child.id, delivered.uid).startswith(b"From:")
    root = store.account_root(account)
    assert not (root / ".Work").exists() and (root / ".Jobs.Past.Old" / "cur").is_dir()
    assert {type(c) for c in seen} == {FolderCreated, FolderRenamed}
    with pytest.raises(FolderExists):
        store.rename_folder(account, "Sent", "Drafts")
    with pytest.raises(FolderNotFound):
        store.rename_folder(account, "Work", "Elsewhere")
    with pytest.raises(InvalidFolderName):
        store.rename_folder(account, "Jobs", "Jobs/Inner")


def test_rename_inbox_moves_messages_and_leaves_inbox_empty(store, account, bus):
    store.create_folder(account, "INBOX/Child")
    one = store.deliver(account, make_message(1))
    two = store.deliver(account, make_message(2), flags=flags.SEEN)
    inbox = store.get_folder(account, "INBOX")
    seen = []
    bus.subscribe(account, seen.append)
    moved = store.rename_folder(account, "INBOX", "Old Mail")
    assert moved.id != inbox.id and moved.uidnext == 3
    assert [(m.uid, m.flags) for m in store.messages(account, moved.id)] == \
        [(one.uid, 0), (two.uid, flags.SEEN)]
    assert store.read_message(account, moved.id, two.uid).startswith(b"From:")
    after = store.get_folder(account, "INBOX")
    assert after.id == inbox.id and after.uidvalidity == inbox.uidvalidity
    assert store.status(account, "INBOX").messages == 0
    assert after.uidnext == 3  # INBOX never gives those UIDs again
    assert store.vanished(account, inbox.id, 0) == [1, 2]
    assert store.get_folder(account, "INBOX/Child")  # children stay
    root = store.account_root(account)
    assert os.listdir(root / "new") == [] and os.listdir(root / "cur") == []
    assert [type(c) for c in seen] == [FolderCreated, MessagesExpunged, MessagesAdded]
    assert store.deliver(account, make_message(3)).uid == 3


def test_delete_folder_removes_messages_quota_and_directory(store, account, bus, database):
    store.create_folder(account, "Old")
    store.deliver(account, make_message(), folder="Old")
    kept = store.deliver(account, make_message())
    folder = store.get_folder(account, "Old")
    seen = []
    bus.subscribe(account, seen.append)
    store.delete_folder(account, "Old")
    assert seen == [FolderDeleted(account, folder.id, "Old")]
    root = store.account_root(account)
    assert not (root / ".Old").exists()
    assert [p for p in os.listdir(root) if p.startswith("mfserver-deleted")] == []
    from tests.store.test_delivery import used_bytes
    assert used_bytes(database, account) == kept.size
    with pytest.raises(FolderNotFound):
        store.get_folder(account, "Old")
    recreated = store.create_folder(account, "Old")
    assert recreated.uidvalidity != folder.uidvalidity
    assert store.status(account, "Old").messages == 0


def test_delete_refuses_inbox_and_folders_with_children(store, account):
    store.create_folder(account, "A/B")
    with pytest.raises(FolderProtected):
        store.delete_folder(account, "inbox")
    with pytest.raises(FolderNotEmpty):
        store.delete_folder(account, "A")
    store.delete_folder(account, "A/B")
    store.delete_folder(account, "A")
    with pytest.raises(FolderNotFound):
        store.delete_folder(account, "A")


def test_rename_onto_a_subscribed_name(store, account):
    store.create_folder(account, "Old")
    store.subscribe(account, "Old")
    store.subscribe(account, "New")
    store.rename_folder(account, "Old", "New")
    assert "New" in store.list_subscriptions(account)
    assert "Old" not in store.list_subscriptions(account)


def test_subscriptions(store, account):
    store.subscribe(account, "Not/There")
    store.subscribe(account, "Not/There")
    assert "Not/There" in store.list_subscriptions(account)
    assert store.unsubscribe(account, "Not/There") is True
    assert store.unsubscribe(account, "Not/There") is False
    store.subscribe(account, "inbox")
    assert "INBOX" in store.list_subscriptions(account)


def test_status_from_index(store, account):
    store.deliver(account, make_message(1), flags=flags.SEEN)
    store.deliver(account, make_message(2), flags=flags.DELETED)
    third = store.deliver(account, make_message(3))
    status = store.status(account, "INBOX")
    assert (status.messages, status.unseen, status.deleted, status.uidnext) == (3, 2, 1, 4)
    assert status.highestmodseq == third.modseq
    assert status.size > 0
    empty = store.status(account, "Sent")
    assert (empty.messages, empty.unseen, empty.size, empty.uidnext) == (0, 0, 0, 1)
