"""SPF (RFC 7208) through pyspf with our resolver: every result, the mechanisms, the limits."""

from __future__ import annotations

import threading

import pytest
import spf

from mfserver.mailauth.spfcheck import check_host
from mfserver.resolver import StaticResolver
from tests.mailauth.conftest import MAIL_HOST, MAIL_HOST_IP, MAIL_HOST_IP6

CLIENT = "198.51.100.7"


def spf_resolver(policy: str, extra: dict[tuple[str, str], list[str]] | None = None,
                 ) -> StaticResolver:
    """example.org publishes `policy` (beside an unrelated TXT record), plus `extra`."""
    return StaticResolver({("example.org", "TXT"): [policy, "site-verification=x"],
                           **(extra or {})})


def check(resolver: StaticResolver, ip: str = CLIENT, mail_from: str = "ann@example.org",
          helo: str = "client.example.org") -> str:
    return check_host(resolver, client_ip=ip, helo=helo, mail_from=mail_from).result


@pytest.mark.parametrize("qualifier, result", [
    ("-", "fail"), ("~", "softfail"), ("?", "neutral"), ("+", "pass")])
def test_all_qualifiers(qualifier, result):
    assert check(spf_resolver(f"v=spf1 ip4:192.0.2.0/24 {qualifier}all")) == result


def test_ip4_pass_and_result_names_the_domain():
    outcome = check_host(spf_resolver("v=spf1 ip4:198.51.100.0/24 -all"), client_ip=CLIENT,
                         helo="client.example.org", mail_from="ann@example.org")
    assert (outcome.result, outcome.identity, outcome.domain) == ("pass", "mailfrom",
                                                                  "example.org")


def test_ip6_mechanism():
    resolver = spf_resolver("v=spf1 ip6:2001:db8:1::/48 -all")
    assert check(resolver, ip="2001:db8:1::25") == "pass"
    assert check(resolver, ip="2001:db8:2::25") == "fail"
    assert check(resolver, ip=CLIENT) == "fail"


def test_a_mechanism_uses_a_and_aaaa_records():
    resolver = spf_resolver("v=spf1 a:out.example.org -all", {
        ("out.example.org", "A"): [CLIENT], ("out.example.org", "AAAA"): ["2001:db8::7"]})
    assert check(resolver) == "pass"
    assert check(resolver, ip="2001:db8::7") == "pass"
    assert check(resolver, ip="192.0.2.99") == "fail"
    assert ("out.example.org", "A") in resolver.queries


def test_mx_mechanism_follows_mx_hosts():
    resolver = spf_resolver("v=spf1 mx -all", {
        ("example.org", "MX"): ["10 mx1.example.org", "20 mx2.example.org"],
        ("mx1.example.org", "A"): ["192.0.2.1"], ("mx2.example.org", "A"): [CLIENT]})
    assert check(resolver) == "pass"
    assert check(resolver, ip="192.0.2.2") == "fail"


