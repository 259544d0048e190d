"""`mfserver init`, `mfserver check` and `mfserver dns`: setting a server up and checking it."""

from __future__ import annotations

import argparse
import errno
import os
import socket
from pathlib import Path

from mfserver.accounts.directory import normalise_domain
from mfserver.cli.context import CommandError, Context
from mfserver.config import ConfigError, load_settings, render_config
from mfserver.db import migrate
from mfserver.dnsrecords import domain_records
from mfserver.tls import certificate_problems, ensure_certificate

LISTENERS = ("smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "https")


def add_parser(sub: argparse._SubParsersAction) -> None:
    init = sub.add_parser("init", help="prepare a data directory and print the DNS records")
    init.add_argument("--data", required=True, metavar="DIR", help="data directory to create")
    init.add_argument("--domain", required=True, help="the first mail domain")
    init.add_argument("--hostname", required=True, help="this server's host name (MX target)")
    init.add_argument("--database-url", default="", metavar="URL",
                      help="PostgreSQL URL instead of SQLite in the data directory")
    init.add_argument("--force", action="store_true",
                      help="overwrite an existing configuration file")
    init.set_defaults(handler=run_init)

    check = sub.add_parser("check", help="validate configuration, certificate and ports")
    check.set_defaults(handler=run_check)

    dns = sub.add_parser("dns", help="print the DNS records to publish for a domain")
    dns.add_argument("domain")
    dns.set_defaults(handler=run_dns)


def print_records(context: Context, domain: str) -> None:
    keys = context.runtime.ensure_domain_keys(domain)
    for line in domain_records(context.runtime.directory.get_domain(domain).name,
                               context.settings, keys):
        print(line)


def run_init(args: argparse.Namespace, context: Context) -> int:
    data = Path(args.data).expanduser().absolute()
    config = data / "mfserver.toml"
    if config.exists() and not args.force:
        raise CommandError(f"{config} exists already (use --force to overwrite it)")
    overrides = {"server": {"hostname": args.hostname, "data_dir": str(data)},
                 "database": {"url": args.database_url}}
    text = render_config(overrides)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    config.write_text(text)
    try:
        settings = load_settings(config)
    except ConfigError:
        config.unlink()
        raise
    context.__dict__["settings"] = settings
    runtime = context.runtime
    directory = runtime.directory
    domain = normalise_domain(args.domain)
    if domain not in {d.name for d in directory.list_domains()}:
        directory.add_domain(domain)
    files = ensure_certificate(settings.data_dir, settings.server.hostname)
    print(f"; wrote {config}")
    print(f"; data directory {settings.data_dir}, database {_safe_url(settings.database_url)}")
    if files.created:
        print(f"; created a self-signed certificate for {settings.server.hostname}: "
              "configure a real one in [tls] before people use this server")
    print(f"; start the server with: MFSERVER_CONFIG={config} twistd -ny mfserver.tac")
    print(f"; add a user with: mfserver --config {config} user add alice@"
          f"{domain}")
    print(";")
    print_records(context, domain)
    return 0


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url


def run_dns(args: argparse.Namespace, context: Context) -> int:
    print_records(context, args.domain)
    return 0


def _port_state(address: str, port: int) -> str | None:
    """None if the port can be bound now, else a reason."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "in use (by a running mfserver?)"
            if exc.errno == errno.EACCES:
                return "needs privileges to bind"
            return exc.strerror or str(exc)
    return None


def run_check(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings  # a ConfigError ends the command here, as one line
    where = settings.source or "built-in defaults"
    print(f"configuration: {where}: ok")
    errors: list[str] = []
    warnings: list[str] = []

    data = settings.data_dir
    if data.exists() and not os.access(data, os.W_OK | os.X_OK):
        errors.append(f"data directory {data}: not writable")
    if not errors:
        runtime = context.runtime
        revision = migrate.current_revision(runtime.database)
        print(f"database: {_safe_url(settings.database_url)}: schema {revision}")
        for domain in runtime.directory.list_domains():
            keys = runtime.ensure_domain_keys(domain.name)
            print(f"domain {domain.name}: DKIM selectors "
                  f"{', '.join(key.selector for key in keys)}")

    files = ensure_certificate(data, settings.server.hostname, settings.tls.certificate,
                               settings.tls.private_key)
    problems = certificate_problems(files, settings.server.hostname)
    errors.extend(f"certificate: {problem}" for problem in problems)
    if files.self_signed:
        warnings.append(f"certificate: self-signed ({files.certificate}); clients will warn")
    elif not problems:
        print(f"certificate: {files.certificate}: ok for {settings.server.hostname}")

    for name in LISTENERS:
        port = getattr(settings.listen, name)
        if not port:
            print(f"port {name}: off")
            continue
        for address in settings.listen.addresses:
            state = _port_state(address, port)
            if state is None:
                print(f"port {name} {address}:{port}: free")
            else:
                warnings.append(f"port {name} {address}:{port}: {state}")

    for warning in warnings:
        print(f"warning: {warning}")
    for error in errors:
        print(f"error: {error}")
    if errors:
        raise CommandError(f"check failed: {len(errors)} error(s)")
    print("check: ok" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0
