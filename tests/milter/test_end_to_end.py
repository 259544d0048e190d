"""The chains in the running server, through SMTP on 127.0.0.1 and back over IMAP: the
corpus, the client's address on submission, Junk training with IMAP MOVE, allow/block lists
with `mfserver filter`, malware refused, and opendkim signing submitted mail."""

from __future__ import annotations

import smtplib
import time

import dkim
import pytest

from tests.plugins.corpus import eicar_zip_in_zip, load, with_attachment
from tests.plugins.test_spam import HAM, SPAM
from tests.smtp.conftest import PASSWORD

UNTOUCHED = ["personal.eml", "pgp_signed.eml", "pgp_encrypted.eml", "smime_signed.eml",
             "attachments.eml"]
NEWSLETTERS = ["newsletter_mailchimp.eml", "newsletter_sendgrid.eml",
               "newsletter_substack.eml"]


def deliver(server, user: str, raw: bytes, sender: str = "news@example.net") -> None:
    client = server.inbound()
    try:
        client.sendmail(sender, [f"{user}@example.org"], raw)
    finally:
        client.quit()


def fetch_one(server, user: str, folder: str = "INBOX") -> bytes:
    [message] = server.messages(user, folder)
    return message


def test_the_corpus_through_smtp_and_imap(milter_server):
    user = milter_server.account()
    for name in UNTOUCHED + NEWSLETTERS + ["broken_mime.eml", "shift_jis.eml"]:
        deliver(milter_server, user, load(name))
    stored = {message.split(b"Message-ID: ")[1].split(b"\r\n")[0]: message
              for message in milter_server.messages(user)}
    assert len(stored) == 10
    for name in UNTOUCHED:
        raw = load(name)
        message_id = raw.split(b"Message-ID: ")[1].split(b"\r\n")[0]
        delivered = stored[message_id]
        # everything the sender wrote, byte for byte, below our trace and status fields
        assert delivered.endswith(raw), name
        assert b"X-Trackers-Removed" not in delivered
    for name in NEWSLETTERS:
        raw = load(name)
        delivered = stored[raw.split(b"Message-ID: ")[1].split(b"\r\n")[0]]
        assert b"X-Trackers-Removed: " in delivered, name
        assert b"/track/open.php" not in delivered and b"wf/open" not in delivered
        assert b"utm_source" not in delivered.replace(b"=\r\n", b"")


def test_submission_leaves_no_trace_of_the_client_address(milter_server):
    user = milter_server.account()
    client = smtplib.SMTP("127.0.0.1", milter_server.submission, local_hostname="laptop.home",
                          source_address=("127.0.0.7", 0), timeout=30)
    client.starttls(context=milter_server.context)
    client.ehlo()
    client.login("alice", PASSWORD)
    raw = (b"Received: from [192.168.1.20] (laptop.home [127.0.0.7]) by laptop.home\r\n"
           b"X-Originating-IP: [127.0.0.7]\r\nX-Forwarded-For: 127.0.0.7\r\n"
           b"From: alice@example.org\r\nTo: " + f"{user}@example.org".encode()
           + b"\r\nSubject: from home\r\nMessage-ID: <1@laptop.home>\r\n\r\nHi.\r\n")
    client.sendmail("alice@example.org", [f"{user}@example.org"], raw)
    client.quit()
    delivered = fetch_one(milter_server, user)
    assert b"127.0.0.7" not in delivered
    assert b"laptop.home" not in delivered
    assert delivered.endswith(b"\r\n\r\nHi.\r\n")


def test_opendkim_signs_submitted_mail(milter_server, opendkim):
    user = milter_server.account()
    client = milter_server.submit()
    client.sendmail("alice@example.org", [f"{user}@example.org"],
                    b"From: alice@example.org\r\nTo: " + f"{user}@example.org".encode()
                    + b"\r\nSubject: signed\r\n\r\nSigned by opendkim.\r\n")
    client.quit()
    delivered = fetch_one(milter_server, user)
    assert b"s=test;" in delivered

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return opendkim[1] if name == b"test._domainkey.example.org." else None
    # the server signs too (its own selector); check opendkim's signature
    signatures = [field for field in delivered.split(b"\r\n\r\n")[0].split(b"\r\nDKIM-")
                  if field.startswith(b"Signature:")]
    index = next(n for n, field in enumerate(signatures) if b"s=test;" in field)
    assert dkim.DKIM(delivered).verify(idx=index, dnsfunc=dns)


