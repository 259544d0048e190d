"""A real server for the IMAP wire tests: `twistd -ny mfserver.tac` on a temporary data
directory, with a trustme certificate, two accounts, and clients that log in over TLS."""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.certs import server_certificate
from tests.harness import Server, cli, free_port, write_config
from tests.lineclient import LineClient

PASSWORD = "imap test password"
HOST = "mail.example.test"


@dataclass
class IMAPServer:
    config: Path
    imap: int
    imaps: int
    context: ssl.SSLContext
    server: Server

    def connect(self, login: str | None = "alice", password: str = PASSWORD) -> imaplib.IMAP4_SSL:
        """An IMAP4_SSL client on the implicit-TLS port, logged in unless `login` is None."""
        client = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=self.context,
                                   timeout=30)
        if login is not None:
            client.login(login, password)
        return client

    def plain(self) -> imaplib.IMAP4:
        """A client on the STARTTLS port, before STARTTLS."""
        return imaplib.IMAP4("127.0.0.1", self.imap, timeout=30)

    def cli(self, *args: str, stdin: str | bytes | None = None) -> str:
        return cli(*args, config=self.config, stdin=stdin, check=True).stdout


@pytest.fixture(scope="module")
def imap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IMAPServer]:
    yield from serve_imap(tmp_path_factory.mktemp("imap"))


def serve_imap(base: Path, **sections: dict) -> Iterator[IMAPServer]:
    """The server of `imap_server` in `base`, with configuration `sections` added."""
    authority, tls = server_certificate(base, HOST)
    ports = {"imap": free_port(), "imaps": free_port()}
    config = write_config(base / "data", ports=ports,
                          server={"hostname": HOST},
                          tls=tls, **sections)
    cli("domain", "add", "example.org", config=config, check=True)
    for user in ("alice", "bob"):
        cli("user", "add", f"{user}@example.org", "--password-stdin", config=config,
            stdin=PASSWORD, check=True)
    context = ssl.create_default_context()
    authority.configure_trust(context)
    context.check_hostname = False
    server = Server(config).start(wait_for=ports["imaps"])
    try:
        yield IMAPServer(config, ports["imap"], ports["imaps"], context, server)
    finally:
        server.stop()


class RawIMAP(LineClient):
    """A line-level IMAP client over TLS: send a command, get every line up to its tagged
    reply. Transcript tests read exactly what a client sees."""

    def __init__(self, server: IMAPServer, implicit_tls: bool = True) -> None:
        super().__init__(server.imaps if implicit_tls else server.imap,
                         server.context if implicit_tls else None, HOST)
        self.server = server
        self.counter = 0
        self.greeting = self.line()

    def starttls(self) -> list[bytes]:
        lines = self.command(b"STARTTLS")
        self.wrap(self.server.context, HOST)
        return lines

    def read_literal_aware(self) -> bytes:
        """One response line with any literals it carries, joined as sent."""
        import re

        line = self.line()
        while (match := re.search(rb"\{(\d+)\}$", line)):
            size = int(match.group(1))
            while len(self.buffer) < size:
                self.receive()
            line += b"\r\n" + self.buffer[:size]
            self.buffer = self.buffer[size:]
            line += self.line()
        return line

    def command(self, text: bytes, tag: bytes | None = None) -> list[bytes]:
        """Send `tag text` and return the lines up to and including the tagged reply."""
        if tag is None:
            self.counter += 1
            tag = b"t%d" % self.counter
        self.send(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.read_literal_aware()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def login(self, user: str = "alice", password: str = PASSWORD) -> list[bytes]:
        return self.command(f'LOGIN {user} "{password}"'.encode())


@pytest.fixture
def raw(imap_server: IMAPServer) -> Iterator[RawIMAP]:
    client = RawIMAP(imap_server)
    yield client
    client.close()
