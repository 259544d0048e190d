"""The POP3 connection's framing, ordering, bounds and back-pressure, with a small fake session.

The fake implements the documented Session contract (pop3.connection.Session); the real
session is tested on the wire elsewhere.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from mfserver import wire
from mfserver.pop3 import connection as conn


class FakeSession:
    def __init__(self, connection: conn.POP3Connection) -> None:
        self.connection = connection
        self.lines: list[bytes] = []
        self.pending: defer.Deferred[None] | None = None
        self.hold = False
        self.lost = False

    def greeting(self) -> bytes:
        return b"+OK ready\r\n"

    def handle(self, line: bytes):
        self.lines.append(line)
        if line == b"BAD":
            self.connection.write(b"-ERR nope\r\n")
            self.connection.command_was_bad()
            return None
        if line == b"STLS":
            self.connection.write(b"+OK begin\r\n")
            self.connection.start_tls()
            return None
        if self.hold:
            self.pending = defer.Deferred()
            self.pending.addCallback(lambda _: self.connection.write(b"+OK done\r\n"))
            return self.pending
        self.connection.write(b"+OK done\r\n")
        self.connection.command_was_good()
        return None

    def bad_line(self, reason: str) -> bytes:
        return b"-ERR " + reason.encode() + b"\r\n"

    def timed_out(self) -> bytes:
        return b"-ERR idle\r\n"

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

    connection = conn.POP3Connection(factory, object(), secure=False)
    clock = Clock()
    connection.callLater = clock.callLater  # TimeoutMixin's seam
    connection._clock = clock
    transport = TLSTransport()
    connection.makeConnection(transport)
    return connection, transport, sessions[0], clock


def output(transport) -> bytes:
    value = transport.value()
    transport.clear()
    return value


def test_pipelined_commands_run_one_at_a_time_in_order():
    connection, transport, session, _ = connect()
    assert output(transport) == b"+OK ready\r\n"
    session.hold = True
    connection.dataReceived(b"LIST\r\nUIDL\nSTAT\r\n")
    assert session.lines == [b"LIST"]
    session.pending.callback(None)
    assert session.lines == [b"LIST", b"UIDL"]
    session.hold = False
    session.pending.callback(None)
    assert session.lines == [b"LIST", b"UIDL", b"STAT"]
    assert output(transport) == b"+OK done\r\n" * 3


def test_a_line_may_arrive_in_pieces():
    connection, transport, session, _ = connect()
    for piece in (b"US", b"ER al", b"ice\r", b"\n"):
        connection.dataReceived(piece)
    assert session.lines == [b"USER alice"]


def test_stls_discards_what_was_sent_after_it():
    connection, transport, session, _ = connect()
    output(transport)
    connection.dataReceived(b"STLS\r\nUSER injected\r\nPASS injected\r\n")
    assert transport.tls_started and connection.secure
    assert output(transport) == b"+OK begin\r\n"
    connection.dataReceived(b"CAPA\r\n")
    assert session.lines == [b"STLS", b"CAPA"]


def test_overlong_lines_are_refused_and_thrown_away():
    connection, transport, session, _ = connect()
    output(transport)
    connection.dataReceived(b"USER " + b"x" * conn.MAX_LINE + b"\r\nNOOP\r\n")
    assert output(transport) == b"-ERR Line too long\r\n+OK done\r\n"
    # without a line end: refused at once, the rest dropped as it comes, nothing buffered
    connection.dataReceived(b"PASS " + b"y" * (conn.MAX_LINE + 10))
    assert output(transport) == b"-ERR Line too long\r\n"
    connection.dataReceived(b"y" * 100_000)
    assert len(connection._buffer) == 0
    connection.dataReceived(b"yyy\r\nSTAT\r\n")
    assert session.lines == [b"NOOP", b"STAT"]
    assert not transport.disconnecting
    connection.dataReceived(b"A" * conn.MAX_LINE + b"\r\n")  # exactly the limit is fine
    assert session.lines[-1] == b"A" * conn.MAX_LINE


def test_too_many_bad_commands_in_a_row_close_the_connection():
    connection, transport, session, _ = connect()
    output(transport)
    connection.dataReceived(b"BAD\r\n" * (conn.MAX_BAD - 1) + b"NOOP\r\n")
    assert not transport.disconnecting  # a good command resets the count
    connection.dataReceived(b"BAD\r\n" * (conn.MAX_BAD + 5))
    assert session.lines.count(b"BAD") == 2 * conn.MAX_BAD - 1
    assert output(transport).endswith(b"-ERR Too many invalid commands; closing\r\n")
    assert transport.disconnecting


def test_overlong_lines_count_as_bad():
    connection, transport, session, _ = connect()
    connection.dataReceived((b"x" * (conn.MAX_LINE + 1) + b"\r\n") * conn.MAX_BAD)
    assert transport.disconnecting
    assert session.lines == []


def test_line_handler_gets_lines_while_a_command_is_busy_and_hears_of_long_ones():
    connection, transport, session, _ = connect()
    output(transport)
    session.hold = True
    lines = []

    def handler(line):
        lines.append(line)
        if line is None or line == b"=":
            connection.read_lines(None)
            session.pending.callback(None)

    connection.dataReceived(b"AUTH PLAIN\r\n")
    connection.read_lines(handler)
    session.hold = False
    long_response = b"A" * (conn.MAX_LINE + 10)  # longer than a command may be: fine here
    connection.dataReceived(long_response + b"\r\n=\r\nNOOP\r\n")
    assert lines == [long_response, b"="]
    assert session.lines == [b"AUTH PLAIN", b"NOOP"]
    session.hold = True
    connection.dataReceived(b"AUTH LOGIN\r\n")
    connection.read_lines(handler)
    session.hold = False
    connection.dataReceived(b"B" * (conn.MAX_SASL_LINE + 1) + b"\r\nSTAT\r\n")
    assert lines[-1] is None
    assert session.lines[-1] == b"STAT"


def test_idle_timeouts_before_and_after_login():
    connection, transport, session, clock = connect()
    clock.advance(conn.PRE_AUTH_TIMEOUT - 1)
    connection.dataReceived(b"NOOP\r\n")  # input resets the timer
    clock.advance(conn.PRE_AUTH_TIMEOUT - 1)
    assert not transport.disconnecting
    connection.logged_in()
    clock.advance(conn.AUTH_TIMEOUT - 1)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.value().endswith(b"-ERR idle\r\n")
    assert transport.disconnecting
    connection.connectionLost()
    assert session.lost


def test_rfc1939_autologout_is_at_least_ten_minutes_after_login():
    assert conn.AUTH_TIMEOUT >= 600


def test_output_back_pressure_and_a_slow_reader_is_not_idle():
    connection, transport, session, clock = connect()
    connection.logged_in()
    assert connection.wait_writable().called
    connection.pauseProducing()
    waiter = connection.wait_writable()
    assert not waiter.called
    clock.advance(conn.AUTH_TIMEOUT - 1)
    connection.resumeProducing()  # the client took what we sent: not idle
    assert waiter.called
    clock.advance(conn.AUTH_TIMEOUT - 1)
    assert not transport.disconnecting


def test_timeout_in_the_middle_of_an_answer_closes_without_a_message():
    connection, transport, session, clock = connect()
    output(transport)
    session.hold = True
    connection.dataReceived(b"RETR 1\r\n")
    connection.pauseProducing()
    waiter = connection.wait_writable()
    clock.advance(conn.PRE_AUTH_TIMEOUT)
    assert output(transport) == b""
    assert transport.disconnecting
    connection.connectionLost()
    assert waiter.called and connection.closing and session.lost


def test_close_aborts_a_peer_that_does_not_let_go():
    connection, transport, session, clock = connect()
    aborted = []
    transport.abortConnection = lambda: aborted.append(True)
    transport.connected = True
    connection.close()
    clock.advance(wire.CLOSE_GRACE)
    assert aborted == [True]


def test_an_endless_overlong_line_does_not_keep_the_connection_alive():
    connection, transport, session, clock = connect()
    connection.dataReceived(b"x" * (conn.MAX_LINE + 1))
    for _ in range(conn.PRE_AUTH_TIMEOUT):
        clock.advance(1)
        connection.dataReceived(b"x" * 1000)
    assert transport.disconnecting
