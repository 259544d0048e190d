"""`mfserver domain`, `mfserver user` and `mfserver alias`: the account directory by hand."""

from __future__ import annotations

import argparse
import time

from mfserver.cli.context import CommandError, Context, confirm, read_password
from mfserver.cli.setup import print_records
from mfserver.config.schema import size
from mfserver.dav.mount import destroy_account


def _size(text: str) -> int:
    try:
        return size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _human(count: int) -> str:
    if count == 0:
        return "0"
    for unit in ("B", "K", "M", "G", "T"):
        if count < 1024 or unit == "T":
            return f"{count:.0f}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    return str(count)


def _day(stamp: int | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(stamp)) if stamp else "-"


def add_parser(sub: argparse._SubParsersAction) -> None:
    domain = sub.add_parser("domain", help="mail domains").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = domain.add_parser("add", help="add a domain (creates its DKIM keys)")
    p.add_argument("name")
    p.set_defaults(handler=domain_add)
    p = domain.add_parser("list", help="list domains")
    p.set_defaults(handler=domain_list)
    p = domain.add_parser("show", help="show a domain and its DNS records")
    p.add_argument("name")
    p.set_defaults(handler=domain_show)
    p = domain.add_parser("remove", help="remove a domain")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="also remove its addresses")
    p.set_defaults(handler=domain_remove)
    p = domain.add_parser("catch-all", help="deliver mail for unknown addresses to a user")
    p.add_argument("name")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", help="username that receives the mail")
    target.add_argument("--off", action="store_true", help="turn the catch-all off")
    p.set_defaults(handler=domain_catch_all)

    user = sub.add_parser("user", help="user accounts").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = user.add_parser("add", help="add an account")
    p.add_argument("who", metavar="ADDRESS|USERNAME",
                   help="primary address (the username defaults to its local part), "
                        "or a bare username")
    p.add_argument("--username", help="login name, if not the address's local part")
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--quota", type=_size, help="quota such as 2G (0: unlimited)")
    p.add_argument("--recovery", help="recovery address (outside this server)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=user_add)
    p = user.add_parser("list", help="list accounts")
    p.add_argument("--domain", help="only accounts with an address in this domain")
    p.set_defaults(handler=user_list)
    for action, helptext in (("show", "show an account"), ("disable", "refuse logins and mail"),
                             ("enable", "allow logins and mail again")):
        p = user.add_parser(action, help=helptext)
        p.add_argument("login", metavar="USERNAME|ADDRESS")
        p.set_defaults(handler={"show": user_show, "disable": user_disable,
                                "enable": user_enable}[action])
    p = user.add_parser("passwd", help="set a new password")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=user_passwd)
    p = user.add_parser("set", help="change quota, display name or recovery address")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.add_argument("--quota", type=_size)
    p.add_argument("--name")
    p.add_argument("--recovery")
    p.set_defaults(handler=user_set)
    p = user.add_parser("remove", help="remove an account and all its mail")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.add_argument("--keep-mail", action="store_true", help="leave the maildir, calendars and documents on disk")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(handler=user_remove)

    alias = sub.add_parser("alias", help="aliases and disposable addresses").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = alias.add_parser("add", help="add an alias address to an account")
    p.add_argument("address")
    p.add_argument("--user", required=True, metavar="USERNAME|ADDRESS")
    p.add_argument("--label", help="a note for the owner")
    p.set_defaults(handler=alias_add)
    p = alias.add_parser("disposable", help="make a random disposable address")
    p.add_argument("--user", required=True, metavar="USERNAME|ADDRESS")
    p.add_argument("--domain", required=True)
    p.add_argument("--label", help="what it is for, e.g. the shop it was given to")
    p.set_defaults(handler=alias_disposable)
    p = alias.add_parser("list", help="list an account's addresses")
    p.add_argument("user", metavar="USERNAME|ADDRESS")
    p.set_defaults(handler=alias_list)
    for action, helptext in (("disable", "refuse mail to an address"),
                             ("enable", "accept mail to an address again"),
                             ("remove", "delete an alias")):
        p = alias.add_parser(action, help=helptext)
        p.add_argument("address")
        p.set_defaults(handler={"disable": alias_disable, "enable": alias_enable,
                                "remove": alias_remove}[action])


def _account(context: Context, login: str):  # type: ignore[no-untyped-def]
    """The account named by a username or by any of its addresses."""
    account = context.runtime.directory.find_login(login)
    if account is None:
        raise CommandError(f"no such user: {login}")
    return account


def domain_add(args: argparse.Namespace, context: Context) -> int:
    info = context.runtime.directory.add_domain(args.name)
    keys = context.runtime.ensure_domain_keys(info.name)
    print(f"added domain {info.name} (DKIM selectors {', '.join(k.selector for k in keys)})")
    print("publish these DNS records:")
    print_records(context, info.name)
    return 0


def domain_list(args: argparse.Namespace, context: Context) -> int:
    for info in context.runtime.directory.list_domains():
        catch_all = f"  catch-all -> {info.catch_all}" if info.catch_all else ""
        print(f"{info.name}{catch_all}")
    return 0


def domain_show(args: argparse.Namespace, context: Context) -> int:
    info = context.runtime.directory.get_domain(args.name)
    print(f"domain: {info.name}")
    print(f"created: {_day(info.created_at)}")
    print(f"catch-all: {info.catch_all or 'off'}")
    print_records(context, info.name)
    return 0


def domain_remove(args: argparse.Namespace, context: Context) -> int:
    context.runtime.directory.remove_domain(args.name, force=args.force)
    print(f"removed domain {args.name}")
    return 0


