"""A real server for the SMTP wire tests: `twistd -ny mfserver.tac` on a temporary data
directory with a trustme certificate; one server for the whole package.

Accounts (domain example.org): alice (alias info@, one enabled and one disabled disposable
address), bob, carol, and `user0`.. for tests that need a mailbox of their own. Domain
catchall.test has a catch-all to carol. Messages are read back over IMAP.
"""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mfserver.config import load_settings
from mfserver.dnsrecords import domain_records
from mfserver.runtime import open_runtime
from tests.certs import server_certificate
from tests.dnsserver import FakeDNS, zone_records
from tests.harness import Server, cli, free_port, write_config
from tests.lineclient import LineClient
from tests.smtpsink import SMTPSink

PASSWORD = "smtp test password"
HOST = "mail.example.test"
ACCOUNTS = 80
MAX_SIZE = 1024 * 1024
MAX_RECIPIENTS = 5


# The rest of the world: example.net sends from loopback (SPF pass), remote.test's MX is the
# sink, reject.test and quarantine.test publish DMARC policies their forged mail fails.
OUTSIDE_RECORDS = {
    ("example.net", "TXT"): ["v=spf1 ip4:127.0.0.0/8 -all"],
    ("remote.test", "MX"): ["10 mx.remote.test"],
    ("mx.remote.test", "A"): ["127.0.0.1"],
    ("reject.test", "TXT"): ["v=spf1 -all"],
    ("_dmarc.reject.test", "TXT"): ["v=DMARC1; p=reject"],
    ("quarantine.test", "TXT"): ["v=spf1 -all"],
    ("_dmarc.quarantine.test", "TXT"): ["v=DMARC1; p=quarantine"],
}


@dataclass
class SMTPServer:
    config: Path
    smtp: int
    submission: int
    smtps: int
    imaps: int
    context: ssl.SSLContext
    ca_file: Path
    server: Server
    free: Iterator[str]
    disposable_on: str
    disposable_off: str
    app_password: str   # dave's: dave has TOTP on, so only app passwords log in to SMTP
    dns: FakeDNS        # the outside world's DNS (our domains' published records included)
    sink: SMTPSink      # the MX of remote.test (and of every other remote domain here)

    def inbound(self) -> smtplib.SMTP:
        """A client of the MX port (25's stand-in), after EHLO."""
        client = smtplib.SMTP("127.0.0.1", self.smtp, local_hostname="client.example.net",
                              timeout=30)
        client.ehlo()
        return client

    def submit(self, user: str | None = "alice", password: str = PASSWORD,
               implicit: bool = False) -> smtplib.SMTP:
        """A submission client after STARTTLS (or on the implicit TLS port), logged in."""
        if implicit:
            client: smtplib.SMTP = smtplib.SMTP_SSL("127.0.0.1", self.smtps,
                                                    local_hostname="laptop.home",
                                                    context=self.context, timeout=30)
        else:
            client = smtplib.SMTP("127.0.0.1", self.submission, local_hostname="laptop.home",
                                  timeout=30)
            client.starttls(context=self.context)
        client.ehlo()
        if user is not None:
            client.login(user, password)
        return client

    def imap(self, user: str) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=self.context,
                                   timeout=30)
        client.login(user, PASSWORD)
        return client

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in the user's folder, as stored."""
        client = self.imap(user)
        try:
            client.select(folder, readonly=True)
            _, data = client.uid("SEARCH", None, "ALL")
            uids = data[0].split()
            out = []
            for uid in uids:
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                out.append(parts[0][1])
            return out
        finally:
            client.logout()

    def cli(self, *args: str, stdin: str | bytes | None = None) -> str:
        return cli(*args, config=self.config, stdin=stdin, check=True).stdout

    def account(self) -> str:
        """A user nobody else in this package uses."""
        return next(self.free)


@pytest.fixture(scope="package")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SMTPServer]:
    yield from serve_smtp(tmp_path_factory.mktemp("smtp"), ACCOUNTS,
                          outbound={"retry_base": "2s"},
                          smtp={"max_message_size": MAX_SIZE, "max_recipients": MAX_RECIPIENTS,
                                "send_limit_per_hour": 40})


