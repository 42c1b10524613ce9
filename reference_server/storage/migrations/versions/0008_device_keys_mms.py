"""Device keys and longer numbers (upstream PR #258), and outgoing MMS (client-go 1.15).

devices gain `public_key` and `key_version`; message_recipients.phone_number grows from 128 to 512 characters;
messages.type gains `Mms`. Every change keeps the rows: columns are added nullable, the others only widen.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _mysql_phone(bind: sa.engine.Connection, length: int) -> None:
    # Keep migration 0006's binary NO PAD collation (a plain MODIFY would fall back to the table default);
    # the unique key (message_id, phone_number) stays within InnoDB's 3072 bytes: 8 + 512 * 4.
    collation = "utf8mb4_nopad_bin" if getattr(bind.dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
    op.execute(f"ALTER TABLE message_recipients MODIFY phone_number VARCHAR({length}) "
               f"CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL")


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("devices", sa.Column("public_key", sa.Text, nullable=True))
    op.add_column("devices", sa.Column("key_version", sa.Integer, nullable=True))
    if dialect in ("mysql", "mariadb"):
        _mysql_phone(bind, 512)
        # Appending a value to an ENUM changes metadata only: instant, even on a big table.
        op.execute("ALTER TABLE messages MODIFY type ENUM('Text','Data','Mms') NOT NULL")
    elif dialect == "postgresql":
        op.alter_column("message_recipients", "phone_number", type_=sa.String(512),
                        existing_type=sa.String(128), existing_nullable=False)
        # messages.type is a VARCHAR(4) here (tables.enum): 'Mms' fits as it is.
    # SQLite: lengths are not enforced and the enum is a plain VARCHAR(4) without a CHECK; nothing to change.


def downgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect in ("mysql", "mariadb"):
        op.execute("DELETE FROM messages WHERE type = 'Mms'")
        op.execute("ALTER TABLE messages MODIFY type ENUM('Text','Data') NOT NULL")
        _mysql_phone(bind, 128)
    elif dialect == "postgresql":
        # PostgreSQL cannot drop an enum value; MMS rows go, the value stays unused.
        op.execute("DELETE FROM messages WHERE type = 'Mms'")
        op.alter_column("message_recipients", "phone_number", type_=sa.String(128),
                        existing_type=sa.String(512), existing_nullable=False)
    else:
        op.execute("DELETE FROM messages WHERE type = 'Mms'")
    # Plain DROP COLUMN (SQLite >= 3.35 has it): a batch rebuild of devices would cascade-delete its messages.
    op.drop_column("devices", "key_version")
    op.drop_column("devices", "public_key")
