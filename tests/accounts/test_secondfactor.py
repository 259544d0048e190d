"""TOTP, recovery codes and app passwords, with an injected clock."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from cryptography.fernet import Fernet

from mfserver.accounts import Conflict, InvalidValue, NotFound, SecondFactor
from tests.accounts.conftest import database_dump

ISSUER = "mail.example.org"


def _code(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


# -- TOTP ----------------------------------------------------------------------------------------


def test_enable_totp(second_factor, directory, database, alice):
    enrollment = second_factor.enable_totp("alice", issuer=ISSUER)
    assert re.fullmatch(r"[A-Z2-7]{32}", enrollment.secret)
    uri = urlsplit(enrollment.uri)
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", f"/{ISSUER}:alice")
    query = parse_qs(uri.query)
    assert query["secret"] == [enrollment.secret] and query["issuer"] == [ISSUER]
    assert len(enrollment.recovery_codes) == 10
    assert len(set(enrollment.recovery_codes)) == 10
    for code in enrollment.recovery_codes:
        assert re.fullmatch(r"[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}", code)
    assert directory.get_account("alice").totp_enabled
    dump = database_dump(database)
    assert enrollment.secret not in dump and enrollment.secret.lower() not in dump
    for code in enrollment.recovery_codes:
        assert code not in dump and code.replace("-", "") not in dump
    with pytest.raises(Conflict, match="already"):
        second_factor.enable_totp("alice", issuer=ISSUER)
    with pytest.raises(NotFound):
        second_factor.enable_totp("bob", issuer=ISSUER)


def test_totp_codes_with_window_and_no_replay(second_factor, clock, alice):
    secret = second_factor.enable_totp("alice", issuer=ISSUER).secret
    now = clock.now
    assert not second_factor.verify_totp("alice", _code(secret, now - 60))  # two steps back
    assert not second_factor.verify_totp("alice", _code(secret, now + 60))
    assert second_factor.verify_totp("alice", _code(secret, now - 30))  # one step back
    assert second_factor.verify_totp("alice", _code(secret, now))
    assert not second_factor.verify_totp("alice", _code(secret, now))  # replay
    assert not second_factor.verify_totp("alice", _code(secret, now - 30))  # older than used
    clock.advance(30)
    code = _code(secret, clock.now)
    assert second_factor.verify_totp("alice", f" {code[:3]} {code[3:]} ")
    assert not second_factor.verify_totp("alice", code)


def test_one_code_opens_one_of_many_concurrent_logins(second_factor, clock, alice):
    secret = second_factor.enable_totp("alice", issuer=ISSUER).secret
    code = _code(secret, clock.now)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: second_factor.verify_totp("alice", code), range(6)))
    assert results.count(True) == 1


def test_totp_future_step_burns_the_steps_before_it(second_factor, clock, alice):
    secret = second_factor.enable_totp("alice", issuer=ISSUER).secret
    assert second_factor.verify_totp("alice", _code(secret, clock.now + 30))
    assert not second_factor.verify_totp("alice", _code(secret, clock.now))


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "\u0661\u0662\u0663\u0664"
                                  "\u0665\u0666"])
def test_malformed_totp_codes(second_factor, alice, code):
    second_factor.enable_totp("alice", issuer=ISSUER)
    assert not second_factor.verify_totp("alice", code)


def test_totp_off_or_unknown_account(second_factor, clock, alice):
    assert not second_factor.verify_totp("alice", "123456")
    assert not second_factor.verify_totp("bob", "123456")
    assert not second_factor.verify_totp("not a name", "123456")


def test_disable_totp(second_factor, directory, clock, alice):
    enrollment = second_factor.enable_totp("alice", issuer=ISSUER)
    second_factor.disable_totp("alice")
    second_factor.disable_totp("alice")  # already off: nothing to do
    assert not directory.get_account("alice").totp_enabled
    assert not second_factor.verify_totp("alice", _code(enrollment.secret, clock.now))
    assert not second_factor.use_recovery_code("alice", enrollment.recovery_codes[0])
    # enabling again makes a new seed
    assert second_factor.enable_totp("alice", issuer=ISSUER).secret != enrollment.secret
    with pytest.raises(NotFound):
        second_factor.disable_totp("bob")


def test_seed_under_another_server_key_fails_closed(second_factor, database, clock, alice):
    secret = second_factor.enable_totp("alice", issuer=ISSUER).secret
    other = SecondFactor(database, Fernet.generate_key(), clock=clock)
    assert not other.verify_totp("alice", _code(secret, clock.now))
    assert second_factor.verify_totp("alice", _code(secret, clock.now))


def test_server_key_must_be_a_fernet_key(database):
    with pytest.raises(InvalidValue, match="server key"):
        SecondFactor(database, b"too short")


# -- recovery codes ------------------------------------------------------------------------------


def test_recovery_codes_are_one_time(second_factor, alice):
    codes = second_factor.enable_totp("alice", issuer=ISSUER).recovery_codes
    assert second_factor.count_recovery_codes("alice") == 10
    assert second_factor.use_recovery_code("alice", codes[0])
    assert not second_factor.use_recovery_code("alice", codes[0])
    assert second_factor.use_recovery_code("alice", " " + codes[1].upper().replace("-", " "))
    assert second_factor.use_recovery_code("alice", codes[2].replace("-", ""))
    assert second_factor.count_recovery_codes("alice") == 7
    assert not second_factor.use_recovery_code("alice", "aaaa-bbbb-cccc-dddd")
    assert not second_factor.use_recovery_code("alice", "short")
    assert not second_factor.use_recovery_code("bob", codes[3])


def test_regenerated_recovery_codes_replace_the_old(second_factor, database, alice):
    old = second_factor.enable_totp("alice", issuer=ISSUER).recovery_codes
    new = second_factor.regenerate_recovery_codes("alice")
    assert len(new) == 10 and not set(new) & set(old)
    assert not second_factor.use_recovery_code("alice", old[0])
    assert second_factor.use_recovery_code("alice", new[0])
    dump = database_dump(database)
    assert not any(code in dump or code.replace("-", "") in dump for code in new)


def test_recovery_codes_need_totp(second_factor, alice):
    with pytest.raises(Conflict, match="not on"):
        second_factor.regenerate_recovery_codes("alice")


# -- app passwords -------------------------------------------------------------------------------


def test_app_passwords_are_shown_once_and_stored_hashed(second_factor, database, clock, alice):
    secret = second_factor.add_app_password("alice", " Phone ")
    assert re.fullmatch(r"(?:[a-z]{4}-){6}[a-z]{4}", secret)
    dump = database_dump(database)
    assert secret not in dump and secret.replace("-", "") not in dump
    listed = second_factor.list_app_passwords("alice")
    assert [(p.name, p.created_at, p.last_used_day) for p in listed] == [
        ("Phone", int(clock.now), None)]
    assert not any(secret in repr(p) for p in listed)


def test_app_password_names(second_factor, alice):
    second_factor.add_app_password("alice", "phone")
    second_factor.add_app_password("alice", "laptop")
    assert [p.name for p in second_factor.list_app_passwords("alice")] == ["laptop", "phone"]
    with pytest.raises(Conflict, match="phone"):
        second_factor.add_app_password("alice", "phone")
    for bad in ("", "   ", "x" * 101, "tab\there"):
        with pytest.raises(InvalidValue):
            second_factor.add_app_password("alice", bad)
    with pytest.raises(NotFound):
        second_factor.add_app_password("bob", "phone")


def test_revoke_app_password(second_factor, alice):
    secret = second_factor.add_app_password("alice", "phone")
    assert second_factor.check_app_password(alice.id, secret)
    second_factor.revoke_app_password("alice", "phone")
    assert second_factor.list_app_passwords("alice") == []
    assert not second_factor.check_app_password(alice.id, secret)
    with pytest.raises(NotFound, match="phone"):
        second_factor.revoke_app_password("alice", "phone")


def test_app_password_use_is_recorded_by_day(second_factor, directory, clock, alice):
    secret = second_factor.add_app_password("alice", "phone")
    bob = directory.add_account("bob", "bobs password")
    assert not second_factor.check_app_password(bob.id, secret)  # not bob's
    assert second_factor.list_app_passwords("alice")[0].last_used_day is None
    assert second_factor.check_app_password(alice.id, secret.upper().replace("-", " "))
    today = int(clock.now // 86400)
    assert second_factor.list_app_passwords("alice")[0].last_used_day == today
    clock.advance(86400)
    assert second_factor.check_app_password(alice.id, secret)
    assert second_factor.list_app_passwords("alice")[0].last_used_day == today + 1
    assert not second_factor.check_app_password(alice.id, "not-an-app-password")
    assert not second_factor.check_app_password(alice.id, secret[:-1] + "!")
