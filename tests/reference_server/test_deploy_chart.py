"""The Helm chart speaks the server's language: its environment names, config keys, probe paths and commands exist.

Rendering and schema validation with Helm itself is `nox -s deploy-check`; this is the cheap half that needs no
Helm: a renamed setting or route fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from reference_server.app import create_app
from reference_server.cli import _parser
from reference_server.config import _ENV_KEYS, _SECRET_KEYS, load_settings

HELM = Path(__file__).resolve().parents[2] / "deploy" / "helm"
CHART = HELM / "smsgate"
ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*__[A-Z0-9_]+\b")


def chart_texts() -> dict[Path, str]:
    files = [*CHART.rglob("*.yaml"), *CHART.rglob("*.tpl"), *CHART.rglob("*.txt"), HELM / "values-ha.yaml",
             HELM / "values-postgresql.yaml"]
    return {path: path.read_text(encoding="utf-8") for path in files}


def test_every_environment_name_is_a_setting() -> None:
    secret_env = {key.replace(".", "__").upper() for key in _SECRET_KEYS}
    found: set[str] = set()
    for path, text in chart_texts().items():
        for name in ENV_NAME.findall(text):
            base = name.removesuffix("_FILE")
            assert base in _ENV_KEYS, f"{path.name}: {name} is not a setting of the server"
            if name.endswith("_FILE"):
                assert base in secret_env, f"{path.name}: {name}: only secrets are read from files"
            found.add(base)
    # the names the chart sets itself must be among them (a sanity check of the pattern)
    assert {"HTTP__LISTEN", "DATABASE__HOST", "DATABASE__PASSWORD", "CACHE__URL", "PUBSUB__URL"} <= found
    helpers = (CHART / "templates" / "_helpers.tpl").read_text(encoding="utf-8")
    assert "name: CONFIG_PATH" in helpers and '"%s_FILE"' in helpers


def test_secret_keys_in_values_are_secrets() -> None:
    secret_env = {key.replace(".", "__").upper() for key in _SECRET_KEYS}
    for values in ("values-ha.yaml", "values-postgresql.yaml"):
        document = yaml.safe_load((HELM / values).read_text(encoding="utf-8"))
        assert set(document["secrets"]["existingSecretKeys"]) <= secret_env, values


def test_the_postgresql_values_build_a_postgresql_url() -> None:
    """The chart's database values become DATABASE__* variables; those of values-postgresql.yaml must make the
    server build a PostgreSQL URL (the dialect is a setting of ours, and its name a value the server accepts)."""
    database = yaml.safe_load((HELM / "values-postgresql.yaml").read_text(encoding="utf-8"))["externalDatabase"]
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["externalDatabase"]
    assert set(database) <= set(defaults)
    helpers = (CHART / "templates" / "_helpers.tpl").read_text(encoding="utf-8")
    environ = {"GATEWAY__PRIVATE_TOKEN": "t", "DATABASE__PASSWORD": "p@ss"}
    for key in ("dialect", "host", "port", "user", "database"):
        assert f"- name: DATABASE__{key.upper()}\n  value: {{{{ .{key} " in helpers, key
        environ[f"DATABASE__{key.upper()}"] = str(database[key])
    settings = load_settings(None, environ=environ, dotenv_path=None)
    assert settings.database_url() == "postgresql+psycopg://sms:p%40ss@postgresql.db.svc.cluster.local:5432/sms"


def test_config_in_values_is_a_valid_config_file(tmp_path: Path) -> None:
    for values in ("smsgate/values.yaml", "values-ha.yaml", "values-postgresql.yaml"):
        config = yaml.safe_load((HELM / values).read_text(encoding="utf-8"))["config"]
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        load_settings(path, environ={"GATEWAY__PRIVATE_TOKEN": "t"}, dotenv_path=None)  # raises on an unknown key


def test_probe_and_scrape_paths_are_routes(tmp_path: Path) -> None:
    texts = chart_texts()
    paths = {p for text in texts.values() for p in re.findall(r"path: (/[a-z/]+)\s*$", text, re.MULTILINE)}
    assert {"/health/startup", "/health/live", "/health/ready", "/metrics"} <= paths
    settings = load_settings(None, environ={"DATABASE__URL": f"sqlite:///{tmp_path / 'x.db'}"}, dotenv_path=None)
    routes = {rule.rule for rule in create_app(settings, migrate_on_start=False).url_map.iter_rules()}
    assert paths - {"/"} <= routes, paths - routes


def test_commands_exist() -> None:
    deployment = (CHART / "templates" / "deployment.yaml").read_text(encoding="utf-8")
    job = (CHART / "templates" / "migration-job.yaml").read_text(encoding="utf-8")
    assert "- serve" in deployment and "- --no-migrate" in deployment and "args: [db, upgrade]" in job
    parser = _parser()
    assert parser.parse_args(["serve", "--no-migrate"]).no_migrate
    assert parser.parse_args(["db", "upgrade"]).action == "upgrade"
