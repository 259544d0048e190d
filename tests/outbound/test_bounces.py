"""Failures and what the sender hears of them: retries with backoff, expiry, RFC 3464 reports."""

from __future__ import annotations

import email
import email.policy

import pytest

from mfserver.outbound import QueuedRecipient
from tests.outbound.conftest import MESSAGE

BOB = [QueuedRecipient("bob@example.net")]


def parse_report(raw: bytes):
    """The report's parts: (whole message, human text, status blocks, returned part)."""
    report = email.message_from_bytes(raw, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    report_type = report.get_param("report-type")
    assert report_type in ("delivery-status", "global-delivery-status")  # RFC 6533 for UTF-8
    assert report["Auto-Submitted"] == "auto-replied"
    assert report["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.example.org"
    human, status, returned = report.get_payload()
    assert human.get_content_type() == "text/plain"
    assert status.get_content_type() == f"message/{report_type}"
    if report_type == "delivery-status":
        blocks = status.get_payload()
    else:  # the email package does not split message/global-delivery-status
        part = raw.split(b"--" + report.get_boundary().encode())[2]
        text = part.partition(b"\r\n\r\n")[2].decode()
        blocks = [email.message_from_string(block.strip() + "\r\n", policy=email.policy.default)
                  for block in text.split("\r\n\r\n") if block.strip()]
    return report, human.get_content(), blocks, returned


def test_4xx_is_retried_with_backoff(world, sink):
    sink.fail("rcpt", "450 4.2.0 mailbox busy", times=2)
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    runner = world.runner()
    world.run(runner)
    [queued] = world.queue.list()
    recipient = queued.recipients[0]
    assert (recipient.state, recipient.attempts) == ("queued", 1)
    assert recipient.next_attempt == world.clock.seconds() + 300
    assert recipient.last_reply == "450 4.2.0 mailbox busy"
    assert recipient.remote_mta == "mx.example.net"
    world.advance(runner, 299)
    assert len(sink.transactions) == 1
    world.advance(runner, 1)
    assert world.queue.list()[0].recipients[0].next_attempt == world.clock.seconds() + 600
    world.advance(runner, 600)
    assert len(sink.messages) == 1
    assert world.queue.list() == [] and world.mailboxes == {}


def test_expiry_returns_the_message_with_a_failed_report(world, sink):
    sink.fail("connect", "421 4.3.2 down for maintenance")
    world.queue.enqueue("alice@example.org", BOB, MESSAGE, envid="ENV1")
    runner = world.runner(lifetime="1h", retry_base="10m", retry_cap="20m")
    world.run(runner)
    for _ in range(3):  # tries at 0, 20 and 40 minutes, the last at the end of the hour
        assert world.queue.list()
        world.advance(runner, 20 * 60)
    assert world.queue.list() == []
    [bounce] = world.mailboxes["alice@example.org"]
    report, human, blocks, returned = parse_report(bounce)
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    assert "gave up after 60 minutes" in human and "421 4.3.2 down for maintenance" in human
    assert blocks[0]["Original-Envelope-Id"] == "ENV1"
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"] == "4.4.7"
    assert returned.get_content_type() == "text/rfc822-headers"
    assert len(sink.sessions) == 4


def test_5xx_bounces_at_once_with_an_rfc3464_report(world, sink):
    sink.fail("rcpt", "550 5.1.1 no such user here", address="nobody@example.net")
    world.queue.enqueue("alice@example.org",
                        [QueuedRecipient("bob@example.net"),
                         QueuedRecipient("nobody@example.net", orcpt="rfc822;nobody@example.net")],
                        MESSAGE, ret="FULL")
    world.run(world.runner())
    assert [m.addresses for m in sink.messages] == [["bob@example.net"]]
    assert world.queue.list() == []
    [bounce] = world.mailboxes["alice@example.org"]
    report, human, blocks, returned = parse_report(bounce)
    assert report["To"] == "alice@example.org"
    assert "<nobody@example.net>: 550 5.1.1 no such user here" in human
    per_message, per_recipient = blocks
    assert per_message["Reporting-MTA"] == "dns; mail.example.org"
    assert per_message["Arrival-Date"]
    assert per_recipient["Final-Recipient"] == "rfc822; nobody@example.net"
    assert per_recipient["Original-Recipient"] == "rfc822; nobody@example.net"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx.example.net"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user here"
    assert returned.get_content_type() == "message/rfc822"  # RET=FULL
    assert returned.get_payload()[0]["Message-ID"] == "<1@example.org>"


def test_5xx_after_data_bounces_every_accepted_recipient(world, sink):
    sink.fail("dot", "554 5.7.1 message refused as spam")
    world.queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net"),
                                              QueuedRecipient("dave@example.net")], MESSAGE)
    world.run(world.runner())
    _, _, blocks, _ = parse_report(world.mailboxes["alice@example.org"][0])
    assert [block["Final-Recipient"] for block in blocks[1:]] == [
        "rfc822; bob@example.net", "rfc822; dave@example.net"]


