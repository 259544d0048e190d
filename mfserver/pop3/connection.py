"""The POP3 connection: moves bytes between a socket and a session, and nothing else.

Implementation notes:
- Framing (RFC 1939 3): a command is one line ended by CRLF (a bare LF is accepted too). The
  line, without its end, goes to the session.
- One command at a time: while the session works on a command (its Deferred has not fired),
  no further line is framed; pipelined commands (RFC 2449 6.6 PIPELINING) wait in the buffer
  and are answered in order. Only a session that asked for raw lines (the AUTH exchange of
  RFC 5034) gets lines while busy.
- STLS (RFC 2595 4): bytes that arrived after the STLS command are discarded before TLS
  starts, so nothing sent in plaintext is answered inside TLS (CVE-2011-0411-style injection).
- Bounds: a command line is at most MAX_LINE octets (RFC 2449 4 asks for 255; we take up to
  1024), a SASL response line at most MAX_SASL_LINE (RFC 5034 4 lets them be longer than a
  command). A longer line is answered with the session's refusal and thrown away up to its
  end without being buffered. The input buffer is bounded by pausing the transport; the
  connection is closed after MAX_BAD bad commands in a row.
- Idle timeout (RFC 1939 3: an autologout timer, when there is one, is at least 10 minutes):
  PRE_AUTH_TIMEOUT before login, AUTH_TIMEOUT after. Input resets it, and so does output the
  client takes from us (a slow reader of a big RETR is not idle). A timeout in the middle of
  a multi-line answer closes without a message, which would land inside the answer.
- Output waits for the socket: `wait_writable()` lets RETR pause while the client reads (the
  connection is the transport's push producer). Closing unregisters the producer first: TLS
  sends its close_notify only once no producer is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer

from mfserver.wire import Connection

MAX_LINE = 1024
MAX_SASL_LINE = 16 * 1024
MAX_BAD = 10
PRE_AUTH_TIMEOUT = 10 * 60  # RFC 1939 3: any autologout timer is at least 10 minutes
AUTH_TIMEOUT = 10 * 60

LineHandler = Callable[[bytes | None], None]


class Session(Protocol):
    """What the connection needs from the protocol state machine (pop3.session)."""

    def greeting(self) -> bytes: ...
    def handle(self, line: bytes) -> defer.Deferred[None] | None: ...
    def bad_line(self, reason: str) -> bytes: ...
    def timed_out(self) -> bytes: ...
    def connection_lost(self) -> None: ...


class POP3Connection(Connection):
    """One client connection; `session_factory(connection)` makes its session."""

    initial_timeout = PRE_AUTH_TIMEOUT

    def __init__(self, session_factory: Callable[[POP3Connection], Session],
                 tls_context: Any, *, secure: bool) -> None:
        super().__init__(tls_context, secure=secure)
        self._session_factory = session_factory
        self._line_handler: LineHandler | None = None
        self._bad_in_a_row = 0

    def make_session(self) -> Session:
        return self._session_factory(self)

    def timeoutConnection(self) -> None:
        if self.session is not None and not self._busy:
            self.write(self.session.timed_out())
        self.close()

    def logged_in(self) -> None:
        """The session entered the TRANSACTION state: the longer idle timeout applies."""
        self.setTimeout(AUTH_TIMEOUT)

    # -- modes the session switches ---------------------------------------------------------

    def read_lines(self, handler: LineHandler | None) -> None:
        """Give raw lines to `handler` (the AUTH exchange) until called with None; an
        overlong line reaches it as None."""
        self._line_handler = handler
        if handler is not None:
            self._drain()

    def start_tls(self) -> None:
        """Call right after writing the +OK to STLS."""
        self._buffer.clear()  # plaintext sent after STLS must not be answered
        self.transport.startTLS(self.tls_context)
        self.secure = True

    # -- input ------------------------------------------------------------------------------

    def _limit(self) -> int:
        return MAX_SASL_LINE if self._line_handler is not None else MAX_LINE

    def _drain(self) -> None:
        while self._buffer and not self.closing:
            end = self._buffer.find(b"\n")
            if self._discarding:
                if end < 0:
                    self._buffer.clear()
                    break
                del self._buffer[:end + 1]
                self._discarding = False
                continue
            if self._busy and self._line_handler is None:
                break
            if end < 0:
                if len(self._buffer) > self._limit():
                    self._buffer.clear()
                    self._discarding = True
                    self._too_long()
                break
            line = bytes(self._buffer[:end]).removesuffix(b"\r")
            del self._buffer[:end + 1]
            if len(line) > self._limit():
                self._too_long()
            elif self._line_handler is not None:
                self._line_handler(line)
            else:
                self._dispatch(self.session.handle, line)
        self._resume_input()

    def _too_long(self) -> None:
        """Refuse an overlong line; an AUTH exchange is told with None and ends itself."""
        assert self.session is not None
        if self._line_handler is not None:
            self._line_handler(None)
            return
        self.write(self.session.bad_line("Line too long"))
        self._count_bad()

    def internal_error_reply(self) -> bytes:
        return self.session.bad_line("Internal server error")

    def command_was_bad(self) -> None:
        """The session refused a command as invalid: count it, close after too many."""
        self._count_bad()

    def command_was_good(self) -> None:
        self._bad_in_a_row = 0

    def _count_bad(self) -> None:
        self._bad_in_a_row += 1
        if self._bad_in_a_row >= MAX_BAD and not self.closing:
            self.write(b"-ERR Too many invalid commands; closing\r\n")
            self.close()
