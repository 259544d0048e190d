"""The session's snapshot of INBOX, unique ids, and the IN-USE locks (pop3.maildrop)."""

from __future__ import annotations

import pytest

from mfserver.pop3.maildrop import Maildrop, MaildropLocks, NoSuchMessage, unique_id


def drop() -> Maildrop:
    return Maildrop(folder_id=7, uidvalidity=1700000000, uids=[3, 5, 9], sizes=[100, 200, 300])


def test_unique_ids_are_dovecots_default_format():
    assert unique_id(1700000000, 5) == "000000056553F100"
    assert drop().unique_id(2) == "000000056553F100"
    long = unique_id(2**64 - 1, 2**64 - 1)
    assert len(long) <= 70 and all(0x21 <= ord(ch) <= 0x7E for ch in long)


def test_counts_leave_deleted_messages_out():
    maildrop = drop()
    assert (maildrop.count, maildrop.octets) == (3, 600)
    maildrop.deleted.add(2)
    assert (maildrop.count, maildrop.octets) == (2, 400)
    assert maildrop.live() == [1, 3]
    assert maildrop.deleted_uids() == [5]


@pytest.mark.parametrize("text, reason", [
    ("0", "No such message; the maildrop has 3"),
    ("4", "No such message; the maildrop has 3"),
    ("x", "Invalid message number: x"),
    ("-1", "Invalid message number: -1"),
    ("2", "Message 2 is deleted"),
])
def test_message_numbers_refused(text, reason):
    maildrop = drop()
    maildrop.deleted.add(2)
    with pytest.raises(NoSuchMessage) as caught:
        maildrop.message(text)
    assert str(caught.value) == reason


def test_message_numbers_accepted():
    maildrop = drop()
    assert maildrop.message("3") == 3
    assert (maildrop.uid(3), maildrop.size(3)) == (9, 300)


def test_locks_have_one_owner():
    locks, first, second = MaildropLocks(), object(), object()
    assert locks.acquire(1, first)
    assert locks.acquire(1, first)  # the owner again
    assert not locks.acquire(1, second)
    assert locks.acquire(2, second)
    locks.release(1, second)  # not the owner: nothing happens
    assert locks.held(1)
    locks.release(1, first)
    locks.release(1, first)
    assert not locks.held(1)
    assert locks.acquire(1, second)
