"""The POP3 session: states, the command table, replies, login and the UPDATE state.

Implementation notes:
- States (RFC 1939 3): AUTHORIZATION, TRANSACTION, UPDATE. Which commands each state allows
  is the `COMMANDS` table (with each command's argument count), not if-chains; a command in
  the wrong state, an unknown one, or one with bad arguments gets -ERR with the reason and
  counts towards the connection's bad-command limit. Commands register themselves from
  `pop3.authorization` and `pop3.transaction`.
- Store and credential work runs in the thread pool through `run_blocking`; the connection
  sends the next command only when this one is answered (PIPELINING, RFC 2449 6.6).
- No login before TLS unless the admin allows it: USER, PASS and AUTH answer
  `-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.`
  (RFC 3206 4: [AUTH] covers "an attempt to authenticate in violation of policy"; the text
  is Dovecot's, which clients already know) and CAPA lists neither USER nor SASL (RFC 2449
  6.3/6.4 let a server leave out what the current state does not allow).
- Logins go through the one credential check (the portal, service "pop3"): username or
  address, app passwords when TOTP is on, throttling. Refusals (RFC 3206, RFC 2449 8):
  wrong credentials `-ERR [AUTH]`; throttled `-ERR [SYS/TEMP]` with "wait" in the text —
  the delay is temporary and not the user's password's fault, and [LOGIN-DELAY] is for a
  policy on how often a *successful* login may happen (RFC 2449 8.1.1), which we do not
  have; the account database unreachable `-ERR [SYS/TEMP]`; the maildrop already in a POP3
  session of this process `-ERR [IN-USE]` (fetchmail, for one, skips the poll quietly on
  [IN-USE] and on "wait", and warns the user about a failed login otherwise).
- The maildrop is a snapshot taken at login (pop3.maildrop). RETR marks messages \\Seen as
  Dovecot does (its `pop3_no_flag_updates = no`), TOP does not; the \\Seen flags are set in
  one store call when the session ends, with QUIT or without, like Dovecot's. DELE only
  marks; QUIT in TRANSACTION enters UPDATE, which sets \\Deleted on exactly the marked UIDs
  and expunges exactly those (Store.store_flags then Store.expunge with the UIDs), so open
  IMAP sessions are told through the ChangeBus. A connection that ends without QUIT
  deletes nothing (RFC 1939 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import Portal
from twisted.internet import defer, reactor
from twisted.logger import Logger

from mfserver import __version__
from mfserver.auth import AuthenticationUnavailable, Credentials, IAccount, LoginThrottled
from mfserver.pop3.connection import POP3Connection
from mfserver.pop3.maildrop import Maildrop, MaildropLocks, read_maildrop
from mfserver.pop3.parser import Command, CommandError, parse_command
from mfserver.store import FlagMode, Store
from mfserver.store import flags as flagbits

log = Logger()

AUTHORIZATION, TRANSACTION, UPDATE, CLOSED = "AUTHORIZATION", "TRANSACTION", "UPDATE", \
    "CLOSED"
PLAINTEXT_REFUSED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."

# RFC 2449 8, RFC 3206 response codes
AUTH, SYS_TEMP, SYS_PERM, IN_USE = "AUTH", "SYS/TEMP", "SYS/PERM", "IN-USE"


@dataclass
class POP3Services:
    """What every session shares."""

    portal: Portal
    store: Store
    run_blocking: Callable[..., defer.Deferred[Any]]
    hostname: str
    allow_plaintext_login: bool = False
    locks: MaildropLocks = field(default_factory=MaildropLocks)
    clock: Any = field(default=reactor)


@dataclass
class Reply:
    """One answer: +OK or -ERR, an optional response code, text, and for a multi-line answer
    its lines (never starting with "."; byte-stuffing is for message text). `bad` marks a
    refusal of the command itself, which counts towards the bad-command limit."""

    ok: bool = True
    text: str = ""
    code: str | None = None
    lines: list[bytes] | None = None
    bad: bool = False

    def encode(self) -> bytes:
        code = f"[{self.code}] " if self.code else ""
        first = f"{'+OK' if self.ok else '-ERR'} {code}{self.text}".rstrip()
        head = first.encode() + b"\r\n"
        if self.lines is None:
            return head
        return head + b"".join(line + b"\r\n" for line in self.lines) + b".\r\n"


def ok(text: str = "", lines: list[bytes] | None = None) -> Reply:
    return Reply(True, text, lines=lines)


def err(text: str, code: str | None = None, *, bad: bool = False) -> Reply:
    return Reply(False, text, code, bad=bad)


class AlreadySent(Reply):
    """The answer was written by the handler itself (STLS, RETR, TOP)."""

    def encode(self) -> bytes:
        return b""


Handler = Callable[["POP3Session", Command], "Reply | defer.Deferred[Reply]"]


@dataclass(frozen=True)
class CommandSpec:
    handler: Handler
    states: frozenset[str]
    arguments: tuple[int, int]  # the least and the most


COMMANDS: dict[str, CommandSpec] = {}


def command(name: str, states: frozenset[str] | set[str],
            arguments: tuple[int, int] = (0, 0)) -> Callable[[Handler], Handler]:
    """Register a handler in the command table."""
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = CommandSpec(handler, frozenset(states), arguments)
        return handler
    return register


class POP3Session:
    """One client's session; the connection feeds it command lines."""

    def __init__(self, connection: POP3Connection, services: POP3Services) -> None:
        self.connection = connection
        self.services = services
        self.state = AUTHORIZATION
        self.user: str | None = None  # the USER name waiting for PASS
        self.account: IAccount | None = None
        self.maildrop: Maildrop | None = None
        self.retrieved: set[int] = set()  # UIDs sent whole by RETR: \Seen at the end
        self.quitting = False  # QUIT was given: close once it is answered
        self.read_ahead: Any = None  # pop3.transaction.ReadAhead: the next RETR, started
        self._logout_avatar: Callable[[], None] | None = None

    # -- what the connection calls ----------------------------------------------------------

    def greeting(self) -> bytes:
        # no <timestamp>: APOP is not offered (RFC 1939 7)
        return f"+OK {self.services.hostname} POP3 ready\r\n".encode()

    def bad_line(self, reason: str) -> bytes:
        return f"-ERR {reason}\r\n".encode()

    def timed_out(self) -> bytes:
        return b"-ERR Disconnected for inactivity\r\n"

    def connection_lost(self) -> None:
        """The client is gone: nothing is deleted; RETR's \\Seen marks are kept."""
        state, self.state = self.state, CLOSED
        self._discard_read_ahead()
        if state == TRANSACTION:
            self._end_session()
        elif state == AUTHORIZATION:
            self._logout()

    def handle(self, line: bytes) -> defer.Deferred[None] | None:
        try:
            cmd = parse_command(line)
        except CommandError as error:
            self._answer(err(str(error), bad=True))
            return None
        spec = COMMANDS.get(cmd.name)
        if spec is None:
            self._answer(err("Unknown command", bad=True))
            return None
        if self.state not in spec.states:
            self._answer(err(f"{cmd.name} is not allowed in the {self.state} state",
                             bad=True))
            return None
        least, most = spec.arguments
        if not least <= len(cmd.args) <= most:
            self._answer(err(_argument_count(cmd.name, least, most), bad=True))
            return None
        result = defer.maybeDeferred(spec.handler, self, cmd)
        result.addErrback(self._failed, cmd)
        result.addCallback(self._answer)
        return result

    # -- replies ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.connection.write(data)

    def _answer(self, reply: Reply) -> None:
        self.send(reply.encode())
        if reply.bad:
            self.connection.command_was_bad()
        else:
            self.connection.command_was_good()
        if self.quitting:
            self.connection.close()

    def _failed(self, failure: Any, cmd: Command) -> Reply:
        if failure.check(AuthenticationUnavailable):
            return err("Authentication is unavailable; wait and try again later", SYS_TEMP)
        log.failure("POP3 {command} failed", failure, command=cmd.name)
        return err("Internal server error", SYS_TEMP)

    def blocking(self, function: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> defer.Deferred[Any]:
        """Run `function` in the thread pool (store and database work)."""
        return self.services.run_blocking(function, *args, **kwargs)

    @property
    def account_id(self) -> int:
        assert self.account is not None
        return self.account.account_id

    # -- login ------------------------------------------------------------------------------

    def login_allowed(self) -> bool:
        return self.connection.secure or self.services.allow_plaintext_login

    def capabilities(self) -> list[str]:
        """CAPA (RFC 2449 5): what works now, in this state, on this connection."""
        words = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self.state == AUTHORIZATION:
            if not self.connection.secure:
                words.append("STLS")
            if self.login_allowed():
                words += ["USER", "SASL PLAIN LOGIN"]
            words.append("IMPLEMENTATION mfserver")  # no version to strangers
        else:
            words.append(f"IMPLEMENTATION mfserver {__version__}")
        return words

    def authenticate(self, login: str, secret: str) -> defer.Deferred[Reply]:
        """Check credentials through the portal, take the maildrop, enter TRANSACTION."""
        credentials = Credentials(login, secret, source=self.connection.client_address,
                                  service="pop3")
        result = self.services.portal.login(credentials, None, IAccount)
        return result.addCallbacks(self._logged_in, self._refused)

    def _refused(self, failure: Any) -> Reply:
        if failure.check(LoginThrottled):
            return err("Too many failed logins; wait and try again later", SYS_TEMP)
        if failure.check(AuthenticationUnavailable):
            return err("Authentication is unavailable; wait and try again later", SYS_TEMP)
        failure.trap(UnauthorizedLogin)
        log.info("POP3 login failed from {peer}", peer=self.connection.peer)
        return err("Authentication failed", AUTH)

    def _logged_in(self, avatar: tuple[Any, IAccount, Callable[[], None]]
                   ) -> Reply | defer.Deferred[Reply]:
        _, account, logout = avatar
        if self.state != AUTHORIZATION:  # the client went away meanwhile
            logout()
            return err("Connection closed")
        locks = self.services.locks
        if not locks.acquire(account.account_id, self):
            logout()
            log.info("POP3 login {user} refused: maildrop in use", user=account.username)
            return err("Maildrop is locked by another POP3 session", IN_USE)
        self.account, self._logout_avatar = account, logout
        result = self.blocking(read_maildrop, self.services.store, account.account_id)
        return result.addCallbacks(self._opened, self._not_opened)

    def _opened(self, maildrop: Maildrop) -> Reply:
        if self.state != AUTHORIZATION:  # gone while the index was read
            self._release()
            return err("Connection closed")
        self.maildrop = maildrop
        self.state = TRANSACTION
        self.connection.logged_in()
        assert self.account is not None
        log.info("POP3 login {user} from {peer}", user=self.account.username,
                 peer=self.connection.peer)
        return ok(f"Logged in; {maildrop.count} messages ({maildrop.octets} octets)")

    def _not_opened(self, failure: Any) -> Reply:
        log.failure("POP3 could not read the maildrop", failure)
        self._release()
        self.account = None
        return err("The maildrop cannot be read now; try again later", SYS_TEMP)

    # -- the end of a session ---------------------------------------------------------------

    def update(self) -> defer.Deferred[Reply]:
        """QUIT in TRANSACTION (RFC 1939 6): expunge what DELE marked, set \\Seen, release."""
        assert self.maildrop is not None
        self.state = UPDATE
        self._discard_read_ahead()
        maildrop = self.maildrop
        deleted = maildrop.deleted_uids()
        seen = sorted(self.retrieved - set(deleted))
        self.retrieved.clear()
        result = self.blocking(apply_update, self.services.store, self.account_id,
                               maildrop.folder_id, deleted, seen)

        def done(removed: list[int]) -> Reply:
            self._release()
            if len(removed) < len(deleted):
                log.info("POP3: {missing} deleted messages were already gone",
                         missing=len(deleted) - len(removed))
            return ok(f"Logging out; {len(deleted)} deleted" if deleted else "Logging out")

        def failed(failure: Any) -> Reply:
            log.failure("POP3 UPDATE failed", failure)
            self._release()
            return err("Some deleted messages were not removed", SYS_TEMP)

        return result.addCallbacks(done, failed)

    def _end_session(self) -> None:
        """Without QUIT: only RETR's \\Seen marks are applied, then the maildrop is free."""
        seen = sorted(self.retrieved)
        self.retrieved.clear()
        if not seen or self.maildrop is None:
            self._release()
            return
        result = self.blocking(apply_update, self.services.store, self.account_id,
                               self.maildrop.folder_id, [], seen)
        result.addErrback(lambda failure: log.failure("POP3 setting \\Seen failed", failure))
        result.addBoth(lambda _: self._release())

    def _discard_read_ahead(self) -> None:
        if self.read_ahead is not None:
            self.read_ahead.discard()
            self.read_ahead = None

    def _release(self) -> None:
        if self.account is not None:
            self.services.locks.release(self.account.account_id, self)
        self._logout()

    def _logout(self) -> None:
        if self._logout_avatar is not None:
            logout, self._logout_avatar = self._logout_avatar, None
            logout()


def apply_update(store: Store, account_id: int, folder_id: int, deleted: list[int],
                 seen: list[int]) -> list[int]:
    """Blocking: set \\Seen on `seen`, then \\Deleted on `deleted` and expunge exactly those.
    Returns the UIDs expunged (a message another client expunged first is not among them)."""
    if seen:
        store.store_flags(account_id, folder_id, seen, FlagMode.ADD, flagbits.SEEN)
    if not deleted:
        return []
    store.store_flags(account_id, folder_id, deleted, FlagMode.ADD, flagbits.DELETED)
    return store.expunge(account_id, folder_id, deleted)


def _argument_count(name: str, least: int, most: int) -> str:
    if most == 0:
        return f"{name} takes no arguments"
    if least == most:
        return f"{name} takes {least} argument{'s' if least > 1 else ''}"
    return f"{name} takes {least} to {most} arguments"
