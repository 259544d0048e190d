"""The IMAP connection's framing, ordering and modes, with a small fake session.

The fake implements the documented Session contract (imap.connection.Session); the real
session is tested on the wire elsewhere.
"""

from __future__ import annotations

import zlib

from twisted.internet import defer
from twisted.internet.testing import StringTransport

from mfserver.imap import connection as conn


class FakeSession:
    def __init__(self, connection: conn.IMAPConnection) -> None:
        self.connection = connection
        self.commands: list[bytes] = []
        self.pending: defer.Deferred[None] | None = None
        self.hold = False
        self.lost = False

    def greeting(self) -> bytes:
        return b"* OK ready\r\n"

    def literal_limit(self, command: bytes) -> int:
        return 1000 if b" APPEND " in command.upper() else 100

    def handle(self, command: bytes):
        self.commands.append(command)
        tag = command.split(b" ", 1)[0]
        if command.endswith(b"BAD"):
            self.connection.write(tag + b" BAD nope\r\n")
            self.connection.command_was_bad()
            return None
        if command.endswith(b"STARTTLS"):
            self.connection.write(tag + b" OK begin\r\n")
            self.connection.start_tls()
            return None
        if command.endswith(b"COMPRESS DEFLATE"):
            self.connection.write(tag + b" OK compressing\r\n")
            self.connection.start_compression()
            return None
        if self.hold:
            self.pending = defer.Deferred()
            self.pending.addCallback(lambda _: self.connection.write(tag + b" OK done\r\n"))
            return self.pending
        self.connection.write(tag + b" OK done\r\n")
        return None

    def oversized(self, command: bytes, size: int) -> bytes:
        return command.split(b" ", 1)[0] + b" NO [TOOBIG] too big\r\n"

    def bad_line(self, reason: str) -> bytes:
        return b"* BAD " + reason.encode() + b"\r\n"

    def timed_out(self) -> bytes:
        return b"* BYE idle\r\n"

    def connection_lost(self) -> None:
        self.lost = True


class TLSTransport(StringTransport):
    def __init__(self) -> None:
        super().__init__()
        self.tls_started = False

    def startTLS(self, context) -> None:
        self.tls_started = True


def connect():
    sessions = []

    def factory(connection):
        sessions.append(FakeSession(connection))
        return sessions[-1]

    connection = conn.IMAPConnection(factory, object(), secure=False)
    transport = TLSTransport()
    connection.makeConnection(transport)
    return connection, transport, sessions[0]


def output(transport) -> bytes:
    value = transport.value()
    transport.clear()
    return value


def test_greeting_and_pipelined_commands_run_one_at_a_time():
    connection, transport, session = connect()
    assert output(transport) == b"* OK ready\r\n"
    session.hold = True
    connection.dataReceived(b"a1 NOOP\r\na2 NOOP\r\na3 NOOP\r\n")
    assert session.commands == [b"a1 NOOP"]
    session.pending.callback(None)
    assert session.commands == [b"a1 NOOP", b"a2 NOOP"]
    session.hold = False
    session.pending.callback(None)
    assert session.commands == [b"a1 NOOP", b"a2 NOOP", b"a3 NOOP"]
    assert output(transport) == b"a1 OK done\r\na2 OK done\r\na3 OK done\r\n"


def test_synchronising_literal_gets_a_continuation_and_is_embedded():
    connection, transport, session = connect()
    output(transport)
    connection.dataReceived(b"a1 LOGIN {5}\r\n")
    assert output(transport) == b"+ Ready for literal data\r\n"
    connection.dataReceived(b"al")
    connection.dataReceived(b"ice {3}\r\n")
    assert output(transport) == b"+ Ready for literal data\r\n"
    connection.dataReceived(b"p\r\nw\r\n")
    assert session.commands == [b"a1 LOGIN {5}\r\nalice {3}\r\np\r\nw"]


