"""Building chain inputs in tests: a peer, an envelope, a message, a thread-pool runner."""

from __future__ import annotations

from typing import Any

from twisted.internet import threads

from mfserver.milter import Direction, Envelope, Peer, Recipient
from mfserver.milter.message import MilterMessage


def peer(direction: Direction = Direction.INBOUND, address: str = "192.0.2.7",
         helo: str = "mx.example.net", login: str | None = None) -> Peer:
    return Peer(direction, address, 40000, helo=helo, login=login,
                server_name="mail.example.test", queue_id="Q1")


def envelope(sender: str = "news@example.net", *recipients: tuple[str, int | None]) -> Envelope:
    rcpts = [Recipient(address, account) for address, account in
             (recipients or (("alice@example.org", 1),))]
    return Envelope(sender, recipients=rcpts)


def shared(raw: bytes, direction: Direction = Direction.INBOUND, **kw: Any) -> MilterMessage:
    return MilterMessage.parse(peer(direction, **kw), envelope(), raw)


def run_blocking(function: Any, *args: Any, **kwargs: Any) -> Any:
    return threads.deferToThread(function, *args, **kwargs)
