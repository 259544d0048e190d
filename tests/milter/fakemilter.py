"""A small milter of the outside world: a real socket server speaking the milter protocol v6,
recording what the MTA sends (commands, macros) and refusing what a test tells it to."""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

REPLYCODE, CONTINUE, ADDHEADER = b"y", b"c", b"h"
NO_REPLY = {b"A", b"D", b"Q"}


def cstrings(data: bytes) -> list[str]:
    parts = data.split(b"\0")
    return [part.decode() for part in (parts[:-1] if parts and parts[-1] == b"" else parts)]


@dataclass
class Seen:
    """One milter connection, as the fake saw it."""

    commands: list[str] = field(default_factory=list)   # command letters, macros left out
    macros: dict[str, dict[str, str]] = field(default_factory=dict)  # stage -> last macros
    queue_ids: list[str] = field(default_factory=list)  # {i} at each end of message
    ended = ""                                          # "quit" or "closed"
    client_port = 0                                     # the SMTP client's, from SMFIC_CONNECT
    done: threading.Event = field(default_factory=threading.Event)

    def steps(self) -> list[str]:
        """The commands, runs of headers and of body chunks as one."""
        out: list[str] = []
        for command in self.commands:
            if not (out and command in "LB" and out[-1] == command):
                out.append(command)
        return out


class FakeMilter:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sessions: list[Seen] = []
        self.reject_connect = False
        self.hang_up = False                 # close every connection at once
        self.tempfail_rcpt: set[str] = set()
        self._lock = threading.Condition()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"inet:127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.reject_connect = self.hang_up = False
        self.tempfail_rcpt = set()

    def last(self, client_port: int | None = None, wait: float = 30) -> Seen:
        """The newest connection (for that SMTP client port) once it ended."""
        def matching() -> list[Seen]:
            return [found for found in self.sessions
                    if client_port is None or found.client_port == client_port]
        with self._lock:
            assert self._lock.wait_for(matching, wait), f"no milter session for {client_port}"
            seen = matching()[-1]
        assert seen.done.wait(wait), f"the milter connection did not end: {seen.commands}"
        return seen

    def stop(self) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            seen = Seen()
            with self._lock:
                self.sessions.append(seen)
            threading.Thread(target=self._talk, args=(connection, seen), daemon=True).start()

    def _talk(self, connection: socket.socket, seen: Seen) -> None:
        with connection:
            if self.hang_up:
                seen.ended = "closed"
                seen.done.set()
                return
            reader = connection.makefile("rb")
            try:
                while True:
                    header = reader.read(4)
                    if len(header) < 4:
                        seen.ended = "closed"
                        return
                    frame = reader.read(struct.unpack(">I", header)[0])
                    command, data = frame[:1], frame[1:]
                    for reply in self._answer(seen, command, data):
                        connection.sendall(struct.pack(">I", len(reply)) + reply)
                    if command == b"Q":
                        seen.ended = "quit"
                        return
            finally:
                seen.done.set()

    def _answer(self, seen: Seen, command: bytes, data: bytes) -> list[bytes]:
        if command == b"D":
            values = cstrings(data[1:])
            seen.macros[data[:1].decode()] = dict(zip(values[::2], values[1::2], strict=False))
            return []
        seen.commands.append(command.decode())
        if command == b"C":
            hostname_end = data.index(b"\0")
            with self._lock:
                seen.client_port = struct.unpack(">H", data[hostname_end + 2:
                                                            hostname_end + 4])[0]
                self._lock.notify_all()
        if command == b"O":
            return [b"O" + struct.pack(">III", 6, 0x01, 0)]
        if command == b"C" and self.reject_connect:
            return [REPLYCODE + b"554 5.7.1 Go away\0"]
        if command == b"R" and cstrings(data)[0].strip("<>") in self.tempfail_rcpt:
            return [REPLYCODE + b"450 4.7.1 Not now for this one\0"]
        if command == b"E":
            seen.queue_ids.append(seen.macros.get("E", {}).get("i", ""))
            return [ADDHEADER + b"X-Fake-Milter\0seen\0", CONTINUE]
        return [] if command in NO_REPLY else [CONTINUE]
