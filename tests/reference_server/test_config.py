from datetime import timedelta
from pathlib import Path

import pytest

from reference_server.config import ConfigError, Settings, load_settings, parse_duration, warn_without_effect

SECRET = "s" * 32


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    # load_settings falls back to ./config.yml; never pick up one from the developer's checkout.
    monkeypatch.chdir(tmp_path)


def load(tmp_path: Path, env: dict[str, str] | None = None, yaml_text: str | None = None,
         dotenv_text: str | None = None) -> Settings:
    config_path = None
    if yaml_text is not None:
        config_path = tmp_path / "custom.yml"
        config_path.write_text(yaml_text)
    if dotenv_text is not None:
        (tmp_path / ".env").write_text(dotenv_text)
    return load_settings(config_path, environ=env or {}, dotenv_path=tmp_path / ".env")


def config_error(tmp_path: Path, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **kwargs)
    return str(info.value)


def test_defaults(tmp_path):
    s = load(tmp_path)
    assert s.gateway.mode == "public"
    assert s.gateway.upstream_url == "https://api.sms-gate.app/upstream/v1"
    assert s.http.listen == ":3000"
    assert s.http.proxies == []
    assert s.http.max_body_bytes == 1_048_576
    assert s.database_url() == "sqlite:///./smsgate.db"
    assert s.phones.default_region == "RU"
    assert s.jwt.access_ttl == timedelta(minutes=15)
    assert s.jwt.refresh_ttl == timedelta(hours=720)
    assert s.messages.queue.stats_refresh_interval == timedelta(seconds=5)
    assert s.tasks.devices_cleanup.max_age == timedelta(hours=8760)
    assert s.tasks.tokens_cleanup.max_age == timedelta(hours=1)
    assert s.fcm.effective_debounce_seconds == 5
    assert s.fcm.effective_timeout_seconds == 1
    assert s.log.level == "INFO"


def test_settings_are_frozen(tmp_path):
    s = load(tmp_path)
    with pytest.raises(ValueError):
        s.gateway.mode = "private"  # type: ignore[misc]


def test_yaml_file_values(tmp_path):
    s = load(tmp_path, yaml_text="""
gateway:
  mode: private
  private_token: 123456789   # a YAML int, upstream's example; must become a string
http:
  listen: 127.0.0.1:8080
  proxies: ["10.0.0.1"]
  api: {host: example.com}
jwt:
  issuer:                    # empty keeps the default, as upstream
tasks:
  messages_cleanup: {max_age: 48h}
fcm: {debounce_seconds: 2}
""")
    assert s.gateway.mode == "private"
    assert s.gateway.private_token == "123456789"
    assert s.http.bind_address() == "127.0.0.1:8080"
    assert s.http.proxies == ["10.0.0.1"]
    assert s.http.api.host == "example.com"
    assert s.http.api.path == "/api"
    assert s.jwt.issuer == "sms-gate.app"
    assert s.tasks.messages_cleanup.max_age == timedelta(hours=48)
    assert s.tasks.messages_cleanup.interval == timedelta(hours=24)
    assert s.fcm.effective_debounce_seconds == 5  # minimum 5


def test_config_path_from_environment(tmp_path):
    (tmp_path / "other.yml").write_text("gateway: {mode: private}\n")
    s = load_settings(environ={"CONFIG_PATH": str(tmp_path / "other.yml")}, dotenv_path=None)
    assert s.gateway.mode == "private"


def test_default_config_file_in_cwd(tmp_path):
    (tmp_path / "config.yml").write_text("sse: {keep_alive_period_seconds: 0}\n")
    assert load_settings(environ={}, dotenv_path=None).sse.keep_alive_period_seconds == 0


