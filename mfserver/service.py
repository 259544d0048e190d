"""Building the service tree that `twistd -ny mfserver.tac` runs, from the settings.

Implementation notes:
- `make_service()` is the one place the tree is built: the thread pool for blocking work, one
  listener service per configured port, the periodic maildir rescan. Configuration errors are
  raised before any of it exists, so a bad file never opens a port.
- Blocking work (database, disk, password hashing) runs in our own thread pool through
  `Services.run_blocking`, never on the reactor thread and never in the reactor's default pool
  (which also does name resolution).
- Protocol listeners are added here: SMTP (inbound and submission) with the outbound queue's
  runner, IMAP, POP3, and HTTPS with CalDAV/CardDAV, WebDAV and share links. The DAV
  applications have thread pools of their own (see mfserver.dav.mount), started and stopped
  with the service.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from twisted.application import internet, service
from twisted.internet import reactor, threads
from twisted.logger import ILogObserver, Logger
from twisted.python.threadpool import ThreadPool

from mfserver.auth import Throttle, make_portal
from mfserver.config import ConfigError, Settings, load_settings
from mfserver.dav.mount import make_dav
from mfserver.imap.server import imap_factory
from mfserver.imap.session import IMAPServices
from mfserver.logs import make_observer
from mfserver.milter.config import make_chains
from mfserver.outbound import open_queue
from mfserver.outbound.runner import QueueRunner
from mfserver.pop3.server import pop3_factory
from mfserver.pop3.session import POP3Services
from mfserver.resolver import make_resolver
from mfserver.runtime import Runtime, open_runtime
from mfserver.smtp import hooks
from mfserver.smtp.delivery import LocalDelivery
from mfserver.smtp.ratelimit import RateLimiter
from mfserver.smtp.server import smtp_factory
from mfserver.smtp.session import SMTPServices
from mfserver.store import ChangeBus
from mfserver.tls import context_factory, ensure_certificate
from mfserver.web.site import make_redirect_site, make_site

log = Logger(namespace="mfserver")

BLOCKING_THREADS = 16


class ThreadPoolService(service.Service):
    """Starts and stops a thread pool with the application."""

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


def _listen(parent: service.MultiService, name: str, port: int, addresses: list[str],
            factory: Any, tls: Any = None) -> None:
    """One TCP (or implicit TLS) listener service per address."""
    for address in addresses:
        if tls is not None:
            child = internet.SSLServer(port, factory, tls, interface=address)
        else:
            child = internet.TCPServer(port, factory, interface=address)
        child.setName(f"{name}@{address}")
        child.setServiceParent(parent)


def make_service(settings: Settings) -> service.MultiService:
    """The whole server as one MultiService."""
    top = service.MultiService()
    pool = ThreadPool(minthreads=0, maxthreads=BLOCKING_THREADS, name="mfserver-blocking")
    ThreadPoolService(pool).setServiceParent(top)
    run_blocking = partial(threads.deferToThreadPool, reactor, pool)

    runtime = open_runtime(settings, bus=ChangeBus(dispatch=reactor.callFromThread))
    _first_start(runtime)
    files = ensure_certificate(settings.data_dir, settings.server.hostname,
                               settings.tls.certificate, settings.tls.private_key)
    if files.self_signed:
        log.warn("\n" + "*" * 78 + "\n*** Using a SELF-SIGNED certificate for {host} "
                 "({path}).\n*** Mail clients and phones will warn or refuse. Set [tls] "
                 "certificate and private_key\n*** to a real certificate (e.g. from Let's "
                 "Encrypt) before people use this server.\n" + "*" * 78,
                 host=settings.server.hostname, path=files.certificate)
    tls = context_factory(files, settings.tls.minimum_version)

    throttle = Throttle(settings.auth.failures_per_source, settings.auth.failures_per_account,
                        settings.auth.max_delay)
    portal = make_portal(runtime.authenticator, runtime.directory, throttle, run_blocking)
    top.runtime = runtime  # type: ignore[attr-defined]
    top.portal = portal  # type: ignore[attr-defined]
    top.run_blocking = run_blocking  # type: ignore[attr-defined]

    addresses = settings.listen.addresses
    resolver = make_resolver(settings)
    chains = make_chains(settings, runtime, run_blocking, resolver)
    imap = IMAPServices(portal, runtime.store, runtime.directory, runtime.bus, run_blocking,
                        settings.server.hostname,
                        allow_plaintext_login=settings.auth.allow_plaintext_login,
                        append_limit=settings.imap.append_limit, filed=chains.filed)
    if settings.listen.imap:
        _listen(top, "imap", settings.listen.imap, addresses,
                imap_factory(imap, tls, implicit_tls=False))
    if settings.listen.imaps:
        _listen(top, "imaps", settings.listen.imaps, addresses,
                imap_factory(imap, tls, implicit_tls=True), tls)
    pop3 = POP3Services(portal, runtime.store, run_blocking, settings.server.hostname,
                        allow_plaintext_login=settings.auth.allow_plaintext_login)
    if settings.listen.pop3:
        _listen(top, "pop3", settings.listen.pop3, addresses,
                pop3_factory(pop3, tls, implicit_tls=False))
    if settings.listen.pop3s:
        _listen(top, "pop3s", settings.listen.pop3s, addresses,
                pop3_factory(pop3, tls, implicit_tls=True), tls)
    local = LocalDelivery(runtime.directory, runtime.store)
    queue = open_queue(settings, runtime.database)
    runner = QueueRunner(queue, resolver, run_blocking, local.deliver, settings)
    runner.setServiceParent(top)
    kick = partial(reactor.callFromThread, runner.kick)
    smtp = SMTPServices(settings.server.hostname, portal, runtime.directory, runtime.store,
                        run_blocking, max_message_size=settings.smtp.max_message_size,
                        max_recipients=settings.smtp.max_recipients,
                        allow_plaintext_login=settings.auth.allow_plaintext_login,
                        vrfy=settings.smtp.vrfy,
                        received_client_ip=settings.privacy.received_client_ip,
                        rate_limiter=RateLimiter(settings.smtp.send_limit_per_hour),
                        check_authentication=hooks.inbound_checks(resolver,
                                                                  settings.server.hostname),
                        sign=hooks.dkim_signer(runtime),
                        enqueue=hooks.enqueuer(queue, kick),
                        return_to_sender=hooks.return_to_sender(local, queue, kick),
                        inbound_chain=chains.inbound, outbound_chain=chains.outbound)
    if settings.listen.smtp:
        _listen(top, "smtp", settings.listen.smtp, addresses,
                smtp_factory(smtp, tls, submission=False))
    if settings.listen.submission:
        _listen(top, "submission", settings.listen.submission, addresses,
                smtp_factory(smtp, tls, submission=True))
    if settings.listen.smtps:
        _listen(top, "smtps", settings.listen.smtps, addresses,
                smtp_factory(smtp, tls, submission=True, implicit_tls=True), tls)
    if settings.listen.https:
        dav = make_dav(runtime, portal, throttle, reactor)
        for dav_pool in dav.pools:
            ThreadPoolService(dav_pool).setServiceParent(top)
        _listen(top, "https", settings.listen.https, addresses,
                make_site(settings.server.hostname, dav, settings.dav.max_upload), tls)
        if settings.listen.http:
            _listen(top, "http", settings.listen.http, addresses,
                    make_redirect_site(settings.server.hostname, settings.listen.https))

    if settings.store.rescan_interval:
        rescan = internet.TimerService(settings.store.rescan_interval,
                                       lambda: run_blocking(_rescan_all, runtime)
                                       .addErrback(lambda f: log.failure("rescan failed", f)))
        rescan.setName("rescan")
        rescan.setServiceParent(top)
    return top


def _first_start(runtime: Runtime) -> None:
    """Work that makes an older or hand-edited data directory whole: keys and folders."""
    for domain in runtime.directory.list_domains():
        runtime.ensure_domain_keys(domain.name)
    for account in runtime.directory.list_accounts():
        runtime.provision(account)
    for note in runtime.notes:
        log.info("{note}", note=note)
    runtime.notes.clear()


def _rescan_all(runtime: Runtime) -> None:
    for account in runtime.directory.list_accounts():
        runtime.store.rescan(account.id)


def application(config_path: str | None = None) -> service.Application:
    """The twistd application: settings from $MFSERVER_CONFIG (or the defaults).

    A configuration error is printed as one line and the process exits with status 2 before
    any listener exists.
    """
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        print(f"mfserver: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app = service.Application("mfserver")
    app.setComponent(ILogObserver, make_observer(settings.log.level,
                                                 settings.privacy.log_client_ip))
    make_service(settings).setServiceParent(app)
    return app
