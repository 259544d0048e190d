"""Fixtures for the accounts and auth tests: a directory on the `database` fixture, a fake
clock, and the cheapest argon2 cost (the production cost is tested once, in test_passwords)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from mfserver.accounts import Authenticator, Directory, SecondFactor, passwords
from mfserver.db import Database
from mfserver.db.models import Base

SERVER_KEY = Fernet.generate_key()
PASSWORD = "correct horse battery"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def database_dump(database: Database) -> str:
    """Every row of every table, as text: for asserting a secret is stored nowhere."""
    parts = []
    with database.read() as session:
        for table in Base.metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in session.execute(select(table)))
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def cheap_argon2() -> Iterator[None]:
    passwords.set_test_cost()
    yield
    passwords.set_production_cost()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def directory(database: Database, clock: FakeClock) -> Directory:
    return Directory(database, default_quota=1_000_000, clock=clock)


@pytest.fixture
def second_factor(database: Database, clock: FakeClock) -> SecondFactor:
    return SecondFactor(database, SERVER_KEY, clock=clock)


@pytest.fixture
def authenticator(directory: Directory, second_factor: SecondFactor) -> Authenticator:
    return Authenticator(directory, second_factor)


@pytest.fixture
def alice(directory: Directory):
    """Domain example.org and account alice (alice@example.org), password PASSWORD."""
    directory.add_domain("example.org")
    return directory.add_account("alice", PASSWORD, address="alice@example.org",
                                 display_name="Alice")
