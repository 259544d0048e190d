"""POP3 greeting, CAPA, STLS and logins (USER/PASS, AUTH PLAIN/LOGIN), as a client sees them."""

from __future__ import annotations

import base64
import poplib
import time

import pytest

from tests.pop3.conftest import PASSWORD, RawPOP3

REFUSED = (b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) "
           b"connections.")


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def test_greeting_has_no_apop_timestamp_and_capa_over_tls(raw):
    assert raw.greeting == b"+OK mail.example.test POP3 ready"
    assert raw.multi(b"CAPA") == [
        b"+OK Capability list follows", b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE",
        b"PIPELINING", b"USER", b"SASL PLAIN LOGIN", b"IMPLEMENTATION mfserver"]


def test_capa_after_login_lists_what_works_and_the_version(raw):
    assert raw.login().startswith(b"+OK Logged in")
    capabilities = raw.multi(b"CAPA")
    assert b"USER" not in capabilities and b"STLS" not in capabilities
    assert not any(line.startswith(b"SASL") for line in capabilities)
    assert capabilities[-1].startswith(b"IMPLEMENTATION mfserver ")


def test_plain_port_refuses_logins_before_stls(pop3_server):
    client = RawPOP3(pop3_server, implicit_tls=False)
    assert client.multi(b"CAPA") == [
        b"+OK Capability list follows", b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE",
        b"PIPELINING", b"STLS", b"IMPLEMENTATION mfserver"]
    assert client.command(b"USER alice") == REFUSED
    assert client.command(b"PASS " + PASSWORD.encode()) == REFUSED
    assert client.command(b"AUTH PLAIN " + b64(b"\0alice\0" + PASSWORD.encode())) == REFUSED
    assert client.command(b"AUTH") == REFUSED
    assert client.command(b"APOP alice 0123456789abcdef") == b"-ERR APOP is not supported"
    assert client.stls() == b"+OK Begin TLS negotiation now"
    capabilities = client.multi(b"CAPA")
    assert b"STLS" not in capabilities and b"USER" in capabilities
    assert b"SASL PLAIN LOGIN" in capabilities
    assert client.command(b"STLS") == b"-ERR TLS is already active"
    assert client.login().startswith(b"+OK Logged in")
    client.close()


def test_stls_discards_commands_sent_with_it(pop3_server):
    client = RawPOP3(pop3_server, implicit_tls=False)
    client.send(b"STLS\r\nUSER alice\r\nPASS " + PASSWORD.encode() + b"\r\n")
    assert client.line() == b"+OK Begin TLS negotiation now"
    client.sock = pop3_server.context.wrap_socket(client.sock, server_hostname="x")
    assert client.command(b"PASS " + PASSWORD.encode()) == b"-ERR Give USER first"
    assert client.command(b"STAT") == b"-ERR STAT is not allowed in the AUTHORIZATION state"
    client.close()


def test_poplib_stls_and_implicit_tls(pop3_server):
    client = pop3_server.plain()
    client.stls(pop3_server.context)
    client.user("bob")
    assert client.pass_(PASSWORD).startswith(b"+OK Logged in")
    assert client.quit() == b"+OK Logging out"
    client = pop3_server.connect("bob")
    assert client.stat() == (0, 0)
    client.quit()


@pytest.mark.parametrize("login", ["alice", "alice@example.org", "ALICE@Example.Org"])
def test_login_by_username_or_address(pop3_server, login):
    client = pop3_server.connect(login)
    client.quit()


def test_wrong_credentials_are_refused_with_auth_code(raw):
    assert raw.command(b"USER alice") == b"+OK"  # never says whether the login exists
    assert raw.command(b"PASS wrong") == b"-ERR [AUTH] Authentication failed"
    assert raw.command(b"PASS " + PASSWORD.encode()) == b"-ERR Give USER first"
    assert raw.command(b"USER nobody") == b"+OK"
    assert raw.command(b"PASS wrong") == b"-ERR [AUTH] Authentication failed"
    assert raw.command(b"AUTH PLAIN " + b64(b"\0alice\0wrong")) == \
        b"-ERR [AUTH] Authentication failed"
    assert raw.login().startswith(b"+OK Logged in")


def test_poplib_sees_errors_as_exceptions(pop3_server):
    client = pop3_server.connect(None)
    client.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong")
    client.quit()


def test_auth_plain_with_and_without_initial_response(pop3_server):
    client = RawPOP3(pop3_server)
    token = b64(b"\0alice\0" + PASSWORD.encode())
    assert client.command(b"AUTH PLAIN " + token).startswith(b"+OK Logged in")
    client.close()
    client = RawPOP3(pop3_server)
    assert client.command(b"AUTH PLAIN") == b"+ "
    assert client.command(token).startswith(b"+OK Logged in")
    client.close()
    client = RawPOP3(pop3_server)  # authzid equal to the login is fine
    token = b64(b"alice\0alice\0" + PASSWORD.encode())
    assert client.command(b"AUTH PLAIN " + token).startswith(b"+OK Logged in")
    client.close()


