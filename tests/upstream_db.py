"""A database shaped like the one upstream's Go server (v1.47.x) leaves on MariaDB, filled with data of every table.

The DDL is written here from the table facts of the contract (server-contract §3.6: columns, types, keys) and
goose's version table, not taken from upstream's migration files. `snapshot` reads a database back (tables,
their DDL, every row) so a test can tell that nothing changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import sqlalchemy as sa

STATES = "'Pending','Cancelling','Cancelled','Processed','Sent','Delivered','Failed'"
STAMPS = ("created_at datetime(3) NOT NULL DEFAULT current_timestamp(3), "
          "updated_at datetime(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3)")
# The goose versions upstream v1.47.1 has applied (the timestamps its migration files are named by).
GOOSE_VERSIONS = (
    20221007133357, 20230925232629, 20231011232654, 20231016203147, 20231020230401, 20231116233831,
    20231127234448, 20231203200642, 20231208173729, 20231209225449, 20240108142043, 20240214195939,
    20240402205037, 20240515225255, 20240607230753, 20250330003657, 20250516022136, 20250521225803,
    20250628005423, 20250708232157, 20250918231606, 20251121071748, 20260303021154, 20260402000000,
    20260411000000, 20260507035019, 20260617000000,
)

DDL = [
    # goose's own table: one row per migration applied (or rolled back), plus its row for version 0
    "CREATE TABLE goose_db_version (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "version_id bigint NOT NULL, is_applied tinyint(1) NOT NULL, tstamp timestamp NULL DEFAULT current_timestamp())",
    f"CREATE TABLE users (id varchar(32) NOT NULL PRIMARY KEY, password_hash varchar(72) NOT NULL, {STAMPS}, "
    "deleted_at datetime(3) NULL)",
    f"CREATE TABLE devices (id char(21) NOT NULL PRIMARY KEY, name varchar(128) NULL, auth_token char(21) NOT NULL, "
    f"push_token varchar(256) NULL, user_id varchar(32) NOT NULL, {STAMPS}, deleted_at datetime(3) NULL, "
    "last_seen datetime(3) NOT NULL DEFAULT current_timestamp(3), sim_cards json NOT NULL DEFAULT ('[]'), "
    "UNIQUE KEY idx_devices_auth_token (auth_token), KEY idx_devices_last_seen (last_seen), "
    "CONSTRAINT fk_up_devices_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE)",
    "CREATE TABLE messages (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, device_id char(21) NOT NULL, "
    "ext_id varchar(36) NOT NULL, type enum('Text','Data') NOT NULL DEFAULT 'Text', content text NOT NULL, "
    f"state enum({STATES}) NOT NULL DEFAULT 'Pending', valid_until datetime(3) NULL, schedule_at datetime NULL, "
    "sim_number tinyint unsigned NULL, with_delivery_report tinyint(1) NOT NULL DEFAULT 1, "
    "priority tinyint NOT NULL DEFAULT 0, is_hashed tinyint(1) NOT NULL DEFAULT 0, "
    f"is_encrypted tinyint(1) NOT NULL DEFAULT 0, {STAMPS}, deleted_at datetime(3) NULL, "
    "UNIQUE KEY unq_messages_id_device (ext_id, device_id), KEY idx_messages_device_state (device_id, state), "
    "KEY idx_messages_is_hashed (is_hashed) USING HASH, "
    "CONSTRAINT fk_up_messages_device FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE)",
    "CREATE TABLE message_recipients (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "message_id bigint unsigned NOT NULL, phone_number varchar(128) NOT NULL, "
    f"state enum({STATES}) NOT NULL DEFAULT 'Pending', error varchar(256) NULL, "
    "UNIQUE KEY unq_up_recipients (message_id, phone_number), "
    "CONSTRAINT fk_up_recipients_message FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE)",
    "CREATE TABLE message_states (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    f"message_id bigint unsigned NOT NULL, state enum({STATES}) NOT NULL, updated_at datetime(3) NOT NULL, "
    "UNIQUE KEY unq_up_states (message_id, state), "
    "CONSTRAINT fk_up_states_message FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE)",
    "CREATE TABLE webhooks (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, ext_id varchar(36) NOT NULL, "
    "user_id varchar(32) NOT NULL, url varchar(256) NOT NULL, event varchar(32) NOT NULL, device_id char(21) NULL, "
    f"{STAMPS}, deleted_at datetime(3) NULL, UNIQUE KEY unq_webhooks_user_extid (user_id, ext_id), "
    "KEY idx_webhooks_device (device_id), "
    "CONSTRAINT fk_up_webhooks_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE, "
    "CONSTRAINT fk_up_webhooks_device FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE)",
    f"CREATE TABLE device_settings (user_id varchar(32) NOT NULL PRIMARY KEY, settings json NOT NULL, {STAMPS}, "
    "CONSTRAINT fk_up_settings_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE)",
    "CREATE TABLE tokens (id char(21) NOT NULL PRIMARY KEY, user_id char(21) NOT NULL, "
    "token_use enum('access','refresh') NOT NULL DEFAULT 'access', parent_jti char(21) NULL, "
    f"expires_at datetime(3) NOT NULL, revoked_at datetime(3) NULL, {STAMPS}, KEY idx_tokens_user_id (user_id), "
    "KEY idx_tokens_expires_at (expires_at), KEY idx_tokens_parent_jti (parent_jti), "
    "CONSTRAINT fk_up_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE)",
]

LOGIN, PASSWORD = "OLDUSER1", "old-password-1"
OTHER_LOGIN, OTHER_PASSWORD = "OLDUSER2", "old-password-2"
DEVICE, DEVICE_TOKEN = "dev_aaaaaaaaaaaaaaaaa", "tok_aaaaaaaaaaaaaaaaa"
OTHER_DEVICE, OTHER_TOKEN = "dev_bbbbbbbbbbbbbbbbb", "tok_bbbbbbbbbbbbbbbbb"
PENDING_ID, SENT_ID, DATA_ID, HASHED_ID = "old-pending", "old-sent", "old-data", "old-hashed"
PHONE = "+79990001122"
SETTINGS = {"messages": {"send_interval_min": 5, "send_interval_max": 10}, "ping": {"interval_seconds": 60}}
REVOKED_JTI, LIVE_JTI = "jti_revokedaaaaaaaaaa", "jti_liveaaaaaaaaaaaaa"


def _hash(password: str) -> str:
    # Go's bcrypt writes the $2a$ prefix; cost 4 keeps the test quick (the cost is part of the hash)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode()


def build(url: str, goose_versions: tuple[int, ...] = GOOSE_VERSIONS) -> None:
    """Creates upstream's tables in the (empty) database of `url` and fills every one of them."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in DDL:
                conn.execute(sa.text(statement))
            _fill(conn, goose_versions)
    finally:
        engine.dispose()


