"""A real server for the POP3 wire tests: `twistd -ny mfserver.tac` on a temporary data
directory, with a trustme certificate, and clients that talk POP3 over TLS or STLS. One
server serves the whole package (starting one costs seconds).

Each test that changes a maildrop takes an account of its own (`account`), so the tests do
not depend on one another's deliveries and deletions.
"""

from __future__ import annotations

import imaplib
import poplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mfserver.config import load_settings
from mfserver.runtime import open_runtime
from tests.certs import server_certificate
from tests.harness import Server, cli, free_port, write_config
from tests.lineclient import LineClient

PASSWORD = "pop3 test password"
HOST = "mail.example.test"
ACCOUNTS = 24


@dataclass
class POP3Server:
    config: Path
    pop3: int
    pop3s: int
    imaps: int
    context: ssl.SSLContext
    ca_file: Path
    server: Server
    free: Iterator[str]

    def connect(self, login: str | None = "alice", password: str = PASSWORD) -> poplib.POP3_SSL:
        """A poplib client on the implicit-TLS port, logged in with USER/PASS unless `login`
        is None."""
        client = poplib.POP3_SSL("127.0.0.1", self.pop3s, context=self.context, timeout=30)
        if login is not None:
            client.user(login)
            client.pass_(password)
        return client

    def plain(self) -> poplib.POP3:
        """A client on the STLS port, before STLS."""
        return poplib.POP3("127.0.0.1", self.pop3, timeout=30)

    def cli(self, *args: str, stdin: str | bytes | None = None) -> str:
        return cli(*args, config=self.config, stdin=stdin, check=True).stdout

    def deliver(self, user: str, *messages: bytes) -> None:
        """Put messages into the user's INBOX with IMAP APPEND (the same store, at once)."""
        client = self.imap(user)
        for message in messages:
            assert client.append("INBOX", None, None, message)[0] == "OK"
        client.logout()

    def imap(self, user: str) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=self.context,
                                   timeout=30)
        client.login(user, PASSWORD)
        return client

    def account(self) -> str:
        """A user nobody else in this module uses."""
        return next(self.free)


@pytest.fixture(scope="package")
def pop3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[POP3Server]:
    base = tmp_path_factory.mktemp("pop3")
    authority, tls = server_certificate(base, HOST)
    ports = {"pop3": free_port(), "pop3s": free_port(), "imaps": free_port()}
    config = write_config(base / "data", ports=ports,
                          server={"hostname": HOST},
                          tls=tls)
    users = ["alice", "bob"] + [f"user{n}" for n in range(ACCOUNTS)]
    add_accounts(config, users)
    context = ssl.create_default_context()
    authority.configure_trust(context)
    context.check_hostname = False
    server = Server(config).start(wait_for=ports["pop3s"])
    try:
        yield POP3Server(config, ports["pop3"], ports["pop3s"], ports["imaps"], context,
                         base / "ca.pem", server, iter(users[2:]))
    finally:
        server.stop()


def add_accounts(config: Path, users: list[str]) -> None:
    """Accounts user@example.org with PASSWORD, made in this process before the server starts
    (what `mfserver domain add` and `user add` do, without a process each)."""
    runtime = open_runtime(load_settings(config, environ={}))
    try:
        runtime.directory.add_domain("example.org")
        runtime.ensure_domain_keys("example.org")
        for user in users:
            info = runtime.directory.add_account(user, PASSWORD,
                                                 address=f"{user}@example.org")
            runtime.store.provision(info.id)
    finally:
        runtime.close()


def message(number: int, body: bytes = b"") -> bytes:
    """A small message whose Subject names it."""
    return (b"From: sender@example.net\r\nTo: someone@example.org\r\n"
            b"Subject: message %d\r\nMessage-ID: <m%d@example.net>\r\n\r\n" % (number, number)
            + (body or b"Body of message %d.\r\n" % number))


class RawPOP3(LineClient):
    """A line-level POP3 client: send a command, read the status line and, for multi-line
    answers, every line up to the ".". Transcript tests read exactly what a client sees."""

    def __init__(self, server: POP3Server, implicit_tls: bool = True) -> None:
        super().__init__(server.pop3s if implicit_tls else server.pop3,
                         server.context if implicit_tls else None, HOST)
        self.server = server
        self.greeting = self.line()

    def stls(self) -> bytes:
        answer = self.command(b"STLS")
        self.wrap(self.server.context, HOST)
        return answer

    def command(self, text: bytes) -> bytes:
        """Send one command; its status line."""
        self.send(text + b"\r\n")
        return self.line()

    def multi(self, text: bytes) -> list[bytes]:
        """Send one command with a multi-line answer; the status line, then the lines as
        sent (still byte-stuffed) without the final "."."""
        first = self.command(text)
        if not first.startswith(b"+OK"):
            return [first]
        return [first, *self.rest()]

    def rest(self) -> list[bytes]:
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines

    def login(self, user: str = "alice", password: str = PASSWORD) -> bytes:
        assert self.command(b"USER " + user.encode()) == b"+OK"
        return self.command(b"PASS " + password.encode())


@pytest.fixture
def raw(pop3_server: POP3Server) -> Iterator[RawPOP3]:
    client = RawPOP3(pop3_server)
    yield client
    client.close()
