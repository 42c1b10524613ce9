"""SQLAlchemy Core tables: the schema of contract §3.6 (tokens come with the JWT work)."""

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

STATES = ("Pending", "Cancelling", "Cancelled", "Processed", "Sent", "Delivered", "Failed")

metadata = sa.MetaData()
# messages.ext_id, webhooks.ext_id and message_recipients.phone_number use a binary NO PAD collation on
# MariaDB/MySQL (migration 0006), so ids that differ only in case are distinct there too, as on SQLite.

# MySQL/MariaDB get datetime(3) and big text; SQLite needs INTEGER for autoincrementing keys.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def enum(*values: str, name: str) -> sa.Enum:
    """A native ENUM on MySQL/MariaDB, a VARCHAR on PostgreSQL and SQLite (no CHECK constraint anywhere).

    A native PostgreSQL enum is a schema object of its own that Alembic would create with the first table using
    it and drop with the first dropped, breaking revisions that share one (0001 and 0005 both use message_state).
    """
    return sa.Enum(*values, name=name, native_enum=True, create_constraint=False).with_variant(
        sa.Enum(*values, name=name, native_enum=False, create_constraint=False), "postgresql")


def state_enum() -> sa.Enum:
    return enum(*STATES, name="message_state")


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("password_hash", sa.String(72), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp, nullable=True),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.CHAR(21), primary_key=True),
    sa.Column("name", sa.String(128), nullable=True),
    sa.Column("auth_token", sa.CHAR(21), nullable=False),
    sa.Column("push_token", sa.String(256), nullable=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("sim_cards", sa.JSON, nullable=False),
    sa.Column("public_key", sa.Text, nullable=True),  # migration 0008 (upstream PR #258)
    sa.Column("key_version", sa.Integer, nullable=True),
    sa.Column("last_seen", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp, nullable=True),
    sa.UniqueConstraint("auth_token", name="idx_devices_auth_token"),
    sa.Index("idx_devices_last_seen", "last_seen"),
    sa.Index("idx_devices_user_id", "user_id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ext_id", sa.String(36), nullable=False),
    sa.Column("type", enum("Text", "Data", "Mms", name="message_type"), nullable=False),
    sa.Column("content", LongText, nullable=False),
    sa.Column("state", state_enum(), nullable=False),
    sa.Column("valid_until", Timestamp, nullable=True),
    sa.Column("schedule_at", sa.DateTime, nullable=True),
    sa.Column("sim_number", sa.SmallInteger, nullable=True),
    sa.Column("with_delivery_report", sa.Boolean, nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False),
    sa.Column("is_hashed", sa.Boolean, nullable=False),
    sa.Column("is_encrypted", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp, nullable=True),
    sa.UniqueConstraint("ext_id", "device_id", name="unq_messages_id_device"),
    sa.Index("idx_messages_device_state", "device_id", "state"),
    sa.Index("idx_messages_is_hashed", "is_hashed"),
    sa.Index("idx_messages_created_at", "created_at"),
    # Big-table indexes (migration 0005): a page of one device in list order, the same within a state,
    # and the phone's pull in its order (schedule_at ASC, priority DESC, id DESC; id ASC for FIFO) without a sort.
    sa.Index("idx_messages_device_created", "device_id", "created_at", "id"),
    sa.Index("idx_messages_device_state_created", "device_id", "state", "created_at", "id"),
    sa.Index("idx_messages_device_state_pull", "device_id", "state", "schedule_at", sa.text("priority DESC"),
             sa.text("id DESC")),
    sa.Index("idx_messages_device_state_pull_fifo", "device_id", "state", "schedule_at", sa.text("priority DESC"),
             "id"),
)