def serve_smtp(base: Path, accounts: int, **sections: dict) -> Iterator[SMTPServer]:
    """The server of `smtp_server` in `base` with `accounts` spare users and configuration
    `sections` added; the fake DNS and the remote MX (the sink) live as long as it."""
    authority, tls = server_certificate(base, HOST)
    ports = {"smtp": free_port(), "submission": free_port(), "smtps": free_port(),
             "imaps": free_port()}
    dns = FakeDNS(OUTSIDE_RECORDS).start()
    sink = SMTPSink(hostname="mx.remote.test").start()
    outbound = {"remote_port": sink.port, "mta_sts": False, **sections.pop("outbound", {})}
    config = write_config(base / "data", ports=ports, server={"hostname": HOST},
                          dns=dns.config(), outbound=outbound, tls=tls, **sections)
    users = [f"user{n}" for n in range(accounts)]
    enabled, disabled, app_password = add_accounts(config, users, dns)
    context = ssl.create_default_context()
    authority.configure_trust(context)
    server = Server(config).start(wait_for=ports["smtp"])
    try:
        yield SMTPServer(config, ports["smtp"], ports["submission"], ports["smtps"],
                         ports["imaps"], context, base / "ca.pem", server, iter(users),
                         enabled, disabled, app_password, dns, sink)
    finally:
        server.stop()
        sink.stop()
        dns.stop()


def add_accounts(config: Path, users: list[str], dns: FakeDNS) -> tuple[str, str, str]:
    """The accounts; gives alice's enabled and disabled disposable addresses and dave's app
    password."""
    runtime = open_runtime(load_settings(config, environ={}))
    try:
        directory = runtime.directory
        for domain in ("example.org", "catchall.test"):
            directory.add_domain(domain)
            keys = runtime.ensure_domain_keys(domain)
            for key, values in zone_records(domain_records(domain, runtime.settings,
                                                           keys)).items():
                dns.add(*key, *values)
        for user in ["alice", "bob", "carol", "dave", *users]:
            info = directory.add_account(user, PASSWORD, address=f"{user}@example.org")
            runtime.store.provision(info.id)
        directory.add_alias("alice", "info@example.org")
        enabled = directory.add_disposable("alice", "example.org", label="shop").address
        disabled = directory.add_disposable("alice", "example.org", label="old").address
        directory.set_address_enabled(disabled, False)
        directory.set_catch_all("catchall.test", "carol")
        runtime.second_factor.enable_totp("dave", issuer=HOST)
        app_password = runtime.second_factor.add_app_password("dave", "thunderbird")
        return enabled, disabled, app_password
    finally:
        runtime.close()


def message(subject: str = "hello", sender: str = "someone@example.net",
            to: str = "alice@example.org", body: bytes = b"Hello there.\r\n") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.net>\r\n\r\n").encode() + body


class RawSMTP(LineClient):
    """A line-level SMTP client: transcript tests read exactly what a client sees."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        super().__init__(port, context, HOST)
        self.greeting = self.reply()

    def starttls(self, context: ssl.SSLContext) -> bytes:
        answer = self.command(b"STARTTLS")
        self.wrap(context, HOST)
        return answer

    def reply(self) -> bytes:
        """One whole reply; multi-line replies joined by newlines."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return b"\n".join(lines)

    def command(self, text: bytes) -> bytes:
        self.send(text + b"\r\n")
        return self.reply()

    def envelope(self, sender: str, recipient: str, helo: str = "client.example.net") -> None:
        """EHLO, MAIL and RCPT, each accepted."""
        for command in (f"EHLO {helo}", f"MAIL FROM:<{sender}>", f"RCPT TO:<{recipient}>"):
            reply = self.command(command.encode())
            assert reply[:1] == b"2", (command, reply)


@pytest.fixture
def raw(smtp_server: SMTPServer) -> Iterator[RawSMTP]:
    client = RawSMTP(smtp_server.smtp)
    yield client
    client.close()
