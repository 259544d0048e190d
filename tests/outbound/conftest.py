"""The outbound queue against the outside world: a real SMTP sink on loopback, DNS from a
StaticResolver, a fake clock for the retry schedule (no test waits), the reactor in a thread.

`world` holds the queue (on SQLite: the runner tests are about the wire, the queue's table
logic runs on PostgreSQL too in test_queue.py), the local mailboxes that `deliver_local`
fills (addresses @example.org are local), and builds runners with configuration overrides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trustme
from twisted.internet import reactor, threads
from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool

from mfserver.config import Settings, load_settings, render_config
from mfserver.db import Database, migrate
from mfserver.outbound import OutboundQueue, QueueRunner
from mfserver.resolver import StaticResolver
from tests.reactorthread import on_reactor
from tests.smtpsink import SMTPSink

START = 1_700_000_000
LOCAL_DOMAIN = "example.org"
MESSAGE = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n"
           b"Subject: hello\r\nMessage-ID: <1@example.org>\r\n\r\nHi Bob.\r\n.dot line\r\n")


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def sink(ca: trustme.CA) -> Iterator[SMTPSink]:
    with SMTPSink(certificate=ca.issue_cert("mx.example.net")) as server:
        yield server


@pytest.fixture(scope="session")
def pool() -> Iterator[ThreadPool]:
    threadpool = ThreadPool(minthreads=1, maxthreads=4, name="outbound-tests")
    threadpool.start()
    yield threadpool
    threadpool.stop()


def resolver_for(port_owner: str = "127.0.0.1") -> StaticResolver:
    return StaticResolver({
        ("example.net", "MX"): ["10 mx.example.net"],
        ("mx.example.net", "A"): [port_owner],
        ("remote.test", "MX"): ["10 mx.example.net"],
    })


@dataclass
class World:
    tmp_path: Path
    clock: Clock
    resolver: StaticResolver
    database: Database
    queue: OutboundQueue
    pool: ThreadPool
    ca_file: Path
    sink: SMTPSink
    mailboxes: dict[str, list[bytes]] = field(default_factory=dict)
    runners: list[QueueRunner] = field(default_factory=list)
    policy_bodies: dict[str, bytes] = field(default_factory=dict)

    def settings(self, **outbound: Any) -> Settings:
        values = {"remote_port": self.sink.port, "ca_file": str(self.ca_file)}
        values.update(outbound)
        path = self.tmp_path / "mfserver.toml"
        path.write_text(render_config({
            "server": {"hostname": "mail.example.org", "data_dir": str(self.tmp_path / "data")},
            "outbound": values}))
        return load_settings(path, environ={})

    def deliver_local(self, address: str, message: bytes) -> bool:
        if not address.lower().endswith("@" + LOCAL_DOMAIN):
            return False
        self.mailboxes.setdefault(address.lower(), []).append(message)
        return True

    def fetch_policy(self, url: str) -> bytes:
        try:
            return self.policy_bodies[url]
        except KeyError:
            raise OSError(f"HTTP 404 for {url}") from None

    def runner(self, queue: OutboundQueue | None = None, **outbound: Any) -> QueueRunner:
        """A started runner on `queue` (default: the world's) with settings `outbound`."""
        runner = QueueRunner(queue or self.queue, self.resolver,
                             partial(threads.deferToThreadPool, reactor, self.pool),
                             self.deliver_local, self.settings(**outbound), clock=self.clock,
                             fetch_policy=self.fetch_policy)
        on_reactor(runner.startService)
        on_reactor(runner.wait_idle)
        self.runners.append(runner)
        return runner

    def run(self, runner: QueueRunner) -> None:
        """Let the runner look for work now and finish everything it starts."""
        on_reactor(runner.kick)
        on_reactor(runner.wait_idle)

    def advance(self, runner: QueueRunner, seconds: float) -> None:
        on_reactor(self.clock.advance, seconds)
        on_reactor(runner.wait_idle)

    def stop(self, runner: QueueRunner) -> None:
        if runner.running:
            on_reactor(runner.stopService)
        on_reactor(runner.wait_idle)


def sqlite_database(path: Path) -> Database:
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    return database


@pytest.fixture
def world(tmp_path: Path, pool: ThreadPool, ca_file: Path, sink: SMTPSink) -> Iterator[World]:
    clock = Clock()
    clock.advance(START)
    database = sqlite_database(tmp_path / "queue.sqlite3")
    queue = OutboundQueue(database, tmp_path / "data" / "queue", now=clock.seconds)
    result = World(tmp_path, clock, resolver_for(), database, queue, pool, ca_file, sink)
    yield result
    for runner in result.runners:
        result.stop(runner)
    database.dispose()
