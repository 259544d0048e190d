"""Commands of the AUTHORIZATION state, and those of every state: CAPA, STLS, USER, PASS, APOP,
AUTH, QUIT.

Implementation notes:
- CAPA (RFC 2449 5) lists what works in the current state on this connection (see
  `POP3Session.capabilities`).
- STLS (RFC 2595 4) writes its +OK itself and then starts TLS; the connection throws away
  what the client sent after the command, and the session forgets a USER given before.
- USER/PASS (RFC 1939 7): USER always answers +OK, whether the login exists or not; PASS
  without a USER before it is refused. A failed PASS needs a new USER.
- APOP (RFC 1939 7) is never offered: it needs the password in clear on the server, and
  passwords are stored hashed. The greeting carries no timestamp, so clients do not try it;
  one that does gets -ERR.
- AUTH (RFC 5034) with PLAIN (RFC 4616) and LOGIN, an initial response allowed ("=" is an
  empty one); "*" cancels. A bare AUTH lists the mechanisms, as many clients from before
  RFC 5034 expect (RFC 1734 servers did).
"""

from __future__ import annotations

from twisted.internet import defer

from mfserver.auth import sasl
from mfserver.pop3.parser import Command
from mfserver.pop3.session import (
    AUTH,
    AUTHORIZATION,
    PLAINTEXT_REFUSED,
    TRANSACTION,
    AlreadySent,
    POP3Session,
    Reply,
    command,
    err,
    ok,
)

MECHANISMS = sasl.MECHANISMS
ANY = {AUTHORIZATION, TRANSACTION}


@command("CAPA", ANY)
def capa(session: POP3Session, cmd: Command) -> Reply:
    lines = [word.encode() for word in session.capabilities()]
    return ok("Capability list follows", lines)


@command("QUIT", ANY)
def quit_(session: POP3Session, cmd: Command) -> Reply | defer.Deferred[Reply]:
    session.quitting = True
    if session.state == TRANSACTION:
        return session.update()
    return ok("Logging out")


@command("STLS", {AUTHORIZATION})
def stls(session: POP3Session, cmd: Command) -> Reply:
    if session.connection.secure:
        return err("TLS is already active")
    session.send(ok("Begin TLS negotiation now").encode())
    session.connection.start_tls()
    session.user = None
    return AlreadySent()


@command("USER", {AUTHORIZATION}, (1, 1))
def user(session: POP3Session, cmd: Command) -> Reply:
    if not session.login_allowed():
        return err(PLAINTEXT_REFUSED, AUTH)
    session.user = cmd.args[0]
    return ok()


@command("PASS", {AUTHORIZATION}, (1, 1))
def pass_(session: POP3Session, cmd: Command) -> Reply | defer.Deferred[Reply]:
    if not session.login_allowed():
        return err(PLAINTEXT_REFUSED, AUTH)
    if session.user is None:
        return err("Give USER first", bad=True)
    login, session.user = session.user, None
    return session.authenticate(login, cmd.args[0])


@command("APOP", {AUTHORIZATION}, (0, 2))
def apop(session: POP3Session, cmd: Command) -> Reply:
    return err("APOP is not supported")


@command("AUTH", {AUTHORIZATION}, (0, 2))
def auth(session: POP3Session, cmd: Command) -> Reply | defer.Deferred[Reply]:
    if not session.login_allowed():
        return err(PLAINTEXT_REFUSED, AUTH)
    if not cmd.args:
        return ok("Mechanisms follow", [name.encode() for name in MECHANISMS])
    mechanism = cmd.args[0].upper()
    if mechanism not in MECHANISMS:
        return err(f"Unsupported authentication mechanism {mechanism[:20]}")
    initial = None
    if len(cmd.args) == 2:
        initial = sasl.decode_response(cmd.args[1])
        if initial is None:
            return err("Invalid base64 in the initial response")
    session.user = None
    exchange = sasl.WireExchange(
        mechanism, send_prompt=lambda prompt: session.send(b"+ " + prompt + b"\r\n"),
        read_lines=session.connection.read_lines, authenticate=session.authenticate,
        refusals=SASL_REFUSALS, too_long=err("Authentication response too long"))
    return exchange.start(initial)


SASL_REFUSALS = {"cancelled": err("Authentication cancelled"),
                 "base64": err("Invalid base64 in the response"),
                 "malformed": err("Malformed credentials", AUTH),
                 "authzid": err("Acting as another user is not allowed", AUTH)}
