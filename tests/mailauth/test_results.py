"""The Authentication-Results field we write (RFC 8601), and removing forged ones (§5)."""

from __future__ import annotations

import authres
import authres.arc
import authres.dmarc

from mfserver.mailauth import check_message, sign_message, strip_forged_results
from mfserver.mailauth.headers import split_header
from tests.mailauth.conftest import DOMAIN, MAIL_HOST, MAIL_HOST_IP, MESSAGE

AUTHSERV_ID = "mx.example.org"


def unfold(header: bytes) -> str:
    return header.decode().replace("\r\n\t", " ").replace("\r\n", "")


def parse(header: bytes) -> authres.AuthenticationResultsHeader:
    return authres.FeatureContext(authres.arc, authres.dmarc).parse(unfold(header))


def test_header_reads_back_with_every_result(keys, resolver):
    signed = sign_message(MESSAGE, DOMAIN, keys)
    outcome = check_message(signed, client_ip=MAIL_HOST_IP, helo=MAIL_HOST,
                            mail_from="alice@example.com", resolver=resolver,
                            authserv_id=AUTHSERV_ID)
    header = outcome.header()
    parsed = parse(header)
    assert parsed.authserv_id == AUTHSERV_ID
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "pass"), ("dkim", "pass"), ("dkim", "pass"), ("arc", "none"),
        ("dmarc", "pass")]
    text = unfold(header)
    assert "smtp.mailfrom=example.com" in text
    assert f"header.s={keys[0].selector}" in text and "header.a=ed25519-sha256" in text
    b_values = [prop.value for r in parsed.results for prop in r.properties
                if (prop.type, prop.name) == ("header", "b")]
    assert b_values == [result.b_prefix for result in outcome.dkim]
    assert "dmarc=pass (p=quarantine dis=none) header.from=example.com" in text


def test_header_is_folded_and_crlf_terminated(keys, resolver):
    outcome = check_message(sign_message(MESSAGE, DOMAIN, keys), client_ip=MAIL_HOST_IP,
                            helo=MAIL_HOST, mail_from="alice@example.com", resolver=resolver,
                            authserv_id=AUTHSERV_ID)
    header = outcome.header()
    assert header.startswith(b"Authentication-Results: mx.example.org;\r\n\t")
    assert header.endswith(b"\r\n") and not header.endswith(b"\r\n\r\n")
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))
    # Prepended, it is one field of a well-formed header.
    fields, _ = split_header(header + MESSAGE)
    assert fields[0].name == "authentication-results" and fields[1].name == "from"


def test_header_never_names_the_client_address(resolver):
    for helo, mail_from in (("[198.51.100.23]", ""), ("client.example.net", ""),
                            ("client.example.net", "ann@example.net")):
        outcome = check_message(MESSAGE, client_ip="198.51.100.23", helo=helo,
                                mail_from=mail_from, resolver=resolver,
                                authserv_id=AUTHSERV_ID)
        assert b"198.51.100.23" not in outcome.header()
        assert b"ann@" not in outcome.header()


def test_unsigned_message_says_dkim_none(resolver):
    outcome = check_message(MESSAGE, client_ip="198.51.100.23", helo="client.example.net",
                            mail_from="", resolver=resolver, authserv_id=AUTHSERV_ID)
    text = unfold(outcome.header())
    assert "spf=none smtp.helo=client.example.net" in text
    assert "dkim=none" in text and "arc=none" in text
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=example.com" in text


def test_strip_removes_only_fields_with_our_authserv_id():
    message = (b"Authentication-Results: MX.example.org; dkim=pass header.d=bank.example\r\n"
               b"Received: from somewhere\r\n"
               b"Authentication-Results: (forged) mx.example.org 1;\r\n\tspf=pass\r\n"
               b"Authentication-Results: \"mx.example.org\"; none\r\n"
               b"Authentication-Results: relay.example.net; spf=pass\r\n"
               b"Authentication-Results: mx.example.org.evil; spf=pass\r\n"
               + MESSAGE)
    stripped = strip_forged_results(message, AUTHSERV_ID)
    assert stripped == (b"Received: from somewhere\r\n"
                        b"Authentication-Results: relay.example.net; spf=pass\r\n"
                        b"Authentication-Results: mx.example.org.evil; spf=pass\r\n"
                        + MESSAGE)


def test_strip_keeps_a_message_without_forgeries_byte_for_byte():
    assert strip_forged_results(MESSAGE, AUTHSERV_ID) is MESSAGE
    lf_only = MESSAGE.replace(b"\r\n", b"\n")
    assert strip_forged_results(lf_only, AUTHSERV_ID) == lf_only


def test_strip_keeps_signatures_valid(keys, resolver):
    """Removing our forged field leaves the rest intact, so earlier signatures still verify."""
    signed = sign_message(MESSAGE, DOMAIN, keys)
    forged = b"Authentication-Results: mx.example.org; dmarc=pass\r\n" + signed
    outcome = check_message(strip_forged_results(forged, AUTHSERV_ID), client_ip="192.0.2.99",
                            helo="x.example", mail_from="a@example.com", resolver=resolver,
                            authserv_id=AUTHSERV_ID)
    assert [result.result for result in outcome.dkim] == ["pass", "pass"]
