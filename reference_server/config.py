"""Typed settings with the same keys as the upstream Go server (contract §5).

Sources, lowest to highest precedence: defaults -> YAML file -> `.env` -> process environment.
Environment names are the upper-case key path joined by `__` (`HTTP__API__HOST`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import yaml
from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_FILE = "config.yml"
log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """Bad configuration; the message names the dotted key.

    A ValueError so that pydantic validators may raise it and have it reported against the field.
    """


# --- durations -------------------------------------------------------------------------------

_UNIT_US = {"ns": Decimal("0.001"), "us": Decimal(1), "µs": Decimal(1), "μs": Decimal(1),
            "ms": Decimal(1000), "s": Decimal(10**6), "m": Decimal(60 * 10**6), "h": Decimal(3600 * 10**6)}
# Two-letter units first so that "ms" is not read as "m" followed by garbage.
_COMPONENT = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|h|m|s)"
_DURATION_RE = re.compile(rf"([+-]?)((?:{_COMPONENT})+)")


def parse_duration(value: str | int | float) -> timedelta:
    """Parse a Go duration ("300ms", "1.5h", "2h45m", "0") or a bare number of seconds.

    Negative values parse; fields decide whether they accept them. Raises ConfigError.
    """
    error = ConfigError(f"invalid duration {value!r} (use Go syntax like 15m, 720h)")
    if isinstance(value, bool) or not isinstance(value, int | float | str):  # `true` is no duration
        raise error
    text = str(value).strip()
    sign, micros = "", None
    try:  # a bare number means seconds (Go itself only allows a bare "0")
        micros = Decimal(text) * _UNIT_US["s"]
    except InvalidOperation:
        if match := _DURATION_RE.fullmatch(text):
            sign = match[1]
            micros = sum((Decimal(num) * _UNIT_US[unit] for num, unit in re.findall(_COMPONENT, match[2])),
                         Decimal(0))
    if micros is None or not micros.is_finite():
        raise error
    try:
        result = timedelta(microseconds=float(micros))
    except OverflowError:
        raise error from None
    return -result if sign == "-" else result


def _non_negative_duration(value: Any) -> timedelta:
    result = value if isinstance(value, timedelta) else parse_duration(value)
    if result < timedelta(0):
        raise ConfigError(f"duration must not be negative, got {value!r}")
    return result


Duration = Annotated[timedelta, BeforeValidator(_non_negative_duration)]


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):  # env form: "a, b,c"
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# --- sections --------------------------------------------------------------------------------


class _Section(BaseModel):
    # coerce_numbers_to_str: YAML `private_token: 123456789` (upstream's example) is a string key.
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)


class GatewaySettings(_Section):
    mode: Literal["public", "private"] = "public"
    # May stay empty in private mode: registration then needs Basic or Code auth of an existing user.
    private_token: str = Field(default="", repr=False)
    upstream_url: str = "https://api.sms-gate.app/upstream/v1"


class ApiSettings(_Section):
    host: str = ""
    path: str = "/api"


class OpenApiSettings(_Section):
    enabled: bool = False


_LISTEN_RE = re.compile(r"(?P<host>\[[0-9A-Za-z:.%]+\]|[^\[\]:]*):(?P<port>\d{1,5})")


class HttpSettings(_Section):
    listen: str = ":3000"
    proxies: Annotated[list[str], BeforeValidator(_comma_list)] = []
    api: ApiSettings = ApiSettings()
    openapi: OpenApiSettings = OpenApiSettings()
    max_body_bytes: PositiveInt = 1_048_576  # ours: larger request bodies get 413
    request_timeout: Duration = timedelta(seconds=30)  # ours: a handler still busy after this answers 503
    read_timeout: Duration = timedelta(seconds=10)  # ours: a request body must arrive within this (408)
    idle_timeout: Duration = timedelta(seconds=60)  # ours: idle keep-alive, or request headers still arriving
    # ours: requests handled at once (event streams count until their headers are out); more wait for a slot
    max_concurrent_requests: PositiveInt = 64

    @field_validator("request_timeout", "read_timeout", "idle_timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ConfigError(f"must be positive, got {value}")
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        match = _LISTEN_RE.fullmatch(value)
        if not match or int(match["port"]) > 65535:
            raise ConfigError(f"expected [host]:port like ':3000' or '127.0.0.1:3000', got {value!r}")
        return value

    def bind_address(self) -> str:
        """Hypercorn bind string; an empty host (Go's ':3000') means all IPv4 interfaces."""
        match = _LISTEN_RE.fullmatch(self.listen)
        assert match is not None  # validated above
        return f"{match['host'] or '0.0.0.0'}:{match['port']}"


def _cpus() -> int:
    return os.cpu_count() or 1


class DatabaseSettings(_Section):
    url: str = Field(default="", repr=False)  # ours: an SQLAlchemy URL that wins over everything below
    host: str = ""
    port: int = Field(default=3306, ge=1, le=65535)
    user: str = "sms"
    password: str = Field(default="sms", repr=False)
    database: str = "sms"
    timezone: str = "UTC"
    debug: bool = False
    max_open_conns: NonNegativeInt = 0  # 0 -> 4 x CPU
    max_idle_conns: NonNegativeInt = 0  # 0 -> 2 x CPU
    dialect: Literal["mysql", "postgresql"] = "mysql"  # ours: which server host, port, ... name
    connect_timeout: Duration = timedelta(seconds=5)  # ours: connect; also the wait for a pooled connection
    query_timeout: Duration = timedelta(seconds=30)  # ours: MySQL socket reads and writes, PostgreSQL statements

    @field_validator("connect_timeout", "query_timeout")
    @classmethod
    def _whole_seconds(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):  # PyMySQL takes whole seconds
            raise ConfigError(f"must be at least 1s, got {value}")
        return value

    def sqlalchemy_url(self) -> str:
        if self.url:
            return self.url
        if self.host:
            user, password = quote(self.user, safe=""), quote(self.password, safe="")
            if self.dialect == "postgresql":
                return f"postgresql+psycopg://{user}:{password}@{self.host}:{self.port}/{self.database}"
            return f"mysql+pymysql://{user}:{password}@{self.host}:{self.port}/{self.database}?charset=utf8mb4"
        return "sqlite:///./smsgate.db"  # the embedded default: no server needed for a quick start

    def pool_size(self) -> int:
        return self.max_open_conns or 4 * _cpus()

    def idle_pool_size(self) -> int:
        return self.max_idle_conns or 2 * _cpus()


class HealthSettings(_Section):  # ours
    timeout: Duration = timedelta(seconds=2)  # /health/ready fails when the database does not answer within it
    release_id: NonNegativeInt = 0  # `releaseId` of the health answers (upstream's build number); 0 leaves it out

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ConfigError(f"must be positive, got {value}")
        return value


class FcmSettings(_Section):
    credentials_json: str = Field(default="", repr=False)
    debounce_seconds: NonNegativeInt = 0
    timeout_seconds: NonNegativeInt = 0
    endpoint: str = ""  # ours: FCM-v1-compatible base URL override (tests, air-gapped setups)

    @field_validator("credentials_json")
    @classmethod
    def _check_credentials(cls, value: str) -> str:
        if value.strip():  # the content is checked when the first push is sent (`{}` passes here)
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ConfigError("must be the service-account JSON document itself (not valid JSON)") from None
            if not isinstance(parsed, dict):
                raise ConfigError("must be a JSON object (the service-account file's content)")
        return value

    @property
    def effective_debounce_seconds(self) -> int:
        return max(5, self.debounce_seconds)

    @property
    def effective_timeout_seconds(self) -> int:
        return max(1, self.timeout_seconds)


class SseSettings(_Section):
    keep_alive_period_seconds: NonNegativeInt = 15  # 0 = no keep-alives


class QueueSettings(_Section):
    max_pending: NonNegativeInt = 0  # 0 = no limit
    max_pending_age: Duration = timedelta(0)
    max_failed: NonNegativeInt = 0
    max_failed_age: Duration = timedelta(0)
    stats_refresh_interval: Duration = timedelta(seconds=5)
    stats_cache_ttl: Duration = timedelta(seconds=60)


class MessagesSettings(_Section):
    cache_ttl_seconds: NonNegativeInt = 300
    hashing_interval_seconds: NonNegativeInt = 60
    hashing_enabled: bool = True  # ours
    queue: QueueSettings = QueueSettings()


class PhonesSettings(_Section):
    # ours: region assumed for numbers written without a leading '+'
    default_region: Annotated[str, BeforeValidator(_upper)] = Field(default="RU", pattern=r"^[A-Z]{2}$")


class CacheSettings(_Section):
    url: str = Field(default="memory://", repr=False)  # a secret: a Redis URL may carry a password

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        """memory:// (one process), a Redis URL, or ours: database:// (several processes sharing the database)."""
        value = value.strip() or "memory://"
        if value.split(":", 1)[0] not in ("memory", "database", "redis", "rediss", "unix"):
            raise ConfigError("expected memory://, database:// or a Redis URL (redis://host:6379/0)")
        return value


class PubSubSettings(_Section):
    # or redis://[:password@]host:port/db, rediss://..., unix:///path.sock; a secret (it may carry a password)
    url: str = Field(default="memory://", repr=False)
    buffer_size: NonNegativeInt = 128

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip() or "memory://"
        if value.split(":", 1)[0] not in ("memory", "redis", "rediss", "unix"):
            raise ConfigError("expected memory:// or a Redis URL (redis://host:6379/0)")
        return value


class JwtSettings(_Section):
    # Field order matters: refresh_ttl's validator reads secret and access_ttl.
    secret: str = Field(default="", repr=False)  # empty = JWT disabled
    access_ttl: Duration = timedelta(minutes=15)
    refresh_ttl: Duration = timedelta(hours=720)
    issuer: str = "sms-gate.app"
    ttl: Duration | None = None  # deprecated alias of access_ttl

    @model_validator(mode="before")
    @classmethod
    def _apply_ttl_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("ttl") is not None and "access_ttl" not in data:
            return {**data, "access_ttl": data["ttl"]}
        return data

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ConfigError(f"must be at least 32 characters when set, got {len(value)}")
        return value

    @field_validator("refresh_ttl")
    @classmethod
    def _check_refresh(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        access = info.data.get("access_ttl")
        if info.data.get("secret") and access is not None and value <= access:
            raise ConfigError(f"must be greater than jwt.access_ttl ({access}), got {value}")
        return value

    @field_validator("issuer")
    @classmethod
    def _default_issuer(cls, value: str) -> str:
        return value or "sms-gate.app"  # upstream: an empty issuer keeps the default

    @property
    def enabled(self) -> bool:
        return bool(self.secret)


class OtpSettings(_Section):
    enabled: bool = True
    length: int = Field(default=6, ge=6)
    ttl: PositiveInt = 60  # seconds
    retries: NonNegativeInt = 3


class MessagesHashingTask(_Section):
    interval: Duration = timedelta(hours=168)


class MessagesCleanupTask(_Section):
    interval: Duration = timedelta(hours=24)
    max_age: Duration = timedelta(hours=720)


class DevicesCleanupTask(_Section):
    interval: Duration = timedelta(hours=24)
    max_age: Duration = timedelta(hours=8760)


class TokensCleanupTask(_Section):
    interval: Duration = timedelta(hours=24)
    max_age: Duration = timedelta(hours=1)


class InboxCleanupTask(_Section):
    interval: Duration = timedelta(hours=24)
    max_age: Duration = timedelta(hours=720)


class MessagesCountsTask(_Section):
    """ours: rebuilds the per-device/state/day message counts behind X-Total-Count from the rows (repairs drift)."""

    interval: Duration = timedelta(hours=24)


class LegacyHashingTask(_Section):
    interval_seconds: NonNegativeInt = 0  # declared upstream but unused; accepted so old files load


class TasksSettings(_Section):
    messages_hashing: MessagesHashingTask = MessagesHashingTask()
    messages_cleanup: MessagesCleanupTask = MessagesCleanupTask()
    devices_cleanup: DevicesCleanupTask = DevicesCleanupTask()
    tokens_cleanup: TokensCleanupTask = TokensCleanupTask()
    inbox_cleanup: InboxCleanupTask = InboxCleanupTask()
    messages_counts: MessagesCountsTask = MessagesCountsTask()
    hashing: LegacyHashingTask = LegacyHashingTask()


class AuthSettings(_Section):
    """ours: failed credential checks (Basic, private token, one-time code) per minute per client IP."""

    failed_login_limit: NonNegativeInt = 10  # 0 = no limit; past it such requests get 429 for the minute


class LogSettings(_Section):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"


class CaSettings(_Section):
    """ours: the private Certificate Authority mounted inside smsgate-server (see `smsgate-ca`)."""

    # Field order matters: dir's validator reads enabled.
    enabled: bool = False
    dir: str = Field(default="", validate_default=True)  # made by `smsgate-ca init --dir`: the root cert and key
    ttl: Duration = timedelta(hours=24)  # a request (and its certificate) can be fetched this long
    rate_limit: NonNegativeInt = 1  # POST /csr per minute per client IP; 0 = no limit
    path_prefix: str = "/api/ca/v1"

    @field_validator("dir")
    @classmethod
    def _check_dir(cls, value: str, info: ValidationInfo) -> str:
        if not info.data.get("enabled"):
            return value
        if not value:
            raise ConfigError("required when ca.enabled is true (a directory made by `smsgate-ca init --dir DIR`)")
        from .ca.paths import missing_root_files

        if missing := missing_root_files(Path(value)):
            raise ConfigError(f"no CA root in {value!r} (missing {', '.join(missing)}); "
                              f"create one with `smsgate-ca init --dir {value}`")
        return value

    @field_validator("ttl")
    @classmethod
    def _check_ttl(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ConfigError(f"must be positive, got {value}")
        return value

    @field_validator("path_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        prefix = value.rstrip("/")
        if not prefix.startswith("/") or any(c in prefix for c in "<>?# "):
            raise ConfigError(f"expected a URL path like '/api/ca/v1', got {value!r}")
        return prefix


class Settings(_Section):
    gateway: GatewaySettings = GatewaySettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    fcm: FcmSettings = FcmSettings()
    sse: SseSettings = SseSettings()
    messages: MessagesSettings = MessagesSettings()
    phones: PhonesSettings = PhonesSettings()
    cache: CacheSettings = CacheSettings()
    pubsub: PubSubSettings = PubSubSettings()
    jwt: JwtSettings = JwtSettings()
    otp: OtpSettings = OtpSettings()
    auth: AuthSettings = AuthSettings()  # ours
    tasks: TasksSettings = TasksSettings()
    log: LogSettings = LogSettings()
    ca: CaSettings = CaSettings()  # ours
    health: HealthSettings = HealthSettings()  # ours

    def database_url(self) -> str:
        return self.database.sqlalchemy_url()


# --- loading ---------------------------------------------------------------------------------


def _section_type(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    annotation = model.model_fields[name].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], bool]]:
    """(key path, is secret) of every leaf key; secrets are the fields hidden from repr."""
    leaves: list[tuple[tuple[str, ...], bool]] = []
    for name, field in model.model_fields.items():
        section = _section_type(model, name)
        leaves += _leaves(section, (*prefix, name)) if section else [((*prefix, name), not field.repr)]
    return leaves


_ENV_KEYS = {"__".join(path).upper(): path for path, _ in _leaves(Settings)}
_SECRET_KEYS = {".".join(path) for path, secret in _leaves(Settings) if secret}
_FILE_SUFFIX = "_FILE"


def _secrets_from_files(env: Mapping[str, str]) -> dict[str, str]:
    """`<KEY>_FILE=/run/secrets/x` for every secret key: the Docker and Kubernetes secrets convention."""
    values: dict[str, str] = {}
    for name, path in _ENV_KEYS.items():
        file_var = name + _FILE_SUFFIX
        if ".".join(path) not in _SECRET_KEYS or file_var not in env:
            continue
        if name in env:
            raise ConfigError(f"both {name} and {file_var} are set; use one of them")
        try:
            text = Path(env[file_var]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file_var}: cannot read {env[file_var]}: {exc}") from None
        values[name] = text.removesuffix("\n").removesuffix("\r")  # the one newline an editor or echo adds
    return values


def _check_keys(data: dict[Any, Any], model: type[BaseModel], source: str, prefix: str = "") -> None:
    """Drops unknown keys with a warning (naming a likely typo's fix) and goes on, as upstream ignores them."""
    for key, value in list(data.items()):
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in model.model_fields:
            del data[key]
            close = difflib.get_close_matches(str(key), list(model.model_fields), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            log.warning("unknown key '%s' in %s ignored%s", dotted, source, hint)
            continue
        section = _section_type(model, key)
        if section and isinstance(value, dict):
            _check_keys(value, section, source, f"{dotted}.")


def _drop_nulls(data: dict[str, Any]) -> dict[str, Any]:
    # A key left empty in YAML (`issuer:`) keeps its default, as in upstream.
    return {k: _drop_nulls(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping, got {type(data).__name__}")
    _check_keys(data, Settings, str(path))
    return _drop_nulls(data)


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):  # our own messages show the value when it is safe to
            message = str(cause)
        else:
            message, shown = err["msg"], repr(err.get("input"))
            if key not in _SECRET_KEYS and len(shown) <= 200:
                message += f" (got {shown})"
        lines.append(f"{key}: {message}")
    return "\n".join(lines)


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | os.PathLike[str] | None = ".env",
) -> Settings:
    """Build Settings from defaults, the YAML file, `.env` and the environment (in rising precedence)."""
    env: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        # interpolate=False: values stay literal and os.environ is neither read nor changed.
        env.update({k: v for k, v in dotenv_values(dotenv_path, interpolate=False).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    env.update(_secrets_from_files(env))

    data: dict[str, Any] = {}
    explicit = config_path if config_path is not None else env.get("CONFIG_PATH") or None
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        data = _read_yaml(path)
    elif Path(DEFAULT_CONFIG_FILE).is_file():  # the default file is optional
        data = _read_yaml(Path(DEFAULT_CONFIG_FILE))

    for name, value in env.items():
        if name in _ENV_KEYS:  # everything else (PATH, HOME, ...) is not ours
            _set(data, _ENV_KEYS[name], value)
    debug = env.get("DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
    if debug and "LOG__LEVEL" not in env:  # compose files set DEBUG; an explicit level still wins
        _set(data, ("log", "level"), "DEBUG")

    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
    warn_without_effect(settings)
    return settings


# Keys upstream reads that have no effect here (our design makes them moot): (key path, why).
WITHOUT_EFFECT = (
    (("messages", "cache_ttl_seconds"), "message states are read from the database, not a cache"),
    (("messages", "queue", "stats_cache_ttl"), "queue-limit verdicts live for messages.queue.stats_refresh_interval"),
    (("database", "timezone"), "times are stored and compared in UTC"),
    (("database", "max_idle_conns"), "the pool keeps up to database.max_open_conns connections"),
)


def warn_without_effect(settings: Settings) -> list[str]:
    """Warns about each key of WITHOUT_EFFECT set to other than its default; returns their names."""
    named = []
    for path, why in WITHOUT_EFFECT:
        node: Any = settings
        default: Any = Settings()
        for part in path:
            node, default = getattr(node, part), getattr(default, part)
        if node != default:
            named.append(".".join(path))
            log.warning("%s is set but has no effect in this server: %s", ".".join(path), why)
    return named
