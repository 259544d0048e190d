"""The SMTP commands: EHLO, HELO, STARTTLS, AUTH, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT,
VRFY, HELP (one handler each, registered in the session's table).

Implementation notes:
- EHLO/HELO (RFC 5321 4.1.1.1) may come at any time and reset the transaction. The argument
  is only checked for being there and printable: what a client calls itself proves nothing.
- MAIL (RFC 5321 4.1.1.2): SIZE over the limit is refused at once (RFC 1870 6.1); a non-ASCII
  address needs SMTPUTF8 (RFC 6531 3.4). ESMTP parameters after HELO are refused (555).
  Submission needs AUTH first (RFC 6409 4.3, 530 5.7.0) and the sender must be one of the
  account's enabled addresses (553 5.7.1); the null sender is allowed (MDNs, RFC 8098).
- RCPT (RFC 5321 4.1.1.3): inbound, only our domains' recipients (550 5.1.1 unknown, 554
  5.7.1 for any other domain: no open relay); submission, anyone, within the account's rate
  limit. More than `max_recipients` gets 452 4.5.3 (RFC 5321 4.5.3.1.10).
- DATA/BDAT hand the message to `smtp.transaction`. BDAT (RFC 3030) after a refused BDAT or
  without a recipient still reads its chunk, then refuses; DATA inside a BDAT sequence is a
  bad sequence.
- STARTTLS (RFC 3207) and AUTH (RFC 4954) are per connection; AUTH only on submission, only
  over TLS (538 5.7.11 otherwise), through the one credential check (service "smtp").
"""

from __future__ import annotations

from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.logger import Logger

from mfserver.auth import AuthenticationUnavailable, Credentials, IAccount, LoginThrottled, sasl
from mfserver.milter import Recipient
from mfserver.smtp import codes, recipients
from mfserver.smtp.codes import Reply
from mfserver.smtp.milters import refusal
from mfserver.smtp.parser import SyntaxProblem, parse_bdat, parse_mail, parse_rcpt
from mfserver.smtp.session import (
    ANY_STATE,
    GREETED,
    MAIL,
    RCPT,
    READY,
    SUBMISSION,
    SMTPSession,
    command,
)
from mfserver.smtp.transaction import start_chunk

log = Logger()

OPEN = {READY, MAIL, RCPT}


@command("EHLO")
def ehlo(session: SMTPSession, argument: str) -> Reply | defer.Deferred[Reply]:
    return _hello(session, argument, esmtp=True)


@command("HELO")
def helo(session: SMTPSession, argument: str) -> Reply | defer.Deferred[Reply]:
    return _hello(session, argument, esmtp=False)


def _hello(session: SMTPSession, argument: str, *, esmtp: bool) -> Reply | defer.Deferred[Reply]:
    name = argument.strip()
    if not name or " " in name or not name.isprintable():
        return codes.PARAMETER_SYNTAX.with_text("EHLO/HELO needs the client's domain name")
    session.reset()

    def greeted(verdict: Any) -> Reply:
        refused = refusal(verdict)
        if refused is not None:
            return refused
        session.state, session.esmtp, session.helo = READY, esmtp, name[:255]
        session.peer.helo = session.helo
        host = session.services.hostname
        if not esmtp:
            return Reply(250, None, host)
        return Reply(250, None, host, tuple(session.extensions()))

    return session.chain.helo(session.peer, name).addCallback(greeted)


@command("STARTTLS", {GREETED, READY})
def starttls(session: SMTPSession, argument: str) -> Reply | None:
    if argument:
        return codes.PARAMETER_SYNTAX.with_text("STARTTLS takes no parameters")
    if session.connection.secure:
        return codes.BAD_SEQUENCE.with_text("TLS already active")
    if session.connection.tls_context is None:
        return codes.TLS_UNAVAILABLE
    session.connection.write(codes.READY_FOR_TLS.encode())
    session.connection.start_tls()
    session.start_over()
    return None


