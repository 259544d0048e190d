"""Interop with Postfix 3.7 (Debian's package) on loopback, both directions:
mfserver's outbound queue delivering to Postfix as a remote MX, and Postfix relaying to
mfserver's inbound port. Needs root (Postfix's master); CI installs postfix and runs as root."""

from __future__ import annotations

import imaplib
import os
import shutil
import smtplib
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest

from mfserver.config import load_settings
from mfserver.dnsrecords import domain_records
from mfserver.runtime import open_runtime
from tests.dnsserver import FakeDNS, zone_records
from tests.harness import Server, free_port, write_config
from tests.interop.postfix import PrivatePostfix

PASSWORD = "interop password"
AVAILABLE = shutil.which("postfix") is not None and os.geteuid() == 0
pytestmark = [pytest.mark.skipif(not AVAILABLE and not os.environ.get("CI"),
                                 reason="needs root and Debian's postfix (CI has both)"),
              pytest.mark.timeout(240)]


@dataclass
class Peers:
    mfserver: Server
    postfix: PrivatePostfix
    dns: FakeDNS
    ports: dict[str, int]


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    base = Path(tempfile.mkdtemp(prefix="mfserver-interop-"))  # Postfix must reach it
    os.chmod(base, 0o755)
    dns = FakeDNS({("remote.test", "MX"): ["10 mx.remote.test"],
                   ("mx.remote.test", "A"): ["127.0.0.1"],
                   ("example.net", "TXT"): ["v=spf1 ip4:127.0.0.0/8 -all"]}).start()
    ports = {"smtp": free_port(), "submission": free_port(), "imaps": free_port()}
    postfix = PrivatePostfix(base, hostname="mx.remote.test",
                             virtual={"bob@remote.test": "remote.test/bob/"},
                             relay={"example.org": f"127.0.0.1:{ports['smtp']}"})
    config = write_config(base / "data", ports=ports, dns=dns.config(),
                          auth={"allow_plaintext_login": True},
                          outbound={"remote_port": postfix.port, "mta_sts": False})
    runtime = open_runtime(load_settings(config, environ={}))
    try:
        runtime.directory.add_domain("example.org")
        keys = runtime.ensure_domain_keys("example.org")
        for key, values in zone_records(domain_records("example.org", runtime.settings,
                                                       keys)).items():
            dns.add(*key, *values)
        info = runtime.directory.add_account("alice", PASSWORD, address="alice@example.org")
        runtime.store.provision(info.id)
    finally:
        runtime.close()
    server = Server(config).start(wait_for=ports["smtp"])
    try:
        yield Peers(server, postfix, dns, ports)
    finally:
        server.stop()
        postfix.stop()
        dns.stop()
        shutil.rmtree(base, ignore_errors=True)


def wait_for(found: callable, what: str, timeout: float = 60) -> list:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_mfserver_delivers_to_postfix(peers: Peers) -> None:
    client = smtplib.SMTP("127.0.0.1", peers.ports["submission"], timeout=30)
    client.ehlo()
    client.login("alice", PASSWORD)
    client.sendmail("alice@example.org", ["bob@remote.test"],
                    b"From: alice@example.org\r\nTo: bob@remote.test\r\n"
                    b"Subject: to postfix\r\n\r\nHello Postfix.\r\n")
    client.quit()
    [path] = wait_for(lambda: peers.postfix.maildir_files("remote.test/bob/"),
                      "Postfix to deliver into bob's maildir")
    delivered = Path(path).read_bytes().replace(b"\n", b"\r\n")
    assert b"Subject: to postfix" in delivered
    signed = delivered[delivered.index(b"DKIM-Signature:"):]

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        values = peers.dns.records.get((name.decode().rstrip(".").lower(), "TXT"), [])
        return values[0].encode() if values else b""
    assert dkim.verify(signed, dnsfunc=lookup)


def test_postfix_relays_to_mfserver(peers: Peers) -> None:
    client = smtplib.SMTP("127.0.0.1", peers.postfix.port, timeout=30)
    client.ehlo("client.example.net")
    client.sendmail("sender@example.net", ["alice@example.org"],
                    b"From: sender@example.net\r\nTo: alice@example.org\r\n"
                    b"Subject: via postfix\r\n\r\nRelayed by Postfix.\r\n")
    client.quit()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def inbox() -> list[bytes]:
        imap = imaplib.IMAP4_SSL("127.0.0.1", peers.ports["imaps"], ssl_context=context)
        imap.login("alice", PASSWORD)
        imap.select("INBOX", readonly=True)
        _, data = imap.search(None, "SUBJECT", '"via postfix"')
        found = [imap.fetch(n, "(BODY.PEEK[])")[1][0][1] for n in data[0].split()]
        imap.logout()
        return found
    [stored] = wait_for(inbox, "the relayed message in alice's INBOX")
    assert b"by mx.remote.test (Postfix)" in stored  # Postfix's own Received
    assert b"with ESMTPS id" in stored, peers.postfix.maillog.read_text()  # STARTTLS to us
    assert b"spf=pass smtp.mailfrom=example.net" in stored
