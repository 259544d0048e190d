"""Throttling: backoff, cap, decay, and the owner kept out of the attacker's penalty."""

from __future__ import annotations

import pytest

from mfserver.auth.throttle import Throttle, source_key
from tests.accounts.conftest import FakeClock

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


@pytest.fixture
def throttle(clock: FakeClock) -> Throttle:
    return Throttle(failures_per_source=3, failures_per_account=10, max_delay=60, clock=clock,
                    half_life=600)


def _fail_as_fast_as_allowed(throttle, clock, account, source, times):
    for _ in range(times):
        clock.advance(throttle.delay(account, source))
        throttle.failure(account, source)


def test_backoff_doubles_after_the_threshold_up_to_the_cap(throttle, clock):
    waits = []
    for _ in range(12):
        waits.append(throttle.delay("alice", ATTACKER))
        clock.advance(waits[-1])
        throttle.failure("alice", ATTACKER)
    assert waits[:4] == [0, 0, 0, 1]
    assert waits[4] == pytest.approx(2, rel=0.01)
    assert waits[5] == pytest.approx(4, rel=0.01)
    assert max(waits) == 60
    assert throttle.delay("alice", ATTACKER) == 60


def test_parallel_attempts_past_the_threshold_go_one_at_a_time(throttle, clock):
    assert [throttle.delay("alice", ATTACKER) for _ in range(5)] == [0] * 5  # below: parallel
    _fail_as_fast_as_allowed(throttle, clock, "alice", ATTACKER, 4)
    clock.advance(throttle.delay("alice", ATTACKER))
    assert throttle.delay("alice", ATTACKER) == 0  # this attempt goes ahead…
    assert throttle.delay("alice", ATTACKER) == pytest.approx(2, rel=0.01)  # …the next waits
    assert throttle.delay("bob", ATTACKER) == pytest.approx(2, rel=0.01)
    throttle.failure("alice", ATTACKER)  # its result: the wait doubles
    assert throttle.delay("alice", ATTACKER) == pytest.approx(4, rel=0.01)


def test_huge_counts_stay_at_the_cap(throttle, clock):
    for _ in range(5000):
        throttle.failure("alice", None)
    assert throttle.delay("alice", None) == 60


def test_the_wait_runs_down_with_time(throttle, clock):
    _fail_as_fast_as_allowed(throttle, clock, "alice", ATTACKER, 4)  # waits 2 s after this
    assert throttle.delay("alice", ATTACKER) == pytest.approx(2, rel=0.01)
    clock.advance(1.5)
    assert throttle.delay("alice", ATTACKER) == pytest.approx(0.5, rel=0.05)
    clock.advance(1)
    assert throttle.delay("alice", ATTACKER) == 0


def test_counters_decay(throttle, clock):
    _fail_as_fast_as_allowed(throttle, clock, "alice", ATTACKER, 20)
    assert throttle.delay("alice", ATTACKER) == 60
    clock.advance(3 * 3600)  # 18 half-lives
    assert throttle.delay("alice", ATTACKER) == 0
    throttle.failure("alice", ATTACKER)  # the count starts again from (almost) nothing
    assert throttle.delay("alice", ATTACKER) == 0
    assert throttle.tracked() == 2


def test_other_sources_and_accounts_are_not_slowed_by_one_source(throttle, clock):
    _fail_as_fast_as_allowed(throttle, clock, "alice", ATTACKER, 5)
    assert throttle.delay("alice", ATTACKER) > 0
    assert throttle.delay("alice", OWNER) == 0  # the account is still under its threshold
    assert throttle.delay("bob", OWNER) == 0
    assert throttle.delay("bob", ATTACKER) > 0  # the source is throttled for every account


def test_owner_is_not_locked_out_by_an_attack_from_elsewhere(throttle, clock):
    throttle.success("alice", OWNER)  # the owner logged in from here before
    attackers = [f"203.0.113.{n}" for n in range(1, 51)]
    for attacker in attackers:  # a distributed attack: 3 guesses per address
        _fail_as_fast_as_allowed(throttle, clock, "ALICE", attacker, 3)
    assert throttle.delay("alice", "192.0.2.99") > 0  # a stranger waits for the account
    assert throttle.delay("alice", "192.0.2.99") <= 60  # at most the cap
    assert throttle.delay("alice", OWNER) == 0  # the owner, from their usual place, does not


def test_success_clears_the_source_and_lowers_the_account(throttle, clock):
    _fail_as_fast_as_allowed(throttle, clock, "alice", OWNER, 12)
    assert throttle.delay("alice", OWNER) > 0
    clock.advance(throttle.delay("alice", OWNER))
    throttle.success("alice", OWNER)
    assert throttle.delay("alice", OWNER) == 0
    assert throttle.delay("alice", None) == 0  # 12 halved is under the account threshold


def test_trust_expires(clock):
    throttle = Throttle(3, 5, 60, clock=clock, trusted_for=3600, half_life=86400)
    throttle.success("alice", OWNER)
    _fail_as_fast_as_allowed(throttle, clock, "alice", None, 8)
    assert throttle.delay("alice", OWNER) == 0
    clock.advance(3601)
    throttle.failure("alice", None)
    assert throttle.delay("alice", OWNER) > 0


def test_without_a_source_only_the_account_counts(throttle, clock):
    _fail_as_fast_as_allowed(throttle, clock, "alice", None, 10)
    assert throttle.delay("alice", None) == 1
    assert throttle.delay("alice", ATTACKER) == 1
    assert throttle.delay("bob", None) == 0


def test_memory_is_bounded(clock):
    throttle = Throttle(3, 10, 60, clock=clock, max_entries=100)
    for n in range(1000):
        throttle.failure(f"user{n}", f"10.0.{n // 256}.{n % 256}")
        throttle.success(f"user{n}", f"10.1.{n // 256}.{n % 256}")
    assert throttle.tracked() <= 200


def test_ipv6_sources_count_per_64():
    assert source_key("2001:db8:1:2:3:4:5:6") == source_key("2001:db8:1:2:ffff::1")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert source_key("192.0.2.1") == "192.0.2.1"
    assert source_key("fe80::1%eth0") == source_key("fe80::2")
    assert source_key("unix-socket") == "unix-socket"
    assert source_key(None) is None


def test_ipv6_neighbours_share_a_counter(throttle, clock):
    for n in range(4):
        clock.advance(throttle.delay("alice", f"2001:db8::{n + 1}"))
        throttle.failure("alice", f"2001:db8::{n + 1}")
    assert throttle.delay("bob", "2001:db8::ffff") > 0


@pytest.mark.parametrize("arguments", [(0, 10, 60), (3, 0, 60), (3, 10, -1)])
def test_bad_settings(arguments):
    with pytest.raises(ValueError):
        Throttle(*arguments)
