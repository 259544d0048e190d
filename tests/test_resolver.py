"""The resolver made from `[dns]`: the configured name servers and timeout, or the system's."""

from __future__ import annotations

from mfserver.config import load_settings
from mfserver.resolver import SystemResolver, make_resolver


def test_configured_name_servers_and_timeout(tmp_path):
    config = tmp_path / "mfserver.toml"
    config.write_text('[dns]\nnameservers = ["127.0.0.53", "::1"]\ntimeout = "2s"\n')
    resolver = make_resolver(load_settings(config, environ={}))
    assert isinstance(resolver, SystemResolver)
    assert resolver._resolver.nameservers == ["127.0.0.53", "::1"]
    assert resolver._resolver.lifetime == 2.0


def test_default_is_the_system_resolver_with_five_seconds():
    settings = load_settings(None, environ={})
    assert (settings.dns.nameservers, settings.dns.timeout) == ([], 5)
    resolver = make_resolver(settings)
    assert resolver._resolver.lifetime == 5.0
