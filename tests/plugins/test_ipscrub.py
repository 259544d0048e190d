"""plugins.ipscrub: no header keeps the client's address or host name."""

from __future__ import annotations

from mfserver.milter import Direction
from plugins.ipscrub import IPScrub
from tests.milter.helpers import shared

SUBMITTED = (b"Received: by mail.example.test (mfserver) with ESMTPSA id Q1;\r\n\tSat, 1 Nov 2026\r\n"
             b"Received: from laptop.home (laptop.home [10.1.2.3]) by relay.lan\r\n"
             b"X-Originating-IP: [10.1.2.3]\r\nX-Forwarded-For: 10.1.2.3, 10.0.0.1\r\n"
             b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: about 10.1.2.30\r\n"
             b"Message-ID: <123.456@laptop.home>\r\nX-Client: host laptop.home\r\n"
             b"User-Agent: Mail/1.0\r\n\r\nbody mentions 10.1.2.3\r\n")


def scrubbed(strip_user_agent: bool = False, address: str = "10.1.2.3") -> bytes:
    message = shared(SUBMITTED, Direction.OUTBOUND, address=address, helo="laptop.home")
    IPScrub(strip_user_agent).eom(message)
    return message.as_bytes()


def test_no_header_carries_the_address_or_host_name():
    out = scrubbed()
    header, _, body = out.partition(b"\r\n\r\n")
    assert b"10.1.2.3" not in header.replace(b"10.1.2.30", b"")
    assert b"laptop.home" not in header
    assert header.startswith(b"Received: by mail.example.test (mfserver)")  # ours stays
    assert b"Subject: about 10.1.2.30" in header  # a different address, the user's words
    assert b"Message-ID: <" in header and b"@mail.example.test>" in header
    assert b"User-Agent: Mail/1.0" in header
    assert body == b"body mentions 10.1.2.3\r\n"  # the body is what the user wrote


def test_user_agent_stripped_when_asked():
    assert b"User-Agent" not in scrubbed(strip_user_agent=True)


def test_ipv6_spellings():
    message = shared(b"X-Note: from 2001:db8:0:0:0:0:0:7\r\nX-Other: 2001:db8::7\r\n"
                     b"From: a@example.org\r\n\r\nx\r\n", Direction.OUTBOUND,
                     address="2001:db8::7", helo="[IPv6:2001:db8::7]")
    IPScrub().eom(message)
    assert message.as_bytes() == b"From: a@example.org\r\n\r\nx\r\n"
