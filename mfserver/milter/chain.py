"""The chain runner: the configured milters of one direction, run in order at each stage.

Implementation notes:
- Envelope stages (connect, helo, mail_from, rcpt) call each milter's hook in order; the first
  verdict other than CONTINUE ends the stage (ACCEPT lets the command through without asking
  the milters after it).
- At the end of the message the chain parses it once (`MilterMessage`) and hands that one
  object to every milter: `header` per field, `eoh`, `body`, `eom`, in the Sendmail order. A
  milter's first verdict other than CONTINUE ends its stages. REJECT, TEMPFAIL and DISCARD end
  the chain; ACCEPT ends it and delivers; QUARANTINE is remembered (the last one wins) and the
  chain goes on, so a later milter can still refuse the message.
- Authentication-Results is already on top of the message when the chain runs (inbound):
  milters see it, and no milter's change can alter what was checked.
- A hook that raises or outlives its timeout is logged with the milter's name and handled by
  the milter's failure policy: TEMPFAIL (fail closed, the default) or SKIP (as if CONTINUE).
- When no milter changed anything the original bytes are delivered, untouched.
- `abort(peer)` (the SMTP transaction ended without a message, or after one) and
  `close(peer)` (the client is gone) reach every milter that defines them (the external
  milters hold a connection per SMTP session); they never fail: errors are logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from mfserver.milter.api import (
    CONTINUE,
    Action,
    ChainResult,
    Direction,
    Envelope,
    FailurePolicy,
    Peer,
    Recipient,
    Verdict,
    tempfail,
)
from mfserver.milter.message import MilterMessage

log = Logger()

MESSAGE_STAGES = ("header", "eoh", "body", "eom")
FAILED = tempfail(451, "Temporary problem checking the message; try again later", "4.7.1")


@dataclass
class ChainLink:
    """One milter in a chain, with the name and policy it runs under."""

    milter: Any
    name: str
    on_failure: FailurePolicy = FailurePolicy.TEMPFAIL
    timeout: float = 30.0


class MilterChain:
    """Implements `mfserver.milter.api.Chain` over an ordered list of milters."""

    def __init__(self, links: Sequence[ChainLink], direction: Direction,
                 clock: Any = None) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.links = list(links)
        self.direction = direction
        self.clock = clock

    @property
    def names(self) -> list[str]:
        return [link.name for link in self.links]

    # -- one hook call, with timeout and failure policy -------------------------------------

    def _call(self, link: ChainLink, hook: str, *args: Any) -> defer.Deferred[Verdict]:
        function = getattr(link.milter, hook, None)
        if function is None:
            return defer.succeed(CONTINUE)
        called = defer.maybeDeferred(function, *args)
        called.addTimeout(link.timeout, self.clock)
        called.addCallback(lambda verdict: verdict if isinstance(verdict, Verdict) else CONTINUE)

        def failed(failure: Failure) -> Verdict:
            reason = ("timed out" if failure.check(defer.TimeoutError, defer.CancelledError)
                      else f"failed: {failure.type.__name__}: {failure.value}")
            log.error("milter {name} {reason} at {hook}; policy {policy}", name=link.name,
                      reason=reason, hook=hook, policy=link.on_failure.value)
            if not failure.check(defer.TimeoutError, defer.CancelledError):
                log.failure("milter {name}", failure, name=link.name)
            return CONTINUE if link.on_failure is FailurePolicy.SKIP else FAILED
        return called.addErrback(failed)

    @defer.inlineCallbacks
    def _envelope_stage(self, hook: str, *args: Any) -> Any:
        for link in self.links:
            verdict = yield self._call(link, hook, *args)
            if verdict.action is not Action.CONTINUE:
                return verdict
        return CONTINUE

    # -- the Chain protocol -----------------------------------------------------------------

    def connect(self, peer: Peer) -> defer.Deferred[Verdict]:
        return self._envelope_stage("connect", peer)

    def helo(self, peer: Peer, name: str) -> defer.Deferred[Verdict]:
        return self._envelope_stage("helo", peer, name)

    def mail_from(self, peer: Peer, envelope: Envelope) -> defer.Deferred[Verdict]:
        return self._envelope_stage("mail_from", peer, envelope)

    def rcpt(self, peer: Peer, envelope: Envelope,
             recipient: Recipient) -> defer.Deferred[Verdict]:
        return self._envelope_stage("rcpt", peer, envelope, recipient)

    def message(self, peer: Peer, envelope: Envelope,
                message: bytes) -> defer.Deferred[ChainResult]:
        return self._message(peer, envelope, message)

    def abort(self, peer: Peer) -> defer.Deferred[None]:
        return self._tell("abort", peer)

    def close(self, peer: Peer) -> defer.Deferred[None]:
        return self._tell("close", peer)

    def _tell(self, hook: str, peer: Peer) -> defer.Deferred[None]:
        calls = []
        for link in self.links:
            function = getattr(link.milter, hook, None)
            if function is None:
                continue
            called = defer.maybeDeferred(function, peer)
            called.addErrback(lambda failure, name=link.name: log.failure(
                "milter {name} failed at {hook}", failure, name=name, hook=hook))
            calls.append(called)
        return defer.gatherResults(calls).addCallback(lambda _: None)

    @defer.inlineCallbacks
    def _message(self, peer: Peer, envelope: Envelope, raw: bytes) -> Any:
        shared = MilterMessage.parse(peer, envelope, raw)
        quarantined: Verdict | None = None
        final: Verdict = CONTINUE
        for link in self.links:
            verdict = yield self._run_message_stages(link, shared)
            if verdict.action is Action.QUARANTINE:
                quarantined = verdict
                continue
            if verdict.action is not Action.CONTINUE:
                final = verdict
                break
        if final.action in (Action.CONTINUE, Action.ACCEPT) and quarantined is not None:
            final = quarantined
        if final.action in (Action.CONTINUE, Action.ACCEPT, Action.QUARANTINE) \
                and not shared.recipients:
            final = Verdict(Action.DISCARD)  # every recipient removed: nothing to deliver
        body = shared.as_bytes() if shared.changed else raw
        return ChainResult(final, body, shared.recipients, dict(shared.folders))

    @defer.inlineCallbacks
    def _run_message_stages(self, link: ChainLink, shared: MilterMessage) -> Any:
        milter = link.milter
        if getattr(milter, "header", None) is not None:
            for name, value in shared.headers:
                verdict = yield self._call(link, "header", shared, name, value)
                if verdict.action is not Action.CONTINUE:
                    return verdict
        for hook in ("eoh", "body", "eom"):
            verdict = yield self._call(link, hook, shared)
            if verdict.action is not Action.CONTINUE:
                return verdict
        return CONTINUE
