"""The SASL PLAIN and LOGIN exchange shared by IMAP, POP3 and SMTP."""

from __future__ import annotations

import base64

import pytest

from mfserver.auth import sasl


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def test_plain_with_initial_response():
    exchange = sasl.Exchange("PLAIN", b"\0alice\0secret")
    assert exchange.complete
    assert exchange.credentials() == ("alice", "secret")


def test_plain_prompted_and_same_authzid():
    exchange = sasl.Exchange("PLAIN")
    assert not exchange.complete and exchange.prompt() == b""
    exchange.respond(b64(b"alice\0alice\0secret"))
    assert exchange.credentials() == ("alice", "secret")


def test_login_prompts_for_username_then_password():
    exchange = sasl.Exchange("LOGIN")
    assert base64.b64decode(exchange.prompt()) == b"Username:"
    exchange.respond(b64(b"alice"))
    assert base64.b64decode(exchange.prompt()) == b"Password:"
    exchange.respond(b64(b"p\xc3\xa4ss"))
    assert exchange.complete and exchange.credentials() == ("alice", "päss")


@pytest.mark.parametrize("mechanism, initial, line, reason", [
    ("PLAIN", None, b"*", "cancelled"),
    ("LOGIN", None, b"not base64!", "base64"),
    ("PLAIN", b"\0only-two", None, "malformed"),
    ("PLAIN", b"\0alice\0\xff", None, "malformed"),
    ("PLAIN", b"bob\0alice\0secret", None, "authzid"),
])
def test_failures(mechanism, initial, line, reason):
    exchange = sasl.Exchange(mechanism, initial)
    with pytest.raises(sasl.SaslError) as info:
        if line is not None:
            exchange.respond(line)
        exchange.credentials()
    assert info.value.reason == reason


def test_empty_response_and_unknown_mechanism():
    assert sasl.decode_response("=") == b""
    assert sasl.decode_response("a===") is None
    with pytest.raises(ValueError):
        sasl.Exchange("CRAM-MD5")
