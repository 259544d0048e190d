"""Delivery through DNS to a real SMTP sink: MX order, fallbacks, TLS, parameters, restarts."""

from __future__ import annotations

from mfserver.outbound import OutboundQueue, QueuedRecipient
from tests.outbound.conftest import MESSAGE, sqlite_database
from tests.smtpsink import SMTPSink

BOB = [QueuedRecipient("bob@example.net")]


def test_delivers_through_the_mx_to_the_sink(world, sink):
    queue_id = world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    runner = world.runner()
    world.run(runner)
    [message] = sink.messages
    assert message.mail_from == "alice@example.org"
    assert message.addresses == ["bob@example.net"]
    assert message.data == MESSAGE  # dot-stuffed on the wire, unstuffed by the sink
    assert message.ehlo == "mail.example.org"
    assert message.tls  # opportunistic STARTTLS: the sink offers it
    assert world.queue.list() == []
    assert not (world.tmp_path / "data" / "queue" / queue_id).exists()
    assert world.mailboxes == {}


def test_mx_records_are_tried_in_order_of_preference(world, sink):
    with SMTPSink(address="127.0.0.3", port=sink.port) as preferred:
        world.resolver.records[("example.net", "MX")] = ["20 mx.example.net",
                                                         "10 mx1.example.net"]
        world.resolver.add("mx1.example.net", "A", "127.0.0.3")
        world.queue.enqueue("alice@example.org", BOB, MESSAGE)
        world.run(world.runner())
        assert len(preferred.messages) == 1
        assert sink.sessions == []


def test_next_mx_on_connection_failure_and_on_4xx_greeting(world, sink):
    with SMTPSink(address="127.0.0.3", port=sink.port) as busy:
        busy.fail("connect", "421 4.3.2 too busy")
        world.resolver.records[("example.net", "MX")] = [
            "5 dead.example.net", "10 busy.example.net", "20 mx.example.net"]
        world.resolver.add("dead.example.net", "A", "127.0.0.2")  # nothing listens there
        world.resolver.add("busy.example.net", "A", "127.0.0.3")
        world.queue.enqueue("alice@example.org", BOB, MESSAGE)
        world.run(world.runner())
        assert len(busy.sessions) == 1 and busy.messages == []
        assert len(sink.messages) == 1


def test_no_mx_falls_back_to_the_address_of_the_domain(world, sink):
    world.resolver.records.pop(("example.net", "MX"))
    world.resolver.add("example.net", "A", "127.0.0.1")
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    assert len(sink.messages) == 1


def test_dns_trouble_keeps_the_message_queued(world, sink):
    world.resolver.failing.add("example.net")
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    [queued] = world.queue.list()
    assert queued.recipients[0].state == "queued"
    assert "MX lookup failed" in queued.recipients[0].last_reply
    assert sink.sessions == []


def test_mail_and_rcpt_parameters_follow_the_capabilities(world, sink):
    body = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode()
    world.queue.enqueue("alice@example.org",
                        [QueuedRecipient("bob@example.net", frozenset({"SUCCESS", "FAILURE"}),
                                         "rfc822;bob+x=y@example.net")],
                        body, envid="QQ314159", ret="HDRS")
    world.run(world.runner())
    [message] = sink.messages
    assert message.mail_params == {"SIZE": str(len(body)), "BODY": "8BITMIME", "RET": "HDRS",
                                   "ENVID": "QQ314159"}
    assert message.recipients == [("bob@example.net", {
        "NOTIFY": "FAILURE,SUCCESS", "ORCPT": "rfc822;bob+2Bx+3Dy@example.net"})]
    assert world.mailboxes == {}  # the sink took NOTIFY along: no "relayed" notice from us


def test_without_dsn_and_size_no_such_parameters(world, sink):
    sink.capabilities = ("8BITMIME",)
    world.queue.enqueue("alice@example.org", BOB, MESSAGE, envid="X1", ret="FULL")
    world.run(world.runner())
    [message] = sink.messages
    assert message.mail_params == {}
    assert message.recipients == [("bob@example.net", {})]


def test_smtputf8_message_goes_with_the_smtputf8_parameter(world, sink):
    world.queue.enqueue("j\u00f6rg@example.org", [QueuedRecipient("b\u00f6b@example.net")],
                        b"Subject: hi\r\n\r\nx\r\n", smtputf8=True)
    world.run(world.runner())
    [message] = sink.messages
    assert message.mail_from == "j\u00f6rg@example.org"
    assert "SMTPUTF8" in message.mail_params


def test_recipients_of_several_domains_are_delivered_separately(world, sink):
    world.queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net"),
                                              QueuedRecipient("carol@remote.test"),
                                              QueuedRecipient("dave@example.net")], MESSAGE)
    world.run(world.runner())
    delivered = sorted(tuple(m.addresses) for m in sink.messages)
    assert delivered == [("bob@example.net", "dave@example.net"), ("carol@remote.test",)]


def test_a_failed_tls_handshake_is_retried_in_plain_text(world, sink):
    sink.break_tls = True
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    assert len(sink.sessions) == 2
    [message] = sink.messages
    assert not message.tls
    assert "STARTTLS" not in sink.sessions[1].commands


def test_without_starttls_on_offer_mail_goes_in_plain_text(world, sink):
    sink.context = None
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    assert not sink.messages[0].tls


def test_queued_mail_survives_a_restart(world, sink):
    sink.fail("connect", "421 4.3.2 not now", times=1)
    queue_id = world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    runner = world.runner()
    world.run(runner)
    world.stop(runner)
    assert sink.messages == []
    # a new process: new database connection, new queue object, new runner, same data
    database = sqlite_database(world.tmp_path / "queue.sqlite3")
    queue = OutboundQueue(database, world.tmp_path / "data" / "queue", now=world.clock.seconds)
    assert [message.id for message in queue.list()] == [queue_id]
    again = world.runner(queue)
    world.advance(again, 300)
    assert len(sink.messages) == 1
    assert queue.list() == []
    database.dispose()


def test_stopping_mid_delivery_releases_the_claim(world, sink):
    sink.fail("dot", "451 4.3.0 later", times=1)
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    runner = world.runner()
    world.run(runner)
    world.stop(runner)
    [queued] = world.queue.list()
    assert queued.claimed_until is None
    world.advance(world.runner(), 300)
    assert len(sink.messages) == 1


def test_a_crash_mid_delivery_is_retried_when_the_lease_ends(world, sink):
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    [claim] = world.queue.claim(10)  # a process that claimed the message, then died
    runner = world.runner()
    world.run(runner)
    assert sink.sessions == []
    world.advance(runner, world.queue.lease)
    assert len(sink.messages) == 1
    assert world.queue.list() == []
    assert world.queue.record(claim, []) is False  # the dead process's late word changes nothing


def test_a_server_that_skips_354_gets_no_credit_for_the_message(world, sink):
    sink.fail("data", "250 2.0.0 sure", times=1)
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    runner = world.runner()
    world.run(runner)
    [queued] = world.queue.list()
    assert "unexpected reply to DATA" in queued.recipients[0].last_reply
    world.advance(runner, 300)
    assert len(sink.messages) == 1