def test_null_mx_fails_at_once(world, sink):
    world.resolver.records[("example.net", "MX")] = ["0 ."]
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    _, _, blocks, _ = parse_report(world.mailboxes["alice@example.org"][0])
    assert blocks[1]["Status"] == "5.1.10"
    assert blocks[1]["Diagnostic-Code"].startswith("X-mfserver; example.net does not accept")
    assert sink.sessions == []


def test_no_bounce_for_the_null_sender(world, sink):
    sink.fail("rcpt", "550 5.1.1 no such user")
    world.queue.enqueue("", BOB, MESSAGE)
    world.run(world.runner())
    assert world.queue.list() == []
    assert world.mailboxes == {}
    assert len(sink.transactions) == 1  # no second transaction: no report was sent anywhere


def test_no_bounce_with_notify_never(world, sink):
    sink.fail("rcpt", "550 5.1.1 no such user")
    world.queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net",
                                                              frozenset({"NEVER"}))], MESSAGE)
    world.run(world.runner())
    assert world.queue.list() == [] and world.mailboxes == {}


def test_a_remote_senders_bounce_is_queued_with_the_null_sender(world, sink):
    sink.fail("rcpt", "550 5.1.1 no such user", address="bob@example.net")
    world.queue.enqueue("carol@remote.test", BOB, MESSAGE)
    world.run(world.runner())
    [bounce] = sink.messages
    assert bounce.mail_from == "" and bounce.addresses == ["carol@remote.test"]
    assert bounce.recipients[0][1] == {"NOTIFY": "NEVER"}
    parse_report(bounce.data)
    assert world.queue.list() == []


def test_notify_success_gives_a_relayed_report_when_the_server_lacks_dsn(world, sink):
    sink.capabilities = ("PIPELINING", "8BITMIME")
    world.queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net",
                                                              frozenset({"SUCCESS"}))], MESSAGE)
    world.run(world.runner())
    assert len(sink.messages) == 1
    report, _, blocks, _ = parse_report(world.mailboxes["alice@example.org"][0])
    assert report["Subject"] == "Successful Mail Delivery Report"
    assert blocks[1]["Action"] == "relayed" and blocks[1]["Status"] == "2.0.0"


def test_notify_delay_gives_one_delayed_report(world, sink):
    sink.fail("connect", "421 4.3.2 busy")
    world.queue.enqueue("alice@example.org", [QueuedRecipient(
        "bob@example.net", frozenset({"DELAY", "FAILURE"}))], MESSAGE)
    runner = world.runner(delay_warning="30m", retry_base="10m", retry_cap="20m")
    world.run(runner)
    for _ in range(4):
        world.advance(runner, 20 * 60)
    [notice] = world.mailboxes["alice@example.org"]
    _, _, blocks, _ = parse_report(notice)
    assert blocks[1]["Action"] == "delayed"
    assert blocks[1]["Will-Retry-Until"]
    assert world.queue.list()[0].recipients[0].delay_notified


@pytest.mark.parametrize("capabilities, body, flags, status", [
    (("PIPELINING",), "Subject: x\r\n\r\nna\u00efve\r\n".encode(), {}, "5.6.3"),
    (("8BITMIME",), b"Subject: x\r\n\r\nplain\r\n", {"smtputf8": True}, "5.6.7"),
    (("SIZE 10",), b"Subject: x\r\n\r\nplain\r\n", {}, "5.3.4"),
])
def test_a_message_the_server_cannot_take_fails_without_being_sent(world, sink, capabilities,
                                                                  body, flags, status):
    sink.capabilities = capabilities
    world.queue.enqueue("alice@example.org", BOB, body, **flags)
    world.run(world.runner())
    assert sink.transactions == []  # never sent: not downgraded, not corrupted
    _, human, blocks, _ = parse_report(world.mailboxes["alice@example.org"][0])
    assert blocks[1]["Status"] == status
