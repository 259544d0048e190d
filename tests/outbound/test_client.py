"""The SMTP client connection's framing, with a string transport and a fake clock."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from mfserver.outbound.client import (
    BadReply,
    ConnectionClosed,
    ReplyTimeout,
    SMTPClientConnection,
    dot_stuff,
)
from mfserver.outbound.transaction import capabilities, xtext


def connect():
    clock = Clock()
    connection = SMTPClientConnection(clock, timeout=300)
    transport = StringTransport()
    connection.makeConnection(transport)
    return connection, transport, clock


def outcome(deferred):
    results = []
    def keep(result):
        results.append(result)
        return None if hasattr(result, "check") else result  # failures: handled here

    deferred.addBoth(keep)
    return results[0] if results else None


def test_multiline_replies_and_pipelined_commands():
    connection, transport, _ = connect()
    assert not connection.greeting.called
    connection.dataReceived(b"220 mx ESMTP\r\n")
    ehlo = connection.send("EHLO me")
    mail, rcpt = connection.send("MAIL FROM:<a@b>"), connection.send("RCPT TO:<c@d>")
    assert transport.value() == b"EHLO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
    connection.dataReceived(b"250-mx\r\n250-PIPELINING\r\n250 DSN\r\n250 ok\r\n550 5.1.1 no")
    assert not rcpt.called
    connection.dataReceived(b" user\r\n")
    reply = outcome(ehlo)
    assert reply.code == 250 and capabilities(reply) == {"PIPELINING": "", "DSN": ""}
    assert str(outcome(mail)) == "250 ok"
    reply = outcome(rcpt)
    assert (reply.code, reply.text) == (550, "5.1.1 no user")


@pytest.mark.parametrize("garbage", [b"hello\r\n", b"250-a\r\n251 b\r\n", b"9999\r\n",
                                     b"250 " + b"x" * 5000 + b"\r\n"])
def test_bad_replies_break_the_connection(garbage):
    connection, transport, _ = connect()
    connection.dataReceived(b"220 ok\r\n")
    reply = connection.send("NOOP")
    connection.dataReceived(garbage)
    assert outcome(reply).check(BadReply)
    assert transport.disconnecting


def test_a_reply_nobody_asked_for_breaks_the_connection():
    connection, transport, _ = connect()
    connection.dataReceived(b"220 ok\r\n250 surprise\r\n")
    assert transport.disconnecting


def test_a_silent_server_times_out():
    connection, transport, clock = connect()
    connection.dataReceived(b"220 ok\r\n")
    reply = connection.send("EHLO me")
    clock.advance(299)
    assert not reply.called
    clock.advance(1)
    assert outcome(reply).check(ReplyTimeout)
    assert transport.disconnecting
    assert outcome(connection.send("QUIT")).check(ConnectionClosed)


def test_connection_loss_fails_every_waiter():
    connection, _, _ = connect()
    connection.dataReceived(b"220 ok\r\n")
    first, second = connection.send("MAIL FROM:<>"), connection.send("RCPT TO:<a@b>")
    connection.connectionLost(None)
    assert outcome(first).check(ConnectionClosed) and outcome(second).check(ConnectionClosed)


def test_message_data_is_dot_stuffed():
    assert dot_stuff(b".a\r\nb\r\n.\r\n..c\r\n") == b"..a\r\nb\r\n..\r\n...c\r\n.\r\n"
    assert dot_stuff(b"no final newline") == b"no final newline\r\n.\r\n"


def test_xtext():
    assert xtext("a+b=c d\u00e9") == "a+2Bb+3Dc+20d+C3+A9"