def test_precedence_env_over_dotenv_over_yaml(tmp_path):
    yaml_text = "gateway: {upstream_url: http://yaml}\nhttp: {listen: ':1'}\ncache: {url: 'redis://yaml'}\n"
    dotenv_text = "HTTP__LISTEN=:2\nCACHE__URL=redis://dotenv\n"
    s = load(tmp_path, env={"HTTP__LISTEN": ":3"}, yaml_text=yaml_text, dotenv_text=dotenv_text)
    assert s.gateway.upstream_url == "http://yaml"
    assert s.cache.url == "redis://dotenv"
    assert s.http.listen == ":3"


def test_dotenv_can_point_to_config_file(tmp_path):
    (tmp_path / "x.yml").write_text("otp: {length: 8}\n")
    assert load(tmp_path, dotenv_text=f"CONFIG_PATH={tmp_path / 'x.yml'}\n").otp.length == 8


def test_unrelated_environment_is_ignored(tmp_path):
    s = load(tmp_path, env={"PATH": "/bin", "HOME": "/root", "GATEWAY__NOPE": "x", "gateway__mode": "x"})
    assert s.gateway.mode == "public"


def test_env_list_and_nested_keys(tmp_path):
    s = load(tmp_path, env={
        "HTTP__PROXIES": "a, b,,",
        "HTTP__API__HOST": "sms.example.com",
        "HTTP__OPENAPI__ENABLED": "yes",
        "MESSAGES__QUEUE__MAX_PENDING": "100",
        "MESSAGES__QUEUE__MAX_PENDING_AGE": "2h",
        "TASKS__MESSAGES_CLEANUP__MAX_AGE": "1h30m",
        "PHONES__DEFAULT_REGION": "de",
        "DATABASE__DEBUG": "TRUE",
        "OTP__ENABLED": "0",
    })
    assert s.http.proxies == ["a", "b"]
    assert s.http.api.host == "sms.example.com"
    assert s.http.openapi.enabled is True
    assert s.messages.queue.max_pending == 100
    assert s.messages.queue.max_pending_age == timedelta(hours=2)
    assert s.tasks.messages_cleanup.max_age == timedelta(minutes=90)
    assert s.phones.default_region == "DE"
    assert s.database.debug is True
    assert s.otp.enabled is False


def test_log_level_and_debug_flag(tmp_path):
    assert load(tmp_path, env={"LOG__LEVEL": "warning"}).log.level == "WARNING"
    assert load(tmp_path, env={"DEBUG": "1"}).log.level == "DEBUG"
    assert load(tmp_path, env={"DEBUG": "1", "LOG__LEVEL": "ERROR"}).log.level == "ERROR"


