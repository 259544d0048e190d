"""MTA-STS discovery, policy parsing, MX matching and the persistent cache (RFC 8461)."""

from __future__ import annotations

import pytest

from mfserver.outbound.mtasts import MtaSts, PolicyError, parse_policy, parse_txt
from mfserver.resolver import StaticResolver

POLICY = b"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 600\n"


def test_txt_record_discovery():
    assert parse_txt(["v=STSv1; id=20160831085700Z;"]) == "20160831085700Z"
    assert parse_txt(["something else", "v=STSv1;id=abc"]) == "abc"
    assert parse_txt([]) is None
    assert parse_txt(["v=STSv1; id=a", "v=STSv1; id=b"]) is None  # §3.1: more than one
    assert parse_txt(["v=STSv1; id=not valid!"]) is None


def test_policy_parsing_and_matching():
    policy = parse_policy(POLICY, "1")
    assert (policy.mode, policy.max_age) == ("enforce", 600)
    assert policy.allows("mail.example.com") and policy.allows("MX1.example.net.")
    assert not policy.allows("a.b.example.net") and not policy.allows("example.net")
    assert not policy.allows("mail.example.com.evil")


@pytest.mark.parametrize("body", [
    b"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
    b"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999\n",
    b"version: STSv1\nmode: enforce\nmx: a\n",
    b"\xff\xfe",
])
def test_bad_policies_are_refused(body):
    with pytest.raises(PolicyError):
        parse_policy(body, "1")


def test_policies_are_cached_in_the_database(database):
    now = [1_700_000_000]
    fetched = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return POLICY

    resolver = StaticResolver({("_mta-sts.example.com", "TXT"): ["v=STSv1; id=one"]})
    sts = MtaSts(database, resolver, fetch, now=lambda: now[0])
    assert sts.policy("example.com").id == "one"
    assert fetched == ["https://mta-sts.example.com/.well-known/mta-sts.txt"]
    # a new process: the cache is in the database, the unchanged id needs no fetch
    again = MtaSts(database, resolver, fetch, now=lambda: now[0])
    assert again.policy("example.com").mode == "enforce" and len(fetched) == 1
    # discovery blocked: the cached policy still holds until max_age ends
    resolver.records.clear()
    assert again.policy("example.com").id == "one"
    now[0] += 600
    assert again.policy("example.com") is None


def test_a_failing_fetch_without_cache_means_no_policy(database):
    def fetch(url: str) -> bytes:
        raise OSError("connection refused")

    resolver = StaticResolver({("_mta-sts.example.com", "TXT"): ["v=STSv1; id=one"]})
    assert MtaSts(database, resolver, fetch).policy("example.com") is None
