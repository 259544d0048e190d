"""The outbound queue: queued messages, their recipients, and cached MTA-STS policies.

Revision ID: 0003_queue
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_queue"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(512), nullable=False),
        sa.Column("envid", sa.String(100), nullable=True),
        sa.Column("ret", sa.String(4), nullable=True),
        sa.Column("smtputf8", sa.Boolean, nullable=False),
        sa.Column("eightbit", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=True),
        sa.Column("claimed_until", sa.BigInteger, nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbound_messages"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="SET NULL",
                                name="fk_outbound_messages_account_id_accounts"),
    )
    op.create_table(
        "outbound_recipients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("notify", sa.String(32), nullable=False),
        sa.Column("orcpt", sa.String(600), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("last_reply", sa.Text, nullable=True),
        sa.Column("remote_mta", sa.String(255), nullable=True),
        sa.Column("delay_notified", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbound_recipients"),
        sa.ForeignKeyConstraint(["message_id"], ["outbound_messages.id"], ondelete="CASCADE",
                                name="fk_outbound_recipients_message_id_outbound_messages"),
    )
    op.create_index("ix_outbound_recipients_message_id", "outbound_recipients", ["message_id"])
    op.create_index("ix_outbound_recipients_due", "outbound_recipients",
                    ["state", "next_attempt"])
    op.create_table(
        "mta_sts_policies",
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("domain", name="pk_mta_sts_policies"),
    )


def downgrade() -> None:
    for table in ("mta_sts_policies", "outbound_recipients", "outbound_messages"):
        op.drop_table(table)
