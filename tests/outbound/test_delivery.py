"""Delivery through DNS to a real SMTP sink: MX order, fallbacks, TLS, parameters, restarts."""

from __future__ import annotations

from mfserver.outbound import QueuedRecipient
from tests.outbound.conftest import MESSAGE


def test_delivers_through_the_mx_to_the_sink(world, sink):
    queue_id = world.queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net")],
                                   MESSAGE)
    runner = world.runner()
    world.run(runner)
    [message] = sink.messages
    assert message.mail_from == "alice@example.org"
    assert message.addresses == ["bob@example.net"]
    assert message.data == MESSAGE
    assert message.ehlo == "mail.example.org"
    assert message.tls  # opportunistic STARTTLS, the sink offers it
    assert world.queue.list() == []
    assert not (world.tmp_path / "data" / "queue" / queue_id).exists()
