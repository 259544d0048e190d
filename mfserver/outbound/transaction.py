"""One SMTP conversation with one remote host: EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT.

Implementation notes:
- `converse()` gives an `Outcome` per recipient, or raises `NextHost` when this host could not
  take the message at all (bad greeting, EHLO refused, TLS required but failed, AUTH refused,
  connection lost or timed out): the caller then tries the next address or MX (RFC 5321 §5.1).
- Capabilities decide the parameters (RFC 5321 §4.1.1.11): SIZE= when SIZE is offered (and a
  message over the announced limit fails at once, 5.3.4, RFC 1870), BODY=8BITMIME (RFC 6152),
  SMTPUTF8 (RFC 6531), RET/ENVID and NOTIFY/ORCPT only when DSN is offered (RFC 3461 §4).
  An 8-bit message to a server without 8BITMIME, or an SMTPUTF8 one to a server without
  SMTPUTF8, fails permanently (5.6.3 / 5.6.7): we never downgrade or corrupt it.
- TLS: "opportunistic" uses STARTTLS when offered (a failed handshake is reported with
  `tls_failed` so the caller may retry in plain text); "required" (MTA-STS enforce, a
  smarthost) fails the host when STARTTLS is missing or the certificate does not verify;
  "implicit" means the connection is TLS from the start.
- Credentials are sent only over TLS (AUTH PLAIN, else LOGIN; RFC 4954, RFC 4616).
- With PIPELINING (RFC 2920) MAIL and all RCPTs go in one write; DATA waits for their replies.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from mfserver.outbound.client import ClientError, ConnectionClosed, Reply, SMTPClientConnection
from mfserver.outbound.outcome import Outcome
from mfserver.outbound.queue import RecipientStatus

log = Logger(namespace="mfserver.outbound")

OPPORTUNISTIC, REQUIRED, IMPLICIT, PLAIN_ONLY = "opportunistic", "required", "implicit", "plain"
DATA_TIMEOUT_FACTOR = 2  # RFC 5321 §4.5.3.2.6: 10 minutes after "." against 5 for commands


class NextHost(Exception):
    """This host cannot take the message now; `outcome` says why (always temporary)."""

    def __init__(self, outcome: Outcome, tls_failed: bool = False) -> None:
        super().__init__(outcome.text)
        self.outcome = outcome
        self.tls_failed = tls_failed


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: tuple[RecipientStatus, ...]
    envid: str | None
    ret: str | None
    smtputf8: bool
    eightbit: bool
    size: int


@dataclass(frozen=True)
class Peer:
    """Who we talk to and on what terms."""

    host: str  # the MX or smarthost name: Remote-MTA, TLS server name
    helo: str
    tls: str  # opportunistic | required | implicit | plain
    tls_creator: Callable[[str], Any] | None = None  # server name -> connection creator
    credentials: tuple[str, str] | None = None
    timeout: float = 300


def xtext(value: str) -> str:
    """RFC 3461 §4 xtext: "+", "=" and bytes outside 33..126 as +HH."""
    return "".join(chr(byte) if 33 <= byte <= 126 and byte not in (43, 61) else f"+{byte:02X}"
                   for byte in value.encode("utf-8"))


def capabilities(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper case) and their parameters; the first line is the greeting."""
    result = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            result[keyword.upper()] = params.strip()
    return result


def _host_failure(peer: Peer, what: str, reply: Reply | None = None,
                  status: str = "4.4.2") -> NextHost:
    """Give up on this host (temporarily: another host, or a later try, may do better)."""
    if reply is not None:
        parsed = Outcome.from_reply(reply.code, reply.text, peer.host)
        if parsed.status[0] != "2":
            status = "4" + parsed.status[1:]
        what = f"{what}: {parsed.text}"
    return NextHost(Outcome("temporary", status, what, peer.host))


async def _hello(connection: SMTPClientConnection, peer: Peer) -> dict[str, str]:
    reply = await connection.send(f"EHLO {peer.helo}")
    if reply.code == 250:
        return capabilities(reply)
    if 500 <= reply.code < 600:
        helo = await connection.send(f"HELO {peer.helo}")
        if helo.code == 250:
            return {}
        reply = helo
    raise _host_failure(peer, "EHLO refused", reply)


async def _secure(connection: SMTPClientConnection, peer: Peer,
                  caps: dict[str, str]) -> dict[str, str]:
    """STARTTLS when offered (or required); the capabilities to use afterwards."""
    if peer.tls in (IMPLICIT, PLAIN_ONLY) or connection.secure:
        return caps
    if "STARTTLS" not in caps:
        if peer.tls == REQUIRED:
            raise _host_failure(peer, "TLS is required but the server does not offer STARTTLS",
                                status="4.7.5")
        return caps
    reply = await connection.send("STARTTLS")
    if reply.code != 220:
        if peer.tls == REQUIRED:
            raise _host_failure(peer, "STARTTLS refused", reply)
        return caps  # RFC 3207 §4: 454, go on without TLS
    assert peer.tls_creator is not None
    connection.start_tls(peer.tls_creator(peer.host))
    return await _hello(connection, peer)  # RFC 3207 §4.2: forget what was said before


