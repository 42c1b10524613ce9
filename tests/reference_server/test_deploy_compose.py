"""docker-compose.yml read as compose would (PyYAML; `docker compose` cannot run here): loopback ports, no default
secrets, Redis, the `ha`, `simulator`, `conformance` and `postgresql` profiles, and names the programs understand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from conformance.cli import run_parser
from reference_server.config import _ENV_KEYS, load_settings
from simulator.cli import _parser as sim_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
SECRET_VAR = re.compile(r"PASSWORD|TOKEN")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error}; a missing required variable raises."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def test_every_secret_is_required_and_none_has_a_default() -> None:
    variables = re.findall(r"\$\{(\w+)(:[-?])?", COMPOSE_TEXT)
    secrets = {name for name, _ in variables if SECRET_VAR.search(name)}
    assert secrets == {"PRIVATE_TOKEN", "DB_PASSWORD", "REDIS_PASSWORD"}
    assert all(op == ":?" for name, op in variables if name in secrets)


def test_ports_are_on_loopback_unless_opened() -> None:
    published = [port for service in SERVICES.values() for port in service.get("ports", [])]
    assert len(published) == 3  # the server (on MariaDB or on PostgreSQL) and the proxy
    for port in published:
        assert interpolate(port, {}).startswith("127.0.0.1:"), port
        assert interpolate(port, {"SMSGATE_BIND": "0.0.0.0"}).startswith("0.0.0.0:"), port


def server_env(name: str) -> dict[str, str]:
    env = {"PRIVATE_TOKEN": "t", "DB_PASSWORD": "d", "REDIS_PASSWORD": "r"}
    return {key: interpolate(str(value), env) for key, value in SERVICES[name]["environment"].items()}


def test_servers_share_mariadb_and_redis() -> None:
    servers = [name for name, service in SERVICES.items() if "GATEWAY__MODE" in service.get("environment", {})]
    assert sorted(servers) == ["server", "server-2", "server-postgresql"]
    assert SERVICES["server-2"]["profiles"] == ["ha"] and "profiles" not in SERVICES["server"]
    first, second = server_env("server"), server_env("server-2")
    assert first == second
    assert set(first) <= set(_ENV_KEYS)
    assert first["DATABASE__HOST"] == "db" and first["DATABASE__PASSWORD"] == "d"
    assert first["CACHE__URL"] == first["PUBSUB__URL"] == "redis://:r@redis:6379/0"
    assert "redis" in SERVICES and "db" in SERVICES
    assert SERVICES["redis"]["command"][1:3] == ["--requirepass", "${REDIS_PASSWORD:?set REDIS_PASSWORD}"]


def test_the_proxy_spreads_over_both_servers() -> None:
    assert SERVICES["proxy"]["profiles"] == ["ha"]
    conf = (ROOT / "deploy" / "compose" / "nginx.conf").read_text(encoding="utf-8")
    assert re.findall(r"^\s*server (\S+):3000", conf, re.MULTILINE) == ["server", "server-2"]
    assert "proxy_buffering off;" in conf  # SSE
    mount = SERVICES["proxy"]["volumes"][0].split(":")[0]
    assert (ROOT / mount).resolve() == (ROOT / "deploy" / "compose" / "nginx.conf").resolve()


def test_simulator_and_conformance_profiles_run_real_commands() -> None:
    sim = SERVICES["simulator"]
    assert sim["profiles"] == ["simulator"] and sim["command"][0] == "smsgate-sim"
    parser, _ = sim_parser()
    assert parser.parse_args(sim["command"][1:]).devices == 50
    suite = SERVICES["conformance"]
    assert suite["profiles"] == ["conformance"] and suite["command"][0] == "smsgate-conformance"
    args = run_parser().parse_args([interpolate(a, {"PRIVATE_TOKEN": "t"}) for a in suite["command"][1:]])
    assert args.server == ["http://server:3000"] and args.private_token == "t"


def test_the_postgresql_profile_runs_the_server_on_postgresql() -> None:
    """`--profile postgresql`: the same server on its own PostgreSQL service; the URL the server builds from the
    variables names that service, with the password from DB_PASSWORD (URL-quoted by the server)."""
    server, database = SERVICES["server-postgresql"], SERVICES["postgres"]
    assert server["profiles"] == database["profiles"] == ["postgresql"]
    assert set(server["depends_on"]) == {"postgres", "redis"}
    assert server["ports"] == SERVICES["server"]["ports"]  # the same API address as the MariaDB profile
    env = {key: interpolate(str(value), {"PRIVATE_TOKEN": "t", "DB_PASSWORD": "p@ss", "REDIS_PASSWORD": "r"})
           for key, value in server["environment"].items()}
    assert set(env) <= set(_ENV_KEYS)
    settings = load_settings(None, environ=env, dotenv_path=None)
    assert settings.database_url() == "postgresql+psycopg://sms:p%40ss@postgres:5432/sms"
    assert database["environment"]["POSTGRES_USER"] == env["DATABASE__USER"]
    assert database["environment"]["POSTGRES_DB"] == env["DATABASE__DATABASE"]
    assert database["environment"]["POSTGRES_PASSWORD"] == "${DB_PASSWORD:?set DB_PASSWORD}"
    assert {env["CACHE__URL"], env["PUBSUB__URL"]} == {server_env("server")["CACHE__URL"]}
