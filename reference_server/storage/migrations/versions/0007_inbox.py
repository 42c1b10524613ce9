"""The stored inbox (upstream 1.48): inbox and inbox_attachments.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from reference_server.storage.tables import INBOX_TYPES, BigId, Blob, LongText, Timestamp, enum

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ext_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", enum(*INBOX_TYPES, name="inbox_type"), nullable=False),
        sa.Column("sender", sa.String(512), nullable=False),
        sa.Column("recipient", sa.String(512), nullable=True),
        sa.Column("sim_number", sa.SmallInteger, nullable=True),
        sa.Column("content", LongText, nullable=False),
        sa.Column("is_encrypted", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("uploaded_at", Timestamp, nullable=False),
        sa.UniqueConstraint("ext_id", "device_id", name="unq_inbox_ext_device"),
    )
    op.create_index("idx_inbox_device_created", "inbox", ["device_id", "created_at"])
    op.create_index("idx_inbox_created", "inbox", ["created_at"])
    op.create_table(
        "inbox_attachments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", BigId, sa.ForeignKey("inbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("part_id", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("data", Blob, nullable=False),
        sa.UniqueConstraint("message_id", "part_id", name="unq_inbox_att_msg_part"),
    )


def downgrade() -> None:
    op.drop_table("inbox_attachments")
    op.drop_table("inbox")
