"""`mfserver share create|list|disable`: public links to a calendar, a document or a folder.

Implementation notes:
- The link is printed once, at creation: only its hash is stored, so `list` shows ids,
  targets and limits, never links. A lost link is disabled and made again.
- The target must exist when the link is made (a calendar of the account; a document or
  folder under its files, not a symbolic link); the server checks again at each request.
- A password comes from a prompt or standard input, never from the command line.
"""

from __future__ import annotations

import argparse
import datetime
import time

from mfserver.cli.context import CommandError, Context, read_password
from mfserver.config.schema import duration
from mfserver.dav import calendars, files
from mfserver.dav.sharebook import ShareBook, ShareInfo, clean_path


def _expiry(text: str) -> int:
    """"7d", "12h" (from now), or a date/time "2030-01-31" / "2030-01-31T18:00" (UTC)."""
    try:
        return int(time.time()) + duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 7d or a date such as 2030-01-31, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


def add_parser(sub: argparse._SubParsersAction) -> None:
    share = sub.add_parser("share", help="public share links").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = share.add_parser("create", help="make a link to a calendar, a document or a folder")
    p.add_argument("login", metavar="USERNAME|ADDRESS", help="the owner")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--calendar", metavar="NAME",
                        help="a calendar of the account (its default one is 'calendar')")
    target.add_argument("--file", metavar="PATH",
                        help="a document or folder, relative to the account's files")
    p.add_argument("--dropbox", action="store_true",
                   help="a folder that visitors may only upload into")
    p.add_argument("--expires", type=_expiry, metavar="WHEN",
                   help="a duration (7d, 12h) or a date (2030-01-31); default: never")
    p.add_argument("--password-stdin", action="store_true",
                   help="protect the link with a password read from standard input")
    p.add_argument("--password", action="store_true",
                   help="protect the link with a password asked at the terminal")
    p.add_argument("--allow", metavar="USER", action="append", default=[],
                   help="only these accounts of this server may open it (repeatable)")
    p.add_argument("--label", default="", help="a note for yourself")
    p.set_defaults(handler=share_create)
    p = share.add_parser("list", help="list an account's links")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.set_defaults(handler=share_list)
    p = share.add_parser("disable", help="switch a link off for good")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.add_argument("id", type=int, metavar="ID", help="the link's id, from `share list`")
    p.set_defaults(handler=share_disable)


def _book(context: Context) -> ShareBook:
    return ShareBook(context.runtime.database, context.runtime.directory)


def _owner(context: Context, login: str) -> str:
    account = context.runtime.directory.find_login(login)
    if account is None:
        raise CommandError(f"no such user: {login}")
    return account.username


def link(context: Context, token: str, calendar: bool) -> str:
    settings = context.settings
    port = settings.listen.https
    authority = settings.server.hostname + ("" if port == 443 else f":{port}")
    return f"https://{authority}/s/{token}" + (".ics" if calendar else "")


def _check_target(context: Context, username: str, args: argparse.Namespace) -> tuple[str, str]:
    data_dir = context.runtime.data_dir
    if args.calendar is not None:
        if args.dropbox:
            raise CommandError("a calendar link is read-only: --dropbox is for folders")
        if calendars.list_collections(data_dir, username).get(args.calendar) != "VCALENDAR":
            raise CommandError(f"{username} has no calendar {args.calendar!r}")
        return "calendar", args.calendar
    path = clean_path(args.file)
    target = files.account_root(data_dir, username).joinpath(*filter(None, path.split("/")))
    if target.is_symlink() or not target.exists():
        raise CommandError(f"{username} has no document or folder {args.file!r}")
    if args.dropbox and not target.is_dir():
        raise CommandError("a drop box must be a folder")
    return "files", path


def share_create(args: argparse.Namespace, context: Context) -> int:
    username = _owner(context, args.login)
    kind, path = _check_target(context, username, args)
    password = None
    if args.password_stdin or args.password:
        password = read_password(args.password_stdin, "Link password: ")
    allowed = [_owner(context, name) for name in args.allow]
    info, token = _book(context).create(
        username, kind, path, mode="dropbox" if args.dropbox else "read", password=password,
        allowed=allowed, expires_at=args.expires, label=args.label)
    print(f"share {info.id}: {_describe(info)}")
    print(link(context, token, kind == "calendar"))
    return 0


def _describe(info: ShareInfo) -> str:
    limits = []
    if info.has_password:
        limits.append("password")
    if info.allowed:
        limits.append("only " + ", ".join(info.allowed))
    if info.expires_at:
        limits.append("expires " + time.strftime("%Y-%m-%d %H:%M UTC",
                                                 time.gmtime(info.expires_at)))
    state = "disabled" if info.disabled else (
        "expired" if not info.active(time.time()) else "active")
    what = f"{info.kind} {info.path or '/'} ({info.mode})"
    label = f"  {info.label}" if info.label else ""
    return f"{what} {state}" + (f" [{'; '.join(limits)}]" if limits else "") + label


def share_list(args: argparse.Namespace, context: Context) -> int:
    for info in _book(context).list(_owner(context, args.login)):
        print(f"{info.id}\t{_describe(info)}")
    return 0


def share_disable(args: argparse.Namespace, context: Context) -> int:
    info = _book(context).disable(_owner(context, args.login), args.id)
    print(f"disabled share {info.id}: {_describe(info)}")
    return 0
