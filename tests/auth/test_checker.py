"""The twisted.cred checker, through a Portal, with a synchronous run_blocking."""

from __future__ import annotations

import pytest
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.logger import formatEvent, globalLogPublisher
from zope.interface.verify import verifyObject

from mfserver.auth import (
    AccountChecker,
    AuthenticationUnavailable,
    Credentials,
    IAccount,
    LoginThrottled,
    Throttle,
    make_portal,
)
from tests.accounts.conftest import PASSWORD
from tests.auth.conftest import result_of, run_blocking

SOURCE = "203.0.113.7"


class CountingAuthenticator:
    """The real Authenticator, counting how often it is asked."""

    def __init__(self, real):
        self.real = real
        self.calls = 0

    def verify(self, login, secret, *, service):
        self.calls += 1
        return self.real.verify(login, secret, service=service)


class BrokenAuthenticator:
    def verify(self, login, secret, *, service):
        raise RuntimeError("database is down\n[parameters: ('alice', 'secret hash')]")


@pytest.fixture
def log_events():
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


@pytest.fixture
def throttle(clock):
    return Throttle(failures_per_source=2, failures_per_account=5, max_delay=30, clock=clock)


@pytest.fixture
def counting(authenticator):
    return CountingAuthenticator(authenticator)


@pytest.fixture
def checker(counting, throttle):
    return AccountChecker(counting, throttle, run_blocking)


@pytest.fixture
def portal(counting, directory, throttle):
    return make_portal(counting, directory, throttle, run_blocking)


def _avatar_id(checker, login, password, **options):
    return result_of(checker.requestAvatarId(Credentials(login, password, **options)))


def test_valid_credentials_give_the_username(checker, directory, alice):
    assert _avatar_id(checker, "alice", PASSWORD, source=SOURCE) == b"alice"
    assert _avatar_id(checker, "ALICE@example.org", PASSWORD, service="smtp") == b"alice"
    assert _avatar_id(checker, b"alice@example.org", PASSWORD.encode()) == b"alice"


def test_plain_twisted_credentials_are_checked_by_mail_rules(checker, second_factor, alice):
    assert result_of(checker.requestAvatarId(UsernamePassword(b"alice", PASSWORD.encode()))) \
        == b"alice"
    second_factor.enable_totp("alice", issuer="example.org")
    with pytest.raises(UnauthorizedLogin):
        result_of(checker.requestAvatarId(UsernamePassword(b"alice", PASSWORD.encode())))


def test_refusals_look_alike(checker, alice):
    with pytest.raises(UnauthorizedLogin) as wrong:
        _avatar_id(checker, "alice", "wrong password", source="192.0.2.1")
    with pytest.raises(UnauthorizedLogin) as unknown:
        _avatar_id(checker, "nobody", "wrong password", source="192.0.2.2")
    assert type(wrong.value) is type(unknown.value) is UnauthorizedLogin
    assert str(wrong.value) == str(unknown.value)
    with pytest.raises(UnauthorizedLogin):
        _avatar_id(checker, b"\xff\xfe", b"x")


def test_throttled_attempts_are_refused_without_verifying(checker, counting, clock, alice):
    for _ in range(2):
        with pytest.raises(UnauthorizedLogin):
            _avatar_id(checker, "alice", "wrong password", source=SOURCE)
    assert counting.calls == 2
    with pytest.raises(LoginThrottled) as throttled:
        _avatar_id(checker, "alice", PASSWORD, source=SOURCE)
    assert throttled.value.retry_after == pytest.approx(1)
    assert counting.calls == 2  # the right password was not even checked
    assert _avatar_id(checker, "alice", PASSWORD, source="198.51.100.1") == b"alice"
    clock.advance(1)
    assert _avatar_id(checker, "alice", PASSWORD, source=SOURCE) == b"alice"
    assert counting.calls == 4


def test_unknown_logins_are_throttled_alike(checker, alice):
    for _ in range(2):
        with pytest.raises(UnauthorizedLogin):
            _avatar_id(checker, "nobody", "guess", source=SOURCE)
    with pytest.raises(LoginThrottled):
        _avatar_id(checker, "nobody", "guess", source=SOURCE)


def test_database_failure_is_not_a_refusal(throttle, log_events):
    checker = AccountChecker(BrokenAuthenticator(), throttle, run_blocking)
    with pytest.raises(AuthenticationUnavailable):
        _avatar_id(checker, "alice", "the password", source=SOURCE)
    text = "\n".join(formatEvent(event) for event in log_events)
    assert "database is down" in text
    assert "secret hash" not in text and "the password" not in text and SOURCE not in text
    assert throttle.delay("alice", SOURCE) == 0  # not counted as a failure


def test_nothing_secret_is_logged(checker, log_events, alice):
    _avatar_id(checker, "alice", PASSWORD, source=SOURCE)
    with pytest.raises(UnauthorizedLogin):
        _avatar_id(checker, "alice", "a wrong password", source=SOURCE)
    text = "\n".join(formatEvent(event) for event in log_events)
    assert PASSWORD not in text and "a wrong password" not in text and SOURCE not in text


def test_credentials_object():
    credentials = Credentials("alice", "s3cret password", source=SOURCE, service="pop3")
    verifyObject(IUsernamePassword, credentials)
    assert credentials.checkPassword("s3cret password")
    assert credentials.checkPassword(b"s3cret password")
    assert not credentials.checkPassword("s3cret")
    assert not credentials.checkPassword(b"\xff")
    assert "s3cret" not in repr(credentials) and SOURCE not in repr(credentials)
    assert Credentials("alice", "x", SOURCE, "smtp").service == "smtp"
    with pytest.raises(ValueError):
        Credentials("alice", "x", service="ftp")


def test_portal_login(portal, second_factor, alice):
    interface, avatar, logout = result_of(
        portal.login(Credentials("alice@example.org", PASSWORD, source=SOURCE), None, IAccount))
    assert interface is IAccount
    assert (avatar.account_id, avatar.username, avatar.primary_address) == (
        alice.id, "alice", "alice@example.org")
    logout()


def test_portal_with_totp_takes_app_passwords_for_mail(portal, second_factor, alice):
    second_factor.enable_totp("alice", issuer="example.org")
    secret = second_factor.add_app_password("alice", "phone")
    with pytest.raises(UnauthorizedLogin):
        result_of(portal.login(Credentials("alice", PASSWORD, service="imap"), None, IAccount))
    _, avatar, _ = result_of(
        portal.login(Credentials("alice", secret, service="imap"), None, IAccount))
    assert avatar.username == "alice"
    _, avatar, _ = result_of(
        portal.login(Credentials("alice", PASSWORD, service="web"), None, IAccount))
    assert avatar.username == "alice"
