"""The message store index: folders, subscriptions, messages, header blocks, expunged UIDs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("directory", sa.String(1000), nullable=False),
        sa.Column("special_use", sa.String(32), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uidnext", sa.BigInteger, nullable=False),
        sa.Column("highestmodseq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_folders"),
        sa.UniqueConstraint("account_id", "name", name="uq_folders_account_id_name"),
        sa.UniqueConstraint("account_id", "directory", name="uq_folders_account_id_directory"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name="fk_folders_account_id_accounts"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("account_id", "name", name="uq_subscriptions_account_id_name"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name="fk_subscriptions_account_id_accounts"),
    )
    op.create_table(
        "messages",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("folder_id", sa.Integer, nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("internal_date", sa.BigInteger, nullable=False),
        sa.Column("internal_tz", sa.Integer, nullable=False),
        sa.Column("sent_date", sa.BigInteger, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("bare_lf", sa.Boolean, nullable=False),
        sa.Column("modseq", sa.BigInteger, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("bodystructure", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("folder_id", "uid", name="uq_messages_folder_id_uid"),
        sa.UniqueConstraint("folder_id", "key", name="uq_messages_folder_id_key"),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"], ondelete="CASCADE",
                                name="fk_messages_folder_id_folders"),
    )
    op.create_index("ix_messages_folder_modseq", "messages", ["folder_id", "modseq"])
    op.create_table(
        "message_headers",
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_message_headers"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE",
                                name="fk_message_headers_message_id_messages"),
    )
    op.create_table(
        "expunged",
        sa.Column("folder_id", sa.Integer, nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("modseq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("folder_id", "uid", name="pk_expunged"),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"], ondelete="CASCADE",
                                name="fk_expunged_folder_id_folders"),
    )


def downgrade() -> None:
    for table in ("expunged", "message_headers", "messages", "subscriptions", "folders"):
        op.drop_table(table)
