"""The contract between the SMTP server and the milter chain.

Implementation notes:
- The SMTP server calls the chain at the Sendmail milter stages it reaches: `connect` when a
  client connects, `helo` at EHLO/HELO, `mail_from` at MAIL, `rcpt` at each RCPT, and
  `message` once the whole message is in (headers and body; the chain parses it once). Each
  call returns a Deferred of a `Verdict` (`message` of a `ChainResult`).
- Only `message` may change anything: the returned `ChainResult` carries the message bytes to
  deliver, the recipients left, and, per recipient, the folder to file into (quarantine).
- The `Authentication-Results` header is already at the top of the message handed to
  `message` (inbound); `Envelope.authentication` holds the parsed results for milters that
  score on them.
- `abort(peer)` tells the chain the transaction ended (RSET, EHLO, STARTTLS, after each
  message) and `close(peer)` that the client is gone; a chain that keeps something per SMTP
  session (external milters hold a milter connection) keys it by the `Peer` object, which
  lives as long as the session, and drops it at `close`. Both never fail.
- `NoChain` continues at every stage and changes nothing: what runs when no milter is
  configured.
- `Milter` is the in-process milter: every Sendmail stage hook (connect, helo, mail_from,
  rcpt, header, eoh, body, eom) is optional and may return a Verdict or a Deferred of one;
  `mfserver.milter.chain.MilterChain` drives them from the message it parsed once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet import defer


class Direction(enum.Enum):
    INBOUND = "inbound"    # from other servers (port 25) to local accounts
    OUTBOUND = "outbound"  # submitted by a local account (587/465), to anyone


class Action(enum.Enum):
    """The Sendmail milter actions."""

    ACCEPT = "accept"          # stop running milters, deliver as it stands
    CONTINUE = "continue"      # go on with the next milter
    REJECT = "reject"          # refuse with a 5xx
    TEMPFAIL = "tempfail"      # refuse with a 4xx
    DISCARD = "discard"        # answer 250 and drop the message (logged)
    QUARANTINE = "quarantine"  # deliver into `folder` (inbound) / hold (outbound)


@dataclass(frozen=True)
class Verdict:
    action: Action
    code: int | None = None
    enhanced: str | None = None
    text: str | None = None
    folder: str | None = None


CONTINUE = Verdict(Action.CONTINUE)
ACCEPT = Verdict(Action.ACCEPT)


def reject(code: int = 550, text: str = "Message rejected", enhanced: str = "5.7.1") -> Verdict:
    return Verdict(Action.REJECT, code, enhanced, text)


def tempfail(code: int = 451, text: str = "Try again later",
             enhanced: str = "4.7.1") -> Verdict:
    return Verdict(Action.TEMPFAIL, code, enhanced, text)


def discard() -> Verdict:
    return Verdict(Action.DISCARD)


def quarantine(folder: str = "Junk", text: str | None = None) -> Verdict:
    return Verdict(Action.QUARANTINE, folder=folder, text=text)


@dataclass
class Peer:
    """The connection, as the milters see it (Sendmail's connect and helo macros)."""

    direction: Direction
    address: str                    # client IP; milters that scrub it must not log it
    port: int
    helo: str | None = None
    tls: bool = False
    login: str | None = None        # the authenticated username (submission), else None
    account_id: int | None = None
    server_name: str = "localhost"  # our host name ({j})
    queue_id: str | None = None     # this transaction's id ({i}), set at MAIL


@dataclass
class Recipient:
    address: str                    # as the client gave it (RCPT TO)
    account_id: int | None = None   # the local account it resolved to (inbound), else None
    folder: str | None = None       # the folder it resolved to (e.g. via +tag), else INBOX
    params: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Envelope:
    """One mail transaction; replaced on RSET and after each message."""

    mail_from: str                  # "" for the null sender
    params: dict[str, str | None] = field(default_factory=dict)
    recipients: list[Recipient] = field(default_factory=list)
    authentication: Any = None      # mfserver.mailauth results, inbound only


@dataclass
class ChainResult:
    verdict: Verdict                # ACCEPT/CONTINUE mean "deliver"
    message: bytes                  # what to deliver (changed by milters or not)
    recipients: list[Recipient]     # who to deliver to (changed by milters or not)
    folders: dict[str, str] = field(default_factory=dict)  # recipient address -> folder


class Chain(Protocol):
    """An ordered list of milters, run as one."""

    def connect(self, peer: Peer) -> defer.Deferred[Verdict]: ...

    def helo(self, peer: Peer, name: str) -> defer.Deferred[Verdict]: ...

    def mail_from(self, peer: Peer, envelope: Envelope) -> defer.Deferred[Verdict]: ...

    def rcpt(self, peer: Peer, envelope: Envelope,
             recipient: Recipient) -> defer.Deferred[Verdict]: ...

    def message(self, peer: Peer, envelope: Envelope,
                message: bytes) -> defer.Deferred[ChainResult]: ...

    def abort(self, peer: Peer) -> defer.Deferred[None]: ...

    def close(self, peer: Peer) -> defer.Deferred[None]: ...


class FailurePolicy(enum.Enum):
    """What the chain does when a milter raises or times out."""

    TEMPFAIL = "tempfail"  # fail closed: the client tries again later (the default)
    SKIP = "skip"          # fail open: go on as if the milter had said CONTINUE


class Milter:
    """Base of in-process milters; define only the hooks you need.

    Hooks (each returns a `Verdict`, None for CONTINUE, or a Deferred of either):
    `connect(peer)`, `helo(peer, name)`, `mail_from(peer, envelope)`,
    `rcpt(peer, envelope, recipient)`, and at the end of the message, with the shared
    `mfserver.milter.message.MilterMessage`: `header(message, name, value)` per field,
    `eoh(message)`, `body(message)`, `eom(message)`. Modifications are made on the message
    object (add/change/delete header, replace body, add/delete recipient, file per recipient).
    """

    name: str = ""
    directions: frozenset[Direction] = frozenset({Direction.INBOUND, Direction.OUTBOUND})
    on_failure: FailurePolicy = FailurePolicy.TEMPFAIL
    timeout: float | None = None   # seconds; None: the chain's default


class NoChain:
    """No milter configured: every stage continues, nothing changes."""

    def connect(self, peer: Peer) -> defer.Deferred[Verdict]:
        return defer.succeed(CONTINUE)

    def helo(self, peer: Peer, name: str) -> defer.Deferred[Verdict]:
        return defer.succeed(CONTINUE)

    def mail_from(self, peer: Peer, envelope: Envelope) -> defer.Deferred[Verdict]:
        return defer.succeed(CONTINUE)

    def rcpt(self, peer: Peer, envelope: Envelope,
             recipient: Recipient) -> defer.Deferred[Verdict]:
        return defer.succeed(CONTINUE)

    def message(self, peer: Peer, envelope: Envelope,
                message: bytes) -> defer.Deferred[ChainResult]:
        return defer.succeed(ChainResult(CONTINUE, message, list(envelope.recipients)))

    def abort(self, peer: Peer) -> defer.Deferred[None]:
        return defer.succeed(None)

    def close(self, peer: Peer) -> defer.Deferred[None]:
        return defer.succeed(None)