@pytest.mark.parametrize(("text", "expected"), [
    ("0", timedelta(0)),
    ("300ms", timedelta(milliseconds=300)),
    ("1.5h", timedelta(minutes=90)),
    ("1h30m", timedelta(minutes=90)),
    ("2h45m", timedelta(hours=2, minutes=45)),
    ("15m", timedelta(minutes=15)),
    ("720h", timedelta(days=30)),
    ("1m30.5s", timedelta(seconds=90.5)),
    ("10us", timedelta(microseconds=10)),
    ("-1h", timedelta(hours=-1)),
    ("45", timedelta(seconds=45)),
    (45, timedelta(seconds=45)),
    (2.5, timedelta(seconds=2.5)),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15x", "h", "1h 30m", "1.2.3s", "m15", "nan", "inf", True, None])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(text)


def test_duration_from_env_and_yaml(tmp_path):
    s = load(tmp_path, env={"HTTP__REQUEST_TIMEOUT": "90s"}, yaml_text="jwt: {access_ttl: 30}\n")
    assert s.http.request_timeout == timedelta(seconds=90)
    assert s.jwt.access_ttl == timedelta(seconds=30)


def test_deprecated_jwt_ttl_alias(tmp_path):
    assert load(tmp_path, env={"JWT__TTL": "1h"}).jwt.access_ttl == timedelta(hours=1)
    both = load(tmp_path, env={"JWT__TTL": "1h", "JWT__ACCESS_TTL": "5m"})
    assert both.jwt.access_ttl == timedelta(minutes=5)


@pytest.mark.parametrize(("env", "key", "shown"), [
    ({"GATEWAY__MODE": "secret"}, "gateway.mode", "'secret'"),
    ({"JWT__ACCESS_TTL": "15x"}, "jwt.access_ttl", "'15x'"),
    ({"TASKS__TOKENS_CLEANUP__MAX_AGE": "-1h"}, "tasks.tokens_cleanup.max_age", "'-1h'"),
    ({"OTP__ENABLED": "maybe"}, "otp.enabled", "'maybe'"),
    ({"DATABASE__PORT": "mysql"}, "database.port", "'mysql'"),
    ({"OTP__LENGTH": "4"}, "otp.length", "'4'"),
    ({"PHONES__DEFAULT_REGION": "rus"}, "phones.default_region", "'RUS'"),
    ({"HTTP__LISTEN": "3000"}, "http.listen", "'3000'"),
    ({"HTTP__LISTEN": "host:99999"}, "http.listen", "'host:99999'"),
    ({"LOG__LEVEL": "chatty"}, "log.level", "'CHATTY'"),
])
def test_bad_values_name_the_key(tmp_path, env, key, shown):
    message = config_error(tmp_path, env=env)
    assert message.startswith(f"{key}: ")
    assert shown in message


def test_every_failing_key_on_its_own_line(tmp_path):
    env = {"GATEWAY__MODE": "x", "SSE__KEEP_ALIVE_PERIOD_SECONDS": "-1"}
    lines = config_error(tmp_path, env=env).splitlines()
    assert [line.split(":")[0] for line in lines] == ["gateway.mode", "sse.keep_alive_period_seconds"]


def test_jwt_secret_too_short_is_not_echoed(tmp_path):
    message = config_error(tmp_path, env={"JWT__SECRET": "hunter2"})
    assert message.startswith("jwt.secret: ")
    assert "32" in message and "hunter2" not in message


def test_jwt_refresh_must_exceed_access(tmp_path):
    env = {"JWT__SECRET": SECRET, "JWT__ACCESS_TTL": "1h", "JWT__REFRESH_TTL": "1h"}
    assert config_error(tmp_path, env=env).startswith("jwt.refresh_ttl: ")
    # Without a secret JWT is off, so the relation is not checked.
    assert load(tmp_path, env={**env, "JWT__SECRET": ""}).jwt.enabled is False
    assert load(tmp_path, env={**env, "JWT__REFRESH_TTL": "2h"}).jwt.enabled is True


def test_private_mode_without_token_is_allowed(tmp_path):
    s = load(tmp_path, env={"GATEWAY__MODE": "private"})
    assert (s.gateway.mode, s.gateway.private_token) == ("private", "")


def test_unknown_yaml_key_warns_and_is_ignored(tmp_path, caplog):
    # Upstream ignores unknown keys; we go on too, but say which key, and the likely fix of a typo.
    caplog.set_level("WARNING", logger="reference_server.config")
    settings = load(tmp_path, yaml_text="gatway: {mode: private}\ngateway: {mdoe: private, private_token: t}\n"
                                        "http: {api: {hots: x, path: /p}}\nzzz: 1\n")
    assert (settings.gateway.mode, settings.gateway.private_token, settings.http.api.path) == ("public", "t", "/p")
    lines = [record.getMessage() for record in caplog.records]
    assert "unknown key 'gatway' in " + str(tmp_path / "custom.yml") + " ignored (did you mean 'gateway'?)" in lines
    assert any("'gateway.mdoe'" in line and "did you mean 'gateway.mode'?" in line for line in lines)
    assert any("'http.api.hots'" in line and "did you mean 'http.api.host'?" in line for line in lines)
    assert any(line.startswith("unknown key 'zzz' ") and line.endswith(" ignored") for line in lines)


def test_keys_without_effect_warn_when_set(tmp_path, caplog):
    caplog.set_level("WARNING", logger="reference_server.config")
    load(tmp_path, yaml_text="database: {timezone: UTC, max_idle_conns: 0}\nmessages: {cache_ttl_seconds: 300}\n")
    assert not caplog.records  # the defaults, written out, say nothing
    settings = load(tmp_path, yaml_text="database: {timezone: Europe/Moscow, max_idle_conns: 5}\n"
                                        "messages: {cache_ttl_seconds: 10, queue: {stats_cache_ttl: 2m}}\n")
    assert warn_without_effect(settings) == ["messages.cache_ttl_seconds", "messages.queue.stats_cache_ttl",
                                             "database.timezone", "database.max_idle_conns"]
    assert any(r.getMessage().startswith("database.timezone is set but has no effect") for r in caplog.records)


def test_yaml_type_error_names_key(tmp_path):
    message = config_error(tmp_path, yaml_text="http: {max_body_bytes: lots}\n")
    assert message.startswith("http.max_body_bytes: ") and "'lots'" in message
    assert config_error(tmp_path, yaml_text="http: 5\n").startswith("http: ")


def test_yaml_top_level_must_be_mapping(tmp_path):
    assert "mapping" in config_error(tmp_path, yaml_text="- a\n- b\n")


def test_empty_yaml_file_is_fine(tmp_path):
    assert load(tmp_path, yaml_text="").gateway.mode == "public"


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yml"):
        load_settings(tmp_path / "nope.yml", environ={}, dotenv_path=None)
    with pytest.raises(ConfigError, match="gone.yml"):
        load_settings(environ={"CONFIG_PATH": str(tmp_path / "gone.yml")}, dotenv_path=None)


def test_database_url_precedence(tmp_path):
    host_env = {"DATABASE__HOST": "db.local", "DATABASE__USER": "me", "DATABASE__PASSWORD": "p@ss:w/rd"}
    built = load(tmp_path, env=host_env)
    assert built.database_url() == "mysql+pymysql://me:p%40ss%3Aw%2Frd@db.local:3306/sms?charset=utf8mb4"
    assert built.database.sqlalchemy_url() == built.database_url()
    explicit = load(tmp_path, env={**host_env, "DATABASE__URL": "sqlite:///:memory:"})
    assert explicit.database_url() == "sqlite:///:memory:"
    assert load(tmp_path).database_url() == "sqlite:///./smsgate.db"
    postgresql = load(tmp_path, env={**host_env, "DATABASE__DIALECT": "postgresql", "DATABASE__PORT": "5432"})
    assert postgresql.database_url() == "postgresql+psycopg://me:p%40ss%3Aw%2Frd@db.local:5432/sms"
    assert "database.dialect" in config_error(tmp_path, env={"DATABASE__DIALECT": "oracle"})


def test_pool_sizes(tmp_path):
    assert load(tmp_path, env={"DATABASE__MAX_OPEN_CONNS": "7"}).database.pool_size() == 7
    assert load(tmp_path).database.pool_size() >= 4


def test_secrets_not_in_repr(tmp_path):
    s = load(tmp_path, env={"JWT__SECRET": SECRET, "DATABASE__PASSWORD": "topsecretpw"})
    assert SECRET not in repr(s) and "topsecretpw" not in repr(s)


@pytest.mark.parametrize(("listen", "bind"), [
    (":3000", "0.0.0.0:3000"),
    ("127.0.0.1:8080", "127.0.0.1:8080"),
    ("[::1]:3000", "[::1]:3000"),
    ("localhost:9000", "localhost:9000"),
])
def test_bind_address(tmp_path, listen, bind):
    assert load(tmp_path, env={"HTTP__LISTEN": listen}).http.bind_address() == bind


def test_type_error_on_secret_key_does_not_echo_value(tmp_path):
    message = config_error(tmp_path, yaml_text="database: {password: [hunter2]}\n")
    assert message.startswith("database.password: ") and "hunter2" not in message
