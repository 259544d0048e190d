"""Inbound SMTP (the MX port) as another mail server sees it: smtplib and raw transcripts,
messages read back over IMAP."""

from __future__ import annotations

import smtplib
import socket
import time

import pytest

from tests.smtp.conftest import HOST, MAX_RECIPIENTS, MAX_SIZE, RawSMTP, SMTPServer, message


def test_greeting_and_ehlo_keywords(raw: RawSMTP) -> None:
    assert raw.greeting == f"220 {HOST} ESMTP mfserver".encode()
    reply = raw.command(b"EHLO client.example.net").split(b"\n")
    assert reply[0] == f"250-{HOST}".encode()
    keywords = [line[4:] for line in reply[1:]]
    assert keywords == [b"PIPELINING", f"SIZE {MAX_SIZE}".encode(), b"8BITMIME", b"SMTPUTF8",
                        b"ENHANCEDSTATUSCODES", b"CHUNKING", b"DSN", b"STARTTLS"]
    assert not any(word.startswith(b"AUTH") for word in keywords)


def test_helo_has_no_extensions_and_no_esmtp_parameters(raw: RawSMTP) -> None:
    assert raw.command(b"HELO client.example.net") == f"250 {HOST}".encode()
    assert raw.command(b"MAIL FROM:<a@example.net> SIZE=10").startswith(b"555 5.5.4")
    assert raw.command(b"MAIL FROM:<a@example.net>") == b"250 2.1.0 Sender OK"


