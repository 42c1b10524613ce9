"""Shared state of several server processes without Redis.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_state",
        sa.Column("key", sa.String(191), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("idx_shared_state_expires_at", "shared_state", ["expires_at"])


def downgrade() -> None:
    op.drop_table("shared_state")
