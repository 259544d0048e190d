"""External milters (opendkim, rspamd, clamav-milter...) over the milter protocol, version 6.

Implementation notes:
- Stage by stage, as Postfix speaks to milters: one milter connection per SMTP session and
  external milter, opened at the chain's `connect` stage (negotiation, then SMFIC_CONNECT),
  then SMFIC_HELO at `helo`, SMFIC_MAIL at `mail_from`, SMFIC_RCPT at each `rcpt` and the
  message (DATA, headers, EOH, body, EOB) at `eom`. `abort(peer)` (the SMTP transaction
  ends: RSET, EHLO, STARTTLS, end of message) sends SMFIC_ABORT when the milter holds a
  transaction; `close(peer)` (the client is gone) sends SMFIC_QUIT and closes the socket.
  The wire work is `conversation.Conversation`.
- A session's stages run one after the other (`MilterSession.run` queues each behind the
  one before); each stage is one call into the thread pool. The chain applies its timeout
  and failure policy per stage. A stage that fails or times out leaves the milter connection
  broken: every later stage of that SMTP session fails at once (so the policy, tempfail or
  skip, holds for the rest of the session, as Postfix's milter_default_action does).
- Sessions are kept by the identity of the SMTP session's `Peer`; `close` removes the entry
  at once, whatever is in flight, so a client that goes away leaves nothing behind. A stage
  for a peer without a session (closed, or never connected because a milter before this one
  ended the connect stage) continues without asking the milter.
- A refusal at rcpt refuses that recipient at RCPT with the milter's code. The modifications
  the milter asked for at the end of the message (add/insert/change header, replace body,
  add/delete recipient, quarantine) are applied on the reactor thread, in the order received.
- SMFIR_ACCEPT ends this milter's part, not the chain (as in Postfix, later milters still
  run). SMFIR_QUARANTINE files inbound mail into Quarantine and holds submitted mail.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

from mfserver.milter import protocol as p
from mfserver.milter.api import (
    CONTINUE,
    Action,
    Direction,
    Envelope,
    FailurePolicy,
    Peer,
    Recipient,
    Verdict,
    quarantine,
)
from mfserver.milter.conversation import Conversation, Outcome, Snapshot
from mfserver.milter.message import MilterMessage

QUARANTINE_FOLDER = "Quarantine"


class MilterUnavailable(Exception):
    """An earlier stage of this session failed; the milter is not asked again."""


def parse_address(entry: str) -> tuple[int, Any]:
    """`inet:HOST:PORT` / `unix:/PATH` as (socket family, address); ValueError if bad."""
    if entry.startswith("unix:"):
        path = entry[5:]
        if not path.startswith("/"):
            raise ValueError("unix: needs an absolute path")
        return socket.AF_UNIX, path
    host, _, port = entry[5:].rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected inet:HOST:PORT")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def snapshot(message: MilterMessage) -> Snapshot:
    return Snapshot(message.peer.queue_id or "NOQUEUE",
                    [(name, raw.partition(b":")[2].removesuffix(b"\r\n"))
                     for (name, _), raw in zip(message.headers, message.fields, strict=True)],
                    message.body)


def apply(outcome: Outcome, message: MilterMessage) -> Verdict:
    """The milter's modifications made on the shared message; the verdict to go on with."""
    replaced: list[bytes] = []
    verdict = outcome.verdict
    for reply in outcome.modifications:
        code = reply.code
        if code in (p.ADDHEADER, p.INSHEADER, p.CHGHEADER):
            index = None
            data = reply.data
            if code != p.ADDHEADER:
                (index,) = struct.unpack(">I", data[:4])
                data = data[4:]
            strings = p.Reply(code, data).strings()
            name, value = (strings + ["", ""])[:2]
            if not name:
                raise p.ProtocolError("header modification without a name")
            if code == p.ADDHEADER:
                message.add_header(name, value)
            elif code == p.INSHEADER:
                message.add_header(name, value, index)
            else:
                message.change_header(name, value or None, index or 1)
        elif code == p.REPLBODY:
            replaced.append(reply.data)
        elif code in (p.ADDRCPT, p.ADDRCPT_PAR):
            message.add_recipient(reply.strings()[0].strip("<>"))
        elif code == p.DELRCPT:
            message.delete_recipient(reply.strings()[0])
        elif code == p.QUARANTINE and verdict.action is Action.CONTINUE:
            reason = reply.strings()[0] if reply.data else "quarantined by a content filter"
            verdict = quarantine(QUARANTINE_FOLDER, reason)
        elif code not in (p.SETSYMLIST, p.CHGFROM):
            raise p.ProtocolError(f"unexpected modification {code!r}")
    if replaced:
        message.replace_body(b"".join(replaced))
    return verdict


