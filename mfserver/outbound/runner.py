"""The Twisted service that delivers the outbound queue: claims, routes, connects, records.

Implementation notes:
- A "pass" claims due messages (as many as there are free connection slots), starts their
  deliveries, and sets a timer for the next due time (at most `POLL_INTERVAL` away, so work
  queued by other nodes or `mfserver queue retry` is seen). `kick()` starts a pass at once.
- A claimed message's due recipients are grouped by destination domain (or all go to the
  smarthost); each group holds one slot of the total and one of its domain's connection limits
  while it tries the hosts in order: every address of each MX, the next one on a connection
  failure, a bad greeting, EHLO/TLS/AUTH trouble (`NextHost`). An opportunistic STARTTLS that
  fails its handshake is tried once more on the same address without TLS.
- When all groups are done: the retry plan (schedule.plan), then the notifications go out
  (a local sender's straight into the mailbox through `deliver_local`, a remote sender's queued
  with the null sender), and only then are the results recorded. A crash in between sends a
  notification twice; it never loses one.
- Leases are renewed every third of their length while a delivery runs; a stopping service
  aborts its connections, records nothing more, and releases its claims for the next start.
- Everything blocking (DNS, database, spool, MTA-STS fetches, `deliver_local`) goes through
  `run_blocking`; only the SMTP connections live on the reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from mfserver.config import ConfigError, Settings
from mfserver.outbound import route, schedule, tlsclient
from mfserver.outbound.client import SMTPClientConnection
from mfserver.outbound.dsn import build_dsn
from mfserver.outbound.mtasts import ENFORCE, TESTING, Fetcher, MtaSts, fetch_https
from mfserver.outbound.outcome import Outcome
from mfserver.outbound.queue import Claim, OutboundQueue, QueuedRecipient, UnknownMessage
from mfserver.outbound.route import Host, RouteFailure
from mfserver.outbound.transaction import (
    IMPLICIT,
    OPPORTUNISTIC,
    PLAIN_ONLY,
    REQUIRED,
    Envelope,
    NextHost,
    Peer,
    converse,
)
from mfserver.resolver import Resolver

log = Logger(namespace="mfserver.outbound")

POLL_INTERVAL = 60
RunBlocking = Callable[..., defer.Deferred[Any]]
DeliverLocal = Callable[[str, bytes], bool]


@dataclass(frozen=True)
class Targets:
    """Where one group of recipients goes, and on what TLS terms."""

    hosts: list[Host]
    port: int
    tls: str
    creator: tlsclient.Creator
    credentials: tuple[str, str] | None = None


def read_password(path: str) -> str:
    try:
        return Path(path).read_text().strip("\r\n")
    except OSError as exc:
        raise ConfigError(f"[outbound] smarthost_password_file: {exc.strerror}: {path}") \
            from None


class QueueRunner(service.Service):
    """Delivers the outbound queue. `kick()` after an enqueue starts delivery at once."""

    name = "outbound"

    def __init__(self, queue: OutboundQueue, resolver: Resolver, run_blocking: RunBlocking,
                 deliver_local: DeliverLocal, settings: Settings, *, clock: Any = None,
                 reactor: Any = None, fetch_policy: Fetcher | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.clock = clock or reactor
        self.queue = queue
        self.resolver = resolver
        self.run_blocking = run_blocking
        self.deliver_local = deliver_local
        self.hostname = settings.server.hostname
        options = settings.outbound
        self.policy = schedule.RetryPolicy(options.lifetime, options.retry_base,
                                           options.retry_cap, options.delay_warning)
        self.port = options.remote_port
        self.connect_timeout = options.connect_timeout
        self.command_timeout = options.command_timeout
        self.max_connections = options.max_connections
        self.max_per_domain = options.max_connections_per_domain
        self.smarthost = options.smarthost or None
        self.smarthost_tls = options.smarthost_tls
        self.credentials = None
        if options.smarthost_username:
            self.credentials = (options.smarthost_username,
                                read_password(options.smarthost_password_file))
        self.opportunistic = tlsclient.opportunistic()
        self.verified = tlsclient.verified(tlsclient.trust_root(options.ca_file or None))
        self.mta_sts = None
        if options.mta_sts and not self.smarthost:
            fetch = fetch_policy or partial(fetch_https, cafile=options.ca_file or None)
            self.mta_sts = MtaSts(queue.database, resolver, fetch, now=self.clock.seconds)
        self._slots = defer.DeferredSemaphore(self.max_connections)
        self._domain_slots: dict[str, defer.DeferredSemaphore] = {}
        self._active: dict[str, Claim] = {}
        self._connections: set[SMTPClientConnection] = set()
        self._timer: Any = None
        self._passing = False
        self._again = False
        self._idle: list[defer.Deferred[None]] = []
        self._renewal = LoopingCall(self._renew)
        self._renewal.clock = self.clock

    # -- the service ---------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._renewal.start(max(self.queue.lease // 3, 1), now=False)
        self.run_blocking(self.queue.sweep).addErrback(
            lambda failure: log.failure("spool sweep failed", failure))
        self.kick()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self._renewal.running:
            self._renewal.stop()
        for connection in list(self._connections):
            connection.abort()
        claims = list(self._active.values())
        if not claims:
            return defer.succeed(None)
        released = self.run_blocking(self.queue.release, claims)
        released.addErrback(lambda failure: log.failure("releasing claims failed", failure))
        return released

    def kick(self) -> None:
        """Look for due work now (call it after an enqueue)."""
        if not self.running:
            return
        if self._passing:
            self._again = True
            return
        self._start_pass()

    def wait_idle(self) -> defer.Deferred[None]:
        """Fires when no pass and no delivery is running (tests and shutdown use it)."""
        if not self._passing and not self._active:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._idle.append(waiter)
        return waiter

    def _check_idle(self) -> None:
        if self._passing or self._active:
            return
        waiters, self._idle = self._idle, []
        for waiter in waiters:
            waiter.callback(None)

    # -- passes --------------------------------------------------------------------------

    def _start_pass(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._passing = True
        done = defer.Deferred.fromCoroutine(self._pass())
        done.addErrback(lambda failure: log.failure("queue pass failed", failure))
        done.addBoth(self._pass_done)

    async def _pass(self) -> int | None:
        free = self.max_connections - len(self._active)
        if free > 0:
            for claim in await self.run_blocking(self.queue.claim, free):
                self._start_delivery(claim)
        return await self.run_blocking(self.queue.next_due)

    def _pass_done(self, due: int | None) -> None:
        self._passing = False
        if self.running:
            if self._again:
                self._again = False
                self._start_pass()
                return
            delay = POLL_INTERVAL
            if due is not None:
                delay = min(max(due - self.clock.seconds(), 1), POLL_INTERVAL)
            self._timer = self.clock.callLater(delay, self.kick)
        self._check_idle()

    def _renew(self) -> defer.Deferred[Any] | None:
        if not self._active:
            return None
        renewed = self.run_blocking(self.queue.renew, list(self._active.values()))
        return renewed.addErrback(lambda failure: log.failure("lease renewal failed", failure))

    # -- one message -----------------------------------------------------------------------

    def _start_delivery(self, claim: Claim) -> None:
        self._active[claim.message.id] = claim
        done = defer.Deferred.fromCoroutine(self._deliver(claim))
        done.addErrback(lambda failure: log.failure(
            "delivery of {id} failed; it is retried when its claim expires", failure,
            id=claim.message.id))
        done.addBoth(lambda _: self._delivery_done(claim))

    def _delivery_done(self, claim: Claim) -> None:
        self._active.pop(claim.message.id, None)
        self.kick()
        self._check_idle()

    async def _deliver(self, claim: Claim) -> None:
        message = claim.message
        try:
            original = await self.run_blocking(self.queue.read, message.id)
        except UnknownMessage:
            log.warn("{id}: spool file gone (deleted meanwhile?)", id=message.id)
            return
        groups: dict[str, list] = {}
        for recipient in message.recipients:
            key = "" if self.smarthost else recipient.domain
            groups.setdefault(key, []).append(recipient)
        results = await defer.gatherResults(
            [defer.Deferred.fromCoroutine(self._deliver_group(key, recipients, claim, original))
             for key, recipients in groups.items()], consumeErrors=True)
        if not self.running:
            return  # stopping: the claim is released, the next start tries again
        outcomes: dict[int, Outcome] = {}
        for result in results:
            outcomes.update(result)
        now = int(self.clock.seconds())
        plan = schedule.plan(message, outcomes, now, self.policy)
        for reports in plan.reports:
            notice = build_dsn(self.hostname, message, reports, original, now,
                               plan.retry_until)
            await self.run_blocking(self._return_to_sender, message.sender, notice,
                                    message.smtputf8)
        await self.run_blocking(self.queue.record, claim, plan.updates)
        for recipient in message.recipients:
            outcome = outcomes.get(recipient.id)
            if outcome is not None:
                log.info("{id} to {rcpt}: {kind} ({text})", id=message.id,
                         rcpt=recipient.address, kind=outcome.kind, text=outcome.text)

    def _return_to_sender(self, sender: str, notice: bytes, smtputf8: bool) -> None:
        """Blocking: the notification into a local mailbox, else into the queue."""
        if self.deliver_local(sender, notice):
            return
        self.queue.enqueue("", [QueuedRecipient(sender, frozenset({"NEVER"}))], notice,
                           smtputf8=smtputf8)
        self.reactor.callFromThread(self.kick)

    # -- one destination -------------------------------------------------------------------

    async def _deliver_group(self, domain: str, recipients: list, claim: Claim,
                             original: bytes) -> dict[int, Outcome]:
        message = claim.message
        envelope = Envelope(message.sender, tuple(recipients), message.envid, message.ret,
                            message.smtputf8, message.eightbit, message.size)
        slot = self._domain_slots.setdefault(
            domain, defer.DeferredSemaphore(self.max_per_domain))
        await slot.acquire()
        await self._slots.acquire()
        try:
            return await self._try_hosts(domain, envelope, original)
        except Exception:  # noqa: BLE001 - a bug must not stop the other groups
            log.failure("delivery of {id} to {domain} failed", id=message.id, domain=domain)
            return {recipient.id: Outcome.temporary("4.3.0", "internal error (see the log)")
                    for recipient in recipients}
        finally:
            self._slots.release()
            slot.release()
            if slot.tokens == slot.limit and not slot.waiting:
                self._domain_slots.pop(domain, None)

    async def _try_hosts(self, domain: str, envelope: Envelope,
                         original: bytes) -> dict[int, Outcome]:
        try:
            targets = await self.run_blocking(self._route, domain)
        except RouteFailure as failure:
            return {recipient.id: failure.outcome for recipient in envelope.recipients}
        last = Outcome.temporary("4.4.1", f"no host of {domain} could be reached")
        for host in targets.hosts:
            peer = Peer(host.name, self.hostname, targets.tls, targets.creator,
                        targets.credentials, self.command_timeout)
            for address in host.addresses:
                try:
                    return await self._attempt(address, targets.port, peer, envelope, original)
                except NextHost as trouble:
                    last = trouble.outcome
                    if not (trouble.tls_failed and peer.tls == OPPORTUNISTIC):
                        continue
                log.info("TLS with {host} failed; trying again without TLS", host=host.name)
                try:
                    return await self._attempt(address, targets.port,
                                               replace(peer, tls=PLAIN_ONLY), envelope,
                                               original)
                except NextHost as trouble:
                    last = trouble.outcome
        return {recipient.id: last for recipient in envelope.recipients}

    def _route(self, domain: str) -> Targets:
        """Blocking: the hosts for `domain` (or the smarthost) and the TLS terms."""
        if self.smarthost:
            host = route.smarthost(self.resolver, self.smarthost)
            tls = IMPLICIT if self.smarthost_tls == "implicit" else REQUIRED
            return Targets([host], route.smarthost_port(self.smarthost), tls, self.verified,
                           self.credentials)
        hosts = route.mx_hosts(self.resolver, domain)
        policy = None
        if self.mta_sts is not None and not domain.startswith("["):
            policy = self.mta_sts.policy(route.ascii_domain(domain))
        if policy is not None and policy.mode == ENFORCE:
            allowed = [host for host in hosts if policy.allows(host.name)]
            if not allowed:
                raise RouteFailure(Outcome.temporary(
                    "4.7.5", f"MTA-STS policy of {domain} allows none of its MX hosts "
                    f"({', '.join(host.name for host in hosts)})"))
            return Targets(allowed, self.port, REQUIRED, self.verified)
        if policy is not None and policy.mode == TESTING:
            for host in hosts:
                if not policy.allows(host.name):
                    log.warn("MTA-STS (testing) of {domain}: MX {host} not in the policy",
                             domain=domain, host=host.name)
        return Targets(hosts, self.port, OPPORTUNISTIC, self.opportunistic)

    async def _attempt(self, address: str, port: int, peer: Peer, envelope: Envelope,
                       original: bytes) -> dict[int, Outcome]:
        kind = TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint
        endpoint: Any = kind(self.reactor, address, port, timeout=self.connect_timeout)
        if peer.tls == IMPLICIT:
            endpoint = wrapClientTLS(peer.tls_creator(peer.host), endpoint)
        factory = Factory.forProtocol(
            lambda: SMTPClientConnection(self.reactor, self.command_timeout))
        try:
            connection = await endpoint.connect(factory)
        except Exception as exc:  # noqa: BLE001 - any connect failure means "next address"
            raise NextHost(Outcome.temporary(
                "4.4.1", f"connect to {peer.host}[{address}]:{port}: {exc}")) from None
        self._connections.add(connection)
        try:
            return await converse(connection, peer, envelope, original)
        finally:
            self._connections.discard(connection)
