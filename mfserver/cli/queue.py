"""`mfserver queue`: list, retry and delete messages waiting for delivery to other servers.

Works on the database and spool directly, so it runs beside a running server. A retry makes
the recipients due at once; the server notices within a minute (its poll interval). Deleting
a message sends no bounce.
"""

from __future__ import annotations

import argparse
import time

from mfserver.cli.context import CommandError, Context
from mfserver.outbound import OutboundQueue, QueuedMessage, UnknownMessage, open_queue


def add_parser(sub: argparse._SubParsersAction) -> None:
    queue = sub.add_parser("queue", help="the outbound mail queue").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = queue.add_parser("list", help="list queued messages and their recipients")
    p.set_defaults(handler=queue_list)
    p = queue.add_parser("retry", help="try queued messages again now")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", metavar="ID", help="queue id")
    target.add_argument("--all", action="store_true", help="every queued message")
    p.set_defaults(handler=queue_retry)
    p = queue.add_parser("delete", help="remove a queued message (no bounce is sent)")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler=queue_delete)


def _queue(context: Context) -> OutboundQueue:
    return open_queue(context.settings, context.runtime.database)


def age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe(message: QueuedMessage, now: float) -> list[str]:
    lines = [f"{message.id}  {age(now - message.created_at):>4}  {message.size:>9}  "
             f"<{message.sender}>"]
    for recipient in message.recipients:
        state = recipient.state
        if state == "queued":
            wait = recipient.next_attempt - now
            state += f", attempts {recipient.attempts}, " + (
                f"next in {age(wait)}" if wait > 0 else "due now")
        lines.append(f"    <{recipient.address}>  {state}")
        if recipient.last_reply:
            lines.append(f"        last: {recipient.last_reply}")
    return lines


def queue_list(args: argparse.Namespace, context: Context) -> int:
    messages = _queue(context).list()
    if not messages:
        print("queue is empty")
        return 0
    now = time.time()
    print(f"{'ID':16}  {'AGE':>4}  {'SIZE':>9}  SENDER")
    for message in messages:
        print("\n".join(describe(message, now)))
    print(f"{len(messages)} message(s)")
    return 0


def queue_retry(args: argparse.Namespace, context: Context) -> int:
    try:
        count = _queue(context).retry(None if args.all else args.id)
    except UnknownMessage as exc:
        raise CommandError(str(exc)) from None
    print(f"{count} recipient(s) due now")
    return 0


def queue_delete(args: argparse.Namespace, context: Context) -> int:
    try:
        _queue(context).delete(args.id)
    except UnknownMessage as exc:
        raise CommandError(str(exc)) from None
    print(f"deleted {args.id}")
    return 0
