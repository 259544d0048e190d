"""`mfserver queue list|retry|delete` on a data directory with queued mail."""

from __future__ import annotations

import pytest

from mfserver.config import load_settings
from mfserver.outbound import QueuedRecipient, open_queue
from mfserver.outbound.queue import RecipientUpdate
from mfserver.runtime import open_runtime
from tests.harness import cli, write_config


@pytest.fixture
def queued(tmp_path):
    config = write_config(tmp_path / "data")
    runtime = open_runtime(load_settings(config, environ={}))
    queue = open_queue(runtime.settings, runtime.database)
    queue_id = queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net"),
                                                   QueuedRecipient("carol@example.com")],
                             b"Subject: hi\r\n\r\nhello\r\n")
    [claim] = queue.claim(1)
    queue.record(claim, [RecipientUpdate(claim.message.recipients[0].id, "queued",
                                         int(queue.now()) + 3600, "450 4.2.0 mailbox busy")])
    yield config, queue, queue_id
    runtime.close()


def test_list_retry_delete(queued):
    config, queue, queue_id = queued
    listed = cli("queue", "list", config=config, check=True).stdout
    assert queue_id in listed and "<alice@example.org>" in listed
    assert "<bob@example.net>  queued, attempts 1, next in 59m" in listed
    assert "last: 450 4.2.0 mailbox busy" in listed
    assert "<carol@example.com>  queued, attempts 0, due now" in listed
    assert cli("queue", "retry", queue_id, config=config, check=True).stdout == \
        "2 recipient(s) due now\n"
    assert queue.get(queue_id).recipients[0].next_attempt <= queue.now()
    assert cli("queue", "retry", "--all", config=config, check=True).returncode == 0
    assert cli("queue", "delete", queue_id, config=config, check=True).stdout == \
        f"deleted {queue_id}\n"
    assert queue.list() == []
    assert not (config.parent / "queue" / queue_id).exists()
    assert cli("queue", "list", config=config, check=True).stdout == "queue is empty\n"


@pytest.mark.parametrize("action", ["retry", "delete"])
def test_unknown_ids_are_one_line_errors(queued, action):
    config, queue, queue_id = queued
    result = cli("queue", action, "NOSUCHID", config=config)
    assert result.returncode == 1
    assert result.stderr == "mfserver: no queued message NOSUCHID\n"
    assert queue.get(queue_id).recipients  # nothing else changed


def test_retry_needs_an_id_or_all(queued):
    config, _, _ = queued
    assert cli("queue", "retry", config=config).returncode == 2