@command("AUTH", {READY})
def auth(session: SMTPSession, argument: str) -> Reply | defer.Deferred[Reply]:
    if session.role != SUBMISSION:
        return codes.NOT_IMPLEMENTED.with_text("AUTH is for submission (ports 587 and 465)")
    if session.account is not None:
        return codes.BAD_SEQUENCE.with_text("Already authenticated")  # RFC 4954 4
    if not session.login_allowed:
        return codes.ENCRYPTION_REQUIRED
    words = argument.split()
    if not 1 <= len(words) <= 2:
        return codes.PARAMETER_SYNTAX.with_text("AUTH mechanism [initial-response]")
    mechanism = words[0].upper()
    if mechanism not in sasl.MECHANISMS:
        return codes.PARAMETER_NOT_IMPLEMENTED.with_text(
            "Unrecognized authentication type")
    initial = None
    if len(words) == 2:
        initial = sasl.decode_response(words[1])
        if initial is None:
            return codes.PARAMETER_SYNTAX.with_text("Invalid base64 in the initial response")
    exchange = sasl.WireExchange(
        mechanism, send_prompt=lambda prompt: session.connection.write(b"334 " + prompt + b"\r\n"),
        read_lines=session.connection.read_lines,
        authenticate=lambda login, secret: authenticate(session, login, secret),
        refusals=SASL_REFUSALS,
        too_long=codes.LINE_TOO_LONG.with_text("Authentication response too long"))
    return exchange.start(initial)


SASL_REFUSALS = {"cancelled": Reply(501, "5.0.0", "Authentication cancelled"),
                 "base64": Reply(501, "5.5.2", "Invalid base64 in the response"),
                 "malformed": codes.AUTH_FAILED,
                 "authzid": codes.AUTH_FAILED.with_text("Acting as another user is not allowed")}


def authenticate(session: SMTPSession, login: str, secret: str) -> defer.Deferred[Reply]:
    credentials = Credentials(login, secret, source=session.connection.client_address,
                              service="smtp")
    result = session.services.portal.login(credentials, None, IAccount)

    def logged_in(avatar: tuple[Any, Any, Any]) -> Reply:
        _, account, logout = avatar
        logout()  # nothing is held for an SMTP session
        session.account = account
        session.peer.login, session.peer.account_id = account.username, account.account_id
        log.info("SMTP login {user} from {peer}", user=account.username,
                 peer=session.connection.peer)
        return codes.AUTH_OK

    def refused(failure: Any) -> Reply:
        if failure.check(LoginThrottled):
            return codes.THROTTLED
        if failure.check(AuthenticationUnavailable):
            return codes.AUTH_TEMPORARY
        failure.trap(UnauthorizedLogin)
        log.info("SMTP login failed from {peer}", peer=session.connection.peer)
        return codes.AUTH_FAILED

    return result.addCallbacks(logged_in, refused)


# -- the envelope --------------------------------------------------------------------------

@command("MAIL", {READY}, refusal=codes.BAD_SEQUENCE.with_text("Send EHLO first, or RSET"))
def mail(session: SMTPSession, argument: str) -> Reply | defer.Deferred[Reply]:
    try:
        parsed = parse_mail(argument)
    except SyntaxProblem as problem:
        return problem.reply
    if parsed.params and not session.esmtp:
        return codes.BAD_PARAMETER.with_text("No ESMTP parameters after HELO")
    if not parsed.path.ascii and "SMTPUTF8" not in parsed.params:
        return codes.UTF8_REQUIRED
    size = parsed.params.get("SIZE")
    if size is not None and int(size) > session.services.max_message_size:
        return codes.MESSAGE_TOO_BIG
    if session.role == SUBMISSION:
        if session.account is None:
            return codes.AUTH_REQUIRED
        owned = session.blocking(recipients.owns_address, session.services.directory,
                                 session.account.username, parsed.path.address)
        return owned.addCallback(_sender_owned, session, parsed)
    return _sender_checked(session, parsed)


def _sender_owned(owned: bool, session: SMTPSession, parsed: Any) -> Reply | defer.Deferred:
    if not owned:
        return codes.NOT_OWNER
    return _sender_checked(session, parsed)


def _sender_checked(session: SMTPSession, parsed: Any) -> defer.Deferred[Reply]:
    transaction = session.new_transaction(parsed.path.address, parsed.params)

    def decided(verdict: Any) -> Reply:
        refused = refusal(verdict)
        if refused is not None:
            return refused
        if session.state != READY:  # the connection went away meanwhile
            return codes.BAD_SEQUENCE
        session.transaction, session.state = transaction, MAIL
        return codes.SENDER_OK

    return session.chain.mail_from(session.peer, transaction.envelope).addCallback(decided)


