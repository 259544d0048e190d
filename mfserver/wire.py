"""What every line-based protocol connection (POP3, SMTP) shares: life cycle and output.

Implementation notes:
- A connection moves bytes between a socket and a session and nothing else; the framing of
  input is each protocol's own (subclasses implement `dataReceived`).
- Output waits for the socket: `wait_writable()` lets a long answer pause while the client
  reads (the connection is the transport's push producer). Closing unregisters the producer
  first: TLS sends its close_notify only once no producer is registered.
- `close()` lets what was written go out, then aborts after CLOSE_GRACE if the peer does not
  let go.
- Input: bytes collect in `_buffer`; past `max_buffer` the transport is paused and resumed
  when the subclass's `_drain()` has framed it down to half. `_dispatch` hands one framed unit
  to the session and frames nothing more until the session's Deferred fires (one command at a
  time: pipelined commands wait, and run in order and in the right state); a failure there
  is logged and answered with the subclass's `internal_error_reply()`, never a traceback.
- Nagle is off: an answer written after a thread round trip would otherwise wait for the
  client's delayed ACK of the one before (40 ms) when commands are pipelined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, interfaces, protocol, reactor
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from mfserver.logs import peer

log = Logger()

CLOSE_GRACE = 5.0


@implementer(interfaces.IPushProducer)
class Connection(protocol.Protocol, TimeoutMixin):
    """Base of one client connection; subclasses frame input and own a `session`."""

    initial_timeout: float = 10 * 60
    max_buffer: int = 256 * 1024

    def __init__(self, tls_context: Any, *, secure: bool) -> None:
        self.tls_context = tls_context
        self.secure = secure
        self.session: Any = None
        self._buffer = bytearray()
        self._discarding = False  # throwing away the rest of an overlong line
        self._busy = False        # the session works on a command
        self._paused_input = False
        self._paused_output = False
        self._writable: list[defer.Deferred[None]] = []
        self._producing = False  # registered as the transport's producer
        self.closing = False
        self._abort: Any = None
        self._clock: Any = reactor

    # -- life cycle -------------------------------------------------------------------------

    def connectionMade(self) -> None:
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        self.transport.registerProducer(self, True)
        self._producing = True
        self.setTimeout(self.initial_timeout)
        self.session = self.make_session()
        self.write(self.session.greeting())

    def make_session(self) -> Any:
        raise NotImplementedError

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.setTimeout(None)
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None
        self.closing = True
        self._wake_writers()
        if self.session is not None:
            session, self.session = self.session, None
            session.connection_lost()

    def close(self) -> None:
        """Close after what was written is sent; abort if the peer does not let go."""
        if self.closing and self._abort is not None:
            return
        self.closing = True
        self._wake_writers()
        if self._producing:
            self._producing = False
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
        """The client's address for throttling and headers the admin allows; never logged."""
        return getattr(self.transport.getPeer(), "host", None)

    # -- output -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._paused_output:
            self.resetTimeout()
        self.transport.write(data)

    def wait_writable(self) -> defer.Deferred[None]:
        """Fires when the client has read enough of what we sent to send more (or when the
        connection is gone: check `closing`)."""
        if not self._paused_output or self.closing:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._writable.append(waiter)
        return waiter

    def _wake_writers(self) -> None:
        waiters, self._writable = self._writable, []
        for waiter in waiters:
            waiter.callback(None)  # the command sees `closing` and stops

    def pauseProducing(self) -> None:
        self._paused_output = True

    def resumeProducing(self) -> None:
        self._paused_output = False
        self.resetTimeout()
        self._wake_writers()

    def stopProducing(self) -> None:
        self.closing = True

    # -- input ------------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if not self._discarding:  # an endless overlong line is no sign of life
            self.resetTimeout()
        self._buffer += data
        if len(self._buffer) > self.max_buffer and not self._paused_input:
            self._paused_input = True
            self.transport.pauseProducing()
        self._drain()

    def _drain(self) -> None:
        """Frame what is buffered (the protocol's own), then `_resume_input()`."""
        raise NotImplementedError

    def _resume_input(self) -> None:
        if self._paused_input and len(self._buffer) < self.max_buffer // 2 and \
                not self.closing:
            self._paused_input = False
            self.transport.resumeProducing()

    def internal_error_reply(self) -> bytes:
        """What the client is told when the session fails on a command."""
        raise NotImplementedError

    def _dispatch(self, handler: Callable[..., Any], *args: Any) -> None:
        """Give one framed unit to the session; frame nothing more until it is done."""
        self._busy = True
        try:
            result = handler(*args)
        except Exception:  # noqa: BLE001 - a bug must never reach the wire as a traceback
            log.failure("{protocol} session failed", protocol=type(self).__name__)
            result = None
            if self.session is not None:
                self.write(self.internal_error_reply())
        if isinstance(result, defer.Deferred):
            result.addErrback(self._failed)
            result.addBoth(self._finished)
        else:
            self._finished(None)

    def _failed(self, failure: Failure) -> None:
        log.failure("{protocol} command failed", failure, protocol=type(self).__name__)
        if self.session is not None and not self.closing:
            self.write(self.internal_error_reply())

    def _finished(self, _: object) -> None:
        self._busy = False
        if not self.closing:
            self._drain()


class LineFactory(protocol.Factory):
    """Builds `connection_class(session_factory, tls_context, secure=implicit_tls)`."""

    def __init__(self, connection_class: type[Connection], session_factory: Callable[..., Any],
                 tls_context: Any, *, implicit_tls: bool) -> None:
        self._connection_class = connection_class
        self._session_factory = session_factory
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls

    def buildProtocol(self, addr: Any) -> Connection:
        connection = self._connection_class(self._session_factory, self._tls_context,
                                            secure=self._implicit_tls)
        connection.factory = self
        return connection
