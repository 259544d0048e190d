"""A real SMTP server for tests that send mail: it records every session and can fail on demand.

    sink = SMTPSink(certificate=ca.issue_cert("mx.example.net")).start()
    sink.fail("rcpt", "450 4.2.0 busy", address="bob@example.net", times=1)
    ... deliver to 127.0.0.1:sink.port ...
    sink.wait_for_messages(1)[0].data

It runs in its own threads (socketserver), independent of any reactor, on 127.0.0.1 (or another
loopback address) and a free port. It speaks enough ESMTP for a sending MTA: EHLO/HELO with
configurable capabilities, STARTTLS or implicit TLS (with a trustme certificate), AUTH PLAIN and
LOGIN (offered only over TLS), MAIL/RCPT with parameters, DATA with dot-unstuffing, RSET, NOOP,
QUIT. Failures are rules: at a stage ("connect", "ehlo", "starttls", "auth", "mail", "rcpt",
"data", "dot"), optionally for one recipient, for the next N times or always.
"""

from __future__ import annotations

import base64
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

STAGES = ("connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "dot")
DEFAULT_CAPABILITIES = ("PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8", "DSN",
                        "ENHANCEDSTATUSCODES")


def _params(text: str) -> dict[str, str]:
    result = {}
    for item in text.split():
        key, _, value = item.partition("=")
        result[key.upper()] = value
    return result


def _path(argument: str, prefix: str) -> tuple[str, dict[str, str]]:
    rest = argument[len(prefix):].strip()
    if not rest.startswith("<") or ">" not in rest:
        raise ValueError(argument)
    address, _, params = rest[1:].partition(">")
    return address, _params(params)


@dataclass
class Transaction:
    """One MAIL ... DATA exchange of a session."""

    ehlo: str | None
    tls: bool
    auth: tuple[str, str, str] | None  # mechanism, username, password
    mail_from: str
    mail_params: dict[str, str]
    recipients: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    data: bytes | None = None
    accepted: bool = False

    @property
    def addresses(self) -> list[str]:
        return [address for address, _ in self.recipients]


@dataclass
class Session:
    peer: str
    ehlo: str | None = None
    tls: bool = False
    auth: tuple[str, str, str] | None = None
    commands: list[str] = field(default_factory=list)


@dataclass
class _Rule:
    stage: str
    reply: str
    address: str | None
    times: int | None


class _Connection:
    """Line I/O on a socket that may switch to TLS."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def readline(self) -> bytes | None:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def read_data(self) -> bytes | None:
        while True:
            if self.buffer.startswith(b".\r\n"):
                end = 0
            else:
                end = self.buffer.find(b"\r\n.\r\n")
            if end >= 0:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        data = b"" if end == 0 else self.buffer[:end + 2]
        self.buffer = self.buffer[3:] if end == 0 else self.buffer[end + 5:]
        lines = data.split(b"\r\n")
        return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")


class SMTPSink:
    """The test's remote SMTP server. `start()` binds, `stop()` closes."""

    def __init__(self, *, hostname: str = "sink.test",
                 capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES,
                 certificate: Any = None, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, address: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.hostname = hostname
        self.capabilities = capabilities
        self.implicit_tls = implicit_tls
        self.users = users
        self.address = address
        self.port = port
        self.context: ssl.SSLContext | None = None
        if certificate is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            certificate.configure_cert(self.context)
        self.break_tls = False  # answer STARTTLS with 220, then close instead of a handshake
        self.sessions: list[Session] = []
        self.transactions: list[Transaction] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    # -- control -------------------------------------------------------------------------

    def start(self) -> SMTPSink:
        sink = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    sink._serve(self.request, self.client_address[0])
                except (OSError, ssl.SSLError):
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((self.address, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name=f"smtpsink-{self.port}").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail(self, stage: str, reply: str, address: str | None = None,
             times: int | None = None) -> None:
        """Answer `reply` at `stage` (for `address` only, at "rcpt"), `times` times or always."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage}")
        with self._lock:
            self._rules.append(_Rule(stage, reply, address, times))

    def clear_failures(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def messages(self) -> list[Transaction]:
        """Transactions whose message was accepted."""
        with self._lock:
            return [t for t in self.transactions if t.accepted]

    def wait_for_messages(self, count: int, timeout: float = 10) -> list[Transaction]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the server side -----------------------------------------------------------------

    def _rule(self, stage: str, address: str | None = None) -> str | None:
        with self._lock:
            for rule in self._rules:
                if rule.stage == stage and rule.address in (None, address):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule.reply
        return None

    def _ehlo_lines(self, session: Session) -> list[str]:
        lines = [self.hostname, *self.capabilities]
        if self.context is not None and not session.tls and not self.implicit_tls:
            lines.append("STARTTLS")
        if self.users is not None and session.tls:
            lines.append("AUTH PLAIN LOGIN")
        return lines

    def _serve(self, sock: socket.socket, peer: str) -> None:
        session = Session(peer)
        with self._lock:
            self.sessions.append(session)
        if self.implicit_tls:
            assert self.context is not None
            sock = self.context.wrap_socket(sock, server_side=True)
            session.tls = True
        connection = _Connection(sock)
        refusal = self._rule("connect")
        connection.send(refusal or f"220 {self.hostname} ESMTP sink")
        transaction: Transaction | None = None
        while True:
            raw = connection.readline()
            if raw is None:
                return
            line = raw.decode("utf-8", "replace")
            session.commands.append(line)
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                connection.send("221 2.0.0 bye")
                return
            if refusal is not None:
                connection.send("503 5.5.1 no service")
                continue
            if verb in ("EHLO", "HELO"):
                reply = self._rule("ehlo")
                if reply is None:
                    session.ehlo, transaction = argument, None
                    lines = self._ehlo_lines(session) if verb == "EHLO" else [self.hostname]
                    reply = "\r\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{text}"
                                        for i, text in enumerate(lines))
                connection.send(reply)
            elif verb == "STARTTLS" and self.context is not None and not session.tls:
                reply = self._rule("starttls")
                if reply is not None:
                    connection.send(reply)
                    continue
                connection.send("220 2.0.0 go ahead")
                if self.break_tls:
                    return
                connection = _Connection(self.context.wrap_socket(sock, server_side=True))
                session.tls, session.ehlo, transaction = True, None, None
            elif verb == "AUTH" and self.users is not None and session.tls:
                session.auth = self._auth(connection, argument)
            elif verb == "MAIL":
                reply = self._rule("mail")
                try:
                    sender, params = _path(argument, "FROM:")
                except ValueError:
                    connection.send("501 5.5.4 syntax")
                    continue
                if reply is None:
                    transaction = Transaction(session.ehlo, session.tls, session.auth, sender,
                                              params)
                    with self._lock:
                        self.transactions.append(transaction)
                connection.send(reply or "250 2.1.0 ok")
            elif verb == "RCPT":
                if transaction is None:
                    connection.send("503 5.5.1 MAIL first")
                    continue
                try:
                    address, params = _path(argument, "TO:")
                except ValueError:
                    connection.send("501 5.5.4 syntax")
                    continue
                reply = self._rule("rcpt", address)
                if reply is None:
                    transaction.recipients.append((address, params))
                else:
                    transaction.refused.append(address)
                connection.send(reply or "250 2.1.5 ok")
            elif verb == "DATA":
                if transaction is None or not transaction.recipients:
                    connection.send("503 5.5.1 no valid recipients")
                    continue
                reply = self._rule("data")
                if reply is not None:
                    connection.send(reply)
                    continue
                connection.send("354 end with .")
                data = connection.read_data()
                if data is None:
                    return
                transaction.data = data
                reply = self._rule("dot")
                transaction.accepted = reply is None
                connection.send(reply or "250 2.0.0 queued")
                transaction = None
            elif verb == "RSET":
                transaction = None
                connection.send("250 2.0.0 ok")
            elif verb == "NOOP":
                connection.send("250 2.0.0 ok")
            else:
                connection.send("502 5.5.2 not implemented")

    def _auth(self, connection: _Connection, argument: str) -> tuple[str, str, str] | None:
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        reply = self._rule("auth")
        try:
            if mechanism == "PLAIN":
                if not initial:
                    connection.send("334 ")
                    initial = (connection.readline() or b"").decode()
                _, username, password = base64.b64decode(initial).decode().split("\0")
            elif mechanism == "LOGIN":
                connection.send("334 VXNlcm5hbWU6")
                username = base64.b64decode(connection.readline() or b"").decode()
                connection.send("334 UGFzc3dvcmQ6")
                password = base64.b64decode(connection.readline() or b"").decode()
            else:
                connection.send("504 5.5.4 unknown mechanism")
                return None
        except ValueError:
            connection.send("501 5.5.2 bad encoding")
            return None
        if reply is not None or self.users.get(username) != password:  # type: ignore[union-attr]
            connection.send(reply or "535 5.7.8 bad credentials")
            return None
        connection.send("235 2.7.0 ok")
        return (mechanism, username, password)
