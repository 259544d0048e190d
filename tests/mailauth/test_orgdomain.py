"""Organizational domains from the shipped public suffix list (RFC 7489 §3.2)."""

from __future__ import annotations

import pytest

from mfserver.mailauth.orgdomain import aligned, organizational_domain


@pytest.mark.parametrize("domain, org", [
    ("example.com", "example.com"),
    ("a.b.example.com", "example.com"),
    ("mail.example.co.uk", "example.co.uk"),
    ("b.a.github.io", "a.github.io"),  # a private suffix on the list
    ("mail.foo.example", "foo.example"),  # unknown TLD: the default rule "*"
    ("co.uk", "co.uk"),
    ("EXAMPLE.com.", "example.com"),
])
def test_organizational_domain(domain, org):
    assert organizational_domain(domain) == org


def test_alignment_modes():
    assert aligned("mail.example.com", "news.example.com", "r")
    assert not aligned("mail.example.com", "news.example.com", "s")
    assert aligned("Example.com", "example.COM", "s")
    assert not aligned("a.github.io", "b.github.io", "r")
    assert not aligned("", "example.com", "r")
