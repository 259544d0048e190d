"""Public share links to a calendar, a document or a folder.

Revision ID: 0003_shares
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_shares"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("allowed", sa.Text, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shares"),
        sa.UniqueConstraint("token_hash", name="uq_shares_token_hash"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name="fk_shares_account_id_accounts"),
    )
    op.create_index("ix_shares_account_id", "shares", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_shares_account_id", table_name="shares")
    op.drop_table("shares")
