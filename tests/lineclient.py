"""The byte-level part of the raw clients that transcript tests use (RawIMAP, RawPOP3,
RawSMTP): a socket, a receive buffer, CRLF lines, and telling a closed connection."""

from __future__ import annotations

import socket
import ssl


class LineClient:
    def __init__(self, port: int, context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock: socket.socket = context.wrap_socket(raw, server_hostname=server_hostname) \
            if context is not None else raw
        self.buffer = b""

    def wrap(self, context: ssl.SSLContext, server_hostname: str) -> None:
        """Start TLS on the connection (after STARTTLS/STLS was answered)."""
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def receive(self) -> None:
        """Wait for more bytes; ConnectionError when the server has closed."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed; had {self.buffer!r}")
        self.buffer += chunk

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self.receive()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def closed(self) -> bool:
        """True when the server has closed the connection (after what it still sends)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except (ConnectionError, ssl.SSLError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()