def _wait_for_learning(server, user: str, expected: str) -> None:
    deadline = time.monotonic() + 30
    while expected not in server.cli("filter", "list", user):
        assert time.monotonic() < deadline, server.cli("filter", "list", user)
        time.sleep(0.2)


def _move(server, user: str, source: str, target: str) -> None:
    client = server.imap(user)
    try:
        client.select(source)
        _, data = client.uid("SEARCH", None, "ALL")
        for uid in data[0].split():
            assert client.uid("MOVE", uid, target)[0] == "OK"
    finally:
        client.logout()


def test_junk_training_over_imap_move_changes_the_next_verdict(milter_server):
    user = milter_server.account()
    mild = SPAM.replace(b"YOU ARE A WINNER!!!", b"prize news").replace(
        b"\"paypal@secure.example\" ", b"")
    milter_server.cli("filter", "block", user, "friends.example")
    deliver(milter_server, user, HAM, sender="bob@friends.example")
    assert len(milter_server.messages(user, "Junk")) == 1  # blocked
    milter_server.cli("filter", "remove", user, "friends.example")
    _move(milter_server, user, "Junk", "INBOX")  # not junk after all
    _wait_for_learning(milter_server, user, "learnt 0 junk, 1 not junk")
    deliver(milter_server, user, mild, sender="win@example.net")
    assert len(milter_server.messages(user)) == 2  # below the threshold: INBOX
    client = milter_server.imap(user)
    client.select("INBOX")
    _, data = client.uid("SEARCH", None, "SUBJECT", "prize")
    assert client.uid("MOVE", data[0].split()[0], "Junk")[0] == "OK"
    client.logout()
    _wait_for_learning(milter_server, user, "learnt 1 junk, 1 not junk")
    deliver(milter_server, user, mild.replace(b"5000", b"7000"), sender="win@example.net")
    junk = milter_server.messages(user, "Junk")
    assert len(junk) == 2 and b"BAYES_" in junk[-1] and b"X-Spam-Status: Yes" in junk[-1]
    deliver(milter_server, user, HAM.replace(b"Sunday", b"Monday"),
            sender="bob@friends.example")
    assert len(milter_server.messages(user)) == 2  # the friend's next mail: INBOX


def test_allow_and_block_lists_with_the_command(milter_server):
    user = milter_server.account()
    assert "block: friends.example" in milter_server.cli("filter", "block", user,
                                                         "Friends.Example")
    milter_server.cli("filter", "set", user, "blocked", "reject")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        deliver(milter_server, user, HAM, sender="bob@friends.example")
    assert refused.value.smtp_code == 550 and b"blocked" in refused.value.smtp_error
    very_spammy = SPAM.replace(b"From: \"paypal", b"From: \"pay.pal")
    milter_server.cli("filter", "allow", user, "win@lottery.example")
    deliver(milter_server, user, very_spammy, sender="win@lottery.example")
    [kept] = milter_server.messages(user)
    assert b"USER_ALLOWED" in kept
    listing = milter_server.cli("filter", "list", user)
    assert "allow  win@lottery.example" in listing and "set    blocked = reject" in listing
    from tests.harness import cli
    bad = cli("filter", "block", user, "@nodomain", config=milter_server.config)
    assert bad.returncode == 1 and "not an address or domain" in bad.stderr
    assert "@nodomain" not in milter_server.cli("filter", "list", user)


def test_malware_is_refused_inbound_and_outbound(milter_server):
    user = milter_server.account()
    raw = with_attachment("archive.zip", eicar_zip_in_zip())
    with pytest.raises(smtplib.SMTPDataError) as refused:
        deliver(milter_server, user, raw)
    assert refused.value.smtp_code == 554 and b"5.7.1" in refused.value.smtp_error
    client = milter_server.submit()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("alice@example.org", ["someone@remote.test"],
                        raw.replace(b"From: sender@example.net", b"From: alice@example.org"))
    client.quit()
    assert refused.value.smtp_code == 554
    assert milter_server.messages(user) == []
