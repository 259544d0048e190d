"""`mfserver deliver` and `mfserver rescan`: putting mail into the store by hand, and re-reading it."""

from __future__ import annotations

import argparse
import sys

from mfserver.cli.context import CommandError, Context

MAX_MESSAGE = 64 * 1024 * 1024


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deliver", help="deliver a message from standard input to a local user")
    p.add_argument("recipient", metavar="ADDRESS|USERNAME")
    p.add_argument("--folder", default="INBOX", help="folder to deliver into (default INBOX)")
    p.set_defaults(handler=run_deliver)
    p = sub.add_parser("rescan", help="index files that other programs put into maildirs")
    p.add_argument("login", nargs="?", metavar="USERNAME|ADDRESS",
                   help="one account (default: all)")
    p.set_defaults(handler=run_rescan)


def run_deliver(args: argparse.Namespace, context: Context) -> int:
    directory = context.runtime.directory
    account = directory.resolve_recipient(args.recipient) if "@" in args.recipient \
        else directory.find_login(args.recipient)
    if account is None:
        raise CommandError(f"no such recipient: {args.recipient}")
    raw = sys.stdin.buffer.read(MAX_MESSAGE + 1)
    if len(raw) > MAX_MESSAGE:
        raise CommandError(f"message larger than {MAX_MESSAGE} bytes")
    if not raw.strip():
        raise CommandError("empty message on standard input")
    delivered = context.runtime.store.deliver(account.id, raw, folder=args.folder)
    print(f"delivered to {account.username}/{args.folder} uid {delivered.uid}")
    return 0


def run_rescan(args: argparse.Namespace, context: Context) -> int:
    directory = context.runtime.directory
    if args.login:
        account = directory.find_login(args.login)
        if account is None:
            raise CommandError(f"no such user: {args.login}")
        accounts = [account]
    else:
        accounts = directory.list_accounts()
    for account in accounts:
        result = context.runtime.store.rescan(account.id)
        print(f"{account.username}: {len(result.added)} added, {len(result.removed)} removed")
    return 0
