"""The POP3 session with small fakes of what it talks to: the portal (login results), the Store
methods it calls, and the connection (pop3.connection.Session's other side). The wire tests
cover the same paths against the real server; these reach the ones a real server cannot be
pushed into on demand: throttling, an unreachable account database, a failing store."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer

from mfserver.auth import AccountAvatar, AuthenticationUnavailable, IAccount, LoginThrottled
from mfserver.pop3 import server  # noqa: F401 - registers the commands
from mfserver.pop3.maildrop import MaildropLocks
from mfserver.pop3.session import POP3Services, POP3Session
from mfserver.store import FlagMode, MessageInfo
from mfserver.store import flags as flagbits


class FakeConnection:
    def __init__(self, secure: bool = True) -> None:
        self.secure = secure
        self.written: list[bytes] = []
        self.closing = False
        self.client_address = "192.0.2.1"
        self.peer = "-"
        self.bad = 0

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def take(self) -> bytes:
        data, self.written = b"".join(self.written), []
        return data

    def logged_in(self) -> None: ...
    def close(self) -> None:
        self.closing = True

    def command_was_bad(self) -> None:
        self.bad += 1

    def command_was_good(self) -> None: ...
    def read_lines(self, handler: Any) -> None: ...
    def start_tls(self) -> None:
        self.secure = True

    def wait_writable(self) -> defer.Deferred[None]:
        return defer.succeed(None)


class FakePortal:
    """Answers every login with `outcome`: an account id, or an exception to fail with."""

    def __init__(self, outcome: Any = 1) -> None:
        self.outcome = outcome
        self.logins: list[tuple[str, str, str]] = []
        self.logouts = 0

    def login(self, credentials: Any, mind: Any, interface: Any) -> defer.Deferred[Any]:
        self.logins.append((credentials.username, credentials.password, credentials.service))
        if isinstance(self.outcome, Exception):
            return defer.fail(self.outcome)
        avatar = AccountAvatar(self.outcome, f"user{self.outcome}", None)
        return defer.succeed((IAccount, avatar, self._logout))

    def _logout(self) -> None:
        self.logouts += 1


class FakeStore:
    """The Store methods the POP3 session uses, over an in-memory INBOX."""

    def __init__(self, uids: list[int]) -> None:
        self.flags = {uid: 0 for uid in uids}
        self.calls: list[tuple] = []
        self.fail = False

    def get_folder(self, account_id: int, name: str) -> Any:
        return SimpleNamespace(id=5, uidvalidity=1000)

    def messages(self, account_id: int, folder_id: int) -> list[MessageInfo]:
        if self.fail:
            raise OSError("disk on fire")
        return [MessageInfo(uid, bits, (), 1, 100 + uid, 0, 0, None)
                for uid, bits in self.flags.items()]

    def store_flags(self, account_id: int, folder_id: int, uids: Any, mode: FlagMode,
                    bits: int = 0) -> None:
        self.calls.append(("store_flags", list(uids), mode, bits))
        for uid in uids:
            if uid in self.flags:
                self.flags[uid] |= bits

    def expunge(self, account_id: int, folder_id: int, uids: Any = None) -> list[int]:
        self.calls.append(("expunge", list(uids)))
        gone = [uid for uid in uids if self.flags.get(uid, 0) & flagbits.DELETED]
        for uid in gone:
            del self.flags[uid]
        return gone


def make(portal: FakePortal | None = None, store: FakeStore | None = None, *,
         secure: bool = True, plaintext: bool = False,
         locks: MaildropLocks | None = None) -> tuple[POP3Session, FakeConnection]:
    services = POP3Services(portal or FakePortal(), store or FakeStore([1, 2, 3]),
                            defer.maybeDeferred, "mail.example.test",
                            allow_plaintext_login=plaintext, locks=locks or MaildropLocks())
    connection = FakeConnection(secure)
    return POP3Session(connection, services), connection  # type: ignore[arg-type]


def say(session: POP3Session, connection: FakeConnection, *lines: bytes) -> bytes:
    for line in lines:
        session.handle(line)
    return connection.take()


def test_login_uses_the_pop3_service_and_reports_the_maildrop():
    portal = FakePortal()
    session, connection = make(portal)
    assert say(session, connection, b"USER alice@example.org", b"PASS s3cret pass") == \
        b"+OK\r\n+OK Logged in; 3 messages (306 octets)\r\n"
    assert portal.logins == [("alice@example.org", "s3cret pass", "pop3")]
    assert session.state == "TRANSACTION"


@pytest.mark.parametrize("failure, answer", [
    (LoginThrottled(30), b"-ERR [SYS/TEMP] Too many failed logins; wait and try again later"),
    (AuthenticationUnavailable("db down"),
     b"-ERR [SYS/TEMP] Authentication is unavailable; wait and try again later"),
    (UnauthorizedLogin("no"), b"-ERR [AUTH] Authentication failed"),
])
def test_refusals_carry_rfc3206_codes(failure, answer):
    session, connection = make(FakePortal(failure))
    assert say(session, connection, b"USER alice", b"PASS x") == b"+OK\r\n" + answer + b"\r\n"
    assert say(session, connection, b"AUTH PLAIN AGFsaWNlAHg=") == answer + b"\r\n"
    assert session.state == "AUTHORIZATION" and connection.bad == 0


def test_a_maildrop_that_cannot_be_read_frees_the_lock():
    store = FakeStore([1])
    store.fail = True
    locks, portal = MaildropLocks(), FakePortal()
    session, connection = make(portal, store, locks=locks)
    assert say(session, connection, b"USER a", b"PASS b").endswith(
        b"-ERR [SYS/TEMP] The maildrop cannot be read now; try again later\r\n")
    assert not locks.held(1) and portal.logouts == 1


def test_in_use_is_per_account_and_freed_by_the_first_session():
    locks = MaildropLocks()
    first, first_connection = make(locks=locks)
    second, second_connection = make(locks=locks)
    other, other_connection = make(FakePortal(2), locks=locks)
    say(first, first_connection, b"USER a", b"PASS b")
    assert say(second, second_connection, b"USER a", b"PASS b") == \
        b"+OK\r\n-ERR [IN-USE] Maildrop is locked by another POP3 session\r\n"
    assert say(other, other_connection, b"USER c", b"PASS d").startswith(b"+OK\r\n+OK Logged")
    first.connection_lost()
    assert say(second, second_connection, b"USER a", b"PASS b").startswith(
        b"+OK\r\n+OK Logged")


def test_plaintext_allowed_by_the_admin_shows_user_and_sasl_before_tls():
    session, connection = make(secure=False, plaintext=True)
    capabilities = say(session, connection, b"CAPA").split(b"\r\n")
    assert b"STLS" in capabilities and b"USER" in capabilities
    assert b"SASL PLAIN LOGIN" in capabilities
    assert say(session, connection, b"USER a", b"PASS b").startswith(b"+OK\r\n+OK Logged")


def test_quit_sets_deleted_and_expunges_exactly_the_marked_uids_and_seen_for_retr():
    store = FakeStore([10, 11, 12, 13])
    session, connection = make(store=store)
    say(session, connection, b"USER a", b"PASS b", b"DELE 2", b"DELE 4")
    session.retrieved.update({10, 11})  # what RETR of 1 and 2 leaves behind
    assert say(session, connection, b"QUIT") == b"+OK Logging out; 2 deleted\r\n"
    assert store.calls == [
        ("store_flags", [10], FlagMode.ADD, flagbits.SEEN),  # not 11: it is deleted
        ("store_flags", [11, 13], FlagMode.ADD, flagbits.DELETED),
        ("expunge", [11, 13]),
    ]
    assert connection.closing and session.state == "UPDATE"


def test_a_dropped_connection_only_keeps_seen():
    store = FakeStore([10, 11])
    locks = MaildropLocks()
    session, connection = make(store=store, locks=locks)
    say(session, connection, b"USER a", b"PASS b", b"DELE 1")
    session.retrieved.add(11)
    session.connection_lost()
    assert store.calls == [("store_flags", [11], FlagMode.ADD, flagbits.SEEN)]
    assert not locks.held(1)


def test_a_failing_update_says_so_and_frees_the_maildrop():
    store = FakeStore([10])
    locks = MaildropLocks()

    def broken(*args: Any) -> None:
        raise OSError("disk on fire")

    store.expunge = broken  # type: ignore[method-assign]
    session, connection = make(store=store, locks=locks)
    say(session, connection, b"USER a", b"PASS b", b"DELE 1")
    assert say(session, connection, b"QUIT") == \
        b"-ERR [SYS/TEMP] Some deleted messages were not removed\r\n"
    assert not locks.held(1)


def test_bad_commands_are_counted_and_failures_of_the_system_are_not():
    session, connection = make(FakePortal(LoginThrottled(5)))
    say(session, connection, b"FROB", b"STAT", b"USER", b"PASS x", b"\xff")
    assert connection.bad == 5
    say(session, connection, b"USER a", b"PASS b", b"APOP a b", b"AUTH CRAM-MD5")
    assert connection.bad == 5