@command("RCPT", {MAIL, RCPT}, refusal=codes.BAD_SEQUENCE.with_text("Need MAIL before RCPT"))
def rcpt(session: SMTPSession, argument: str) -> Reply | defer.Deferred[Reply]:
    transaction = session.transaction
    assert transaction is not None
    try:
        parsed = parse_rcpt(argument)
    except SyntaxProblem as problem:
        return problem.reply
    if parsed.params and not session.esmtp:
        return codes.BAD_PARAMETER.with_text("No ESMTP parameters after HELO")
    if not parsed.path.ascii and not transaction.smtputf8:
        return codes.UTF8_REQUIRED
    if transaction.chunks or transaction.bdat_failed:
        return codes.BAD_SEQUENCE.with_text("RCPT after BDAT")
    if len(transaction.recipients) >= session.services.max_recipients:
        return codes.TOO_MANY_RECIPIENTS
    found = session.blocking(recipients.route, session.services.directory,
                             parsed.path.address, submission=session.role == SUBMISSION)
    return found.addCallback(_routed, session, transaction, parsed)


def _routed(route: recipients.Route, session: SMTPSession, transaction: Any,
            parsed: Any) -> Reply | defer.Deferred[Reply]:
    if route.refusal is not None:
        return route.refusal
    if session.role == SUBMISSION:
        if route.account_id is None and session.services.enqueue is None:
            return codes.NO_RELAY.with_text("Outbound delivery is not configured")
        if not session.services.rate_limiter.allow(session.account.account_id):
            return codes.RATE_LIMITED
    recipient = Recipient(parsed.path.address, route.account_id, None, parsed.params)

    def decided(verdict: Any) -> Reply:
        refused = refusal(verdict)
        if refused is not None:
            return refused
        if session.transaction is not transaction:  # RSET or gone meanwhile
            return codes.BAD_SEQUENCE
        transaction.recipients.append(recipient)
        session.state = RCPT
        return codes.RECIPIENT_OK

    return session.chain.rcpt(session.peer, transaction.envelope, recipient).addCallback(
        decided)


@command("DATA", {RCPT}, refusal=codes.BAD_SEQUENCE.with_text("Need RCPT before DATA"))
def data(session: SMTPSession, argument: str) -> Reply | None:
    if argument:
        return codes.PARAMETER_SYNTAX.with_text("DATA takes no parameters")
    transaction = session.transaction
    assert transaction is not None
    if transaction.chunks or transaction.bdat_failed:
        return codes.BAD_SEQUENCE.with_text("DATA inside a BDAT sequence")
    session.connection.write(codes.START_DATA.encode())
    session.connection.expect_message(session.services.max_message_size)
    return None


@command("BDAT", ANY_STATE)
def bdat(session: SMTPSession, argument: str) -> Reply | None:
    try:
        size, last = parse_bdat(argument)
    except ValueError as error:
        return codes.PARAMETER_SYNTAX.with_text(str(error))
    start_chunk(session, size, last)
    return None


@command("RSET")
def rset(session: SMTPSession, argument: str) -> Reply:
    session.reset()
    return codes.RESET_OK


@command("NOOP")
def noop(session: SMTPSession, argument: str) -> Reply:
    return codes.OK


@command("QUIT")
def quit_(session: SMTPSession, argument: str) -> Reply:
    session.transaction = None
    return codes.CLOSING.with_text(f"{session.services.hostname} closing connection")


@command("HELP")
def help_(session: SMTPSession, argument: str) -> Reply:
    return codes.HELP


@command("VRFY")
def vrfy(session: SMTPSession, argument: str) -> Reply | defer.Deferred[Reply]:
    if not argument:
        return codes.PARAMETER_SYNTAX.with_text("VRFY needs an address")
    if not session.services.vrfy:
        return codes.VRFY_DISABLED
    address = argument.strip("<>")
    found = session.blocking(recipients.route, session.services.directory, address,
                             submission=False)
    return found.addCallback(lambda route: Reply(250, "2.1.5", f"<{address}>")
                             if route.account_id is not None else codes.NO_SUCH_USER)


for _verb in ("EXPN", "TURN", "ETRN", "SEND", "SOML", "SAML"):
    command(_verb)(lambda session, argument: codes.NOT_IMPLEMENTED)
