"""Per-account filters: allow/block lists, milter settings, the Bayesian classifier's counts.

Revision ID: 0004_filters
Revises: 0004_merge
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_filters"
down_revision = "0004_merge"
branch_labels = None
depends_on = None


def _account(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                   name=f"fk_{table}_account_id_accounts")


def upgrade() -> None:
    op.create_table(
        "filter_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("pattern", sa.String(320), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_filter_entries"),
        sa.UniqueConstraint("account_id", "pattern",
                            name="uq_filter_entries_account_id_pattern"),
        _account("filter_entries"),
    )
    op.create_table(
        "filter_settings",
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name", name="pk_filter_settings"),
        _account("filter_settings"),
    )
    op.create_table(
        "bayes_tokens",
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("token", sa.String(16), nullable=False),
        sa.Column("spam", sa.Integer, nullable=False),
        sa.Column("ham", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "token", name="pk_bayes_tokens"),
        _account("bayes_tokens"),
    )
    op.create_table(
        "bayes_counts",
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("spam", sa.Integer, nullable=False),
        sa.Column("ham", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_bayes_counts"),
        _account("bayes_counts"),
    )


def downgrade() -> None:
    for table in ("bayes_counts", "bayes_tokens", "filter_settings", "filter_entries"):
        op.drop_table(table)
