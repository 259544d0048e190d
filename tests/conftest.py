"""Fixtures shared by the whole suite.

`database` gives a migrated, empty database: an SQLite file always, and PostgreSQL too when
$MFSERVER_TEST_DATABASE_URL is set (then each test gets its own schema, dropped afterwards).
When the variable is set and PostgreSQL cannot be reached the PostgreSQL variants fail, never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mfserver.db import Database, make_engine, migrate

PG_ENV = "MFSERVER_TEST_DATABASE_URL"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


def _pg_url() -> str:
    url = os.environ[PG_ENV]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@pytest.fixture(params=_backends())
def database_url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Returns a function that gives (url, Database) for a new empty database (not migrated)."""
    made: list[tuple[Database, str | None]] = []

    def make() -> Database:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'db-{len(made)}.sqlite3'}"
            database = Database(url)
            made.append((database, None))
            return database
        schema = f"t_{uuid.uuid4().hex[:16]}"
        admin = create_engine(_pg_url())
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = _pg_url()
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        database = Database(url, engine=engine)
        made.append((database, schema))
        return database

    yield make
    for database, schema in made:
        database.dispose()
        if schema:
            admin = create_engine(_pg_url())
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture
def database(database_url_factory) -> Database:
    """A migrated, empty database (SQLite, and PostgreSQL when configured)."""
    db = database_url_factory()
    migrate.upgrade(db)
    return db