class MilterSession:
    """One SMTP session's milter connection, with its queue of stages (reactor side)."""

    def __init__(self, milter: ExternalMilter) -> None:
        self.milter = milter
        self.talk: Conversation | None = None
        self.broken: str | None = None
        self.in_transaction = False   # MAIL sent and no ABORT queued since
        self._tail: defer.Deferred[Any] = defer.succeed(None)

    def run(self, step: Callable[..., Any], *args: Any,
            even_broken: bool = False) -> defer.Deferred[Any]:
        """Queue `step(conversation, *args)` behind the stages before it; its result."""
        result: defer.Deferred[Any] = defer.Deferred(canceller=self._cancelled)

        def start(_: Any) -> defer.Deferred[Any]:
            done = self.milter.run_blocking(self._blocking, step, args, even_broken)

            def settle(outcome: Any) -> None:
                if not result.called:
                    result.callback(outcome)  # a Failure errbacks
            return done.addBoth(settle)

        self._tail.addCallback(start)
        return result

    def _cancelled(self, _: defer.Deferred[Any]) -> None:
        self.broken = self.broken or "a stage timed out"

    def _blocking(self, step: Callable[..., Any], args: tuple[Any, ...],
                  even_broken: bool) -> Any:
        if even_broken:
            return step(self, *args)
        if self.broken is not None:
            raise MilterUnavailable(f"milter {self.milter.entry}: {self.broken}")
        try:
            if self.talk is None:
                self.talk = Conversation(self.milter.family, self.milter.address,
                                         self.milter.io_timeout)
            return step(self.talk, *args)
        except Exception as exc:
            self.broken = f"{type(exc).__name__}: {exc}"
            if self.talk is not None:
                self.talk.close()
            raise

    @staticmethod
    def finish(session: MilterSession) -> None:
        """Blocking: SMFIC_QUIT and close (a broken connection is just closed)."""
        if session.talk is not None:
            if session.broken is None:
                session.talk.quit()
            else:
                session.talk.close()


class ExternalMilter:
    """A milter reached over the milter protocol; see the module notes."""

    directions = frozenset({Direction.INBOUND, Direction.OUTBOUND})
    on_failure = FailurePolicy.TEMPFAIL

    def __init__(self, entry: str, run_blocking: Any, timeout: float = 30.0) -> None:
        self.entry = entry
        self.family, self.address = parse_address(entry)
        self.run_blocking = run_blocking
        self.io_timeout = timeout
        self.sessions: dict[int, tuple[Peer, MilterSession]] = {}

    def _session(self, peer: Peer) -> MilterSession | None:
        found = self.sessions.get(id(peer))
        return found[1] if found is not None and found[0] is peer else None

    def connect(self, peer: Peer) -> defer.Deferred[Verdict | None]:
        session = self._session(peer)
        if session is None:
            session = MilterSession(self)
            self.sessions[id(peer)] = (peer, session)
        return session.run(Conversation.connect, peer)

    def helo(self, peer: Peer, name: str) -> defer.Deferred[Verdict | None] | None:
        session = self._session(peer)
        if session is None:
            return None
        session.in_transaction = False
        return session.run(Conversation.helo, peer, name)

    def mail_from(self, peer: Peer, envelope: Envelope) -> defer.Deferred[Verdict | None] | None:
        session = self._session(peer)
        if session is None:
            return None
        session.in_transaction = True
        return session.run(Conversation.mail, peer, envelope)

    def rcpt(self, peer: Peer, envelope: Envelope,
             recipient: Recipient) -> defer.Deferred[Verdict | None] | None:
        session = self._session(peer)
        if session is None:
            return None
        return session.run(Conversation.rcpt, peer, recipient)

    def eom(self, message: MilterMessage) -> defer.Deferred[Verdict] | Verdict:
        session = self._session(message.peer)
        if session is None:
            return CONTINUE
        done = session.run(Conversation.message, snapshot(message))
        return done.addCallback(apply, message)

    def abort(self, peer: Peer) -> defer.Deferred[None] | None:
        session = self._session(peer)
        if session is None or not session.in_transaction:
            return None
        session.in_transaction = False
        return session.run(Conversation.abort)

    def close(self, peer: Peer) -> defer.Deferred[None] | None:
        session = self._session(peer)
        if session is None:
            return None
        del self.sessions[id(peer)]
        return session.run(MilterSession.finish, even_broken=True)


def external_factory(entry: str) -> Any:
    parse_address(entry)  # refuse a bad address at start-up

    def make_milter(tools: Any) -> ExternalMilter:
        return ExternalMilter(entry, tools.run_blocking, float(tools.settings.milter.timeout))
    return make_milter
