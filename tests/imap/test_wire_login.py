"""IMAP greeting, capabilities, TLS and login, as a client sees them on the wire."""

from __future__ import annotations

import base64
import imaplib

import pytest

from tests.imap.conftest import PASSWORD, RawIMAP


def test_greeting_and_capabilities_on_implicit_tls(raw):
    assert raw.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert b"AUTH=PLAIN" in raw.greeting and b"LOGINDISABLED" not in raw.greeting
    assert b"STARTTLS" not in raw.greeting
    lines = raw.command(b"CAPABILITY")
    assert lines[0].startswith(b"* CAPABILITY IMAP4rev1")
    assert lines[-1] == b"t1 OK Capability completed"


def test_plain_port_refuses_login_before_starttls(imap_server):
    client = RawIMAP(imap_server, implicit_tls=False)
    assert b"STARTTLS" in client.greeting and b"LOGINDISABLED" in client.greeting
    assert client.login()[-1] == b"t1 NO [PRIVACYREQUIRED] Log in after STARTTLS"
    assert client.command(b"AUTHENTICATE PLAIN")[-1].startswith(b"t2 NO [PRIVACYREQUIRED]")
    assert client.starttls()[-1] == b"t3 OK Begin TLS negotiation now"
    capabilities = client.command(b"CAPABILITY")[0]
    assert b"LOGINDISABLED" not in capabilities and b"STARTTLS" not in capabilities
    assert client.login()[-1].startswith(b"t5 OK [CAPABILITY IMAP4rev1")
    client.close()


def test_starttls_discards_commands_sent_with_it(imap_server):
    client = RawIMAP(imap_server, implicit_tls=False)
    client.send(b"a1 STARTTLS\r\na2 LOGIN alice injected\r\n")
    assert client.until(b"a1") == [b"a1 OK Begin TLS negotiation now"]
    client.sock = imap_server.context.wrap_socket(client.sock, server_hostname="x")
    assert client.command(b"NOOP", tag=b"a3") == [b"a3 OK NOOP completed"]
    client.close()


def test_imaplib_login_by_username_and_by_address(imap_server):
    for login in ("alice", "alice@example.org", "ALICE@Example.Org"):
        client = imap_server.connect(login)
        assert client.state == "AUTH"
        client.logout()


def test_wrong_password(raw):
    assert raw.login(password="wrong")[-1] == \
        b"t1 NO [AUTHENTICATIONFAILED] Invalid credentials"
    assert raw.login(user="nobody")[-1] == \
        b"t2 NO [AUTHENTICATIONFAILED] Invalid credentials"


def test_authenticate_plain_with_initial_response_and_login_mechanism(imap_server):
    client = RawIMAP(imap_server)
    token = base64.b64encode(b"\0alice\0" + PASSWORD.encode())
    assert client.command(b"AUTHENTICATE PLAIN " + token)[-1].startswith(b"t1 OK [CAPABILITY")
    client.close()
    client = RawIMAP(imap_server)
    client.send(b"a1 AUTHENTICATE LOGIN\r\n")
    assert client.line() == b"+ VXNlcm5hbWU6"
    client.send(base64.b64encode(b"alice") + b"\r\n")
    assert client.line() == b"+ UGFzc3dvcmQ6"
    client.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
    assert client.until(b"a1")[-1].startswith(b"a1 OK [CAPABILITY")
    client.close()


def test_authenticate_cancel_and_garbage(raw):
    raw.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert raw.line() == b"+ "
    raw.send(b"*\r\n")
    assert raw.until(b"a1") == [b"a1 BAD Authentication cancelled"]
    raw.send(b"a2 AUTHENTICATE PLAIN\r\n")
    raw.line()
    raw.send(b"not base64!\r\n")
    assert raw.until(b"a2") == [b"a2 BAD Invalid base64 in the response"]
    assert raw.command(b"AUTHENTICATE CRAM-MD5")[-1].startswith(b"t1 NO [CANNOT]")


def test_commands_in_the_wrong_state(raw):
    assert raw.command(b"SELECT INBOX")[-1] == \
        b"t1 BAD SELECT is not allowed in the not-authenticated state"
    raw.login()
    assert raw.command(b"FETCH 1 FLAGS")[-1] == \
        b"t3 BAD FETCH is not allowed in the authenticated state"
    assert raw.command(b"LOGIN a b")[-1] == \
        b"t4 BAD LOGIN is not allowed in the authenticated state"


def test_unknown_commands_and_garbage_close_after_a_bound(raw):
    assert raw.command(b"FROBNICATE")[-1].startswith(b"t1 BAD")
    for number in range(2, 12):
        raw.send(b"t%d (((\r\n" % number)
    lines = []
    with pytest.raises(ConnectionError):
        while True:
            lines.append(raw.line())
    assert lines[-1] == b"* BYE Too many invalid commands"


def test_logout(raw):
    raw.login()
    assert raw.command(b"LOGOUT") == [b"* BYE Logging out", b"t2 OK Logout completed"]


def test_id_and_namespace_and_enable(raw):
    assert raw.command(b'ID ("name" "test")')[0] == b'* ID ("name" "mfserver")'
    raw.login()
    assert raw.command(b"NAMESPACE")[0] == b'* NAMESPACE (("" "/")) NIL NIL'
    assert raw.command(b"ENABLE CONDSTORE FOO")[0] == b"* ENABLED CONDSTORE"
    assert raw.command(b"ENABLE CONDSTORE")[0] == b"* ENABLED"


def test_imaplib_on_the_starttls_port(imap_server):
    client = imaplib.IMAP4("127.0.0.1", imap_server.imap, timeout=30)
    client.starttls(ssl_context=imap_server.context)
    client.login("bob", PASSWORD)
    assert client.select("INBOX")[0] == "OK"
    client.logout()
