"""Certificate signing requests of the private CA.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from reference_server.storage.tables import Timestamp

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_requests",
        sa.Column("id", sa.CHAR(21), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("certificate", sa.Text, nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_index("idx_ca_requests_expires_at", "ca_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("idx_ca_requests_expires_at", table_name="ca_requests")
    op.drop_table("ca_requests")
