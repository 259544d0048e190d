"""The IMAP connection: moves bytes between a socket and a session, and nothing else.

Implementation notes:
- Framing (RFC 3501 2.2, 4.3, 7.5): a command is a line plus any literals it announces with
  `{n}` (synchronising: we answer "+" before the client sends the data), `{n+}` (LITERAL+,
  RFC 7888: the data follows at once) or `~{n}` (literal8, RFC 3516). The complete command,
  literals embedded as sent, goes to the session in one piece.
- One command at a time: while the session works on a command (its Deferred has not fired),
  no further input is framed; pipelined commands wait in the buffer, so nothing runs in the
  wrong state (Twisted #9282). Only a session that asked for raw lines (AUTHENTICATE
  exchanges, IDLE's DONE) gets lines while busy.
- STARTTLS: bytes that arrived after the STARTTLS command are discarded before TLS starts, so
  nothing sent in plaintext is answered inside TLS (CVE-2011-0411-style injection).
- COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, output flushed with Z_SYNC_FLUSH.
- Bounds: a line (without literals) is at most MAX_LINE octets; a literal at most the
  session's limit for that command (APPENDLIMIT for APPEND); the input buffer is bounded by
  pausing the transport; a connection is closed after MAX_BAD bad commands in a row, and after
  the idle timeout (RFC 3501 5.4: at least 30 minutes once logged in).
- Output waits for the socket: `wait_writable()` lets a long FETCH pause while the client
  reads (the connection is the transport's push producer).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer, interfaces, protocol, reactor
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from mfserver.logs import peer

log = Logger()

MAX_LINE = 64 * 1024
MAX_BUFFER = 4 * 1024 * 1024 + MAX_LINE
MAX_BAD = 10
PRE_AUTH_TIMEOUT = 60
AUTH_TIMEOUT = 30 * 60
CLOSE_GRACE = 5.0

_LITERAL = re.compile(rb"(~)?\{(\d{1,20})(\+)?\}$")


def literal_announcement(line: bytes) -> tuple[int, bool] | None:
    """(size, non-synchronising) when `line` ends with a literal announcement."""
    match = _LITERAL.search(line)
    if match is None:
        return None
    return int(match.group(2)), match.group(3) is not None


class Session(Protocol):
    """What the connection needs from the protocol state machine (imap.session)."""

    def greeting(self) -> bytes: ...
    def literal_limit(self, command: bytes) -> int: ...
    def handle(self, command: bytes) -> defer.Deferred[None] | None: ...
    def oversized(self, command: bytes, size: int) -> bytes: ...
    def bad_line(self, reason: str) -> bytes: ...
    def timed_out(self) -> bytes: ...
    def connection_lost(self) -> None: ...


@implementer(interfaces.IPushProducer)
class IMAPConnection(protocol.Protocol, TimeoutMixin):
    """One client connection; `session_factory(connection)` makes its session."""

    def __init__(self, session_factory: Callable[[IMAPConnection], Session],
                 tls_context: Any, *, secure: bool) -> None:
        self._session_factory = session_factory
        self.tls_context = tls_context
        self.secure = secure
        self.compressed = False
        self.session: Session | None = None
        self._buffer = bytearray()
        self._parts: list[bytes] = []
        self._literal_left = 0
        self._discard_left = 0
        self._discarding_command = False
        self._busy = False
        self._line_handler: Callable[[bytes], None] | None = None
        self._bad_in_a_row = 0
        self._paused_input = False
        self._paused_output = False
        self._writable: list[defer.Deferred[None]] = []
        self._inflate: Any = None
        self._deflate: Any = None
        self.closing = False
        self._abort: Any = None
        self._clock: Any = reactor

    # -- life cycle -------------------------------------------------------------------------

    def connectionMade(self) -> None:
        # Nagle would hold a tagged reply written after a thread round trip until the client
        # ACKs the untagged lines before it, which a delayed ACK makes 40 ms late.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        self.transport.registerProducer(self, True)
        self.setTimeout(PRE_AUTH_TIMEOUT)
        self.session = self._session_factory(self)
        self.write(self.session.greeting())

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.setTimeout(None)
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None
        self.closing = True
        for waiter in self._writable:
            waiter.cancel()
        self._writable.clear()
        if self.session is not None:
            self.session.connection_lost()

    def timeoutConnection(self) -> None:
        if self.session is not None:
            self.write(self.session.timed_out())
        self.close()

    def logged_in(self) -> None:
        """The session is authenticated: the longer idle timeout applies (RFC 3501 5.4)."""
        self.setTimeout(AUTH_TIMEOUT)

    def close(self) -> None:
        """Close after what was written is sent; abort if the peer does not let go."""
        if self.closing and self._abort is not None:
            return
        self.closing = True
        # A registered producer holds the close back until it is unregistered: TLS would not
        # even send its close_notify, and the client waiting for the end of the connection
        # after LOGOUT (RFC 3501 6.1.3) would see it only as the reset CLOSE_GRACE later.
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        self._abort = self._clock.callLater(CLOSE_GRACE, self._abort_now)

    def _abort_now(self) -> None:
        self._abort = None
        if self.transport.connected:
            self.transport.abortConnection()

    @property
    def peer(self) -> str:
        """The client's address as the log may show it ("-" unless the admin allows)."""
        return peer(self.transport.getPeer())

    @property
    def client_address(self) -> str | None:
        """The client's address for throttling; never logged."""
        return getattr(self.transport.getPeer(), "host", None)

    # -- output -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.transport.write(data)

    def wait_writable(self) -> defer.Deferred[None]:
        """Fires when the client has read enough of what we sent to send more."""
        if not self._paused_output:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._writable.append(waiter)
        return waiter

    def pauseProducing(self) -> None:
        self._paused_output = True

    def resumeProducing(self) -> None:
        self._paused_output = False
        waiters, self._writable = self._writable, []
        for waiter in waiters:
            waiter.callback(None)

    def stopProducing(self) -> None:
        self.closing = True

    # -- modes the session switches ---------------------------------------------------------

    def read_lines(self, handler: Callable[[bytes], None] | None) -> None:
        """Give raw lines to `handler` (AUTHENTICATE, IDLE) until called with None."""
        self._line_handler = handler
        if handler is not None:
            self._drain()

    def start_tls(self) -> None:
        """Call right after writing the tagged OK to STARTTLS."""
        self._buffer.clear()  # plaintext sent after STARTTLS must not be answered
        self.transport.startTLS(self.tls_context)
        self.secure = True

    def start_compression(self) -> None:
        """Call right after writing the tagged OK to COMPRESS DEFLATE."""
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)
        self.compressed = True
        pending = bytes(self._buffer)
        self._buffer.clear()
        if pending:  # sent after COMPRESS, so compressed: inflated (or refused) like any input
            self.dataReceived(pending)

    # -- input ------------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                log.info("IMAP client {peer} sent broken compressed data", peer=self.peer)
                self.close()
                return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_BUFFER and not self._paused_input:
            self._paused_input = True
            self.transport.pauseProducing()
        self._drain()

    def _drain(self) -> None:
        while self._buffer and not self.closing:
            if self._discard_left:
                dropped = min(self._discard_left, len(self._buffer))
                del self._buffer[:dropped]
                self._discard_left -= dropped
                continue
            if self._literal_left:
                chunk = bytes(self._buffer[:self._literal_left])
                del self._buffer[:len(chunk)]
                self._parts.append(chunk)
                self._literal_left -= len(chunk)
                continue
            if self._busy and self._line_handler is None:
                break
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    self._too_long()
                break
            line = bytes(self._buffer[:end]).removesuffix(b"\r")
            del self._buffer[:end + 1]
            if len(line) > MAX_LINE:
                self._too_long()
                break
            if self._discarding_command:
                self._discard_rest(line)
                continue
            if self._line_handler is not None and not self._parts:
                self._line_handler(line)
                continue
            self._line(line)
        if self._paused_input and len(self._buffer) < MAX_BUFFER // 2 and not self.closing:
            self._paused_input = False
            self.transport.resumeProducing()

    def _too_long(self) -> None:
        assert self.session is not None
        self.write(self.session.bad_line("line too long"))
        self.close()

    def _line(self, line: bytes) -> None:
        assert self.session is not None
        self._parts.append(line)
        announced = literal_announcement(line)
        if announced is None:
            command, self._parts = b"".join(self._parts), []
            self._dispatch(command)
            return
        size, non_synchronising = announced
        first = self._parts[0]
        so_far = sum(len(part) for part in self._parts)
        if size > self.session.literal_limit(first) or so_far > MAX_BUFFER:
            self._parts = []
            self.write(self.session.oversized(first, size))
            self._count_bad()
            if non_synchronising:
                self._discard_left = size  # the client sends it anyway; read and drop it
                self._discarding_command = True
            return
        self._parts[-1] = line + b"\r\n"
        if not non_synchronising:
            self.write(b"+ Ready for literal data\r\n")
        self._literal_left = size
        # the line that continues the command after the literal is read by the loop

    def _discard_rest(self, line: bytes) -> None:
        """Drop the rest of a refused command: its line after a literal, and later literals."""
        announced = literal_announcement(line)
        if announced is not None and announced[1]:
            self._discard_left = announced[0]
        else:
            self._discarding_command = False

    def _dispatch(self, command: bytes) -> None:
        assert self.session is not None
        # literals were joined with CRLF after their data; the data already ends the part
        self._busy = True
        try:
            result = self.session.handle(command)
        except Exception:  # noqa: BLE001 - a bug must never reach the wire as a traceback
            log.failure("IMAP session failed on a command")
            result = None
            self.write(self.session.bad_line("internal error"))
        if isinstance(result, defer.Deferred):
            result.addErrback(self._failed)
            result.addBoth(self._finished)
        else:
            self._finished(None)

    def _failed(self, failure: Failure) -> None:
        log.failure("IMAP command failed", failure)
        if self.session is not None and not self.closing:
            self.write(self.session.bad_line("internal error"))

    def _finished(self, _: object) -> None:
        self._busy = False
        if not self.closing:
            self._drain()

    def command_was_bad(self) -> None:
        """The session answered BAD: count it, and close after too many in a row."""
        self._count_bad()

    def command_was_good(self) -> None:
        self._bad_in_a_row = 0

    def _count_bad(self) -> None:
        self._bad_in_a_row += 1
        if self._bad_in_a_row >= MAX_BAD:
            self.write(b"* BYE Too many invalid commands\r\n")
            self.close()


class IMAPFactory(protocol.Factory):
    def __init__(self, session_factory: Callable[[IMAPConnection], Session], tls_context: Any,
                 *, implicit_tls: bool) -> None:
        self._session_factory = session_factory
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls

    def buildProtocol(self, addr: Any) -> IMAPConnection:
        connection = IMAPConnection(self._session_factory, self._tls_context,
                                    secure=self._implicit_tls)
        connection.factory = self
        return connection