def domain_catch_all(args: argparse.Namespace, context: Context) -> int:
    username = None if args.off else _account(context, args.user).username
    context.runtime.directory.set_catch_all(args.name, username)
    print(f"catch-all for {args.name}: {username or 'off'}")
    return 0


def user_add(args: argparse.Namespace, context: Context) -> int:
    address = args.who if "@" in args.who else None
    username = args.username or (args.who.split("@", 1)[0] if address else args.who)
    password = read_password(args.password_stdin)
    runtime = context.runtime
    info = runtime.directory.add_account(username, password, address=address,
                                         display_name=args.name, quota=args.quota,
                                         recovery_address=args.recovery)
    runtime.provision(info)
    where = f" <{info.primary_address}>" if info.primary_address else ""
    print(f"added user {info.username}{where}")
    return 0


def user_list(args: argparse.Namespace, context: Context) -> int:
    for info in context.runtime.directory.list_accounts(args.domain):
        state = " (disabled)" if info.disabled else ""
        quota = _human(info.quota_bytes) if info.quota_bytes else "unlimited"
        print(f"{info.username}\t{info.primary_address or '-'}\t"
              f"{_human(info.used_bytes)}/{quota}{state}")
    return 0


def user_show(args: argparse.Namespace, context: Context) -> int:
    info = _account(context, args.login)
    runtime = context.runtime
    print(f"username: {info.username}")
    print(f"name: {info.display_name or '-'}")
    print(f"primary address: {info.primary_address or '-'}")
    print(f"recovery address: {info.recovery_address or '-'}")
    quota = _human(info.quota_bytes) if info.quota_bytes else "unlimited"
    print(f"storage: {_human(info.used_bytes)} of {quota}")
    print(f"state: {'disabled' if info.disabled else 'active'}")
    print(f"two-factor: {'on' if info.totp_enabled else 'off'}")
    print(f"app passwords: {len(runtime.second_factor.list_app_passwords(info.username))}")
    print(f"created: {_day(info.created_at)}")
    for address in runtime.directory.list_addresses(info.username):
        state = "" if address.enabled else " (disabled)"
        label = f"  {address.label}" if address.label else ""
        print(f"address: {address.address} [{address.kind}]{state}{label}")
    for folder in runtime.store.list_folders(info.id):
        status = runtime.store.status(info.id, folder.name)
        print(f"folder: {folder.name}  {status.messages} messages, {status.unseen} unseen")
    return 0


def user_disable(args: argparse.Namespace, context: Context) -> int:
    info = _account(context, args.login)
    context.runtime.directory.set_disabled(info.username, True)
    print(f"disabled {info.username}")
    return 0


def user_enable(args: argparse.Namespace, context: Context) -> int:
    info = _account(context, args.login)
    context.runtime.directory.set_disabled(info.username, False)
    print(f"enabled {info.username}")
    return 0


def user_passwd(args: argparse.Namespace, context: Context) -> int:
    info = _account(context, args.login)
    context.runtime.directory.set_password(info.username, read_password(args.password_stdin))
    print(f"password of {info.username} changed")
    return 0


def user_set(args: argparse.Namespace, context: Context) -> int:
    info = _account(context, args.login)
    directory = context.runtime.directory
    if args.quota is None and args.name is None and args.recovery is None:
        raise CommandError("nothing to change: give --quota, --name or --recovery")
    if args.quota is not None:
        directory.set_quota(info.username, args.quota)
    if args.name is not None or args.recovery is not None:
        directory.update_account(info.username, display_name=args.name,
                                 recovery_address=args.recovery)
    print(f"updated {info.username}")
    return 0


def user_remove(args: argparse.Namespace, context: Context) -> int:
    info = _account(context, args.login)
    confirm(f"Remove {info.username} and all its mail?", args.yes)
    runtime = context.runtime
    if not args.keep_mail:
        runtime.store.destroy(info.id)
        destroy_account(runtime.data_dir, info.username)
    runtime.directory.remove_account(info.username)
    print(f"removed {info.username}" + (" (mail kept on disk)" if args.keep_mail else ""))
    return 0


def alias_add(args: argparse.Namespace, context: Context) -> int:
    owner = _account(context, args.user)
    info = context.runtime.directory.add_alias(owner.username, args.address, label=args.label)
    print(f"added alias {info.address} -> {owner.username}")
    return 0


def alias_disposable(args: argparse.Namespace, context: Context) -> int:
    owner = _account(context, args.user)
    info = context.runtime.directory.add_disposable(owner.username, args.domain,
                                                    label=args.label)
    print(info.address)
    return 0


def alias_list(args: argparse.Namespace, context: Context) -> int:
    owner = _account(context, args.user)
    for info in context.runtime.directory.list_addresses(owner.username):
        state = "enabled" if info.enabled else "disabled"
        print(f"{info.address}\t{info.kind}\t{state}\t{info.label or ''}".rstrip())
    return 0


def alias_disable(args: argparse.Namespace, context: Context) -> int:
    context.runtime.directory.set_address_enabled(args.address, False)
    print(f"disabled {args.address}")
    return 0


def alias_enable(args: argparse.Namespace, context: Context) -> int:
    context.runtime.directory.set_address_enabled(args.address, True)
    print(f"enabled {args.address}")
    return 0


def alias_remove(args: argparse.Namespace, context: Context) -> int:
    context.runtime.directory.remove_address(args.address)
    print(f"removed {args.address}")
    return 0
