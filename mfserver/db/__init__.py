"""The SQLAlchemy engine and sessions for SQLite (embedded) and PostgreSQL (scale-out).

Implementation notes:
- Reads run in ordinary transactions. Anything that writes uses `Database.write()`, which on
  SQLite starts with BEGIN IMMEDIATE: the write lock is taken at the start, so two writers never
  deadlock upgrading a read lock, they queue (busy_timeout). On PostgreSQL writers serialise on
  the rows they update.
- On SQLite, writers of one process also queue on a lock in the process: SQLite's busy handler
  waits for the database lock by sleeping in growing steps, which made 4 threads deliver at a
  third of the rate of one. Between processes the busy timeout still applies.
- SQLite runs in WAL mode with synchronous=FULL: a committed transaction is on disk, and the
  `mfserver` command can work while the server runs (readers never block the writer).
- Every call here blocks: protocol code runs it in a thread pool, never on the reactor thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 60_000


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`, with the SQLite pragmas and BEGIN handling described above."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "check_same_thread": False},
                               hide_parameters=True, **options)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            write = connection.get_execution_options().get("mfserver_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **options)


class Database:
    """One engine and the two kinds of session the rest of the code uses."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(mfserver_write=True),
                                    expire_on_commit=False)
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else nullcontext())

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it changes is committed."""
        with self._reader() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed when the block ends without an exception."""
        with self._write_lock, self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
