"""Fixtures of the milter tests: a real opendkim, and a whole server whose chains are the
shipped plugins (and opendkim for submitted mail), with the outside world's DNS faked."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness import free_port
from tests.smtp.conftest import SMTPServer, serve_smtp

OPENDKIM = shutil.which("opendkim") or "/usr/sbin/opendkim"


@pytest.fixture(scope="package")
def opendkim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    base = tmp_path_factory.mktemp("opendkim")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (base / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (base / "key.pem").chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    port = free_port()
    (base / "opendkim.conf").write_text(
        f"Mode s\nSocket inet:{port}@127.0.0.1\nDomain example.org\nSelector test\n"
        f"KeyFile {base / 'key.pem'}\nCanonicalization relaxed/simple\n"
        f"RequireSafeKeys false\nBackground false\nPidFile {base / 'pid'}\n"
        "InternalHosts 127.0.0.1\nSyslog false\nUMask 007\n")
    process = subprocess.Popen([OPENDKIM, "-f", "-x", str(base / "opendkim.conf")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"opendkim did not start: {process.stdout.read()!r}") \
                    from None
            time.sleep(0.1)
    try:
        yield f"inet:127.0.0.1:{port}", record
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="package")
def milter_server(tmp_path_factory: pytest.TempPathFactory,
                  opendkim: tuple[str, bytes]) -> Iterator[SMTPServer]:
    yield from serve_smtp(
        tmp_path_factory.mktemp("milter-server"), 20,
        milter={"inbound": ["trackers", "spam", "malware"],
                "outbound": ["ipscrub", opendkim[0], "malware"]},
        spam={"bayes_min_messages": 1, "dnsbl": ["bl.test"]})
