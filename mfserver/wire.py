"""What every line-based protocol connection (POP3, SMTP) shares: life cycle and output.

Implementation notes:
- A connection moves bytes between a socket and a session and nothing else; the framing of
  input is each protocol's own (subclasses implement `dataReceived`).
- Output waits for the socket: `wait_writable()` lets a long answer pause while the client
  reads (the connection is the transport's push producer). Closing unregisters the producer
  first: TLS sends its close_notify only once no producer is registered.
- `close()` lets what was written go out, then aborts after CLOSE_GRACE if the peer does not
  let go.
- Nagle is off: an answer written after a thread round trip would otherwise wait for the
  client's delayed ACK of the one before (40 ms) when commands are pipelined.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, interfaces, protocol, reactor
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from mfserver.logs import peer

CLOSE_GRACE = 5.0


@implementer(interfaces.IPushProducer)
class Connection(protocol.Protocol, TimeoutMixin):
    """Base of one client connection; subclasses frame input and own a `session`."""

    initial_timeout: float = 10 * 60

    def __init__(self, tls_context: Any, *, secure: bool) -> None:
        self.tls_context = tls_context
        self.secure = secure
        self.session: Any = None
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
