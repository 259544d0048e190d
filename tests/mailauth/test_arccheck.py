"""ARC (RFC 8617): chains sealed with dkimpy's arc_sign verify, and break when tampered with."""

from __future__ import annotations

import dkim

from mfserver.mailauth import check_message, sign_message
from mfserver.mailauth.arccheck import verify_chain
from mfserver.resolver import StaticResolver
from tests.mailauth.conftest import DOMAIN, MAIL_HOST, MAIL_HOST_IP, MESSAGE


def seal(message: bytes, keys, resolver: StaticResolver, hop: str) -> bytes:
    """What a forwarding host `hop` does: record its results, then add an ARC set."""
    results = check_message(message, client_ip=MAIL_HOST_IP, helo=MAIL_HOST,
                            mail_from="alice@example.com", resolver=resolver, authserv_id=hop)
    message = results.header() + message
    arc_set = dkim.arc_sign(message, keys[0].selector.encode(), DOMAIN.encode(),
                            keys[0].private_key.read_bytes().strip(), hop.encode())
    assert arc_set, "dkimpy made no ARC set"
    return b"".join(arc_set) + message


def test_no_arc_headers_is_none(resolver):
    assert verify_chain(MESSAGE, resolver).result == "none"


def test_one_and_two_hop_chains_pass(keys, resolver):
    signed = sign_message(MESSAGE, DOMAIN, keys)
    first = seal(signed, keys, resolver, "list.example.net")
    assert verify_chain(first, resolver).result == "pass"
    second = seal(first, keys, resolver, "forwarder.example.org")
    assert verify_chain(second, resolver).result == "pass"
    outcome = check_message(second, client_ip="203.0.113.5", helo="forwarder.example.org",
                            mail_from="list@example.net", resolver=resolver,
                            authserv_id="mx.example.org")
    assert outcome.arc.result == "pass"
    assert b"arc=pass" in outcome.header()


def test_tampered_body_or_seal_fails(keys, resolver):
    chain = seal(sign_message(MESSAGE, DOMAIN, keys), keys, resolver, "list.example.net")
    assert verify_chain(chain.replace(b"noon", b"one"), resolver).result == "fail"
    assert verify_chain(chain.replace(b"cv=none", b"cv=pass", 1), resolver).result == "fail"
    removed = b"\r\n".join(line for line in chain.split(b"\r\n")
                           if not line.startswith(b"ARC-Message-Signature"))
    assert verify_chain(removed, resolver).result == "fail"


def test_missing_or_unreachable_seal_key_fails(keys, resolver, published):
    chain = seal(sign_message(MESSAGE, DOMAIN, keys), keys, resolver, "list.example.net")
    key_name = f"{keys[0].selector}._domainkey.{DOMAIN}"
    without = StaticResolver({k: v for k, v in published.items() if k[0] != key_name})
    assert verify_chain(chain, without).result == "fail"
    down = StaticResolver(published, failing=[key_name])
    assert verify_chain(chain, down) .result == "fail"
    assert verify_chain(chain, down).reason == "key not available now"


def test_garbage_arc_fields_fail_without_raising(resolver):
    for field in (b"ARC-Seal: i=1; garbage\r\n", b"ARC-Seal: \r\n",
                  b"ARC-Seal: i=x; a=rsa-sha256\r\n"):
        assert verify_chain(field + MESSAGE, resolver).result == "fail"
