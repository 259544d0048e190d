"""check_message as the SMTP server calls it: whole messages, odd envelopes, hostile bytes.

Whatever arrives, it returns results (none/permerror for what cannot be read) and never raises.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfserver.mailauth import check_message, sign_message
from mfserver.mailauth.headers import split_header
from mfserver.resolver import StaticResolver
from tests.mailauth.conftest import DOMAIN, MAIL_HOST, MAIL_HOST_IP, MESSAGE

VALID_RESULTS = {
    "spf": {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"},
    "dkim": {"pass", "fail", "temperror", "permerror"},
    "arc": {"pass", "fail", "none"},
    "dmarc": {"pass", "fail", "none", "temperror", "permerror"},
}


def run(message: bytes, resolver: StaticResolver, *, ip: str = "198.51.100.23",
        helo: str = "client.example.net", mail_from: str = "ann@example.com"):
    outcome = check_message(message, client_ip=ip, helo=helo, mail_from=mail_from,
                            resolver=resolver, authserv_id="mx.example.org")
    assert outcome.spf.result in VALID_RESULTS["spf"]
    assert {r.result for r in outcome.dkim} <= VALID_RESULTS["dkim"]
    assert outcome.arc.result in VALID_RESULTS["arc"]
    assert outcome.dmarc.result in VALID_RESULTS["dmarc"]
    assert outcome.dmarc.disposition in ("none", "quarantine", "reject")
    header = outcome.header()
    fields, rest = split_header(header)
    assert [field.name for field in fields] == ["authentication-results"] and rest == b""
    return outcome


def test_our_own_mail_passes_everything(keys, resolver):
    outcome = run(sign_message(MESSAGE, DOMAIN, keys), resolver, ip=MAIL_HOST_IP,
                  helo=MAIL_HOST, mail_from="alice@example.com")
    assert (outcome.spf.result, [r.result for r in outcome.dkim], outcome.arc.result,
            outcome.dmarc.result, outcome.dmarc.disposition) == (
        "pass", ["pass", "pass"], "none", "pass", "none")


def test_forged_sender_gets_the_published_quarantine(resolver):
    outcome = run(MESSAGE, resolver, mail_from="alice@example.com")
    assert (outcome.spf.result, outcome.dmarc.result, outcome.dmarc.disposition) == (
        "fail", "fail", "quarantine")


def test_dns_down_gives_temporary_results(keys, published):
    down = StaticResolver(published, failing=[DOMAIN, f"_dmarc.{DOMAIN}",
                                              f"{keys[0].selector}._domainkey.{DOMAIN}",
                                              f"{keys[1].selector}._domainkey.{DOMAIN}"])
    outcome = run(sign_message(MESSAGE, DOMAIN, keys), down, mail_from="alice@example.com")
    assert (outcome.spf.result, {r.result for r in outcome.dkim}, outcome.dmarc.result,
            outcome.dmarc.disposition) == ("temperror", {"temperror"}, "temperror", "none")


@pytest.mark.parametrize("message", [
    b"",
    b"\r\n",
    b"\r\n\r\nbody only",
    b"garbage without any header\r\n",
    b"\x00\xff\xfe\x80" * 100,
    b"From: alice@example.com\r\nSubject: no body, no empty line",
    b"From: alice@example.com\r\nSubject: empty body\r\n\r\n",
    b" continuation first\r\nFrom: alice@example.com\r\n\r\nx\r\n",
    b"From: alice@example.com\nSubject: bare LF\n\nbody\n",
    b"From: =?utf-8?q?J=C3=B6rg?= <j\xc3\xb6rg@b\xc3\xbccher.example>\r\n\r\n8-bit\r\n",
    b"From: \xe9t\xe9 <ete@example.com>\r\nSubject: \xff\xfe latin-1\r\n\r\n\xff\r\n",
    b"From: alice@example.com\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\nbody\r\n",
    b"From: alice@example.com\r\n" + b"X-Many: 1\r\n" * 5_000 + b"\r\nbody\r\n",
    b"From: alice@example.com\r\nX-Folded: 1\r\n" + b" more\r\n" * 5_000 + b"\r\nbody\r\n",
    b"To: bob@example.org\r\nSubject: no From\r\n\r\nbody\r\n",
    b"From: <>\r\n\r\nbody\r\n",
    b"From: alice@example.com\r\nFrom: bob@example.org\r\n\r\nbody\r\n",
    b"From: alice@" + b"a" * 300 + b".example\r\n\r\nbody\r\n",
    b"DKIM-Signature: v=1; d=\xff\xfe; s=\x00\r\nFrom: a@example.com\r\n\r\nbody\r\n",
    b"ARC-Seal: i=1; cv=none\r\nFrom: a@example.com\r\n\r\nbody\r\n",
    b"Authentication-Results: \r\nFrom: a@example.com\r\n\r\nbody\r\n",
])
def test_malformed_messages_give_results(resolver, message):
    run(message, resolver)


def test_messages_without_one_usable_author_never_pass_dmarc(resolver):
    for message in (b"", b"garbage\r\n", b"To: bob@example.org\r\n\r\nbody\r\n",
                    b"From: alice@example.com\r\nFrom: alice@example.com\r\n\r\nx\r\n"):
        assert run(message, resolver, mail_from="alice@example.com").dmarc.result in (
            "permerror", "fail")


def test_internationalized_author_domain_is_looked_up_as_a_labels(resolver):
    resolver.add("_dmarc.xn--bcher-kva.example", "TXT", "v=DMARC1; p=reject")
    message = "From: Jörg <jörg@bücher.example>\r\n\r\nHallo\r\n".encode()
    outcome = run(message, resolver, mail_from="jörg@bücher.example")
    assert (outcome.dmarc.from_domain, outcome.dmarc.disposition) == (
        "xn--bcher-kva.example", "reject")


@pytest.mark.parametrize("ip, helo, mail_from", [
    ("not-an-ip", "x.example", "a@example.com"),
    ("2001:db8::1", "x.example", "a@example.com"),
    ("::ffff:192.0.2.10", MAIL_HOST, "alice@example.com"),
    ("198.51.100.1", "", ""),
    ("198.51.100.1", "\x00\xff", "\x00@\xff"),
    ("198.51.100.1", "x.example", "a@b@c.example"),
    ("198.51.100.1", "x.example", "@example.com"),
    ("198.51.100.1", "x" * 1000, "a@" + "b." * 200 + "example"),
])
def test_odd_envelopes_give_results(resolver, ip, helo, mail_from):
    run(MESSAGE, resolver, ip=ip, helo=helo, mail_from=mail_from)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    b"From: a@example.com\r\n", b"From: \xff@\xfe\r\n", b"DKIM-Signature: v=1; a=rsa-sha256;",
    b" d=example.com; s=x; h=from; bh=AA; b=AA\r\n", b"ARC-Seal: i=1; a=rsa-sha256\r\n",
    b"Authentication-Results: mx.example.org; spf=pass\r\n", b"\r\n", b"\n", b" ", b":",
    b"\x00", b"body line\r\n", b"Subject: =?utf-8?b?w7w=?=\r\n", b"From: <>, b@\r\n",
]), max_size=30), st.binary(max_size=200))
def test_fuzzed_messages_never_raise(published, parts, tail):
    run(b"".join(parts) + tail, StaticResolver(published))