def test_non_synchronising_literal_and_empty_literal():
    connection, transport, session = connect()
    output(transport)
    connection.dataReceived(b"a1 LOGIN {5+}\r\nalice {0}\r\n")
    assert output(transport) == b"+ Ready for literal data\r\n"
    connection.dataReceived(b"\r\n")
    assert session.commands == [b"a1 LOGIN {5+}\r\nalice {0}\r\n"]


def test_oversized_literals():
    connection, transport, session = connect()
    output(transport)
    connection.dataReceived(b"a1 LOGIN {101}\r\n")
    assert output(transport) == b"a1 NO [TOOBIG] too big\r\n"
    connection.dataReceived(b"a2 APPEND INBOX {500}\r\n")
    assert output(transport) == b"+ Ready for literal data\r\n"
    connection.dataReceived(b"x" * 500 + b"\r\n")
    connection.dataReceived(b"a3 LOGIN {200+}\r\n" + b"y" * 200 + b" {300+}\r\n" + b"z" * 300
                            + b"\r\na4 NOOP\r\n")
    assert output(transport) == b"a2 OK done\r\na3 NO [TOOBIG] too big\r\na4 OK done\r\n"
    assert session.commands == [b"a2 APPEND INBOX {500}\r\n" + b"x" * 500, b"a4 NOOP"]
    assert b"y" * 10 not in b"".join(session.commands)


def test_overlong_line_is_refused_and_closes():
    connection, transport, session = connect()
    output(transport)
    connection.dataReceived(b"a1 NOOP " + b"x" * (conn.MAX_LINE + 10))
    assert output(transport) == b"* BAD line too long\r\n"
    assert transport.disconnecting


def test_starttls_discards_what_was_sent_after_it():
    connection, transport, session = connect()
    output(transport)
    connection.dataReceived(b"a1 STARTTLS\r\na2 LOGIN injected command\r\n")
    assert transport.tls_started
    assert output(transport) == b"a1 OK begin\r\n"
    assert session.commands == [b"a1 STARTTLS"]
    connection.dataReceived(b"a3 NOOP\r\n")
    assert session.commands == [b"a1 STARTTLS", b"a3 NOOP"]


def test_compression_both_ways():
    connection, transport, session = connect()
    output(transport)
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    first = b"a1 COMPRESS DEFLATE\r\n"
    rest = compressor.compress(b"a2 NOOP\r\n") + compressor.flush(zlib.Z_SYNC_FLUSH)
    connection.dataReceived(first + rest)
    data = output(transport)
    assert data.startswith(b"a1 OK compressing\r\n")
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(data[len(b"a1 OK compressing\r\n"):]) == b"a2 OK done\r\n"
    assert session.commands == [b"a1 COMPRESS DEFLATE", b"a2 NOOP"]


def test_too_many_bad_commands_close_the_connection():
    connection, transport, session = connect()
    output(transport)
    connection.dataReceived(b"".join(b"a%d BAD\r\n" % n for n in range(conn.MAX_BAD + 5)))
    assert len(session.commands) == conn.MAX_BAD
    assert output(transport).endswith(b"* BYE Too many invalid commands\r\n")
    assert transport.disconnecting


def test_close_unregisters_the_producer_so_the_transport_really_closes():
    connection, transport, _ = connect()
    assert transport.producer is connection
    connection.close()
    # a TLS transport with a producer still registered would not close at all
    assert transport.producer is None and transport.disconnecting


def test_line_handler_gets_lines_while_a_command_is_busy():
    connection, transport, session = connect()
    output(transport)
    session.hold = True
    lines = []

    def handler(line):
        lines.append(line)
        if line == b"DONE":
            connection.read_lines(None)
            session.pending.callback(None)

    connection.dataReceived(b"a1 IDLE\r\n")
    connection.read_lines(handler)
    session.hold = False
    connection.dataReceived(b"DONE\r\na2 NOOP\r\n")
    assert lines == [b"DONE"]
    assert session.commands == [b"a1 IDLE", b"a2 NOOP"]


def test_timeout_says_bye_and_connection_lost_reaches_the_session():
    connection, transport, session = connect()
    connection.timeoutConnection()
    assert transport.value().endswith(b"* BYE idle\r\n")
    connection.connectionLost()
    assert session.lost
