"""Client-chosen ids and recipients compare exactly on MariaDB/MySQL too, as on SQLite.

The default collation (utf8mb4_general_ci) counts `wh-A` and `wh-a`, `a` and `á`, or `a` and `a ` as one value,
so one webhook silently replaced another. A binary NO PAD collation compares the bytes, as SQLite does.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, column, SQL type); all NOT NULL. The unique keys on them are rebuilt by MODIFY.
COLUMNS = [("messages", "ext_id", "VARCHAR(36)"), ("webhooks", "ext_id", "VARCHAR(36)"),
           ("message_recipients", "phone_number", "VARCHAR(128)")]


def _modify(collation: str) -> None:
    for table, column, sql_type in COLUMNS:
        op.execute(f"ALTER TABLE {table} MODIFY {column} {sql_type} "
                   f"CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return  # SQLite compares text byte for byte already; PostgreSQL's deterministic collations do too
    # MariaDB has a NO PAD binary collation; MySQL 8's utf8mb4_0900_bin is NO PAD too.
    _modify("utf8mb4_nopad_bin" if getattr(bind.dialect, "is_mariadb", False) else "utf8mb4_0900_bin")


def downgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        _modify("utf8mb4_general_ci")
