"""The IMAP session: connection states, the command table, and the commands of any state.

Implementation notes:
- States (RFC 3501 3): not authenticated, authenticated, selected, logout. Which commands each
  state allows is the `COMMANDS` table, not if-chains; a command in the wrong state is BAD.
- A command is parsed whole (imap.parser), looked up, and run; its handler may return a
  Deferred (all store and credential work runs in the thread pool through `run_blocking`).
  The connection sends the next command only when this one is answered.
- Before the tagged reply of every command in the selected state, changes others made to the
  mailbox are told (imap.selected), except EXPUNGEs during FETCH, STORE and SEARCH.
- No login before TLS unless the admin allows it: LOGINDISABLED is advertised and LOGIN and
  AUTHENTICATE answer NO [PRIVACYREQUIRED] (RFC 3501 6.2.3, RFC 5530).
- Logins go through the one credential check (auth.AccountChecker via the portal): username
  or address, app passwords when TOTP is on, throttling. The client's address goes to the
  throttle only; the log shows it only when the admin allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import Portal
from twisted.internet import defer, reactor
from twisted.logger import Logger

from mfserver.accounts import Directory
from mfserver.auth import AuthenticationUnavailable, Credentials, IAccount, LoginThrottled
from mfserver.imap.commands import BadCharset, Command, ParseError
from mfserver.imap.connection import IMAPConnection
from mfserver.imap.parser import parse_command
from mfserver.imap.parser_tokens import is_tag
from mfserver.imap.selected import Changes, SelectedMailbox
from mfserver.store import ChangeBus, Store

log = Logger()

NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, LOGOUT = "not-authenticated", "authenticated", \
    "selected", "logout"
ANY = frozenset({NOT_AUTHENTICATED, AUTHENTICATED, SELECTED})
AUTHED = frozenset({AUTHENTICATED, SELECTED})
COMMAND_LITERAL_LIMIT = 64 * 1024
_NOT_TEXT_CHAR = re.compile(r"[^\x20-\x7e]")
RESYNC_EVERY = 5.0  # seconds: how often an idle or busy session asks the index anyway


@dataclass
class IMAPServices:
    """What every session shares."""

    portal: Portal
    store: Store
    directory: Directory
    bus: ChangeBus
    run_blocking: Callable[..., defer.Deferred[Any]]
    hostname: str
    allow_plaintext_login: bool = False
    append_limit: int = 50 * 1024 * 1024
    clock: Any = field(default=reactor)
    # told after a COPY/MOVE committed: (account_id, source name, target name, target id,
    # new uids); the milters learn from it (mfserver.milter.config.Chains.filed)
    filed: Callable[[int, str, str, int, list[int]], Any] | None = None


@dataclass
class Reply:
    """The tagged answer of a command: status OK/NO/BAD, an optional response code, text."""

    status: str = "OK"
    text: str = "done"
    code: str | None = None

    def encode(self, tag: str) -> bytes:
        code = f"[{self.code}] " if self.code else ""
        # RFC 3501 9: resp-text is 7-bit; a store message may hold a Unicode mailbox name
        text = _NOT_TEXT_CHAR.sub("?", f"{code}{self.text}")
        return f"{tag} {self.status} {text}\r\n".encode()


def ok(text: str = "done", code: str | None = None) -> Reply:
    return Reply("OK", text, code)


def no(text: str, code: str | None = None) -> Reply:
    return Reply("NO", text, code)


def bad(text: str, code: str | None = None) -> Reply:
    return Reply("BAD", text, code)


Handler = Callable[["IMAPSession", Command], "Reply | defer.Deferred[Reply]"]


@dataclass(frozen=True)
class CommandSpec:
    handler: Handler
    states: frozenset[str]
    allows_expunge: bool = True  # RFC 3501 7.4.1: not during FETCH, STORE, SEARCH


COMMANDS: dict[str, CommandSpec] = {}


def command(name: str, states: frozenset[str], *, allows_expunge: bool = True,
            uid_allows_expunge: bool = True) -> Callable[[Handler], Handler]:
    """Register a handler in the command table."""
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = CommandSpec(handler, states, allows_expunge)
        if uid_allows_expunge != allows_expunge:
            COMMANDS["UID " + name] = CommandSpec(handler, states, uid_allows_expunge)
        return handler
    return register


class IMAPSession:
    """One client's session; the connection feeds it whole commands."""

    def __init__(self, connection: IMAPConnection, services: IMAPServices) -> None:
        self.connection = connection
        self.services = services
        self.state = NOT_AUTHENTICATED
        self.account: IAccount | None = None
        self.logout_avatar: Callable[[], None] | None = None
        self.selected: SelectedMailbox | None = None
        self.enabled: set[str] = set()
        self.saved_search: list[int] = []  # SEARCH ... SAVE results, as UIDs (RFC 5182)
        self._subscription: Any = None
        self._dirty = False
        self._last_sync = 0.0
        self.idling: Any = None  # the running IDLE command (imap.anystate.Idle)

    # -- what the connection calls ----------------------------------------------------------

    def greeting(self) -> bytes:
        return f"* OK [CAPABILITY {' '.join(self.capabilities())}] {self.services.hostname} " \
               f"mfserver ready\r\n".encode()

    def literal_limit(self, first_line: bytes) -> int:
        words = first_line.split(b" ", 3)
        if len(words) > 1 and words[1].upper() == b"APPEND" and self.state in AUTHED:
            return self.services.append_limit
        return COMMAND_LITERAL_LIMIT

    def oversized(self, first_line: bytes, size: int) -> bytes:
        tag = first_line.split(b" ", 1)[0]
        if not is_tag(tag):  # not one to echo: the answer is untagged, like a ParseError's
            tag = b"*"
        if first_line.split(b" ", 2)[1:2] and first_line.split(b" ", 2)[1].upper() == b"APPEND":
            return tag + b" NO [TOOBIG] Message larger than APPENDLIMIT\r\n"
        return tag + b" BAD [TOOBIG] Literal too large\r\n"

    def bad_line(self, reason: str) -> bytes:
        return f"* BAD {reason}\r\n".encode()

    def timed_out(self) -> bytes:
        return b"* BYE Autologout; idle for too long\r\n"

    def connection_lost(self) -> None:
        if self.idling is not None:
            self.idling.stop()
        self._leave_mailbox()
        if self.logout_avatar is not None:
            self.logout_avatar()
            self.logout_avatar = None
        self.state = LOGOUT

    def handle(self, data: bytes) -> defer.Deferred[None] | None:
        try:
            cmd = parse_command(data)
        except BadCharset as error:
            self.send(f"{error.tag or '*'} NO {error.text}\r\n".encode())
            return None
        except ParseError as error:
            self.send(f"{error.tag or '*'} BAD {error.text}\r\n".encode())
            self.connection.command_was_bad()
            return None
        name = ("UID " if cmd.uid else "") + cmd.name
        spec = COMMANDS.get(name) or COMMANDS.get(cmd.name)
        if spec is None:
            self.send(bad(f"Unknown command {cmd.name}").encode(cmd.tag))
            self.connection.command_was_bad()
            return None
        if self.state not in spec.states:
            self.send(bad(f"{cmd.name} is not allowed in the {self.state} state")
                      .encode(cmd.tag))
            self.connection.command_was_bad()
            return None
        result = defer.maybeDeferred(spec.handler, self, cmd)
        result.addErrback(self._failed, cmd)
        result.addCallback(self._after, cmd, spec)
        return result

    @property
    def account_id(self) -> int:
        assert self.account is not None
        return self.account.account_id

    def blocking(self, function: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> defer.Deferred[Any]:
        """Run `function` in the thread pool (store and database work)."""
        return self.services.run_blocking(function, *args, **kwargs)

    # -- replies ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.connection.write(data)

    def _failed(self, failure: Any, cmd: Command) -> Reply:
        if failure.check(AuthenticationUnavailable):
            return no("Authentication is unavailable, try again later", "UNAVAILABLE")
        log.failure("IMAP {command} failed", failure, command=cmd.name)
        return no("Internal server error", "SERVERBUG")

    def _after(self, reply: Reply, cmd: Command, spec: CommandSpec) -> defer.Deferred[None]:
        if self.selected is None or self.state != SELECTED:
            return self._finish(cmd.tag, reply)
        resync = self.sync(allow_expunge=spec.allows_expunge, force=cmd.name in
                           ("NOOP", "CHECK", "SELECT", "EXAMINE", "STATUS"))
        return resync.addCallback(lambda _: self._finish(cmd.tag, reply))

    def _finish(self, tag: str, reply: Reply) -> defer.Deferred[None]:
        self.send(reply.encode(tag))
        if reply.status == "BAD":
            self.connection.command_was_bad()
        else:
            self.connection.command_was_good()
        if self.state == LOGOUT:
            self.connection.close()
        return defer.succeed(None)

    # -- the selected mailbox ---------------------------------------------------------------

    def enter_mailbox(self, mailbox: SelectedMailbox) -> None:
        self._leave_mailbox()
        self.selected = mailbox
        self.state = SELECTED
        self._dirty = False
        self._last_sync = self.services.clock.seconds()
        assert self.account is not None
        self._subscription = self.services.bus.subscribe(self.account.account_id,
                                                         self._changed)

    def _leave_mailbox(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self.selected = None
        if self.state == SELECTED:
            self.state = AUTHENTICATED

    def leave_mailbox(self) -> None:
        self._leave_mailbox()

    def _changed(self, change: Any) -> None:
        if self.selected is not None and getattr(change, "folder_id", None) == \
                self.selected.folder.id:
            self._dirty = True
            if self.idling is not None:
                self.idling.wake()

    def sync(self, *, allow_expunge: bool = True, force: bool = False) -> defer.Deferred[None]:
        """Tell the client what changed in the selected mailbox since it last heard."""
        mailbox = self.selected
        if mailbox is None:
            return defer.succeed(None)
        now = self.services.clock.seconds()
        held_back = allow_expunge and mailbox.expunges_held  # RFC 3501 7.4.1: tell them now
        if not (force or self._dirty or held_back or now - self._last_sync >= RESYNC_EVERY):
            return defer.succeed(None)
        self._dirty = False
        self._last_sync = now
        assert self.account is not None
        result = self.services.run_blocking(read_changes, self.services.store,
                                            self.account.account_id, mailbox.folder.id,
                                            mailbox.highestmodseq)

        def tell(changes: Changes) -> None:
            if self.selected is mailbox:
                for line in mailbox.apply(changes, allow_expunge=allow_expunge):
                    self.send(line)
        return result.addCallback(tell)

    # -- capabilities -----------------------------------------------------------------------

    def capabilities(self) -> list[str]:
        words = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE",
                 "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "SPECIAL-USE", "LIST-EXTENDED",
                 "LIST-STATUS", "CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "QUOTA",
                 "QUOTA=RES-STORAGE", f"APPENDLIMIT={self.services.append_limit}",
                 "STATUS=SIZE"]
        if not self.connection.compressed and self.state in AUTHED:
            words.append("COMPRESS=DEFLATE")
        if self.state == NOT_AUTHENTICATED:
            words = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
            if not self.connection.secure:
                words.append("STARTTLS")
            if self.connection.secure or self.services.allow_plaintext_login:
                words += ["AUTH=PLAIN", "AUTH=LOGIN"]
            else:
                words.append("LOGINDISABLED")
        return words

    # -- login ------------------------------------------------------------------------------

    def login_allowed(self) -> bool:
        return self.connection.secure or self.services.allow_plaintext_login

    def authenticate(self, login: str, secret: str) -> defer.Deferred[Reply]:
        """Check credentials through the portal; on success, enter the authenticated state."""
        credentials = Credentials(login, secret, source=self.connection.client_address,
                                  service="imap")
        result = self.services.portal.login(credentials, None, IAccount)

        def logged_in(avatar: tuple[Any, IAccount, Callable[[], None]]) -> Reply:
            _, account, logout = avatar
            if self.state == LOGOUT:  # the client went away meanwhile
                logout()
                return no("Connection closed")
            self.account, self.logout_avatar = account, logout
            self.state = AUTHENTICATED
            self.connection.logged_in()
            log.info("IMAP login {user} from {peer}", user=account.username,
                     peer=self.connection.peer)
            return ok("Logged in", "CAPABILITY " + " ".join(self.capabilities()))

        def refused(failure: Any) -> Reply:
            if failure.check(LoginThrottled):
                return no("Too many failed logins; try again later", "UNAVAILABLE")
            failure.trap(UnauthorizedLogin)
            log.info("IMAP login failed from {peer}", peer=self.connection.peer)
            return no("Invalid credentials", "AUTHENTICATIONFAILED")

        return result.addCallbacks(logged_in, refused)


def read_changes(store: Store, account_id: int, folder_id: int, since: int) -> Changes:
    """Blocking: what changed in a folder since MODSEQ `since` (run in the thread pool).

    HIGHESTMODSEQ is read first: whatever commits in between is in the answer and is asked
    for again next time, where the view ignores what it already knows.
    """
    highest = store.get_folder_by_id(account_id, folder_id).highestmodseq
    changed = store.messages(account_id, folder_id, changed_since=since)
    vanished = store.vanished(account_id, folder_id, since)
    return Changes(changed, vanished, max([highest, *(info.modseq for info in changed)]))