def _fill(conn: sa.Connection, goose_versions: tuple[int, ...]) -> None:
    def insert(table: str, *rows: dict[str, Any]) -> None:
        columns = list(rows[0])
        conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) "
                             f"VALUES ({', '.join(':' + c for c in columns)})"), list(rows))

    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    day = timedelta(days=1)
    insert("goose_db_version", *({"version_id": v, "is_applied": 1} for v in (0, *goose_versions)))
    insert("users", {"id": LOGIN, "password_hash": _hash(PASSWORD)},
           {"id": OTHER_LOGIN, "password_hash": _hash(OTHER_PASSWORD)})
    sims = [{"slotIndex": 0, "simNumber": 1, "phoneNumber": "+79990000001", "carrierName": "Old Carrier"},
            {"slotIndex": 1, "simNumber": 2}]
    insert("devices",
           {"id": DEVICE, "name": "old/phone", "auth_token": DEVICE_TOKEN, "push_token": None, "user_id": LOGIN,
            "last_seen": now - day, "sim_cards": json.dumps(sims)},
           {"id": OTHER_DEVICE, "name": "other/phone", "auth_token": OTHER_TOKEN, "push_token": "fcm-old-token",
            "user_id": OTHER_LOGIN, "last_seen": now - 2 * day, "sim_cards": "[]"})
    message = {"device_id": DEVICE, "type": "Text", "valid_until": None, "schedule_at": None, "sim_number": None,
               "with_delivery_report": 1, "priority": 0, "is_hashed": 0, "is_encrypted": 0}
    insert("messages",
           {**message, "id": 1, "ext_id": SENT_ID, "content": '{"text":"sent before the move"}', "state": "Delivered",
            "sim_number": 2, "created_at": now - 3 * day},
           {**message, "id": 2, "ext_id": DATA_ID, "type": "Data", "content": '{"data":"AAE=","port":53739}',
            "state": "Failed", "with_delivery_report": 0, "created_at": now - 2 * day},
           {**message, "id": 3, "ext_id": HASHED_ID, "content": "a" * 64, "state": "Sent", "is_hashed": 1,
            "created_at": now - 2 * day},
           {**message, "id": 4, "ext_id": PENDING_ID, "content": '{"text":"waiting for the phone"}',
            "state": "Pending", "priority": 100, "valid_until": now + 30 * day, "created_at": now - day})
    insert("message_recipients",
           {"message_id": 1, "phone_number": PHONE, "state": "Delivered", "error": None},
           {"message_id": 2, "phone_number": PHONE, "state": "Failed", "error": "RESULT_ERROR_NO_SERVICE"},
           {"message_id": 3, "phone_number": "a" * 64, "state": "Sent", "error": None},
           {"message_id": 4, "phone_number": PHONE, "state": "Pending", "error": None},
           {"message_id": 4, "phone_number": "+79990001133", "state": "Pending", "error": None})
    insert("message_states",
           *({"message_id": 1, "state": s, "updated_at": now - 3 * day + i * timedelta(seconds=5)}
             for i, s in enumerate(("Pending", "Processed", "Sent", "Delivered"))),
           {"message_id": 2, "state": "Pending", "updated_at": now - 2 * day},
           {"message_id": 2, "state": "Failed", "updated_at": now - 2 * day},
           {"message_id": 3, "state": "Sent", "updated_at": now - 2 * day},
           {"message_id": 4, "state": "Pending", "updated_at": now - day})
    insert("webhooks",
           {"ext_id": "old-hook-all", "user_id": LOGIN, "url": "https://example.com/hook", "event": "sms:received",
            "device_id": None},
           {"ext_id": "old-hook-dev", "user_id": LOGIN, "url": "https://example.com/sent", "event": "sms:sent",
            "device_id": DEVICE},
           {"ext_id": "other-hook", "user_id": OTHER_LOGIN, "url": "https://example.org/x", "event": "sms:failed",
            "device_id": OTHER_DEVICE})
    insert("device_settings", {"user_id": LOGIN, "settings": json.dumps(SETTINGS)})
    insert("tokens",
           {"id": REVOKED_JTI, "user_id": LOGIN, "token_use": "access", "parent_jti": None,
            "expires_at": now + day, "revoked_at": now - timedelta(hours=1)},
           {"id": LIVE_JTI, "user_id": LOGIN, "token_use": "access", "parent_jti": None, "expires_at": now + day,
            "revoked_at": None},
           {"id": "jti_refreshaaaaaaaaaa", "user_id": LOGIN, "token_use": "refresh", "parent_jti": LIVE_JTI,
            "expires_at": now + 30 * day, "revoked_at": None})


def snapshot(url: str) -> dict[str, Any]:
    """Every table of the database: its DDL and all its rows, in primary-key order."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found: dict[str, Any] = {}
            for table in sorted(sa.inspect(conn).get_table_names()):
                ddl = conn.execute(sa.text(f"SHOW CREATE TABLE `{table}`")).one()[1]
                rows = conn.execute(sa.text(f"SELECT * FROM `{table}` ORDER BY 1")).all()
                found[table] = (ddl, [tuple(row) for row in rows])
            return found
    finally:
        engine.dispose()


def databases(admin_url: str) -> set[str]:
    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SHOW DATABASES")).scalars())
    finally:
        engine.dispose()
