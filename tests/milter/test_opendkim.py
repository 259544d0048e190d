"""The milter protocol client against a real milter: Debian's opendkim signs submitted mail,
and the signature verifies with dkimpy."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mfserver.milter import Action, Direction
from mfserver.milter.external import Snapshot, apply, converse, parse_address
from mfserver.milter.message import MilterMessage
from tests.harness import free_port
from tests.milter.helpers import envelope, peer

pytestmark = pytest.mark.skipif(shutil.which("opendkim") is None
                                and not Path("/usr/sbin/opendkim").exists(),
                                reason="opendkim is not installed")


def _opendkim() -> str:
    return shutil.which("opendkim") or "/usr/sbin/opendkim"


@pytest.fixture(scope="module")
def opendkim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    base = tmp_path_factory.mktemp("opendkim")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (base / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (base / "key.pem").chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    port = free_port()
    (base / "opendkim.conf").write_text(
        f"Mode s\nSocket inet:{port}@127.0.0.1\nDomain example.org\nSelector test\n"
        f"KeyFile {base / 'key.pem'}\nCanonicalization relaxed/simple\n"
        f"RequireSafeKeys false\nBackground false\nPidFile {base / 'pid'}\n"
        "InternalHosts 127.0.0.1\nSyslog false\nUMask 007\n")
    process = subprocess.Popen([_opendkim(), "-f", "-x", str(base / "opendkim.conf")],
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


SUBMITTED = (b"Received: by mail.example.test (mfserver) with ESMTPSA id Q1;\r\n"
             b"\tSat, 1 Nov 2026 10:00:00 +0000\r\n"
             b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
             b"Subject: signed by opendkim\r\nDate: Sat, 1 Nov 2026 10:00:00 +0000\r\n"
             b"Message-ID: <one@example.org>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Hello Bob,\r\n\r\n" + "Grüße aus dem Test.\r\n".encode() * 3000)


def _signed(address: str, raw: bytes, login: str | None = "alice",
            client: str = "127.0.0.1") -> tuple[MilterMessage, object]:
    family, target = parse_address(address)
    message = MilterMessage.parse(peer(Direction.OUTBOUND, address=client, helo="laptop.home",
                                       login=login),
                                  envelope("alice@example.org", ("bob@example.net", None)), raw)
    outcome = converse(family, target, 20, Snapshot.of(message))
    return message, apply(outcome, message)


def test_opendkim_signs_and_dkimpy_verifies(opendkim):
    address, record = opendkim
    message, verdict = _signed(address, SUBMITTED)
    assert verdict.action is Action.CONTINUE
    signed = message.as_bytes()
    assert signed.count(b"DKIM-Signature:") == 1
    assert b"d=example.org" in signed and b"s=test" in signed

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"test._domainkey.example.org." else None
    assert dkim.verify(signed, dnsfunc=dns)
    assert signed.endswith(SUBMITTED.partition(b"\r\n\r\n")[2])  # body untouched


def test_a_big_body_goes_in_chunks(opendkim):
    address, record = opendkim
    body = b"x" * 70 + b"\r\n"
    raw = SUBMITTED.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body * 4000  # 288 KB
    message, _ = _signed(address, raw)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record
    assert dkim.verify(message.as_bytes(), dnsfunc=dns)


def test_an_unreachable_milter_raises():
    family, target = parse_address(f"inet:127.0.0.1:{free_port()}")
    message = MilterMessage.parse(peer(), envelope(), SUBMITTED)
    with pytest.raises(OSError):
        converse(family, target, 5, Snapshot(message.peer, message.envelope, [], [], b""))
