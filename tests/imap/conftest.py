"""A real server for the IMAP wire tests: `twistd -ny mfserver.tac` on a temporary data
directory, with a trustme certificate, two accounts, and clients that log in over TLS."""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.harness import Server, cli, free_port, write_config

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
    authority = trustme.CA()
    leaf = authority.issue_cert(HOST, "127.0.0.1", "localhost")  # mbsync checks DNS names
    leaf.private_key_and_cert_chain_pem.write_to_path(str(base / "server.pem"))
    leaf.private_key_pem.write_to_path(str(base / "server.key"))
    leaf.cert_chain_pems[0].write_to_path(str(base / "cert.pem"))
    for extra in leaf.cert_chain_pems[1:]:
        with open(base / "cert.pem", "ab") as handle:
            handle.write(extra.bytes())
    ports = {"imap": free_port(), "imaps": free_port()}
    config = write_config(base / "data", ports=ports,
                          server={"hostname": HOST},
                          tls={"certificate": str(base / "cert.pem"),
                               "private_key": str(base / "server.key")}, **sections)
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


class RawIMAP:
    """A line-level IMAP client over TLS: send a command, get every line up to its tagged
    reply. Transcript tests read exactly what a client sees."""

    def __init__(self, server: IMAPServer, implicit_tls: bool = True) -> None:
        import socket

        port = server.imaps if implicit_tls else server.imap
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.server = server
        self.sock = server.context.wrap_socket(raw, server_hostname=HOST) if implicit_tls \
            else raw
        self.buffer = b""
        self.counter = 0
        self.greeting = self.line()

    def starttls(self) -> list[bytes]:
        lines = self.command(b"STARTTLS")
        self.sock = self.server.context.wrap_socket(self.sock, server_hostname=HOST)
        return lines

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; had {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_literal_aware(self) -> bytes:
        """One response line with any literals it carries, joined as sent."""
        import re

        line = self.line()
        while (match := re.search(rb"\{(\d+)\}$", line)):
            size = int(match.group(1))
            while len(self.buffer) < size:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed inside a literal")
                self.buffer += chunk
            line += b"\r\n" + self.buffer[:size]
            self.buffer = self.buffer[size:]
            line += self.line()
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

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

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(imap_server: IMAPServer) -> Iterator[RawIMAP]:
    client = RawIMAP(imap_server)
    yield client
    client.close()
