"""Big tables: list, pull and count indexes, and per-device/state/day message counts.

On MariaDB the indexes are built online (ALGORITHM=INPLACE, LOCK=NONE: reads and writes go on meanwhile).
Elsewhere a plain CREATE INDEX: SQLite has one writer anyway, and a PostgreSQL database reaches this revision
with its messages table still empty (PostgreSQL came after it), so CONCURRENTLY, which cannot run inside the
migration's transaction, would buy nothing.
The counts are filled from the rows already stored; until the server starts, nothing writes them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from reference_server.storage.tables import state_enum

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "idx_messages_device_created": "device_id, created_at, id",
    "idx_messages_device_state_created": "device_id, state, created_at, id",
    "idx_messages_device_state_pull": "device_id, state, schedule_at, priority DESC, id DESC",
    "idx_messages_device_state_pull_fifo": "device_id, state, schedule_at, priority DESC, id",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    mysql = dialect in ("mysql", "mariadb")
    for name, columns in INDEXES.items():
        if dialect == "postgresql":  # the pull query sorts NULL schedule_at first, as MySQL and SQLite do unasked
            columns = columns.replace("schedule_at", "schedule_at NULLS FIRST")
        if mysql:
            op.execute(f"ALTER TABLE messages ADD INDEX {name} ({columns}), ALGORITHM=INPLACE, LOCK=NONE")
        else:
            op.execute(f"CREATE INDEX {name} ON messages ({columns})")
    op.create_table(
        "message_counts",
        sa.Column("device_id", sa.CHAR(21), sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("state", state_enum(), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("total", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO message_counts (device_id, state, day, total) "
               "SELECT device_id, state, DATE(created_at), COUNT(*) FROM messages "
               "GROUP BY device_id, state, DATE(created_at)")


def downgrade() -> None:
    op.drop_table("message_counts")
    for name in INDEXES:
        op.drop_index(name, table_name="messages")
