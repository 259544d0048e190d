"""The SMTP client connection: reply framing, pipelined commands, timeouts, STARTTLS, DATA.

Implementation notes:
- Our own protocol on `LineOnlyReceiver`, not Twisted's `ESMTPClient`: that one sends
  `MAIL FROM:<a>` without parameters (no SIZE, BODY=8BITMIME, SMTPUTF8, RET/ENVID) and has no
  RCPT parameters (NOTIFY/ORCPT), so it cannot do what RFC 3461/6152/6531 need.
- Each command sent pushes one waiter on a FIFO; each complete reply (RFC 5321 §4.2: lines
  "ddd-text" then "ddd text") fires the oldest waiter. So pipelined commands (RFC 2920) are
  just several sends before the first wait. A reply nobody waits for is a protocol error.
- Every waiter has its own timeout (RFC 5321 §4.5.3.2); on expiry the connection is aborted
  and every waiter fails with `ReplyTimeout`. A lost connection fails them with `ConnectionClosed`
  (carrying whether TLS failed, so an opportunistic sender can retry in plain text).
- STARTTLS clears the line buffer before TLS starts (RFC 3207 §4.2: nothing read before the
  handshake may be used after it).
- Message data is sent dot-stuffed (RFC 5321 §4.5.2) and ends with CRLF.CRLF.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from OpenSSL import SSL
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime, ISSLTransport
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

MAX_REPLY_LINES = 100
_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -]|$)(.*)$")


class ClientError(Exception):
    """The conversation with the remote server broke down."""


class ReplyTimeout(ClientError):
    pass


class ConnectionClosed(ClientError):
    def __init__(self, message: str, tls_failed: bool = False) -> None:
        super().__init__(message)
        self.tls_failed = tls_failed


class BadReply(ClientError):
    pass


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines).strip()

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


def dot_stuff(message: bytes) -> bytes:
    """The DATA payload: lines starting with "." doubled, ending with CRLF.CRLF."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class _Waiter:
    def __init__(self, deferred: defer.Deferred[Reply], timer: Any) -> None:
        self.deferred = deferred
        self.timer = timer


class SMTPClientConnection(LineOnlyReceiver):
    """One connection to a remote SMTP server; the conversation drives it with `send()`."""

    delimiter = b"\r\n"
    MAX_LENGTH = 4096

    def __init__(self, clock: IReactorTime, timeout: float) -> None:
        self.clock = clock
        self.timeout = timeout
        self._waiters: deque[_Waiter] = deque()
        self._lines: list[str] = []
        self._closed: ConnectionClosed | None = None
        self._tls_pending = False
        self._lost = False
        self.greeting = self._expect(timeout)

    # -- what the conversation calls -----------------------------------------------------

    @property
    def secure(self) -> bool:
        return ISSLTransport.providedBy(self.transport)

    def send(self, line: str | bytes, timeout: float | None = None) -> defer.Deferred[Reply]:
        """Send one command line; the Deferred fires with its reply."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        if self._closed is not None:
            return defer.fail(self._closed)
        waiter = self._expect(timeout or self.timeout)
        self.sendLine(data)
        return waiter

    def send_message(self, message: bytes, timeout: float) -> defer.Deferred[Reply]:
        """After a 354 reply: the message data; the Deferred fires with the final reply."""
        if self._closed is not None:
            return defer.fail(self._closed)
        waiter = self._expect(timeout)
        self.transport.write(dot_stuff(message))
        return waiter

    def start_tls(self, creator: Any) -> None:
        """Begin the TLS handshake after a 220 reply to STARTTLS."""
        self._buffer = b""  # LineOnlyReceiver's unread input: dropped, RFC 3207 §4.2
        self._lines = []
        self._tls_pending = True  # until the first reply over TLS
        self.transport.startTLS(creator)

    def close(self) -> None:
        if self.transport is not None and not self._lost:
            self.transport.loseConnection()

    def abort(self) -> None:
        if self.transport is not None and not self._lost:
            self.transport.abortConnection()

    # -- bytes in ------------------------------------------------------------------------

    def _expect(self, timeout: float) -> defer.Deferred[Reply]:
        deferred: defer.Deferred[Reply] = defer.Deferred()
        timer = self.clock.callLater(timeout, self._timed_out)
        self._waiters.append(_Waiter(deferred, timer))
        return deferred

    def lineReceived(self, line: bytes) -> None:
        match = _REPLY_LINE.match(line)
        if match is None or (self._lines and int(match.group(1)) != self._code):
            self._broken(f"bad reply line {line[:80]!r}")
            return
        self._code = int(match.group(1))
        self._lines.append(match.group(3).decode("utf-8", "replace"))
        if match.group(2) == b"-":
            if len(self._lines) > MAX_REPLY_LINES:
                self._broken("reply too long")
            return
        reply = Reply(self._code, tuple(self._lines))
        self._lines = []
        self._tls_pending = False
        if not self._waiters:
            self._broken(f"unexpected reply {reply}")
            return
        waiter = self._waiters.popleft()
        if waiter.timer.active():
            waiter.timer.cancel()
        waiter.deferred.callback(reply)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._broken("reply line too long")

    def _broken(self, reason: str) -> None:
        self._fail_all(BadReply(reason))
        self.abort()

    def _timed_out(self) -> None:
        self._fail_all(ReplyTimeout(f"no reply within {self.timeout:g}s"))
        self.abort()

    def _fail_all(self, error: ClientError) -> None:
        if self._closed is None:
            self._closed = error if isinstance(error, ConnectionClosed) else \
                ConnectionClosed(str(error))
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.timer.active():
                waiter.timer.cancel()
            waiter.deferred.errback(Failure(error))

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._lost = True
        tls_failed = reason is not None and reason.check(SSL.Error) is not None
        detail = reason.getErrorMessage() if reason is not None else "closed"
        self._fail_all(ConnectionClosed(
            ("TLS handshake failed: " if tls_failed else "connection lost: ") + detail,
            tls_failed=tls_failed or self._tls_pending))
