"""Commands of every state and of login: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE, COMPRESS,
IDLE, STARTTLS, LOGIN, AUTHENTICATE.

Implementation notes:
- STARTTLS and COMPRESS switch the connection right after their tagged OK is written, so the
  handlers write that OK themselves and return a Reply of None-text that is not sent twice.
- AUTHENTICATE PLAIN (RFC 4616) and LOGIN, with SASL-IR (RFC 4959); "*" cancels (RFC 3501
  6.2.2). The exchange reads raw lines from the connection.
- IDLE (RFC 2177): changes are told as they happen; "DONE" ends it. The session's change
  subscription wakes it; the index is also asked every few seconds, for changes made by other
  processes or nodes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, task

from mfserver import __version__
from mfserver.auth import sasl
from mfserver.imap.commands import Command
from mfserver.imap.session import (
    ANY,
    AUTHED,
    LOGOUT,
    NOT_AUTHENTICATED,
    SELECTED,
    IMAPSession,
    Reply,
    bad,
    command,
    no,
    ok,
)

IDLE_POLL = 5.0


class AlreadySent(Reply):
    """The tagged reply was written by the handler itself (before switching the connection)."""

    def encode(self, tag: str) -> bytes:
        return b""


@command("CAPABILITY", ANY)
def capability(session: IMAPSession, cmd: Command) -> Reply:
    session.send(("* CAPABILITY " + " ".join(session.capabilities()) + "\r\n").encode())
    return ok("Capability completed")


@command("NOOP", ANY)
def noop(session: IMAPSession, cmd: Command) -> Reply:
    return ok("NOOP completed")


@command("LOGOUT", ANY)
def logout(session: IMAPSession, cmd: Command) -> Reply:
    session.send(b"* BYE Logging out\r\n")
    session.leave_mailbox()
    session.state = LOGOUT
    return ok("Logout completed")


@command("ID", ANY)
def identify(session: IMAPSession, cmd: Command) -> Reply:
    # RFC 2971: we say who we are, but not our version to strangers.
    session.send(b'* ID ("name" "mfserver")\r\n' if session.state == NOT_AUTHENTICATED
                 else f'* ID ("name" "mfserver" "version" "{__version__}")\r\n'.encode())
    return ok("ID completed")


ENABLEABLE = {"CONDSTORE", "QRESYNC"}


@command("ENABLE", AUTHED)
def enable(session: IMAPSession, cmd: Command) -> Reply:
    newly = []
    for name in cmd.args.capabilities:
        name = name.upper()
        if name in ENABLEABLE and name not in session.enabled:
            newly.append(name)
            session.enabled.add(name)
            if name == "QRESYNC" and "CONDSTORE" not in session.enabled:
                session.enabled.add("CONDSTORE")  # RFC 7162 3.2.3: QRESYNC implies it
    if session.selected is not None:
        session.selected.condstore = "CONDSTORE" in session.enabled
        session.selected.qresync = "QRESYNC" in session.enabled
    session.send(("* ENABLED" + "".join(" " + name for name in newly) + "\r\n").encode())
    return ok("Enabled")


@command("NAMESPACE", AUTHED)
def namespace(session: IMAPSession, cmd: Command) -> Reply:
    session.send(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
    return ok("Namespace completed")


@command("COMPRESS", AUTHED)
def compress(session: IMAPSession, cmd: Command) -> Reply:
    if session.connection.compressed:
        return no("Compression is already active", "COMPRESSIONACTIVE")
    session.send(ok("DEFLATE active").encode(cmd.tag))
    session.connection.start_compression()
    return AlreadySent()


@command("STARTTLS", frozenset({NOT_AUTHENTICATED}))
def starttls(session: IMAPSession, cmd: Command) -> Reply:
    if session.connection.secure:
        return bad("TLS is already active")
    session.send(ok("Begin TLS negotiation now").encode(cmd.tag))
    session.connection.start_tls()
    return AlreadySent()


@command("LOGIN", frozenset({NOT_AUTHENTICATED}))
def login(session: IMAPSession, cmd: Command) -> Reply | defer.Deferred[Reply]:
    if not session.login_allowed():
        return no("Log in after STARTTLS", "PRIVACYREQUIRED")
    return session.authenticate(cmd.args.username, cmd.args.password)


@command("AUTHENTICATE", frozenset({NOT_AUTHENTICATED}))
def authenticate(session: IMAPSession, cmd: Command) -> Reply | defer.Deferred[Reply]:
    mechanism = cmd.args.mechanism.upper()
    if mechanism not in sasl.MECHANISMS:
        return no(f"Unsupported authentication mechanism {mechanism}", "CANNOT")
    if not session.login_allowed():
        return no("Authenticate after STARTTLS", "PRIVACYREQUIRED")
    initial = cmd.args.initial_response
    exchange = sasl.WireExchange(
        mechanism, send_prompt=lambda prompt: session.send(b"+ " + prompt + b"\r\n"),
        read_lines=session.connection.read_lines, authenticate=session.authenticate,
        refusals=SASL_REFUSALS, too_long=bad("Authentication response too long"))
    return exchange.start(initial)


SASL_REFUSALS = {"cancelled": bad("Authentication cancelled"),
                 "base64": bad("Invalid base64 in the response"),
                 "malformed": bad("Malformed credentials"),
                 "authzid": no("Acting as another user is not allowed", "AUTHORIZATIONFAILED")}


@command("IDLE", frozenset({SELECTED, "authenticated"}))
def idle(session: IMAPSession, cmd: Command) -> defer.Deferred[Reply]:
    return Idle(session).start()


class Idle:
    """One IDLE command: tell changes as they come until the client says DONE."""

    def __init__(self, session: IMAPSession) -> None:
        self.session = session
        self.done: defer.Deferred[Reply] = defer.Deferred()
        self.poll: task.LoopingCall | None = None
        self.syncing = False
        self.again = False

    def start(self) -> defer.Deferred[Reply]:
        self.session.send(b"+ idling\r\n")
        self.session.connection.read_lines(self._line)
        self.session.idling = self
        self.poll = task.LoopingCall(self.wake)
        self.poll.clock = self.session.services.clock
        self.poll.start(IDLE_POLL, now=True)
        return self.done

    def wake(self) -> None:
        """Something changed (or it is time to look): tell the client."""
        if self.syncing:
            self.again = True
            return
        self.syncing = True
        result = self.session.sync(allow_expunge=True, force=True)
        result.addBoth(self._synced)

    def _synced(self, _: Any) -> None:
        self.syncing = False
        if self.again and not self.done.called:
            self.again = False
            self.wake()

    def _line(self, line: bytes) -> None:
        self.stop()
        if line.strip().upper() == b"DONE":
            self.done.callback(ok("IDLE terminated"))
        else:
            self.done.callback(bad("Expected DONE"))

    def stop(self) -> None:
        """End idling (DONE, or the connection is gone)."""
        self.session.connection.read_lines(None)
        self.session.idling = None
        if self.poll is not None and self.poll.running:
            self.poll.stop()
