"""`mfserver 2fa` and `mfserver app-password`: second factors and per-client passwords."""

from __future__ import annotations

import argparse
import io
import sys
import time

from mfserver.cli.context import CommandError, Context


def add_parser(sub: argparse._SubParsersAction) -> None:
    factor = sub.add_parser("2fa", help="TOTP two-factor authentication").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    for action, helptext, handler in (
            ("enable", "turn TOTP on; prints the secret, a QR code and recovery codes",
             twofa_enable),
            ("disable", "turn TOTP off (and delete the recovery codes)", twofa_disable),
            ("status", "say whether TOTP is on", twofa_status),
            ("recovery-codes", "replace the recovery codes with ten new ones",
             twofa_recovery_codes),
            ("verify", "check a TOTP code read from standard input", twofa_verify)):
        p = factor.add_parser(action, help=helptext)
        p.add_argument("login", metavar="USERNAME|ADDRESS")
        p.set_defaults(handler=handler)

    app = sub.add_parser("app-password", help="passwords for mail and calendar clients") \
        .add_subparsers(dest="action", metavar="ACTION", required=True)
    p = app.add_parser("add", help="create an app password (shown once)")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.add_argument("name", help="what it is for, e.g. 'phone' or 'thunderbird'")
    p.set_defaults(handler=app_add)
    p = app.add_parser("list", help="list an account's app passwords")
    p.add_argument("login", metavar="USERNAME|ADDRESS")
    p.set_defaults(handler=app_list)
    for action in ("remove", "revoke"):
        p = app.add_parser(action, help="revoke an app password")
        p.add_argument("login", metavar="USERNAME|ADDRESS")
        p.add_argument("name")
        p.set_defaults(handler=app_remove)


def _username(context: Context, login: str) -> str:
    account = context.runtime.directory.find_login(login)
    if account is None:
        raise CommandError(f"no such user: {login}")
    return account.username


def _qr(text: str) -> str:
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def twofa_enable(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    enrollment = context.runtime.second_factor.enable_totp(
        username, issuer=context.settings.server.hostname)
    print(f"two-factor authentication is on for {username}.")
    print("Scan this code with an authenticator app, or enter the secret by hand:")
    print(_qr(enrollment.uri))
    print(f"secret: {enrollment.secret}")
    print(f"uri: {enrollment.uri}")
    print("Recovery codes (each works once; keep them somewhere safe, they are not shown again):")
    for code in enrollment.recovery_codes:
        print(f"  {code}")
    print("Mail, calendar and file clients now need app passwords: mfserver app-password add "
          f"{username} NAME")
    return 0


def twofa_disable(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    context.runtime.second_factor.disable_totp(username)
    print(f"two-factor authentication is off for {username}")
    return 0


def twofa_status(args: argparse.Namespace, context: Context) -> int:
    account = context.runtime.directory.find_login(args.login)
    if account is None:
        raise CommandError(f"no such user: {args.login}")
    print(f"{account.username}: two-factor {'on' if account.totp_enabled else 'off'}")
    return 0


def twofa_recovery_codes(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    for code in context.runtime.second_factor.regenerate_recovery_codes(username):
        print(code)
    return 0


def twofa_verify(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    code = sys.stdin.readline().strip()
    if not context.runtime.second_factor.verify_totp(username, code):
        raise CommandError("code not accepted")
    print("code accepted")
    return 0


def app_add(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    secret = context.runtime.second_factor.add_app_password(username, args.name)
    print(f"app password '{args.name}' for {username} (shown once, copy it now):")
    print(secret)
    return 0


def app_list(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    for info in context.runtime.second_factor.list_app_passwords(username):
        used = time.strftime("%Y-%m-%d", time.gmtime(info.last_used_day * 86400)) \
            if info.last_used_day else "never"
        created = time.strftime("%Y-%m-%d", time.gmtime(info.created_at))
        print(f"{info.name}\tcreated {created}\tlast used {used}")
    return 0


def app_remove(args: argparse.Namespace, context: Context) -> int:
    username = _username(context, args.login)
    context.runtime.second_factor.revoke_app_password(username, args.name)
    print(f"revoked app password '{args.name}' of {username}")
    return 0