def test_include_and_redirect():
    resolver = spf_resolver("v=spf1 include:_spf.provider.example -all", {
        ("_spf.provider.example", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"]})
    assert check(resolver) == "pass"
    assert check(resolver, ip="192.0.2.1") == "fail"
    redirect = StaticResolver({("example.org", "TXT"): ["v=spf1 redirect=spf.example.net"],
                               ("spf.example.net", "TXT"): ["v=spf1 ip4:198.51.100.7 ~all"]})
    assert check(redirect) == "pass"
    assert check(redirect, ip="192.0.2.1") == "softfail"


def test_published_record_of_our_domain(resolver):
    """The `v=spf1 mx -all` that `mfserver init` suggests lets our host send, nobody else."""
    args = {"helo": MAIL_HOST, "mail_from": "alice@example.com"}
    assert check(resolver, ip=MAIL_HOST_IP, **args) == "pass"
    assert check(resolver, ip=MAIL_HOST_IP6, **args) == "pass"
    assert check(resolver, ip=CLIENT, **args) == "fail"


def test_no_record_is_none():
    assert check(StaticResolver({("example.org", "TXT"): ["unrelated"]})) == "none"
    assert check(StaticResolver()) == "none"


def test_temporary_dns_failure_is_temperror():
    assert check(StaticResolver(failing=["example.org"])) == "temperror"
    resolver = spf_resolver("v=spf1 include:down.example -all")
    resolver.failing.add("down.example")
    assert check(resolver) == "temperror"


@pytest.mark.parametrize("policy", [
    "v=spf1 ip4:198.51.100.300 -all",
    "v=spf1 frobnicate -all",
    "v=spf1 =a -all",
    "v=spf1 include: -all",
])
def test_syntax_errors_are_permerror(policy):
    assert check(spf_resolver(policy)) == "permerror"


def test_two_spf_records_are_permerror():
    resolver = StaticResolver({("example.org", "TXT"): ["v=spf1 -all", "v=spf1 +all"]})
    assert check(resolver) == "permerror"


def test_more_than_ten_lookups_is_permerror():
    resolver = StaticResolver({("example.org", "TXT"): [
        "v=spf1 " + " ".join(f"a:h{n}.example.org" for n in range(11)) + " -all"]})
    for n in range(11):
        resolver.add(f"h{n}.example.org", "A", "192.0.2.1")
    assert check(resolver) == "permerror"


def test_more_than_two_void_lookups_is_permerror():
    resolver = spf_resolver("v=spf1 a:v1.example.org a:v2.example.org a:v3.example.org -all")
    assert check(resolver) == "permerror"


def test_include_loop_is_permerror():
    resolver = StaticResolver({("example.org", "TXT"): ["v=spf1 include:example.org -all"]})
    assert check(resolver) == "permerror"


def test_null_sender_checks_helo_identity():
    resolver = StaticResolver({("client.example.org", "TXT"): [f"v=spf1 ip4:{CLIENT} -all"]})
    outcome = check_host(resolver, client_ip=CLIENT, helo="client.example.org", mail_from="")
    assert (outcome.result, outcome.identity, outcome.domain) == ("pass", "helo",
                                                                  "client.example.org")
    assert ("client.example.org", "TXT") in resolver.queries


@pytest.mark.parametrize("helo, mail_from", [
    ("[198.51.100.7]", ""), ("", ""), ("localhost", ""), ("x", "nobody"), ("x", "a@"),
    ("x", "a@-bad-.example"), ("x", "a@" + "l" * 64 + ".example")])
def test_no_domain_to_check_is_none(helo, mail_from):
    resolver = StaticResolver()
    assert check(resolver, helo=helo, mail_from=mail_from) == "none"
    assert resolver.queries == []


def test_unreadable_client_address_is_permerror():
    assert check(spf_resolver("v=spf1 -all"), ip="not-an-ip") == "permerror"


def test_no_system_dns_is_ever_used(monkeypatch):
    """pyspf's own module-level lookup is never reached."""
    def refuse(*args, **kwargs):
        raise AssertionError("pyspf asked the system's DNS")
    monkeypatch.setattr(spf, "DNSLookup", refuse)
    resolver = spf_resolver("v=spf1 mx include:other.example -all", {
        ("example.org", "MX"): ["10 mx1.example.org"], ("mx1.example.org", "A"): ["192.0.2.1"],
        ("other.example", "TXT"): [f"v=spf1 ip4:{CLIENT} -all"]})
    assert check(resolver) == "pass"
    assert ("other.example", "TXT") in resolver.queries


def test_concurrent_checks_keep_their_own_resolvers():
    """Two threads with different DNS views never see each other's answers (no global swap)."""
    passing = spf_resolver(f"v=spf1 ip4:{CLIENT} -all")
    failing = spf_resolver("v=spf1 -all")
    outcomes: dict[str, set[str]] = {"pass": set(), "fail": set()}

    def run(expected: str, resolver: StaticResolver) -> None:
        for _ in range(50):
            outcomes[expected].add(check(resolver))

    threads = [threading.Thread(target=run, args=("pass", passing)),
               threading.Thread(target=run, args=("fail", failing))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"pass": {"pass"}, "fail": {"fail"}}
