"""Bringing a database to the schema this code expects (alembic), safely from several processes.

Implementation notes:
- Called at every start of the server and of the `mfserver` command: a fresh database gets the
  whole schema, an older one is upgraded in place, one at the newest revision is left alone.
- Two processes starting at once must not both migrate: on PostgreSQL an advisory lock, on
  SQLite the write lock of a BEGIN IMMEDIATE taken before alembic looks at the version table.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from mfserver.db import Database

_ADVISORY_LOCK_KEY = 0x6D66736572766572 & 0x7FFFFFFFFFFFFFFF  # "mfserver"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "mfserver.db:migrations")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (default: the newest), holding a cross-process lock."""
    config = _config()
    engine = database.engine.execution_options(mfserver_write=True)
    with engine.connect() as connection:
        if database.is_sqlite:
            connection.exec_driver_sql("SELECT 1")  # autobegin: BEGIN IMMEDIATE
        else:
            connection.execute(text("SELECT pg_advisory_lock(:key)"),
                               {"key": _ADVISORY_LOCK_KEY})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        finally:
            if not database.is_sqlite:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": _ADVISORY_LOCK_KEY})
                connection.commit()
