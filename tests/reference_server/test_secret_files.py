"""`<KEY>_FILE` for every secret key: the Docker and Kubernetes secrets convention."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from test_readme_cycle import run_cli

from reference_server.config import ConfigError, Settings, load_settings

# env name -> (a valid value, how to read it back)
SECRETS = {
    "DATABASE__PASSWORD": ("pass word#1", lambda s: s.database.password),
    "DATABASE__URL": ("mysql+pymysql://app:pw@db.example:3306/sms", lambda s: s.database.url),
    "GATEWAY__PRIVATE_TOKEN": ("private-token-1", lambda s: s.gateway.private_token),
    "JWT__SECRET": ("j" * 40, lambda s: s.jwt.secret),
    "FCM__CREDENTIALS_JSON": ('{"type": "service_account",\n "project_id": "p"}', lambda s: s.fcm.credentials_json),
    "CACHE__URL": ("redis://:cachepw@redis.example:6379/1", lambda s: s.cache.url),
    "PUBSUB__URL": ("redis://:pubsubpw@redis.example:6379/2", lambda s: s.pubsub.url),
}


def load(tmp_path: Path, env: dict[str, str], yaml_text: str | None = None) -> Settings:
    config = None
    if yaml_text is not None:
        config = tmp_path / "config-in-test.yml"
        config.write_text(yaml_text, encoding="utf-8")
    return load_settings(config, environ=env, dotenv_path=None)


def test_every_secret_key_has_a_file_form() -> None:
    from reference_server.config import _SECRET_KEYS

    assert {key.replace(".", "__").upper() for key in _SECRET_KEYS} == set(SECRETS)


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_file_value_is_used_with_one_newline_stripped(tmp_path: Path, name: str) -> None:
    value, read = SECRETS[name]
    secret = tmp_path / "secret"
    secret.write_text(value + "\n", encoding="utf-8")
    settings = load(tmp_path, {f"{name}_FILE": str(secret)})
    assert read(settings) == value
    assert value not in repr(settings)


def test_only_one_trailing_newline_is_stripped(tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(b"pw\n\n")
    assert load(tmp_path, {"DATABASE__PASSWORD_FILE": str(tmp_path / "pw")}).database.password == "pw\n"
    (tmp_path / "pw").write_bytes(b"pw\r\n")
    assert load(tmp_path, {"DATABASE__PASSWORD_FILE": str(tmp_path / "pw")}).database.password == "pw"


def test_file_wins_over_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file", encoding="utf-8")
    settings = load(tmp_path, {"DATABASE__PASSWORD_FILE": str(tmp_path / "pw")}, "database: {password: from-yaml}\n")
    assert settings.database.password == "from-file"


def test_both_forms_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("a", encoding="utf-8")
    with pytest.raises(ConfigError, match="both DATABASE__PASSWORD and DATABASE__PASSWORD_FILE are set"):
        load(tmp_path, {"DATABASE__PASSWORD": "b", "DATABASE__PASSWORD_FILE": str(tmp_path / "pw")})


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JWT__SECRET_FILE: cannot read"):
        load(tmp_path, {"JWT__SECRET_FILE": str(tmp_path / "absent")})


def test_a_bad_secret_from_a_file_is_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("short-secret\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {"JWT__SECRET_FILE": str(tmp_path / "jwt")})
    assert str(info.value).startswith("jwt.secret") and "short-secret" not in str(info.value)


def test_file_only_for_secrets(tmp_path: Path) -> None:
    (tmp_path / "mode").write_text("private", encoding="utf-8")
    assert load(tmp_path, {"GATEWAY__MODE_FILE": str(tmp_path / "mode")}).gateway.mode == "public"


def test_server_uses_the_url_file_and_refuses_both_forms(tmp_path: Path) -> None:
    database = tmp_path / "from-secret.db"
    (tmp_path / "url").write_text(f"sqlite:///{database}\n", encoding="utf-8")
    result = run_cli(tmp_path, "db", "upgrade", DATABASE__URL_FILE=str(tmp_path / "url"))
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(f"sqlite:///{database}")
    assert "users" in sa.inspect(engine).get_table_names()
    engine.dispose()

    both = run_cli(tmp_path, "db", "upgrade", DATABASE__URL_FILE=str(tmp_path / "url"),
                   DATABASE__URL="sqlite:///other.db")
    assert both.returncode == 2
    assert both.stderr.strip() == ("configuration error: both DATABASE__URL and DATABASE__URL_FILE are set; "
                                   "use one of them")
    assert not (tmp_path / "other.db").exists()
