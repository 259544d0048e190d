"""MX routing: order, implicit MX, null MX, address literals, DNS trouble."""

from __future__ import annotations

import random

import pytest

from mfserver.outbound.route import RouteFailure, mx_hosts, smarthost
from mfserver.resolver import StaticResolver


def failure(resolver, domain):
    with pytest.raises(RouteFailure) as caught:
        mx_hosts(resolver, domain)
    return caught.value.outcome


def test_mx_hosts_in_preference_order_with_their_addresses():
    resolver = StaticResolver({
        ("example.net", "MX"): ["20 b.example.net", "10 a.example.net", "30 none.example.net"],
        ("a.example.net", "A"): ["192.0.2.1"], ("a.example.net", "AAAA"): ["2001:db8::1"],
        ("b.example.net", "A"): ["192.0.2.2"]})
    hosts = mx_hosts(resolver, "Example.NET.")
    assert [(h.name, h.addresses, h.preference) for h in hosts] == [
        ("a.example.net", ("192.0.2.1", "2001:db8::1"), 10),
        ("b.example.net", ("192.0.2.2",), 20)]


def test_equal_preferences_are_shuffled():
    resolver = StaticResolver({("example.net", "MX"): [f"10 mx{n}.example.net" for n in range(6)]})
    for n in range(6):
        resolver.add(f"mx{n}.example.net", "A", f"192.0.2.{n}")
    orders = {tuple(h.name for h in mx_hosts(resolver, "example.net", random.Random(seed)))
              for seed in range(5)}
    assert len(orders) > 1


def test_implicit_mx_null_mx_and_no_mail_server():
    resolver = StaticResolver({("a.test", "AAAA"): ["2001:db8::5"],
                               ("null.test", "MX"): ["0 ."]})
    assert mx_hosts(resolver, "a.test")[0].addresses == ("2001:db8::5",)
    null = failure(resolver, "null.test")
    assert (null.kind, null.status) == ("permanent", "5.1.10")
    nothing = failure(resolver, "nothing.test")
    assert (nothing.kind, nothing.status) == ("permanent", "5.1.2")


def test_dns_trouble_and_addressless_mx_are_temporary():
    resolver = StaticResolver({("b.test", "MX"): ["10 gone.b.test"]}, failing=["a.test"])
    assert failure(resolver, "a.test").kind == "temporary"
    assert failure(resolver, "b.test").status == "4.4.3"


def test_address_literals_and_international_domains():
    resolver = StaticResolver({("xn--bcher-kva.test", "MX"): ["10 mx.test"],
                               ("mx.test", "A"): ["192.0.2.9"]})
    assert mx_hosts(resolver, "[192.0.2.7]")[0].addresses == ("192.0.2.7",)
    assert mx_hosts(resolver, "[IPv6:2001:db8::7]")[0].addresses == ("2001:db8::7",)
    assert failure(resolver, "[not-an-address]").kind == "permanent"
    assert mx_hosts(resolver, "b\u00fccher.test")[0].name == "mx.test"


def test_smarthost_resolution():
    resolver = StaticResolver({("relay.test", "A"): ["192.0.2.3"]})
    assert smarthost(resolver, "relay.test:587").addresses == ("192.0.2.3",)
    assert smarthost(resolver, "[2001:db8::3]:465").addresses == ("2001:db8::3",)
    with pytest.raises(RouteFailure):
        smarthost(resolver, "missing.test:587")
