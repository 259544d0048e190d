"""Submission to remote recipients through the outbound queue, and the DSNs the server sends,
with remote.test's MX played by a local sink (tests/smtpsink.py) found through fake DNS."""

from __future__ import annotations

import email
import time
from collections.abc import Callable

import dkim
import pytest

from tests.smtp.conftest import SMTPServer, message
from tests.smtp.test_mail_authentication import dnsfunc
from tests.smtpsink import Transaction


def received_by_sink(smtp_server: SMTPServer, match: Callable[[Transaction], bool],
                     timeout: float = 20) -> Transaction:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [t for t in smtp_server.sink.messages if t.data and match(t)]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the sink received nothing that matches")


def wait_for(check: Callable[[], list[bytes]], timeout: float = 20) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("nothing arrived")


def test_remote_delivery_signed_and_without_the_client(smtp_server: SMTPServer) -> None:
    client = smtp_server.submit("alice")
    client.sendmail("alice@example.org", ["bob@remote.test"],
                    message("to the world", sender="alice@example.org", to="bob@remote.test"),
                    rcpt_options=["NOTIFY=FAILURE,DELAY"])
    client.quit()
    sent = received_by_sink(smtp_server, lambda t: b"Subject: to the world" in t.data)
    assert sent.mail_from == "alice@example.org"
    assert [address for address, _ in sent.recipients] == ["bob@remote.test"]
    notify = dict(sent.recipients)["bob@remote.test"].get("NOTIFY", "")
    assert set(notify.split(",")) == {"FAILURE", "DELAY"}
    assert dkim.verify(sent.data, dnsfunc=dnsfunc(smtp_server))
    assert b"127.0.0.1" not in sent.data and b"laptop.home" not in sent.data


def test_local_and_remote_recipients_in_one_message(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.submit("alice")
    client.sendmail("alice@example.org", [f"{user}@example.org", "carl@remote.test"],
                    message("mixed", sender="alice@example.org"))
    client.quit()
    assert len(smtp_server.messages(user)) == 1
    received_by_sink(smtp_server, lambda t: b"Subject: mixed" in t.data)


def test_a_permanent_remote_refusal_bounces_to_the_local_sender(
        smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    smtp_server.sink.fail("rcpt", "550 5.1.1 no such user here", address="gone@remote.test")
    client = smtp_server.submit(user)
    client.sendmail(f"{user}@example.org", ["gone@remote.test"],
                    message("will bounce", sender=f"{user}@example.org"))
    client.quit()
    [bounce] = wait_for(lambda: smtp_server.messages(user))
    report = email.message_from_bytes(bounce)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert b"Return-Path: <>" in bounce
    assert b"Final-Recipient: rfc822; gone@remote.test" in bounce
    assert b"Action: failed" in bounce and b"550 5.1.1 no such user here" in bounce


@pytest.mark.parametrize("notify", ["SUCCESS", "SUCCESS,FAILURE"])
def test_notify_success_on_local_delivery(smtp_server: SMTPServer, notify: str) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    client.sendmail(f"asker-{len(notify)}@remote.test", [f"{user}@example.org"],
                    message(f"tell me {notify}"), rcpt_options=[f"NOTIFY={notify}"],
                    mail_options=["ENVID=ENV42"])
    client.quit()
    notice = received_by_sink(
        smtp_server, lambda t: t.recipients[0][0] == f"asker-{len(notify)}@remote.test")
    assert notice.mail_from == ""
    assert b"Action: delivered" in notice.data
    assert b"Original-Envelope-Id: ENV42" in notice.data


def test_one_full_mailbox_among_several_gets_a_bounce_not_a_retry(
        smtp_server: SMTPServer) -> None:
    full, fine = smtp_server.account(), smtp_server.account()
    client = smtp_server.inbound()
    smtp_server.cli("user", "set", full, "--quota", "1K")
    assert client.sendmail("lister@remote.test", [f"{full}@example.org", f"{fine}@example.org"],
                           message("partly", body=b"p" * 2000)) == {}
    client.quit()
    assert len(smtp_server.messages(fine)) == 1
    assert smtp_server.messages(full) == []
    notice = received_by_sink(smtp_server, lambda t: t.recipients[0][0] == "lister@remote.test")
    assert notice.mail_from == "" and b"Action: failed" in notice.data
    assert f"Final-Recipient: rfc822; {full}@example.org".encode() in notice.data


def test_queue_command_sees_what_is_waiting(smtp_server: SMTPServer) -> None:
    smtp_server.sink.fail("rcpt", "451 4.3.0 try later", address="later@remote.test")
    client = smtp_server.submit("bob")
    client.sendmail("bob@example.org", ["later@remote.test"],
                    message("deferred", sender="bob@example.org"))
    client.quit()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listing = smtp_server.cli("queue", "list")
        if "later@remote.test" in listing and "451" in listing:
            break
        time.sleep(0.2)
    assert "later@remote.test" in listing and "451 4.3.0 try later" in listing
