"""SPF/DKIM/DMARC on the way in, DKIM on the way out, through the running server with the
outside world's DNS answered by a fake name server on loopback."""

from __future__ import annotations

import smtplib

import dkim
import pytest

from tests.smtp.conftest import HOST, SMTPServer, message


def dnsfunc(smtp_server: SMTPServer):  # noqa: ANN201 - dkimpy's callback shape
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        values = smtp_server.dns.records.get((name.decode().rstrip(".").lower(), "TXT"), [])
        return values[0].encode() if values else b""
    return lookup


def authentication_results(stored: bytes) -> str:
    head = stored.partition(b"\r\n\r\n")[0].decode()
    fields = [f for f in head.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
              if f.startswith("Authentication-Results:")]
    assert len(fields) == 1, fields
    return fields[0]


def test_inbound_results_are_recorded(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    client.sendmail("news@example.net", [f"{user}@example.org"],
                    message("spf pass", sender="news@example.net"))
    client.quit()
    [stored] = smtp_server.messages(user)
    results = authentication_results(stored)
    assert results.startswith(f"Authentication-Results: {HOST};")
    assert "spf=pass smtp.mailfrom=example.net" in results
    assert "dmarc=" in results and "127.0.0.1" not in results


def test_forged_results_claiming_to_be_ours_are_removed(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    forged = (f"Authentication-Results: {HOST}; dkim=pass header.d=bank.example\r\n"
              "Authentication-Results: elsewhere.example; spf=pass\r\n").encode()
    client = smtp_server.inbound()
    client.sendmail("news@example.net", [f"{user}@example.org"], forged + message("forged"))
    client.quit()
    [stored] = smtp_server.messages(user)
    assert b"header.d=bank.example" not in stored
    assert b"Authentication-Results: elsewhere.example; spf=pass" in stored


def test_dmarc_reject_is_refused(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("ceo@reject.test", [f"{user}@example.org"],
                        message("pay now", sender="ceo@reject.test"))
    client.quit()
    assert refused.value.smtp_code == 550 and b"DMARC" in refused.value.smtp_error
    assert smtp_server.messages(user) == []


def test_dmarc_quarantine_goes_to_junk(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    client.sendmail("x@quarantine.test", [f"{user}@example.org"],
                    message("dubious", sender="x@quarantine.test"))
    client.quit()
    assert smtp_server.messages(user) == []
    [junk] = smtp_server.messages(user, "Junk")
    assert "dmarc=fail" in authentication_results(junk)


def test_submitted_mail_is_signed_and_verifies(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.submit("alice")
    client.sendmail("alice@example.org", [f"{user}@example.org"],
                    message("signed", sender="Alice <alice@example.org>",
                            to=f"{user}@example.org", body="Grüße\r\n".encode()))
    client.quit()
    [stored] = smtp_server.messages(user)
    signed = stored.partition(b"\r\n")[2]  # without the Return-Path added at delivery
    assert signed.count(b"DKIM-Signature:") == 2
    assert b"a=rsa-sha256" in signed and b"a=ed25519-sha256" in signed
    assert dkim.verify(signed, dnsfunc=dnsfunc(smtp_server))
    # our own inbound check agrees: a message we signed passes DKIM and DMARC
    client = smtp_server.inbound()
    client.sendmail("alice@example.org", [f"{user}@example.org"], signed)
    client.quit()
    results = authentication_results(smtp_server.messages(user)[1].partition(b"\r\n")[2])
    assert "dkim=pass" in results and "dmarc=pass" in results
