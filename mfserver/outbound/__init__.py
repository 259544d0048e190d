"""The outbound queue and remote delivery: spool + rows, MX routing, SMTP client, DSNs.

`OutboundQueue` (blocking, thread pool) takes messages that the submission server has accepted
and signed; `QueueRunner` (a Twisted service) delivers them. See docs/outbound.md.
"""

from __future__ import annotations

from pathlib import Path

from mfserver.config import Settings
from mfserver.db import Database
from mfserver.outbound.queue import (
    Claim,
    OutboundQueue,
    QueuedMessage,
    QueuedRecipient,
    QueueError,
    RecipientStatus,
    UnknownMessage,
)
from mfserver.outbound.runner import QueueRunner

__all__ = ["Claim", "OutboundQueue", "QueueError", "QueueRunner", "QueuedMessage",
           "QueuedRecipient", "RecipientStatus", "UnknownMessage", "open_queue",
           "spool_directory"]


def spool_directory(settings: Settings) -> Path:
    return settings.data_dir / "queue"


def open_queue(settings: Settings, database: Database) -> OutboundQueue:
    """The queue of this data directory."""
    return OutboundQueue(database, spool_directory(settings))
