"""Submission (587 with STARTTLS, 465 with implicit TLS) as Thunderbird sees it: AUTH only
over TLS, the sender must own its addresses, nothing about the client leaves in headers."""

from __future__ import annotations

import base64
import smtplib

import pytest

from tests.smtp.conftest import HOST, PASSWORD, RawSMTP, SMTPServer, message


def plain(login: str, password: str) -> bytes:
    return base64.b64encode(f"\0{login}\0{password}".encode())


def test_no_auth_offered_or_accepted_before_tls(smtp_server: SMTPServer) -> None:
    raw = RawSMTP(smtp_server.submission)
    reply = raw.command(b"EHLO laptop.home")
    assert b"AUTH" not in reply and b"STARTTLS" in reply
    assert raw.command(b"AUTH PLAIN " + plain("alice", PASSWORD)).startswith(b"538 5.7.11")
    assert raw.command(b"MAIL FROM:<alice@example.org>").startswith(b"530 5.7.0")
    raw.starttls(smtp_server.context)
    reply = raw.command(b"EHLO laptop.home")
    assert b"250-AUTH PLAIN LOGIN" in reply or b"250 AUTH PLAIN LOGIN" in reply
    assert raw.command(b"AUTH PLAIN " + plain("alice", PASSWORD)).startswith(b"235 2.7.0")
    assert raw.command(b"AUTH PLAIN " + plain("alice", PASSWORD)).startswith(b"503")
    raw.close()


def test_auth_login_exchange_and_failures(smtp_server: SMTPServer) -> None:
    raw = RawSMTP(smtp_server.smtps, smtp_server.context)
    raw.command(b"EHLO laptop.home")
    assert raw.command(b"AUTH LOGIN") == b"334 VXNlcm5hbWU6"
    assert raw.command(base64.b64encode(b"bob")) == b"334 UGFzc3dvcmQ6"
    assert raw.command(base64.b64encode(b"wrong")).startswith(b"535 5.7.8")
    assert raw.command(b"AUTH PLAIN") == b"334 "
    assert raw.command(b"*").startswith(b"501 5.0.0")
    assert raw.command(b"AUTH PLAIN !!!").startswith(b"501")
    assert raw.command(b"AUTH CRAM-MD5").startswith(b"504")
    assert raw.command(b"AUTH PLAIN " + base64.b64encode(b"\0bob")).startswith(b"535")
    assert raw.command(b"AUTH PLAIN " + base64.b64encode(
        f"alice\0bob\0{PASSWORD}".encode())).startswith(b"535")  # acting as another
    assert raw.command(b"AUTH LOGIN " + base64.b64encode(b"bob")) == b"334 UGFzc3dvcmQ6"
    assert raw.command(base64.b64encode(PASSWORD.encode())).startswith(b"235")
    raw.close()


def test_address_login_and_implicit_tls(smtp_server: SMTPServer) -> None:
    client = smtp_server.submit("bob@example.org", implicit=True)
    assert client.sendmail("bob@example.org", ["carol@example.org"],
                           message("implicit", sender="bob@example.org",
                                   to="carol@example.org")) == {}
    client.quit()


def test_two_factor_accounts_need_an_app_password(smtp_server: SMTPServer) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError):
        smtp_server.submit("dave", PASSWORD)
    client = smtp_server.submit("dave", smtp_server.app_password)
    client.quit()


def test_submission_to_a_local_account(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.submit("alice")
    assert client.sendmail("alice@example.org", [f"{user}@example.org"],
                           message("from alice", sender="Alice <alice@example.org>",
                                   to=f"{user}@example.org")) == {}
    client.quit()
    [stored] = smtp_server.messages(user)
    head = stored.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"Return-Path: <alice@example.org>\r\nDKIM-Signature: ")
    assert b"\r\nReceived: by " + HOST.encode() in head and b"with ESMTPSA" in head
    # nothing about the client: not its address, not its HELO name
    assert b"127.0.0.1" not in stored and b"laptop.home" not in stored


def test_date_and_message_id_are_added_when_missing(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.submit("alice")
    client.sendmail("alice@example.org", [f"{user}@example.org"],
                    b"From: alice@example.org\r\nSubject: bare\r\n\r\nx\r\n")
    client.quit()
    [stored] = smtp_server.messages(user)
    assert b"\r\nDate: " in stored and f"@{HOST}>".encode() in stored


@pytest.mark.parametrize("sender", ["info@example.org", "alice+lists@example.org",
                                    "ALICE@Example.ORG"])
def test_aliases_and_tags_may_be_used_as_sender(smtp_server: SMTPServer, sender: str) -> None:
    client = smtp_server.submit("alice")
    assert client.sendmail(sender, ["bob@example.org"],
                           message("alias", sender=sender, to="bob@example.org")) == {}
    client.quit()


def test_a_sender_not_owned_is_refused(smtp_server: SMTPServer) -> None:
    client = smtp_server.submit("alice")
    code, text = client.mail("bob@example.org")
    assert (code, text[:5]) == (553, b"5.7.1")
    code, text = client.mail(smtp_server.disposable_off)  # a disabled address of hers
    assert code == 553
    client.rset()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("alice@example.org", ["carol@example.org"],
                        message("forged from", sender="bob@example.org"))
    assert refused.value.smtp_code == 553 and refused.value.smtp_error[:5] == b"5.7.1"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("alice@example.org", ["carol@example.org"],
                        message("two froms", sender="alice@example.org, bob@example.org"))
    assert refused.value.smtp_code == 553
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("alice@example.org", ["carol@example.org"],
                        b"To: carol@example.org\r\nSubject: no from\r\n\r\nx\r\n")
    assert refused.value.smtp_code == 554
    client.quit()
    assert not [m for m in smtp_server.messages("carol")
                if b"forged from" in m or b"two froms" in m or b"no from" in m]


def test_unknown_local_recipient_on_submission(smtp_server: SMTPServer) -> None:
    client = smtp_server.submit("alice")
    client.mail("alice@example.org")
    code, text = client.rcpt("nobody@example.org")
    assert (code, text[:5]) == (550, b"5.1.1")
    client.quit()


def test_sending_rate_limit(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.submit(user)
    accepted = 0
    refusal = None
    for _ in range(12):
        client.mail(f"{user}@example.org")
        for _ in range(5):
            code, text = client.rcpt("bob@example.org")
            if code != 250:
                refusal = (code, text)
                break
            accepted += 1
        client.rset()
        if refusal:
            break
    client.quit()
    assert accepted == 40  # the package's send_limit_per_hour
    assert refusal is not None and refusal[0] == 451 and refusal[1][:5] == b"4.7.1"
