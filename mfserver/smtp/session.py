"""The SMTP session: states, the command table, replies, and the transaction.

Implementation notes:
- One session per connection, in one of two roles: `inbound` (port 25: other servers
  delivering to our accounts; no AUTH, no relaying) or `submission` (587 with STARTTLS, 465
  implicit TLS: our users sending; AUTH required before MAIL, RFC 6409 4.3).
- States: GREETED (before EHLO/HELO), READY (after it), MAIL (a sender given), RCPT (at
  least one recipient accepted). Which commands each state allows is the `COMMANDS` table,
  not if-chains; the replies for "not now" follow RFC 5321 4.1.4 and 3.3 (503, or 554 for
  DATA with no valid recipient).
- The `Transaction` is the envelope of one message; RSET, EHLO, STARTTLS and the end of a
  message replace it (RFC 5321 4.1.1.5). A refused command leaves the transaction as it was.
- Every reply goes through `answer()`, which counts errors (the connection closes with 421
  after too many) and closes after 221/421/521.
- Blocking lookups (directory, store, credentials) run in the thread pool; the connection
  reads the next pipelined command only once this one is answered (RFC 2920 3.1).
- The milter chain hears of every stage: `connect` at the greeting (commands wait for its
  verdict; a refusal there answers every later command but QUIT, RSET, NOOP and HELP with
  the milter's reply, as Postfix does), `abort` whenever the transaction is dropped (`reset`, STARTTLS, errors),
  `close` once the connection is lost, whatever state it was in.
- The client's IP address reaches only the milters (`Peer.address`), SPF, and the inbound
  Received header when the admin allows it; it is never logged unless the admin allows.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet import defer, reactor
from twisted.logger import Logger

from mfserver.accounts import Directory
from mfserver.milter import Chain, Direction, Envelope, NoChain, Peer, Recipient
from mfserver.smtp import codes
from mfserver.smtp import transaction as message_flow
from mfserver.smtp.codes import Reply
from mfserver.smtp.milters import refusal
from mfserver.smtp.parser import SyntaxProblem, parse_command
from mfserver.smtp.ratelimit import RateLimiter
from mfserver.store import Store

log = Logger()

GREETED, READY, MAIL, RCPT = "GREETED", "READY", "MAIL", "RCPT"
INBOUND, SUBMISSION = "inbound", "submission"
# what a client refused by a milter at connect may still say (as Postfix allows it)
STILL_ALLOWED = frozenset({"QUIT", "RSET", "NOOP", "HELP"})


@dataclass
class SMTPServices:
    """What every session shares."""

    hostname: str
    portal: Portal
    directory: Directory
    store: Store
    run_blocking: Callable[..., defer.Deferred[Any]]
    inbound_chain: Chain = field(default_factory=NoChain)
    outbound_chain: Chain = field(default_factory=NoChain)
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100
    allow_plaintext_login: bool = False
    vrfy: bool = False
    received_client_ip: bool = True
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    # mfserver.mailauth's checks: (message, client_ip, helo, mail_from) -> results with
    # `.header()` and `.dmarc_disposition`; None: no checks (tests of other parts, no DNS)
    check_authentication: Callable[..., Any] | None = None
    # DKIM signing of submitted mail: (message, domain) -> signed message; None: unsigned
    sign: Callable[[bytes, str], bytes] | None = None
    # the outbound queue's enqueue (blocking); None: remote recipients are refused
    enqueue: Callable[..., str] | None = None
    # DSNs back to a sender (blocking: sender, notice, smtputf8); None: none are sent
    return_to_sender: Callable[[str, bytes, bool], None] | None = None
    clock: Any = field(default=reactor)


@dataclass
class Transaction:
    """One message's envelope and what was learnt while taking it."""

    envelope: Envelope
    id: str = field(default_factory=lambda: secrets.token_hex(6).upper())
    smtputf8: bool = False
    eightbit: bool = False
    account_id: int | None = None      # the sending account (submission)
    chunks: list[bytes] = field(default_factory=list)
    chunk_octets: int = 0
    bdat_failed: Reply | None = None   # a BDAT sequence that went wrong: answered at its end

    @property
    def recipients(self) -> list[Recipient]:
        return self.envelope.recipients


