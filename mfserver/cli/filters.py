"""`mfserver filter`: an account's allow and block lists and its milter settings.

Works on the database directly, so it runs beside a running server; the milters read the
lists for every message, so a change counts from the next message on.
"""

from __future__ import annotations

import argparse

from mfserver.cli.context import CommandError, Context
from mfserver.filters import ALLOW, BLOCK, Bayes, FilterError, FilterLists
from mfserver.filters.lists import SETTINGS


def add_parser(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("filter", help="allow/block lists and filter settings of an "
                                          "account").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    for kind, what in ((ALLOW, "never junk mail from this address or domain"),
                       (BLOCK, "junk or refuse mail from this address or domain")):
        p = group.add_parser(kind, help=what)
        p.add_argument("user")
        p.add_argument("pattern", metavar="ADDRESS|DOMAIN")
        p.set_defaults(handler=filter_add, kind=kind)
    p = group.add_parser("remove", help="take an address or domain off the lists")
    p.add_argument("user")
    p.add_argument("pattern", metavar="ADDRESS|DOMAIN")
    p.set_defaults(handler=filter_remove)
    p = group.add_parser("list", help="show the lists and settings")
    p.add_argument("user")
    p.set_defaults(handler=filter_list)
    p = group.add_parser("set", help="change a setting: " + "; ".join(
        f"{name} {'|'.join(values)}" for name, (_, values) in SETTINGS.items()))
    p.add_argument("user")
    p.add_argument("name", choices=sorted(SETTINGS))
    p.add_argument("value")
    p.set_defaults(handler=filter_set)


def _account(context: Context, user: str) -> int:
    return context.runtime.directory.get_account(user).id


def _lists(context: Context) -> FilterLists:
    return FilterLists(context.runtime.database)


def filter_add(args: argparse.Namespace, context: Context) -> int:
    account = _account(context, args.user)
    try:
        pattern = _lists(context).add(account, args.kind, args.pattern)
    except FilterError as exc:
        raise CommandError(str(exc)) from None
    print(f"{args.kind}: {pattern}")
    return 0


def filter_remove(args: argparse.Namespace, context: Context) -> int:
    account = _account(context, args.user)
    try:
        removed = _lists(context).remove(account, args.pattern)
    except FilterError as exc:
        raise CommandError(str(exc)) from None
    if not removed:
        raise CommandError(f"{args.pattern} is on none of {args.user}'s lists")
    print(f"removed {args.pattern}")
    return 0


def filter_list(args: argparse.Namespace, context: Context) -> int:
    account = _account(context, args.user)
    lists = _lists(context)
    for entry in lists.entries(account):
        print(f"{entry.kind:5}  {entry.pattern}")
    for name, value in lists.settings(account).items():
        print(f"set    {name} = {value}")
    spam, ham = Bayes(context.runtime.database).counts(account)
    print(f"learnt {spam} junk, {ham} not junk")
    return 0


def filter_set(args: argparse.Namespace, context: Context) -> int:
    account = _account(context, args.user)
    try:
        _lists(context).set(account, args.name, args.value)
    except FilterError as exc:
        raise CommandError(str(exc)) from None
    print(f"{args.name} = {args.value}")
    return 0
