"""SMTP smuggling (CVE-2023-51764/51765/51766; SEC Consult, December 2023): a message that
holds an end-of-data marker other than <CRLF>.<CRLF>, followed by a forged second
transaction, must neither end our DATA early nor be passed on. Each published sequence gets
521 5.5.2 and the connection is closed; nothing of either message is delivered."""

from __future__ import annotations

import pytest

from tests.smtp.conftest import RawSMTP, SMTPServer

SEQUENCES = {
    "LF.LF": b"\n.\n",
    "CRLF.LF": b"\r\n.\n",
    "LF.CRLF": b"\n.\r\n",
    "CR.CR": b"\r.\r",
    "CRLF.CR": b"\r\n.\r",
    "CR.CRLF": b"\r.\r\n",
    "CR.LF": b"\r.\n",
    "NUL.CRLF": b"\r\n\x00.\r\n",  # harmless in itself; must not end the message either
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_smuggling_sequences(smtp_server: SMTPServer, name: str) -> None:
    user = smtp_server.account()
    raw = RawSMTP(smtp_server.smtp)
    raw.envelope("real@example.net", f"{user}@example.org", "attacker.example.net")
    assert raw.command(b"DATA").startswith(b"354")
    forged = (b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<" + user.encode() +
              b"@example.org>\r\nDATA\r\nFrom: ceo@example.org\r\nSubject: forged\r\n\r\n"
              b"smuggled\r\n.\r\n")
    raw.send(b"From: real@example.net\r\nSubject: real\r\n\r\nfirst" + SEQUENCES[name] +
             forged)
    reply = raw.reply()
    if name == "NUL.CRLF":
        # not a line-end trick: the message simply goes on to the next <CRLF>.<CRLF>
        assert reply.startswith(b"250 2.0.0")
        [stored] = smtp_server.messages(user)
        assert b"smuggled" in stored and b"Subject: real" in stored
        raw.close()
        return
    assert reply.startswith(b"521 5.5.2")
    assert raw.closed()
    assert smtp_server.messages(user) == []


def test_bare_lf_in_the_headers_closes_too(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    raw = RawSMTP(smtp_server.smtp)
    raw.envelope("a@example.net", f"{user}@example.org")
    raw.command(b"DATA")
    raw.send(b"Subject: unix line ends\nFrom: a@example.net\n\nbody\n.\n")
    assert raw.reply().startswith(b"521 5.5.2")
    assert raw.closed()
    assert smtp_server.messages(user) == []
