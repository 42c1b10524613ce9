"""What each configuration key means, for the generated configuration reference (docs/reference/configuration.md).

Keys, types and defaults come from the settings model itself; only the meaning is written here. A test fails
when a key of the model has no entry here, or an entry names a key the model does not have.
"""

from __future__ import annotations

OURS = "**ours** "  # a key upstream's server does not have

MEANINGS: dict[str, str] = {
    "gateway.mode": "`public`: anyone may register a phone; `private`: registration needs `gateway.private_token`",
    "gateway.private_token": "registration secret in private mode (compared in constant time)",
    "gateway.upstream_url": "push relay base in private mode (pushes are POSTed to `{url}/push`)",
    "http.listen": "`[host]:port` to listen on; an empty host means every IPv4 interface",
    "http.proxies": "trusted proxies whose `X-Forwarded-For` is believed (comma list in the environment)",
    "http.api.host": "public host used in generated links (`Location`, api-catalog)",
    "http.api.path": "public path prefix of generated links; counts only when `http.api.host` is set",
    "http.openapi.enabled": "serve the spec at `/api/docs/doc.json` and Swagger UI at `/api/docs`",
    "http.max_body_bytes": OURS + "larger request bodies get 413",
    "http.request_timeout": OURS + "a request's deadline: database work not committed by then is rolled back and "
                                   "answered 503 (a COMMIT in flight is waited for up to 2 s more; 504 when "
                                   "unconfirmed)",
    "http.read_timeout": OURS + "a request body must arrive within this, else 408",
    "http.idle_timeout": OURS + "an idle keep-alive connection, or one whose request headers are still arriving "
                                "(slow-loris), is closed after this; so is (after 1-2 times this) a response the "
                                "client reads nothing of and an HTTP/2 connection without a request in progress; "
                                "SSE streams are not affected",
    "http.max_concurrent_requests": OURS + "requests handled at once; more wait for a slot (up to "
                                           "`http.request_timeout`, then 503). SSE streams count only until their "
                                           "headers are out, a request with a body from when its body is in",
    "database.url": OURS + "an SQLAlchemy URL that wins over the parts below, e.g. "
                           "`mysql+pymysql://sms:sms@db:3306/sms` or `postgresql+psycopg://sms:sms@db:5432/sms`; "
                           "with neither, the SQLite file `./smsgate.db` (see PostgreSQL in the docs)",
    "database.host": "MariaDB/MySQL (or PostgreSQL, see `dialect`) host; when set, the URL is built from host, "
                     "port, user, password, database",
    "database.port": "MariaDB/MySQL port (PostgreSQL's is usually 5432: set it)",
    "database.user": "MariaDB/MySQL/PostgreSQL user",
    "database.password": "MariaDB/MySQL/PostgreSQL password",
    "database.database": "MariaDB/MySQL/PostgreSQL database name",
    "database.dialect": OURS + "the server that `host` names: `mysql` (MariaDB/MySQL) or `postgresql`",
    "database.timezone": "accepted for upstream's files; timestamps are stored in UTC here",
    "database.debug": "log every SQL statement (never its parameters)",
    "database.max_open_conns": "connection pool size and database worker threads (0: 4 x CPUs)",
    "database.max_idle_conns": "accepted for upstream's files (0: 2 x CPUs); the pool keeps its connections open",
    "database.connect_timeout": OURS + "MySQL/PostgreSQL connect timeout and the longest wait for a pooled "
                                       "connection (whole seconds, at least 1)",
    "database.query_timeout": OURS + "MySQL read/write timeout, PostgreSQL statement timeout (and TCP timeouts): "
                                     "a database that stops answering fails requests with 503 instead of hanging "
                                     "them",
    "fcm.credentials_json": "the service-account JSON document itself; empty in public mode: pushes cannot be "
                            "delivered (logged at start)",
    "fcm.debounce_seconds": "push batching window, at least 5 (0: 5)",
    "fcm.timeout_seconds": "timeout of each FCM or relay request, at least 1 (0: 1)",
    "fcm.endpoint": OURS + "FCM-v1-compatible base URL (`http://host:port`) used instead of Google's",
    "sse.keep_alive_period_seconds": "keep-alive comment period on idle SSE streams; 0: none",
    "messages.cache_ttl_seconds": "accepted for upstream's files",
    "messages.hashing_interval_seconds": "how often finished messages are hashed",
    "messages.hashing_enabled": OURS + "hash content and numbers of finished messages (upstream always does)",
    "messages.queue.max_pending": "refuse sends (503) for a device with this many due pending messages; 0: no limit",
    "messages.queue.max_pending_age": "refuse sends when the device's oldest due pending message is older; 0: off",
    "messages.queue.max_failed": "refuse sends when the device's last N messages all failed; 0: off",
    "messages.queue.max_failed_age": "only failures younger than this count toward `max_failed`; 0: any age",
    "messages.queue.stats_refresh_interval": "how long a device's queue verdict is reused",
    "messages.queue.stats_cache_ttl": "accepted for upstream's files",
    "phones.default_region": OURS + "region for numbers given without `+` (upstream hard-codes RU)",
    "cache.url": "shared state of several server processes: `memory://` (one process) or a Redis URL",
    "pubsub.url": "`memory://` or `redis://[:password@]host:6379/0` (`rediss://`, `unix://` too); "
                  "channel `sms-gateway:events`",
    "pubsub.buffer_size": "events waiting for this process's subscriber before further ones are dropped",
    "jwt.secret": "HS256 key, at least 32 characters; empty disables JWT (token routes answer 501)",
    "jwt.access_ttl": "lifetime of access tokens",
    "jwt.refresh_ttl": "lifetime of refresh tokens; must be longer than `jwt.access_ttl`",
    "jwt.issuer": "the tokens' `iss`",
    "jwt.ttl": "deprecated alias of `jwt.access_ttl`",
    "otp.enabled": "one-time codes for adding a phone to an account",
    "otp.length": "digits and letters in a code, at least 6",
    "otp.ttl": "seconds a code stays valid",
    "otp.retries": "attempts at drawing a code not in use",
    "auth.failed_login_limit": OURS + "failed credential checks (Basic, private token, one-time code) per minute "
                                      "per client IP; past it such requests get 429; 0: no limit",
    "tasks.messages_hashing.interval": "how often the hashing task runs",
    "tasks.messages_cleanup.interval": "how often finished messages older than `max_age` are deleted",
    "tasks.messages_cleanup.max_age": "age past which finished messages are deleted",
    "tasks.devices_cleanup.interval": "how often stale devices are deleted",
    "tasks.devices_cleanup.max_age": "devices not seen for this long are deleted (with their messages)",
    "tasks.tokens_cleanup.interval": "how often expired token rows are deleted",
    "tasks.tokens_cleanup.max_age": "token rows expired for longer than this are deleted",
    "tasks.messages_counts.interval": OURS + "how often the per-device/state/day message counts behind "
                                              "`X-Total-Count` are rebuilt from the rows (repairs drift)",
    "tasks.inbox_cleanup.interval": "how often stored inbox messages older than `max_age` are deleted",
    "tasks.inbox_cleanup.max_age": "age (from when the phone received it) past which an inbox message is deleted",
    "tasks.hashing.interval_seconds": "declared upstream but unused; accepted so old files load",
    "log.level": "`DEBUG`, `INFO`, `WARNING` or `ERROR`; `DEBUG` also logs each request",
    "ca.enabled": OURS + "serve the Certificate Authority API inside the server",
    "ca.dir": OURS + "the CA root made by `smsgate-ca init --dir DIR`",
    "ca.ttl": OURS + "how long a certificate request (and its certificate) can be fetched",
    "ca.rate_limit": OURS + "accepted `POST /csr` per minute per client IP; 0: no limit",
    "ca.path_prefix": OURS + "where the CA API is mounted",
    "health.timeout": OURS + "`/health/ready` answers 503 when the database does not answer `SELECT 1` within this",
    "health.release_id": OURS + "the `releaseId` of the health answers (upstream bakes its build number in at build "
                                "time); 0 leaves it out",
}
