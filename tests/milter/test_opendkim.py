"""The milter protocol client against a real milter: Debian's opendkim signs submitted mail,
and the signature verifies with dkimpy."""

from __future__ import annotations

import dkim
import pytest

from mfserver.milter import Action, Direction
from mfserver.milter.conversation import Conversation
from mfserver.milter.external import apply, parse_address, snapshot
from mfserver.milter.message import MilterMessage
from tests.harness import free_port
from tests.milter.helpers import envelope, peer

SUBMITTED = (b"Received: by mail.example.test (mfserver) with ESMTPSA id Q1;\r\n"
             b"\tSat, 1 Nov 2026 10:00:00 +0000\r\n"
             b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
             b"Subject: signed by opendkim\r\nDate: Sat, 1 Nov 2026 10:00:00 +0000\r\n"
             b"Message-ID: <one@example.org>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Hello Bob,\r\n\r\n" + "Grüße aus dem Test.\r\n".encode() * 3000)


def _signed(address: str, raw: bytes, login: str | None = "alice",
            client: str = "127.0.0.1") -> tuple[MilterMessage, object]:
    return _signed_on_one_connection(address, [raw], login, client)[0]


def _signed_on_one_connection(address: str, raws: list[bytes], login: str | None = "alice",
                              client: str = "127.0.0.1") -> list[tuple[MilterMessage, object]]:
    family, target = parse_address(address)
    client_peer = peer(Direction.OUTBOUND, address=client, helo="laptop.home", login=login)
    done = []
    talk = Conversation(family, target, 20)
    try:  # stage by stage, as the SMTP session drives it
        assert talk.connect(client_peer) is None
        assert talk.helo(client_peer, "laptop.home") is None
        for raw in raws:
            message = MilterMessage.parse(
                client_peer, envelope("alice@example.org", ("bob@example.net", None)), raw)
            assert talk.mail(client_peer, message.envelope) is None
            for recipient in message.envelope.recipients:
                assert talk.rcpt(client_peer, recipient) is None
            outcome = talk.message(snapshot(message))
            talk.abort()
            done.append((message, apply(outcome, message)))
    finally:
        talk.quit()
    return done


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
    with pytest.raises(OSError):
        Conversation(family, target, 5)


def test_two_messages_on_one_milter_connection(opendkim):
    address, record = opendkim
    second = SUBMITTED.replace(b"signed by opendkim", b"the second one")
    signed = _signed_on_one_connection(address, [SUBMITTED, second])

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record
    for message, verdict in signed:
        assert verdict.action is Action.CONTINUE
        assert message.as_bytes().count(b"DKIM-Signature:") == 1
        assert dkim.verify(message.as_bytes(), dnsfunc=dns)
