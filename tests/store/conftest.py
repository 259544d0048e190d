"""Fixtures of the store tests: a Store on a real maildir root and the `database` fixture, and
accounts made straight in the database (the store needs only the row)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import insert

from mfserver.db import Database
from mfserver.db.models import Account
from mfserver.store import ChangeBus, Store

_names = itertools.count(1)


def add_account(database: Database, *, quota: int = 0, maildir: str | None = None) -> int:
    number = next(_names)
    with database.write() as session:
        return session.execute(insert(Account.__table__).values(
            username=f"user{number}", display_name="", password_hash="x", quota_bytes=quota,
            used_bytes=0, disabled=False, maildir=maildir or f"example.org/user{number}",
            totp_enabled=False, created_at=0).returning(Account.__table__.c.id)).scalar_one()


@pytest.fixture
def mail_root(tmp_path: Path) -> Path:
    root = tmp_path / "mail"
    root.mkdir()
    return root


@pytest.fixture
def bus() -> ChangeBus:
    return ChangeBus()


@pytest.fixture
def store(database: Database, mail_root: Path, bus: ChangeBus) -> Store:
    return Store(database, mail_root, bus=bus)


@pytest.fixture
def account(database: Database, store: Store) -> int:
    """A provisioned account without quota."""
    account_id = add_account(database)
    store.provision(account_id)
    return account_id
