"""JWT token rows and task leases.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from reference_server.storage.tables import Timestamp, enum

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.CHAR(21), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_use", enum("access", "refresh", name="token_use"), nullable=False),
        sa.Column("parent_jti", sa.CHAR(21), nullable=True),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_index("idx_tokens_user_id", "tokens", ["user_id"])
    op.create_index("idx_tokens_expires_at", "tokens", ["expires_at"])
    op.create_index("idx_tokens_parent_jti", "tokens", ["parent_jti"])
    op.create_table(
        "task_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("task_leases")
    op.drop_table("tokens")