Handler = Callable[["SMTPSession", str], "Reply | defer.Deferred[Reply] | None"]


@dataclass(frozen=True)
class CommandSpec:
    handler: Handler
    states: frozenset[str]
    refusal: Reply = codes.BAD_SEQUENCE  # the answer in any other state


COMMANDS: dict[str, CommandSpec] = {}
ANY_STATE = frozenset({GREETED, READY, MAIL, RCPT})


def command(name: str, states: frozenset[str] | set[str] = ANY_STATE,
            refusal: Reply = codes.BAD_SEQUENCE) -> Callable[[Handler], Handler]:
    """Register a handler in the command table."""
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = CommandSpec(handler, frozenset(states), refusal)
        return handler
    return register


class SMTPSession:
    """One client's session; the connection feeds it command lines and message text."""

    def __init__(self, connection: Any, services: SMTPServices, role: str) -> None:
        self.connection = connection
        self.services = services
        self.role = role
        self.state = GREETED
        self.esmtp = False
        self.helo: str | None = None
        self.account: Any = None          # IAccount after AUTH
        self.transaction: Transaction | None = None
        self.refused: Reply | None = None  # a milter refused the connection itself
        self.connecting: defer.Deferred[None] | None = None  # the milters' connect stage
        self.closed = False
        self.bdat_last = False             # the BDAT being read is the LAST one
        self.bdat_refusal: Reply | None = None  # the answer to the BDAT being read, if refused
        transport_peer = connection.transport.getPeer() if connection.transport else None
        self.peer = Peer(
            direction=Direction.OUTBOUND if role == SUBMISSION else Direction.INBOUND,
            address=getattr(transport_peer, "host", "") or "",
            port=getattr(transport_peer, "port", 0) or 0,
            tls=connection.secure, server_name=services.hostname)

    @property
    def chain(self) -> Chain:
        if self.role == SUBMISSION:
            return self.services.outbound_chain
        return self.services.inbound_chain

    # -- what the connection calls ----------------------------------------------------------

    def greeting(self) -> bytes:
        self.connecting = self.chain.connect(self.peer).addCallback(
            self._connect_verdict).addErrback(
            lambda failure: log.failure("milter connect stage failed", failure))
        return f"220 {self.services.hostname} ESMTP mfserver\r\n".encode()

    def _connect_verdict(self, verdict: Any) -> None:
        self.refused = refusal(verdict)
        self.connecting = None

    def _after_connect(self) -> defer.Deferred[None] | None:
        """A Deferred that fires once the connect stage has answered; None if it has."""
        if self.connecting is None or self.connecting.called:
            return None
        waiting: defer.Deferred[None] = defer.Deferred()

        def go_on(result: Any) -> Any:
            waiting.callback(None)
            return result
        self.connecting.addBoth(go_on)
        return waiting

    def line_too_long(self) -> bytes:
        return self._encode_error(codes.LINE_TOO_LONG)

    def timed_out(self) -> bytes:
        return codes.TIMEOUT.encode()

    def internal_error(self) -> bytes:
        self.reset()
        return self._encode_error(codes.LOCAL_ERROR)

    def connection_lost(self) -> None:
        """A message cut off mid-DATA is dropped: nothing of it was delivered or queued."""
        self.closed = True
        self.transaction = None
        self.chain.close(self.peer)

    def handle(self, line: bytes) -> defer.Deferred[None] | None:
        waiting = self._after_connect()
        if waiting is not None:  # the milters have not answered the connect stage yet
            return waiting.addCallback(lambda _: self.handle(line))
        try:
            cmd = parse_command(line)
        except SyntaxProblem as problem:
            self.answer(problem.reply)
            return None
        spec = COMMANDS.get(cmd.verb)
        if self.refused is not None and cmd.verb not in STILL_ALLOWED:
            self.answer(self.refused)
            return None
        if spec is None:
            self.answer(codes.UNKNOWN_COMMAND)
            return None
        if self.state not in spec.states:
            self.answer(spec.refusal)
            return None
        result = defer.maybeDeferred(spec.handler, self, cmd.argument)
        result.addErrback(self._failed, cmd.verb)
        return result.addCallback(self.answer)

    def message_ended(self, reader: Any) -> defer.Deferred[None] | None:
        if reader.bare_line_end:
            self.reset()
            self.answer(codes.BARE_LINE_END)
            return None
        if reader.too_big:
            self.reset()
            self.answer(codes.MESSAGE_TOO_BIG)
            return None
        return self._deliver(message_flow.take_message(self, reader.message))

    def chunk_ended(self, chunk: bytes | None, size: int) -> defer.Deferred[None] | None:
        result = message_flow.chunk_ended(self, chunk, size)
        if isinstance(result, defer.Deferred):
            return self._deliver(result)
        self.answer(result)
        return None

    def _deliver(self, result: defer.Deferred[Reply]) -> defer.Deferred[None]:
        result.addErrback(self._failed, "DATA")
        return result.addCallback(self._message_answer)

    def _message_answer(self, reply: Reply) -> None:
        self.reset()
        self.answer(reply)

    # -- replies ----------------------------------------------------------------------------

    def answer(self, reply: Reply | None) -> None:
        """Send `reply` (None: the handler answered itself or will later)."""
        if reply is None or self.closed:
            return
        if reply.positive or reply.close:
            self.connection.write(reply.encode())
        else:
            self.connection.write(self._encode_error(reply))
        if reply.close:
            self.close()

    def _encode_error(self, reply: Reply) -> bytes:
        if self.connection.error_counted():
            self.close()
            return reply.encode() + codes.TOO_MANY_ERRORS.encode()
        return reply.encode()

    def close(self) -> None:
        self.closed = True
        self.connection.close()

    def _failed(self, failure: Any, verb: str) -> Reply:
        log.failure("SMTP {verb} failed", failure, verb=verb)
        self.reset()
        return codes.LOCAL_ERROR

    def blocking(self, function: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> defer.Deferred[Any]:
        """Run `function` in the thread pool (directory, store and credential work)."""
        return self.services.run_blocking(function, *args, **kwargs)

    # -- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the transaction (RSET, end of a message); EHLO and AUTH stay."""
        self.transaction = None
        self.chain.abort(self.peer)
        if self.state in (MAIL, RCPT):
            self.state = READY

    def start_over(self) -> None:
        """After STARTTLS (RFC 3207 4.2): as if just connected, TLS on."""
        self.transaction = None
        self.chain.abort(self.peer)
        self.state = GREETED
        self.esmtp = False
        self.helo = None
        self.peer.helo = None
        self.peer.tls = True

    def new_transaction(self, mail_from: str, params: dict[str, str | None]) -> Transaction:
        transaction = Transaction(Envelope(mail_from, params))
        transaction.smtputf8 = "SMTPUTF8" in params
        transaction.eightbit = params.get("BODY") == "8BITMIME"
        if self.account is not None:
            transaction.account_id = self.account.account_id
        self.peer.queue_id = transaction.id
        return transaction

    @property
    def login_allowed(self) -> bool:
        return self.connection.secure or self.services.allow_plaintext_login

    def extensions(self) -> list[str]:
        """EHLO keywords (RFC 5321 4.1.1.1) for this connection as it is now."""
        words = ["PIPELINING", f"SIZE {self.services.max_message_size}", "8BITMIME",
                 "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"]
        if not self.connection.secure and self.connection.tls_context is not None:
            words.append("STARTTLS")
        if self.role == SUBMISSION and self.account is None and self.login_allowed:
            words.append("AUTH PLAIN LOGIN")
        return words
