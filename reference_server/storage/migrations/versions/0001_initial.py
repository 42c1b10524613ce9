"""Initial schema: users, devices, messages, recipients, state history, webhooks, settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from reference_server.storage.tables import BigId, LongText, Timestamp, enum, state_enum

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("password_hash", sa.String(72), nullable=False),
        *_timestamps(),
        sa.Column("deleted_at", Timestamp, nullable=True),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.CHAR(21), primary_key=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("auth_token", sa.CHAR(21), nullable=False),
        sa.Column("push_token", sa.String(256), nullable=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sim_cards", sa.JSON, nullable=False),
        sa.Column("last_seen", Timestamp, nullable=False),
        *_timestamps(),
        sa.Column("deleted_at", Timestamp, nullable=True),
        sa.UniqueConstraint("auth_token", name="idx_devices_auth_token"),
    )
    op.create_index("idx_devices_last_seen", "devices", ["last_seen"])
    op.create_index("idx_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ext_id", sa.String(36), nullable=False),
        sa.Column("type", enum("Text", "Data", name="message_type"), nullable=False),
        sa.Column("content", LongText, nullable=False),
        sa.Column("state", state_enum(), nullable=False),
        sa.Column("valid_until", Timestamp, nullable=True),
        sa.Column("schedule_at", sa.DateTime, nullable=True),
        sa.Column("sim_number", sa.SmallInteger, nullable=True),
        sa.Column("with_delivery_report", sa.Boolean, nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("is_hashed", sa.Boolean, nullable=False),
        sa.Column("is_encrypted", sa.Boolean, nullable=False),
        *_timestamps(),
        sa.Column("deleted_at", Timestamp, nullable=True),
        sa.UniqueConstraint("ext_id", "device_id", name="unq_messages_id_device"),
    )
    op.create_index("idx_messages_device_state", "messages", ["device_id", "state"])
    op.create_index("idx_messages_is_hashed", "messages", ["is_hashed"])
    op.create_index("idx_messages_created_at", "messages", ["created_at"])
    op.create_table(
        "message_recipients",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("phone_number", sa.String(128), nullable=False),
        sa.Column("state", state_enum(), nullable=False),
        sa.Column("error", sa.String(256), nullable=True),
        sa.UniqueConstraint("message_id", "phone_number", name="unq_message_recipients_message_phone"),
    )
    op.create_table(
        "message_states",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", state_enum(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.UniqueConstraint("message_id", "state", name="unq_message_states_message_state"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ext_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.String(256), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=True),
        *_timestamps(),
        sa.Column("deleted_at", Timestamp, nullable=True),
        sa.UniqueConstraint("user_id", "ext_id", name="unq_webhooks_user_extid"),
    )
    op.create_index("idx_webhooks_device", "webhooks", ["device_id"])
    op.create_table(
        "device_settings",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        *_timestamps(),
    )


def downgrade() -> None:
    for table in ("device_settings", "webhooks", "message_states", "message_recipients", "messages",
                  "devices", "users"):
        op.drop_table(table)
