"""Fixtures for the mail-authentication tests: keys made by mfserver's own key code, and DNS
built from the records `mfserver` tells admins to publish (mfserver/dnsrecords.py).

Everything is offline: DNS is a `StaticResolver`, the outside world's stand-in.
"""

from __future__ import annotations

import pytest

from mfserver import dkimkeys
from mfserver.config import load_settings
from mfserver.dkimkeys import DkimKey
from mfserver.dnsrecords import domain_records
from mfserver.resolver import StaticResolver
from tests.dnsserver import zone_records

DOMAIN = "example.com"
MAIL_HOST = "mx.example.com"
MAIL_HOST_IP = "192.0.2.10"
MAIL_HOST_IP6 = "2001:db8::10"

MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.org>\r\n"
           b"Cc: carol@example.net\r\n"
           b"Subject: Lunch on Friday\r\n"
           b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
           b"Message-ID: <lunch-1@example.com>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"List-Id: <friends.example.com>\r\n"
           b"Received: from laptop by mx.example.com\r\n"
           b"\r\n"
           b"Shall we meet at noon?\r\n"
           b"-- \r\n"
           b"Alice\r\n")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> list[DkimKey]:
    """An RSA and an Ed25519 key for example.com, created as `mfserver init` creates them."""
    return dkimkeys.create_keys(tmp_path_factory.mktemp("data"), DOMAIN)


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory,
              keys: list[DkimKey]) -> dict[tuple[str, str], list[str]]:
    """The records mfserver asks the admin of example.com to publish, plus the host's address."""
    config = tmp_path_factory.mktemp("conf") / "mfserver.toml"
    config.write_text(f'[server]\nhostname = "{MAIL_HOST}"\n')
    records = zone_records(domain_records(DOMAIN, load_settings(config, environ={}), keys))
    records[(MAIL_HOST, "A")] = [MAIL_HOST_IP]
    records[(MAIL_HOST, "AAAA")] = [MAIL_HOST_IP6]
    return records


@pytest.fixture
def resolver(published: dict[tuple[str, str], list[str]]) -> StaticResolver:
    return StaticResolver(published)