async def _authenticate(connection: SMTPClientConnection, peer: Peer,
                        caps: dict[str, str]) -> None:
    if peer.credentials is None:
        return
    if not connection.secure:  # never reached with REQUIRED/IMPLICIT; a last guard
        raise _host_failure(peer, "refusing to send credentials without TLS", status="4.7.0")
    username, password = peer.credentials
    mechanisms = caps.get("AUTH", "").upper().split()
    if "PLAIN" in mechanisms:
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        reply = await connection.send(f"AUTH PLAIN {token}")
    elif "LOGIN" in mechanisms:
        reply = await connection.send("AUTH LOGIN")
        for secret in (username, password):
            if reply.code != 334:
                break
            reply = await connection.send(base64.b64encode(secret.encode()).decode())
    else:
        raise _host_failure(peer, "the server offers neither AUTH PLAIN nor LOGIN",
                            status="4.7.0")
    if reply.code != 235:
        raise _host_failure(peer, "authentication failed", reply)


def _mail_command(envelope: Envelope, caps: dict[str, str]) -> str:
    command = f"MAIL FROM:<{envelope.sender}>"
    if "SIZE" in caps:
        command += f" SIZE={envelope.size}"
    if envelope.eightbit:
        command += " BODY=8BITMIME"
    if envelope.smtputf8:
        command += " SMTPUTF8"
    if "DSN" in caps:
        if envelope.ret:
            command += f" RET={envelope.ret}"
        if envelope.envid:
            command += f" ENVID={xtext(envelope.envid)}"
    return command


def _rcpt_command(recipient: RecipientStatus, caps: dict[str, str]) -> str:
    command = f"RCPT TO:<{recipient.address}>"
    if "DSN" in caps:
        command += " NOTIFY=" + ",".join(sorted(recipient.notify))
        if recipient.orcpt:
            kind, _, address = recipient.orcpt.partition(";")
            command += f" ORCPT={kind.strip()};{xtext(address.strip())}"
    return command


def _refusal(envelope: Envelope, caps: dict[str, str]) -> Outcome | None:
    """A permanent failure when this server cannot take the message as it is."""
    if envelope.eightbit and "8BITMIME" not in caps:
        return Outcome.permanent("5.6.3", "the message has 8-bit content and the receiving "
                                 "server does not support 8BITMIME (RFC 6152); not sent "
                                 "rather than corrupted")
    if envelope.smtputf8 and "SMTPUTF8" not in caps:
        return Outcome.permanent("5.6.7", "the message needs SMTPUTF8 (international "
                                 "addresses or headers) and the receiving server does not "
                                 "support it (RFC 6531)")
    limit = caps.get("SIZE", "").strip()
    if limit.isdigit() and int(limit) and envelope.size > int(limit):
        return Outcome.permanent("5.3.4", f"message of {envelope.size} bytes exceeds the "
                                 f"receiving server's limit of {limit} bytes")
    return None


async def converse(connection: SMTPClientConnection, peer: Peer, envelope: Envelope,
                   message: bytes) -> dict[int, Outcome]:
    """Deliver over `connection`; an outcome per recipient id, or `NextHost`."""
    try:
        return await _converse(connection, peer, envelope, message)
    except ConnectionClosed as exc:
        raise NextHost(Outcome("temporary", "4.4.2", str(exc), peer.host),
                       tls_failed=exc.tls_failed) from None
    except ClientError as exc:
        connection.abort()
        raise NextHost(Outcome("temporary", "4.4.2", str(exc), peer.host)) from None
    except NextHost:
        _quit(connection)
        raise


async def _converse(connection: SMTPClientConnection, peer: Peer, envelope: Envelope,
                    message: bytes) -> dict[int, Outcome]:
    greeting = await connection.greeting
    if greeting.code != 220:
        raise _host_failure(peer, "greeting", greeting)
    caps = await _hello(connection, peer)
    caps = await _secure(connection, peer, caps)
    await _authenticate(connection, peer, caps)
    refusal = _refusal(envelope, caps)
    if refusal is not None:
        _quit(connection)
        return {recipient.id: refusal for recipient in envelope.recipients}
    dsn = "DSN" in caps

    def outcome(reply: Reply) -> Outcome:
        return Outcome.from_reply(reply.code, reply.text, peer.host, remote_dsn=dsn)

    commands = [_mail_command(envelope, caps)]
    commands += [_rcpt_command(recipient, caps) for recipient in envelope.recipients]
    if "PIPELINING" in caps:
        waiting = [connection.send(command) for command in commands]
        replies = [await reply for reply in waiting]
    else:
        replies = [await connection.send(commands[0])]
        if replies[0].code // 100 == 2:
            replies += [await connection.send(command) for command in commands[1:]]
    mail_reply = replies[0]
    if mail_reply.code // 100 != 2:
        _quit(connection)
        return {recipient.id: outcome(mail_reply) for recipient in envelope.recipients}
    results = {}
    accepted = []
    for recipient, reply in zip(envelope.recipients, replies[1:], strict=True):
        if reply.code // 100 == 2:
            accepted.append(recipient)
        else:
            results[recipient.id] = outcome(reply)
    if not accepted:
        _quit(connection)
        return results
    reply = await connection.send("DATA")
    if reply.code == 354:
        reply = await connection.send_message(message, peer.timeout * DATA_TIMEOUT_FACTOR)
    elif reply.code < 400:  # anything but 354 or a refusal: the message was not sent
        raise ClientError(f"unexpected reply to DATA: {reply}")
    for recipient in accepted:
        results[recipient.id] = outcome(reply)
    _quit(connection)
    return results


def _quit(connection: SMTPClientConnection) -> None:
    """QUIT without waiting on it: the outcome is known; the reply only ends the session."""
    reply = connection.send("QUIT")
    reply.addErrback(lambda _failure: None)
    reply.addBoth(lambda _: connection.close())
