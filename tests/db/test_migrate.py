"""The schema: migrations build exactly the models, and an older database upgrades in place."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from mfserver.db import migrate
from mfserver.db.models import Base


def test_migrations_match_models(database):
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert migrate.current_revision(database) == migrate.head_revision()


def test_upgrade_is_idempotent(database):
    migrate.upgrade(database)
    assert migrate.current_revision(database) == migrate.head_revision()


def test_older_schema_upgrades_without_losing_rows(database_url_factory):
    database = database_url_factory()
    migrate.upgrade(database, "0001")
    with database.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO accounts (id, username, display_name, password_hash, quota_bytes,"
            " used_bytes, disabled, maildir, totp_enabled, created_at)"
            " VALUES (1, 'alice', 'Alice', 'x', 0, 0, false, 'alice', false, 0)"))
    migrate.upgrade(database)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT username FROM accounts")).scalar_one() == "alice"
        assert connection.execute(text("SELECT count(*) FROM folders")).scalar_one() == 0
