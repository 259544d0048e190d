"""The SMTP connection: moves bytes between a socket and a session, and nothing else.

Implementation notes:
- Three ways of framing input, switched by the session: command lines (CRLF; a bare LF ends
  a command line too, a bare CR inside one is a syntax error), message text after `354`
  (`data.DataReader`: dot-unstuffing, `<CRLF>.<CRLF>` only, smuggling refused), and BDAT
  chunks of an exact size (RFC 3030), which are read whole even when the session refuses
  the BDAT command, so the chunk is never taken for commands.
- One command at a time (RFC 2920 PIPELINING): while the session works on a command (its
  Deferred has not fired) no further input is framed; pipelined commands wait in the buffer
  and are answered in order. Only an AUTH exchange gets lines while busy.
- STARTTLS (RFC 3207 4.2): bytes that arrived after the STARTTLS command are discarded before
  TLS starts, so nothing sent in plaintext is answered inside TLS.
- Bounds: a command line is at most MAX_LINE octets (RFC 5321 4.5.3.1.4 asks for 512; RFC
  1870/3461 parameters make longer ones legal), an AUTH response MAX_SASL_LINE. A longer line
  is refused with 500 5.5.6 and thrown away up to its end without being buffered. The input
  buffer is bounded by pausing the transport; after MAX_BAD errors the connection gets 421.
- Timeouts (RFC 5321 4.5.3.2.7): the server waits at least 5 minutes for the next command or
  data block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer

from mfserver.smtp.data import DataReader
from mfserver.wire import Connection

MAX_LINE = 4096
MAX_SASL_LINE = 16 * 1024
MAX_BUFFER = 1024 * 1024
MAX_BAD = 20
TIMEOUT = 5 * 60

LineHandler = Callable[[bytes | None], None]


class Session(Protocol):
    """What the connection needs from the protocol state machine (smtp.session)."""

    def greeting(self) -> bytes: ...
    def handle(self, line: bytes) -> defer.Deferred[None] | None: ...
    def line_too_long(self) -> bytes: ...
    def timed_out(self) -> bytes: ...
    def internal_error(self) -> bytes: ...
    def message_ended(self, reader: DataReader) -> defer.Deferred[None] | None: ...
    def chunk_ended(self, chunk: bytes | None, size: int) -> defer.Deferred[None] | None: ...
    def connection_lost(self) -> None: ...


class SMTPConnection(Connection):
    """One client connection; `session_factory(connection)` makes its session."""

    initial_timeout = TIMEOUT
    max_buffer = MAX_BUFFER

    def __init__(self, session_factory: Callable[[SMTPConnection], Session],
                 tls_context: Any, *, secure: bool) -> None:
        super().__init__(tls_context, secure=secure)
        self._session_factory = session_factory
        self._line_handler: LineHandler | None = None
        self._reader: DataReader | None = None
        self._chunk_left = 0       # octets of a BDAT chunk still to read
        self._chunk: list[bytes] | None = None  # None: the chunk is read and dropped
        self._chunk_size = 0
        self._in_chunk = False
        self._errors = 0

    def make_session(self) -> Session:
        return self._session_factory(self)

    def timeoutConnection(self) -> None:
        if self.session is not None:
            self.write(self.session.timed_out())
        self.close()

    # -- modes the session switches ---------------------------------------------------------

    def read_lines(self, handler: LineHandler | None) -> None:
        """Give raw lines to `handler` (the AUTH exchange) until called with None; an
        overlong line reaches it as None."""
        self._line_handler = handler
        if handler is not None:
            self._drain()

    def expect_message(self, limit: int) -> None:
        """After `354`: what follows is message text up to `<CRLF>.<CRLF>`."""
        self._reader = DataReader(limit)

    def expect_chunk(self, size: int, *, keep: bool) -> None:
        """After `BDAT size`: read exactly `size` octets; `keep=False` drops them."""
        self._in_chunk = True
        self._chunk_left = self._chunk_size = size
        self._chunk = [] if keep else None

    def start_tls(self) -> None:
        """Call right after writing the 220 to STARTTLS."""
        self._buffer.clear()  # plaintext sent after STARTTLS must not be answered
        self.transport.startTLS(self.tls_context)
        self.secure = True

    def error_counted(self) -> bool:
        """One more error reply; True when that is one too many (421 sent, closing)."""
        self._errors += 1
        return self._errors >= MAX_BAD

    # -- input ------------------------------------------------------------------------------

    def _drain(self) -> None:
        while (self._buffer or self._chunk_due()) and not self.closing:
            if self._in_chunk:
                self._read_chunk()
                continue
            if self._reader is not None:
                if self._busy:
                    break
                self._read_message()
                continue
            if self._busy and self._line_handler is None:
                break
            if not self._read_line():
                break
        self._resume_input()

    def _read_line(self) -> bool:
        """Frame one line; False when more input is needed."""
        end = self._buffer.find(b"\n")
        limit = MAX_SASL_LINE if self._line_handler is not None else MAX_LINE
        if self._discarding:
            if end < 0:
                self._buffer.clear()
                return False
            del self._buffer[:end + 1]
            self._discarding = False
            return True
        if end < 0:
            if len(self._buffer) > limit:
                self._buffer.clear()
                self._discarding = True
                self._too_long()
            return False
        line = bytes(self._buffer[:end]).removesuffix(b"\r")
        del self._buffer[:end + 1]
        if len(line) > limit:
            self._too_long()
        elif self._line_handler is not None:
            self._line_handler(line)
        else:
            self._dispatch(self.session.handle, line)
        return True

    def _too_long(self) -> None:
        if self._line_handler is not None:
            self._line_handler(None)
            return
        self.write(self.session.line_too_long())

    def _read_message(self) -> None:
        assert self._reader is not None
        data = bytes(self._buffer)
        self._buffer.clear()
        rest = self._reader.feed(data)
        if rest is None:
            return
        reader, self._reader = self._reader, None
        if reader.bare_line_end:
            rest = b""  # never read what follows as commands
        self._buffer[:0] = rest
        self._dispatch(self.session.message_ended, reader)

    def _read_chunk(self) -> None:
        take = bytes(self._buffer[:self._chunk_left])
        del self._buffer[:len(take)]
        self._chunk_left -= len(take)
        if self._chunk is not None:
            self._chunk.append(take)
        if self._chunk_left:
            return
        self._in_chunk = False
        chunk = None if self._chunk is None else b"".join(self._chunk)
        self._chunk = None
        self._dispatch(self.session.chunk_ended, chunk, self._chunk_size)

    def _chunk_due(self) -> bool:
        """A chunk of size 0 (`BDAT 0 LAST`) ends without input."""
        return self._in_chunk and self._chunk_left == 0

    def internal_error_reply(self) -> bytes:
        return self.session.internal_error()
