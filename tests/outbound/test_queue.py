"""The queue's tables and spool on SQLite and PostgreSQL: enqueue, claim under a lease, record,
retry, delete, and bad input that leaves nothing behind."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select

from mfserver.db.models import OutboundMessage, OutboundRecipient
from mfserver.outbound import OutboundQueue, QueuedRecipient, UnknownMessage
from mfserver.outbound.queue import RecipientUpdate, to_crlf

MESSAGE = b"Subject: hi\n\nbody\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(database, tmp_path, clock):
    return OutboundQueue(database, tmp_path / "queue", now=clock)


def rows(database) -> tuple[int, int]:
    with database.read() as session:
        return (session.scalar(select(func.count()).select_from(OutboundMessage)),
                session.scalar(select(func.count()).select_from(OutboundRecipient)))


def test_enqueue_is_durable_and_listed(queue, tmp_path, clock):
    queue_id = queue.enqueue("alice@example.org", [
        QueuedRecipient("bob@example.net"),
        QueuedRecipient("carol@example.com", frozenset({"success", "delay"}),
                        "rfc822;carol@example.com")], MESSAGE, envid="E1", ret="hdrs",
        account_id=None)
    spool = tmp_path / "queue" / queue_id
    assert spool.read_bytes() == b"Subject: hi\r\n\r\nbody\r\n"
    assert oct(spool.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "queue").stat().st_mode & 0o777) == "0o700"
    [message] = queue.list()
    assert message == queue.get(queue_id)
    assert (message.sender, message.envid, message.ret, message.size) == (
        "alice@example.org", "E1", "HDRS", len(spool.read_bytes()))
    assert message.created_at == clock.now and not message.eightbit
    bob, carol = message.recipients
    assert (bob.state, bob.notify, bob.attempts, bob.next_attempt) == (
        "queued", frozenset({"FAILURE"}), 0, clock.now)
    assert carol.notify == frozenset({"SUCCESS", "DELAY"})
    assert carol.orcpt == "rfc822;carol@example.com"
    assert queue.read(queue_id) == spool.read_bytes()


def test_eight_bit_content_and_utf8_addresses_are_flagged(queue):
    queue_id = queue.enqueue("j\u00f6rg@example.org", [QueuedRecipient("bob@example.net")],
                             "Subject: \u00e9\r\n\r\nx\r\n".encode())
    message = queue.get(queue_id)
    assert message.eightbit and message.smtputf8


@pytest.mark.parametrize("sender, recipients, options", [
    ("alice@example.org", [], {}),
    ("alice@example.org", [QueuedRecipient("no-domain")], {}),
    ("alice@example.org", [QueuedRecipient("bob@example.net\r\nRCPT TO:<x@y>")], {}),
    ("alice <x>@example.org", [QueuedRecipient("bob@example.net")], {}),
    ("alice@example.org", [QueuedRecipient("bob@example.net", frozenset({"NEVER", "DELAY"}))],
     {}),
    ("alice@example.org", [QueuedRecipient("bob@example.net", frozenset({"SOMETIMES"}))], {}),
    ("alice@example.org", [QueuedRecipient("bob@example.net", orcpt="no-type")], {}),
    ("alice@example.org", [QueuedRecipient("bob@example.net")], {"ret": "BODY"}),
    ("alice@example.org", [QueuedRecipient("bob@example.net")], {"envid": "has space"}),
    ("alice@example.org", [QueuedRecipient("bob@example.net")], {"envid": "x" * 101}),
])
def test_bad_input_is_refused_and_leaves_nothing(queue, database, tmp_path, sender, recipients,
                                                 options):
    with pytest.raises(ValueError):
        queue.enqueue(sender, recipients, MESSAGE, **options)
    assert rows(database) == (0, 0)
    assert not (tmp_path / "queue").exists() or os.listdir(tmp_path / "queue") in ([], ["tmp"])


def test_a_failed_commit_removes_the_spool_file(queue, database, tmp_path):
    with pytest.raises(Exception, match="FOREIGN KEY|foreign key"):
        queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net")], MESSAGE,
                      account_id=999)  # no such account
    assert rows(database) == (0, 0)
    assert os.listdir(tmp_path / "queue") == ["tmp"] and os.listdir(tmp_path / "queue" / "tmp") == []


def test_claims_are_exclusive_until_the_lease_ends(queue, database, tmp_path, clock):
    first = queue.enqueue("a@example.org", [QueuedRecipient("b@example.net")], MESSAGE)
    clock.now += 1
    second = queue.enqueue("a@example.org", [QueuedRecipient("c@example.net")], MESSAGE)
    other = OutboundQueue(database, tmp_path / "queue", now=clock)  # another node
    [claim] = queue.claim(1)
    assert claim.message.id == first and claim.until == clock.now + queue.lease
    assert [c.message.id for c in other.claim(10)] == [second]
    assert queue.claim(10) == [] and other.claim(10) == []
    assert queue.next_due() == claim.until
    clock.now = claim.until
    again = other.claim(10)  # both leases ran out (the first claimer died, say)
    assert [c.message.id for c in again] == [first, second]
    assert again[0].token != claim.token
    assert queue.renew([claim]) == 0 and other.renew(again) == 2


def test_concurrent_claimers_never_share_a_message(queue, database, tmp_path, clock):
    for number in range(20):
        queue.enqueue("a@example.org", [QueuedRecipient(f"r{number}@example.net")], MESSAGE)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        node = OutboundQueue(database, tmp_path / "queue", now=clock)
        for _ in range(10):
            got = [claim.message.id for claim in node.claim(2)]
            with lock:
                claimed.extend(got)

    workers = [threading.Thread(target=claimer) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(claimed) == 20 and len(set(claimed)) == 20


def test_record_finishes_a_message_and_removes_its_spool(queue, database, tmp_path, clock):
    queue_id = queue.enqueue("a@example.org", [QueuedRecipient("b@example.net"),
                                               QueuedRecipient("c@example.net")], MESSAGE)
    [claim] = queue.claim(10)
    b, c = claim.message.recipients
    assert not queue.record(claim, [
        RecipientUpdate(b.id, "delivered", int(clock.now), "250 ok", "mx.example.net"),
        RecipientUpdate(c.id, "queued", int(clock.now) + 300, "450 later")])
    message = queue.get(queue_id)
    assert message.claimed_until is None
    assert [(r.state, r.attempts) for r in message.recipients] == [("delivered", 1),
                                                                    ("queued", 1)]
    assert queue.claim(10) == [] and queue.next_due() == int(clock.now) + 300
    clock.now += 300
    [claim] = queue.claim(10)
    assert [r.address for r in claim.message.recipients] == ["c@example.net"]
    assert queue.record(claim, [RecipientUpdate(c.id, "failed", int(clock.now), "550 no")])
    assert rows(database) == (0, 0)
    assert not (tmp_path / "queue" / queue_id).exists()


def test_retry_makes_recipients_due_now(queue, clock):
    queue_id = queue.enqueue("a@example.org", [QueuedRecipient("b@example.net")], MESSAGE)
    [claim] = queue.claim(10)
    queue.record(claim, [RecipientUpdate(claim.message.recipients[0].id, "queued",
                                         int(clock.now) + 3600, "450 later")])
    assert queue.claim(10) == []
    assert queue.retry(queue_id) == 1
    assert [c.message.id for c in queue.claim(10)] == [queue_id]
    assert queue.retry() == 1


def test_unknown_ids_are_refused(queue):
    for operation in (queue.get, queue.retry, queue.delete, queue.read):
        with pytest.raises(UnknownMessage, match="no queued message NOPE"):
            operation("NOPE")


def test_delete_removes_rows_and_spool(queue, database, tmp_path):
    queue_id = queue.enqueue("a@example.org", [QueuedRecipient("b@example.net")], MESSAGE)
    [claim] = queue.claim(10)
    queue.delete(queue_id)
    assert rows(database) == (0, 0) and not (tmp_path / "queue" / queue_id).exists()
    assert queue.record(claim, []) is False  # a runner finishing late finds nothing


def test_release_gives_claims_back(queue):
    queue.enqueue("a@example.org", [QueuedRecipient("b@example.net")], MESSAGE)
    claims = queue.claim(10)
    queue.release(claims)
    assert len(queue.claim(10)) == 1


def test_sweep_removes_old_spool_files_without_rows(queue, tmp_path):
    queue_id = queue.enqueue("a@example.org", [QueuedRecipient("b@example.net")], MESSAGE)
    orphan = tmp_path / "queue" / "ORPHAN"
    orphan.write_bytes(b"x")
    half = tmp_path / "queue" / "tmp" / "HALF"
    half.write_bytes(b"x")
    for path in (orphan, half, tmp_path / "queue" / queue_id):
        os.utime(path, (1, 1))
    assert queue.sweep() == ["ORPHAN"]
    assert not orphan.exists() and not half.exists()
    assert (tmp_path / "queue" / queue_id).exists()


def test_to_crlf():
    assert to_crlf(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd\r\n"