def test_auth_login_with_and_without_initial_response(pop3_server):
    client = RawPOP3(pop3_server)
    assert client.command(b"AUTH LOGIN") == b"+ VXNlcm5hbWU6"
    assert client.command(b64(b"alice")) == b"+ UGFzc3dvcmQ6"
    assert client.command(b64(PASSWORD.encode())).startswith(b"+OK Logged in")
    client.close()
    client = RawPOP3(pop3_server)
    assert client.command(b"AUTH LOGIN " + b64(b"alice")) == b"+ UGFzc3dvcmQ6"
    assert client.command(b64(PASSWORD.encode())).startswith(b"+OK Logged in")
    client.close()


def test_auth_list_cancel_and_garbage(raw):
    assert raw.multi(b"AUTH") == [b"+OK Mechanisms follow", b"PLAIN", b"LOGIN"]
    assert raw.command(b"AUTH PLAIN") == b"+ "
    assert raw.command(b"*") == b"-ERR Authentication cancelled"
    assert raw.command(b"AUTH PLAIN") == b"+ "
    assert raw.command(b"not base64!") == b"-ERR Invalid base64 in the response"
    assert raw.command(b"AUTH PLAIN !!!") == b"-ERR Invalid base64 in the initial response"
    assert raw.command(b"AUTH PLAIN =") == b"-ERR [AUTH] Malformed credentials"
    assert raw.command(b"AUTH PLAIN " + b64(b"bob\0alice\0" + PASSWORD.encode())) == \
        b"-ERR [AUTH] Acting as another user is not allowed"
    assert raw.command(b"AUTH CRAM-MD5") == b"-ERR Unsupported authentication mechanism CRAM-MD5"
    assert raw.login().startswith(b"+OK Logged in")


def test_commands_in_the_wrong_state_and_unknown_commands(raw):
    for line in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"NOOP", b"RSET", b"TOP 1 1",
                 b"UIDL"):
        name = line.split()[0].decode()
        assert raw.command(line) == \
            f"-ERR {name} is not allowed in the AUTHORIZATION state".encode()
    assert raw.multi(b"CAPA")[0] == b"+OK Capability list follows"  # resets the bad count
    assert raw.command(b"FROB") == b"-ERR Unknown command"
    assert raw.command(b"LAST") == b"-ERR Unknown command"  # RFC 1460's, gone in RFC 1725
    assert raw.command(b"USER") == b"-ERR USER takes 1 argument"
    assert raw.login().startswith(b"+OK Logged in")
    for line in (b"USER alice", b"PASS x", b"AUTH PLAIN", b"APOP a b", b"STLS"):
        name = line.split()[0].decode()
        assert raw.command(line) == \
            f"-ERR {name} is not allowed in the TRANSACTION state".encode()
    assert raw.command(b"STAT 1") == b"-ERR STAT takes no arguments"
    assert raw.command(b"TOP 1") == b"-ERR TOP takes 2 arguments"
    assert raw.command(b"LIST 1 2") == b"-ERR LIST takes 0 to 1 arguments"


def test_garbage_closes_the_connection_after_a_bound(raw):
    for _ in range(9):
        assert raw.command(b"\x01\x02") == b"-ERR Control characters are not allowed in a command"
    raw.send(b"GARBAGE\r\n")
    assert raw.line() == b"-ERR Unknown command"
    assert raw.line() == b"-ERR Too many invalid commands; closing"
    assert raw.closed()


def test_overlong_lines_get_an_error_and_the_session_goes_on(raw):
    assert raw.command(b"USER " + b"a" * 2000) == b"-ERR Line too long"
    assert raw.command(b"NOOP" + b" " * 1100) == b"-ERR Line too long"
    assert raw.login().startswith(b"+OK Logged in")


def test_quit_in_authorization_and_pipelined_commands(raw):
    raw.send(b"USER alice\r\nPASS " + PASSWORD.encode() + b"\r\nSTAT\r\nNOOP\r\nQUIT\r\n")
    assert raw.line() == b"+OK"
    assert raw.line().startswith(b"+OK Logged in")
    assert raw.line().startswith(b"+OK ")
    assert raw.line() == b"+OK"
    assert raw.line().startswith(b"+OK Logging out")
    assert raw.closed()
    second = RawPOP3(raw.server)
    assert second.command(b"QUIT") == b"+OK Logging out"
    assert second.closed()
    second.close()


def test_a_second_session_on_the_same_maildrop_is_refused_in_use(pop3_server):
    first = pop3_server.connect("bob")
    second = RawPOP3(pop3_server)
    assert second.login("bob") == b"-ERR [IN-USE] Maildrop is locked by another POP3 session"
    token = b64(b"\0bob\0" + PASSWORD.encode())
    assert second.command(b"AUTH PLAIN " + token) == \
        b"-ERR [IN-USE] Maildrop is locked by another POP3 session"
    first.quit()
    assert second.login("bob").startswith(b"+OK Logged in")
    second.close()
    third = RawPOP3(pop3_server)  # a dropped connection frees the maildrop too
    for _ in range(50):
        answer = third.login("bob")
        if answer.startswith(b"+OK"):
            break
        time.sleep(0.05)
    assert answer.startswith(b"+OK Logged in")
    third.close()