def test_delivery_to_a_local_account(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    assert client.sendmail("sender@example.net", [f"{user}@example.org"],
                           message("local delivery", to=f"{user}@example.org")) == {}
    client.quit()
    [stored] = smtp_server.messages(user)
    head, _, body = stored.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"Return-Path: <sender@example.net>"
    assert lines[1] == b"Received: from client.example.net ([127.0.0.1])"
    assert b"with ESMTP id" in head and f"for <{user}@example.org>;".encode() in head
    assert body == b"Hello there.\r\n"


def test_the_250_comes_after_the_message_is_stored(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    for number in range(3):
        client.sendmail("sender@example.net", [f"{user}@example.org"],
                        message(f"durable {number}"))
        # no waiting: what was answered 250 is readable at once
        assert len(smtp_server.messages(user)) == number + 1
    client.quit()


def test_unknown_local_recipient_is_refused_at_rcpt(raw: RawSMTP) -> None:
    raw.command(b"EHLO client.example.net")
    raw.command(b"MAIL FROM:<a@example.net>")
    assert raw.command(b"RCPT TO:<nobody@example.org>").startswith(b"550 5.1.1")


@pytest.mark.parametrize("recipient", [
    "someone@example.com", "x@example.org.evil.test", "user@[127.0.0.1]", "a@localhost"])
def test_no_open_relay(raw: RawSMTP, recipient: str) -> None:
    raw.command(b"EHLO client.example.net")
    raw.command(b"MAIL FROM:<alice@example.org>")
    assert raw.command(f"RCPT TO:<{recipient}>".encode()).startswith(b"554 5.7.1")
    assert raw.command(b"DATA").startswith(b"503")


def test_recipients_through_aliases_tags_disposables_and_catch_all(
        smtp_server: SMTPServer) -> None:
    client = smtp_server.inbound()
    sent = ["info@example.org", "alice+news@example.org", smtp_server.disposable_on,
            "anything@catchall.test"]
    refused = client.sendmail("sender@example.net", sent, message("routing"))
    assert refused == {}
    client.mail("sender@example.net")
    code, text = client.rcpt(f"<{smtp_server.disposable_off}>")
    client.quit()
    assert (code, text[:5]) == (550, b"5.1.1")
    alice = [m for m in smtp_server.messages("alice") if b"Subject: routing" in m]
    carol = [m for m in smtp_server.messages("carol") if b"Subject: routing" in m]
    assert len(alice) == 1  # three addresses of one account: one copy
    assert len(carol) == 1


def test_postmaster_without_a_domain_is_accepted(raw: RawSMTP) -> None:
    raw.command(b"EHLO client.example.net")
    raw.command(b"MAIL FROM:<a@example.net>")
    # RFC 5321 4.5.1; here it reaches catchall.test's catch-all
    assert raw.command(b"RCPT TO:<Postmaster>").startswith(b"250 2.1.5")


def test_size_is_announced_and_enforced(smtp_server: SMTPServer, raw: RawSMTP) -> None:
    raw.command(b"EHLO client.example.net")
    assert raw.command(f"MAIL FROM:<a@example.net> SIZE={MAX_SIZE + 1}".encode()).startswith(
        b"552 5.3.4")
    user = smtp_server.account()
    assert raw.command(b"MAIL FROM:<a@example.net>") .startswith(b"250")
    assert raw.command(f"RCPT TO:<{user}@example.org>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    line = b"x" * 998 + b"\r\n"
    raw.send(b"Subject: big\r\n\r\n" + line * (MAX_SIZE // 1000 + 10) + b".\r\n")
    assert raw.reply().startswith(b"552 5.3.4")
    assert raw.command(b"NOOP").startswith(b"250")  # still in step with the client
    assert smtp_server.messages(user) == []


def test_too_many_recipients(raw: RawSMTP) -> None:
    raw.command(b"EHLO client.example.net")
    raw.command(b"MAIL FROM:<a@example.net>")
    for _ in range(MAX_RECIPIENTS):
        assert raw.command(b"RCPT TO:<bob@example.org>").startswith(b"250")
    assert raw.command(b"RCPT TO:<bob@example.org>").startswith(b"452 4.5.3")


def test_sequence_errors(raw: RawSMTP) -> None:
    assert raw.command(b"MAIL FROM:<a@example.net>").startswith(b"503 5.5.1")
    raw.command(b"EHLO client.example.net")
    assert raw.command(b"RCPT TO:<bob@example.org>").startswith(b"503 5.5.1")
    assert raw.command(b"DATA").startswith(b"503 5.5.1")
    raw.command(b"MAIL FROM:<a@example.net>")
    assert raw.command(b"MAIL FROM:<a@example.net>").startswith(b"503 5.5.1")
    assert raw.command(b"DATA").startswith(b"503 5.5.1")
    assert raw.command(b"RSET") == b"250 2.0.0 Reset OK"
    assert raw.command(b"RCPT TO:<bob@example.org>").startswith(b"503")


def test_unknown_and_unimplemented_commands(raw: RawSMTP) -> None:
    assert raw.command(b"FROBNICATE").startswith(b"500 5.5.1")
    assert raw.command(b"EXPN staff").startswith(b"502 5.5.1")
    assert raw.command(b"AUTH PLAIN AGFsaWNlAHBhc3M=").startswith(b"503")  # before EHLO
    raw.command(b"EHLO client.example.net")
    assert raw.command(b"AUTH PLAIN AGFsaWNlAHBhc3M=").startswith(b"502")  # not on port 25
    assert raw.command(b"EHLO").startswith(b"501")
    assert raw.command(b"VRFY alice@example.org").startswith(b"252 2.5.0")
    assert raw.command(b"HELP").startswith(b"214")
    assert raw.command(b"NOOP") == b"250 2.0.0 OK"
    assert raw.command(b"QUIT").startswith(b"221 2.0.0")
    assert raw.closed()


def test_overlong_command_line(raw: RawSMTP) -> None:
    raw.command(b"EHLO client.example.net")
    assert raw.command(b"NOOP " + b"x" * 10_000).startswith(b"500 5.5.6")
    assert raw.command(b"NOOP") == b"250 2.0.0 OK"


def test_overlong_header_line_is_refused(smtp_server: SMTPServer, raw: RawSMTP) -> None:
    user = smtp_server.account()
    raw.envelope("a@example.net", f"{user}@example.org")
    raw.command(b"DATA")
    raw.send(b"Subject: " + b"s" * 1200 + b"\r\n\r\nbody\r\n.\r\n")
    assert raw.reply().startswith(b"554 5.6.0")
    assert smtp_server.messages(user) == []


def test_too_many_errors_close_the_connection(raw: RawSMTP) -> None:
    replies = [raw.command(b"BOGUS") for _ in range(19)]
    assert all(reply.startswith(b"500") for reply in replies)
    last = raw.command(b"BOGUS")
    assert last.startswith(b"500") or last.startswith(b"421")
    assert raw.closed()
    assert b"421 4.7.0" in last + raw.buffer


def test_pipelining_answers_every_command_in_order(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    raw = RawSMTP(smtp_server.smtp)
    raw.command(b"EHLO client.example.net")
    raw.send(b"MAIL FROM:<p@example.net>\r\nRCPT TO:<" + user.encode() + b"@example.org>\r\n"
             b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
    assert raw.reply().startswith(b"250 2.1.0")
    assert raw.reply().startswith(b"250 2.1.5")
    assert raw.reply().startswith(b"550 5.1.1")
    assert raw.reply().startswith(b"250 2.1.5")
    assert raw.reply().startswith(b"354")
    raw.send(message("pipelined") + b".\r\nMAIL FROM:<q@example.net>\r\nRSET\r\nQUIT\r\n")
    assert raw.reply().startswith(b"250 2.0.0 OK")
    assert raw.reply().startswith(b"250 2.1.0")
    assert raw.reply().startswith(b"250 2.0.0 Reset")
    assert raw.reply().startswith(b"221")
    raw.close()
    assert len(smtp_server.messages(user)) == 1


def test_bdat_chunks(smtp_server: SMTPServer, raw: RawSMTP) -> None:
    user = smtp_server.account()
    raw.command(b"EHLO client.example.net")
    body = message("chunked", to=f"{user}@example.org")
    first, second = body[:20], body[20:]
    raw.send(b"MAIL FROM:<c@example.net>\r\nRCPT TO:<" + user.encode() + b"@example.org>\r\n"
             b"BDAT %d\r\n" % len(first) + first + b"BDAT %d LAST\r\n" % len(second) + second)
    assert raw.reply().startswith(b"250 2.1.0")
    assert raw.reply().startswith(b"250 2.1.5")
    assert raw.reply() == b"250 2.0.0 20 octets received"
    assert raw.reply().startswith(b"250 2.0.0 OK: queued")
    [stored] = smtp_server.messages(user)
    assert stored.endswith(body)


def test_bdat_zero_last_and_bdat_errors(smtp_server: SMTPServer, raw: RawSMTP) -> None:
    user = smtp_server.account()
    raw.command(b"EHLO client.example.net")
    # without a transaction the chunk is read (not taken for commands) and refused
    raw.send(b"BDAT 6\r\nNOOP\r\n")
    assert raw.reply().startswith(b"503")
    assert raw.command(b"BDAT x").startswith(b"501")
    raw.command(b"MAIL FROM:<c@example.net>")
    raw.command(f"RCPT TO:<{user}@example.org>".encode())
    data = message("zero last")
    raw.send(b"BDAT %d\r\n" % len(data) + data)
    assert raw.reply().startswith(b"250 2.0.0")
    assert raw.command(b"DATA").startswith(b"503")  # no DATA inside a BDAT sequence
    assert raw.command(b"BDAT 0 LAST").startswith(b"250 2.0.0 OK")
    assert len(smtp_server.messages(user)) == 1


def test_bdat_over_the_size_limit(smtp_server: SMTPServer, raw: RawSMTP) -> None:
    user = smtp_server.account()
    raw.envelope("c@example.net", f"{user}@example.org")
    chunk = b"y" * (MAX_SIZE // 2 + 10)
    raw.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert raw.reply().startswith(b"250")
    raw.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert raw.reply().startswith(b"552 5.3.4")
    raw.send(b"BDAT 3 LAST\r\nabc")
    assert raw.reply().startswith(b"552 5.3.4")
    assert raw.command(b"NOOP").startswith(b"250")
    assert smtp_server.messages(user) == []


def test_bdat_with_bare_lf_is_refused(smtp_server: SMTPServer, raw: RawSMTP) -> None:
    user = smtp_server.account()
    raw.envelope("c@example.net", f"{user}@example.org")
    data = b"Subject: x\n\nbody\n"
    raw.send(b"BDAT %d LAST\r\n" % len(data) + data)
    assert raw.reply().startswith(b"554 5.5.2")
    assert smtp_server.messages(user) == []


def test_8bit_and_smtputf8(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    body = "Subject: grüße\r\nFrom: jörg@bücher.example\r\n\r\nHällo wörld\r\n".encode()
    assert client.sendmail("jörg@bücher.example", [f"{user}@example.org"], body,
                           mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    [stored] = smtp_server.messages(user)
    assert stored.endswith("Hällo wörld\r\n".encode())
    assert "Return-Path: <jörg@bücher.example>".encode() in stored
    assert b"with UTF8SMTP id" in stored
    # without SMTPUTF8 a non-ASCII address is refused
    code, text = client.mail("jörg@bücher.example")
    assert (code, text[:5]) == (553, b"5.6.7")
    client.quit()


def test_dsn_parameters_are_accepted(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    client.sendmail("s@example.net", [f"{user}@example.org"], message("dsn"),
                    mail_options=["RET=HDRS", "ENVID=QQ314159"],
                    rcpt_options=["NOTIFY=FAILURE,DELAY", f"ORCPT=rfc822;{user}@example.org"])
    client.quit()
    assert len(smtp_server.messages(user)) == 1


def test_starttls_discards_what_was_sent_with_it(smtp_server: SMTPServer) -> None:
    raw = RawSMTP(smtp_server.smtp)
    raw.command(b"EHLO client.example.net")
    raw.send(b"STARTTLS\r\nRSET\r\n")  # the RSET is an injection attempt
    assert raw.reply().startswith(b"220 2.0.0")
    raw.sock = smtp_server.context.wrap_socket(raw.sock, server_hostname=HOST)
    # state is reset (RFC 3207 4.2): MAIL needs EHLO again; the injected RSET was never read
    assert raw.command(b"MAIL FROM:<a@example.net>").startswith(b"503")
    reply = raw.command(b"EHLO client.example.net")
    assert b"STARTTLS" not in reply
    assert raw.command(b"STARTTLS").startswith(b"503")
    raw.close()


def test_tls_delivery_is_recorded_as_esmtps(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    client = smtp_server.inbound()
    client.starttls(context=smtp_server.context)
    client.ehlo()
    client.sendmail("s@example.net", [f"{user}@example.org"], message("tls"))
    client.quit()
    [stored] = smtp_server.messages(user)
    assert b"with ESMTPS id" in stored


def test_disconnect_mid_data_delivers_nothing(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    raw = RawSMTP(smtp_server.smtp)
    raw.envelope("a@example.net", f"{user}@example.org")
    raw.command(b"DATA")
    raw.send(message("cut off") + b"more text\r\n")
    raw.sock.shutdown(socket.SHUT_RDWR)
    raw.close()
    time.sleep(0.5)  # give the server the chance to do the wrong thing
    assert smtp_server.messages(user) == []


def test_a_message_to_a_full_mailbox_is_refused_at_rcpt(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    smtp_server.cli("user", "set", user, "--quota", "3K")
    client = smtp_server.inbound()
    with pytest.raises(smtplib.SMTPDataError) as too_big:  # more than the room left
        client.sendmail("s@example.net", [f"{user}@example.org"], message("too big",
                                                                         body=b"z" * 4000))
    assert too_big.value.smtp_code == 552 and too_big.value.smtp_error[:5] == b"5.2.2"
    client.sendmail("s@example.net", [f"{user}@example.org"], message("fits",
                                                                     body=b"z" * 2500))
    smtp_server.cli("user", "set", user, "--quota", "1K")  # now over quota
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("s@example.net", [f"{user}@example.org"], message("too much"))
    client.quit()
    code, text = refused.value.recipients[f"{user}@example.org"]
    assert (code, text[:5]) == (452, b"4.2.2")
