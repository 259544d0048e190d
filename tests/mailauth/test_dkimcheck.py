"""DKIM verification: one result per signature, and the RFC 8601 result for each way it fails."""

from __future__ import annotations

import base64
import subprocess

import dkim
import pytest

from mfserver.mailauth import sign_message
from mfserver.mailauth.dkimcheck import verify_signatures
from mfserver.resolver import StaticResolver
from tests.mailauth.conftest import DOMAIN, MESSAGE


def results(message: bytes, resolver: StaticResolver) -> list[str]:
    return [result.result for result in verify_signatures(message, resolver)]


@pytest.fixture(scope="module")
def signed(keys) -> bytes:
    return sign_message(MESSAGE, DOMAIN, keys)


def test_pass_names_domain_selector_and_b_prefix(signed, keys, resolver):
    rsa, ed = verify_signatures(signed, resolver)
    assert (rsa.result, rsa.domain, rsa.selector, rsa.algorithm) == (
        "pass", DOMAIN, keys[0].selector, "rsa-sha256")
    assert (ed.result, ed.selector, ed.algorithm) == ("pass", keys[1].selector,
                                                      "ed25519-sha256")
    b_values = [dkim.util.parse_tag_value(line)[b"b"].replace(b" ", b"")
                for line in _signature_values(signed)]
    assert [r.b_prefix.encode() for r in (rsa, ed)] == [value[:8] for value in b_values]


def _signature_values(message: bytes) -> list[bytes]:
    headers, _ = dkim.rfc822_parse(message)
    return [value.replace(b"\r\n", b"") for name, value in headers
            if name.lower() == b"dkim-signature"]


def test_ed25519_alone(keys, resolver):
    message = sign_message(MESSAGE, DOMAIN, keys[1:])
    assert [(r.result, r.algorithm) for r in verify_signatures(message, resolver)] == [
        ("pass", "ed25519-sha256")]


def test_changed_body_fails(signed, resolver):
    assert results(signed.replace(b"noon", b"one"), resolver) == ["fail", "fail"]
    assert verify_signatures(signed.replace(b"noon", b"one"), resolver)[0].reason == (
        "body hash mismatch")


def test_changed_signed_header_fails(signed, resolver):
    assert results(signed.replace(b"Lunch on Friday", b"Lunch on Monday"), resolver) == [
        "fail", "fail"]


def test_changed_unsigned_header_still_passes(signed, resolver):
    assert results(signed.replace(b"from laptop", b"from desktop"), resolver) == [
        "pass", "pass"]


def test_no_signature_gives_no_results(resolver):
    assert verify_signatures(MESSAGE, resolver) == []


def test_missing_key_is_permerror(signed, published):
    without_keys = StaticResolver({key: value for key, value in published.items()
                                   if "._domainkey." not in key[0]})
    outcome = verify_signatures(signed, without_keys)
    assert [(r.result, r.reason) for r in outcome] == [("permerror", "no key")] * 2


def test_key_lookup_failing_now_is_temperror(signed, keys, published):
    resolver = StaticResolver(published, failing=[f"{keys[0].selector}._domainkey.{DOMAIN}"])
    assert results(signed, resolver) == ["temperror", "pass"]


@pytest.mark.parametrize("record", ["v=DKIM1; k=rsa; p=", "v=DKIM1; k=rsa; p=AAAA!!",
                                    "v=DKIM2; p=abc", "k=dsa; p=AAAA", "garbage"])
def test_unusable_key_record_is_permerror(signed, keys, published, record):
    resolver = StaticResolver({**published,
                               (f"{keys[0].selector}._domainkey.{DOMAIN}", "TXT"): [record]})
    assert results(signed, resolver) == ["permerror", "pass"]


def test_key_record_for_the_wrong_algorithm_fails(signed, keys, published):
    """The RSA selector answering with the Ed25519 key: the signature cannot verify."""
    resolver = StaticResolver({**published, (f"{keys[0].selector}._domainkey.{DOMAIN}", "TXT"):
                               [keys[1].txt_record()]})
    assert results(signed, resolver)[0] in ("fail", "permerror")
    assert results(signed, resolver)[1] == "pass"


def test_key_of_512_bits_is_permerror(tmp_path, resolver):
    pem = subprocess.run(["openssl", "genrsa", "512"], capture_output=True, check=True).stdout
    public = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem,
                            capture_output=True, check=True).stdout
    resolver.add(f"small._domainkey.{DOMAIN}", "TXT",
                 f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}")
    message = dkim.sign(MESSAGE, b"small", DOMAIN.encode(), pem) + MESSAGE
    assert [(r.result, r.reason) for r in verify_signatures(message, resolver)] == [
        ("permerror", "key too small")]


@pytest.mark.parametrize("field", [
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA\r\n",  # no b=
    b"DKIM-Signature: v=1; a=rsa-md5; d=example.com; s=x; h=from; bh=AA; b=AA\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=subject; bh=AA; b=AA\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AA; b=AA; "
    b"x=1000000\r\n",  # expired
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AA; b=AA; "
    b"i=@other.example\r\n",  # i= outside d=
    b"DKIM-Signature: not a tag list\r\n",
    b"DKIM-Signature: \r\n",
])
def test_malformed_signature_is_permerror(resolver, field):
    outcome = verify_signatures(field + MESSAGE, resolver)
    assert [r.result for r in outcome] == ["permerror"]


def test_each_signature_is_judged_alone(signed, resolver):
    broken = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from\r\n"
    assert results(broken + signed, resolver) == ["permerror", "pass", "pass"]


def test_foreign_domain_signature_passes_with_its_own_domain(keys, resolver):
    """A signature by another domain (a mailing list, a provider) passes for that domain."""
    resolver.add("list._domainkey.lists.example.org", "TXT", keys[1].txt_record())
    message = dkim.sign(MESSAGE, b"list", b"lists.example.org",
                        keys[1].private_key.read_bytes().strip(),
                        signature_algorithm=b"ed25519-sha256") + MESSAGE
    outcome = verify_signatures(message, resolver)
    assert [(r.result, r.domain) for r in outcome] == [("pass", "lists.example.org")]


def test_only_the_topmost_signatures_are_verified(signed, resolver):
    broken = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from\r\n"
    outcome = verify_signatures(broken * 9 + signed, resolver)
    assert [r.result for r in outcome] == ["permerror"] * 9 + ["pass"]
    assert verify_signatures(broken * 20, resolver) == [
        verify_signatures(broken, resolver)[0]] * 10
