"""Join the two branches made in parallel: the outbound queue and the share links.

Revision ID: 0004_merge
Revises: 0003_queue, 0003_shares
"""

revision = "0004_merge"
down_revision = ("0003_queue", "0003_shares")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