# How many messages each device holds per state and creation day (UTC), kept in the same transaction as
# the rows so X-Total-Count sums a few rows instead of counting the table; the "messages:counts" task
# recomputes them (repairing any drift).
message_counts = sa.Table(
    "message_counts",
    metadata,
    sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("state", state_enum(), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("total", sa.BigInteger, nullable=False),
)

message_recipients = sa.Table(
    "message_recipients",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("phone_number", sa.String(512), nullable=False),  # 128 before migration 0008
    sa.Column("state", state_enum(), nullable=False),
    sa.Column("error", sa.String(256), nullable=True),
    sa.UniqueConstraint("message_id", "phone_number", name="unq_message_recipients_message_phone"),
)

message_states = sa.Table(
    "message_states",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("state", state_enum(), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("message_id", "state", name="unq_message_states_message_state"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ext_id", sa.String(36), nullable=False),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.String(256), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp, nullable=True),
    sa.UniqueConstraint("user_id", "ext_id", name="unq_webhooks_user_extid"),
    sa.Index("idx_webhooks_device", "device_id"),
)

device_settings = sa.Table(
    "device_settings",
    metadata,
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.CHAR(21), primary_key=True),  # the JWT's jti
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_use", enum("access", "refresh", name="token_use"), nullable=False),
    sa.Column("parent_jti", sa.CHAR(21), nullable=True),  # a refresh row points at its access jti
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("idx_tokens_user_id", "user_id"),
    sa.Index("idx_tokens_expires_at", "expires_at"),
    sa.Index("idx_tokens_parent_jti", "parent_jti"),
)

# Leases that let one process at a time run a periodic task (GET_LOCK's role upstream, portable to SQLite).
task_leases = sa.Table(
    "task_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)

# Certificate signing requests of the private CA (reference_server/ca); rows expire at `expires_at`.
ca_requests = sa.Table(
    "ca_requests",
    metadata,
    sa.Column("id", sa.CHAR(21), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),  # webhook | private_server
    sa.Column("status", sa.String(16), nullable=False),  # pending | approved | denied
    sa.Column("content", sa.Text, nullable=False),  # the CSR, PEM
    sa.Column("metadata", sa.JSON, nullable=True),
    sa.Column("certificate", sa.Text, nullable=True),  # the leaf, PEM, once approved
    sa.Column("client_ip", sa.String(64), nullable=True),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("idx_ca_requests_expires_at", "expires_at"),
)

# Shared state of the processes of one deployment without Redis (cache.url database://): one-time codes,
# credential epochs, failed-login counters. `expires_at` is wall-clock milliseconds since the epoch.
shared_state = sa.Table(
    "shared_state",
    metadata,
    sa.Column("key", sa.String(191), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index("idx_shared_state_expires_at", "expires_at"),
)

# The stored inbox (upstream 1.48): messages the phones upload, and their MMS parts.
INBOX_TYPES = ("SMS", "DATA_SMS", "MMS", "MMS_DOWNLOADED")
Blob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ext_id", sa.String(36), nullable=False),
    sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", enum(*INBOX_TYPES, name="inbox_type"), nullable=False),
    sa.Column("sender", sa.String(512), nullable=False),
    sa.Column("recipient", sa.String(512), nullable=True),
    sa.Column("sim_number", sa.SmallInteger, nullable=True),
    sa.Column("content", LongText, nullable=False),
    sa.Column("is_encrypted", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),  # when the phone received it
    sa.Column("uploaded_at", Timestamp, nullable=False),
    sa.UniqueConstraint("ext_id", "device_id", name="unq_inbox_ext_device"),
    sa.Index("idx_inbox_device_created", "device_id", "created_at"),
    sa.Index("idx_inbox_created", "created_at"),
)

inbox_attachments = sa.Table(
    "inbox_attachments",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", BigId, sa.ForeignKey("inbox.id", ondelete="CASCADE"), nullable=False),
    sa.Column("part_id", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(128), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("data", Blob, nullable=False),
    sa.UniqueConstraint("message_id", "part_id", name="unq_inbox_att_msg_part"),
)
