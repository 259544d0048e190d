"""ShareBook: tokens never stored, usable only while active, owner-scoped disabling."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mfserver.accounts import Directory
from mfserver.accounts.errors import InvalidValue, NotFound
from mfserver.dav.login import basic_credentials
from mfserver.dav.sharebook import ShareBook, clean_path
from mfserver.db.models import Share


class Clock:
    now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book(database):
    directory = Directory(database)
    for name in ("alice", "bob"):
        directory.add_account(name, f"{name} long password")
    clock = Clock()
    return ShareBook(database, directory, clock=clock), clock


def test_token_is_random_long_and_only_its_hash_is_stored(book, database):
    shares, _ = book
    info, token = shares.create("alice", "calendar", "calendar")
    other = shares.create("alice", "calendar", "calendar")[1]
    assert len(token) >= 43 and token != other and "alice" not in token
    with database.read() as session:
        stored = session.scalars(select(Share.token_hash)).all()
    assert token not in stored and len(stored[0]) == 64
    assert shares.find(token).share.id == info.id
    assert shares.find(token[:-1]) is None and shares.find("") is None


def test_expiry_and_disabling(book):
    shares, clock = book
    info, token = shares.create("alice", "files", "docs/a.txt", expires_at=int(clock.now) + 60)
    assert shares.find(token) is not None
    clock.now += 61
    assert shares.find(token) is None
    _, token = shares.create("alice", "files", "docs")
    with pytest.raises(NotFound):
        shares.disable("bob", info.id)  # not bob's
    shares.disable("alice", shares.find(token).share.id)
    assert shares.find(token) is None


def test_invalid_links_are_refused(book):
    shares, clock = book
    for kwargs in ({"kind": "mail", "path": "x"}, {"kind": "calendar", "path": "a/b"},
                   {"kind": "calendar", "path": "calendar", "mode": "dropbox"},
                   {"kind": "files", "path": "../bob"},
                   {"kind": "files", "path": "x", "expires_at": int(clock.now) - 1},
                   {"kind": "files", "path": "x", "password": "long password", "allowed":
                    ["bob"]}):
        with pytest.raises((InvalidValue, NotFound)):
            shares.create("alice", **kwargs)
    with pytest.raises(NotFound):
        shares.create("alice", "files", "x", allowed=["nobody"])
    assert clean_path("/docs//a/") == "docs/a"


def test_basic_credentials():
    assert basic_credentials("Basic YWxpY2U6cHcgOnggeQ==") == ("alice", "pw :x y")
    for header in (None, "", "Bearer x", "Basic !!!", "Basic YWxpY2U=", "Basic /w=="):
        assert basic_credentials(header) is None
