"""Lint and render the Helm chart with Helm's own code and validate every object against Kubernetes' schemas.

Run by `nox -s deploy-check`. Helm comes from helm-python-sdk (Helm's Go SDK behind ctypes, no helm binary), the
schemas from kubernetes-validate. Each values set is linted (strict), rendered as an install and as an upgrade,
and every rendered object is validated for the oldest and newest Kubernetes versions we claim.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
CHART = DEPLOY / "helm" / "smsgate"
KUBE_VERSIONS = ("1.28", kubernetes_validate.utils.latest_version())

# Prometheus Operator's CRD is not among Kubernetes' schemas: the fields the chart sets, checked here.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"spec": {
        "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
        "properties": {
            "selector": {"type": "object", "required": ["matchLabels"]},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["port", "path"],
                "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                               "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}},
        }}},
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "ha": yaml.safe_load((DEPLOY / "helm" / "values-ha.yaml").read_text(encoding="utf-8")),
    "postgresql": yaml.safe_load((DEPLOY / "helm" / "values-postgresql.yaml").read_text(encoding="utf-8")),
    "chart-secret": {  # the chart makes the Secret (a pre-install hook, so that the migration Job can read it)
        "replicaCount": 2,
        "externalDatabase": {"host": "mariadb", "password": "pw"},
        "externalRedis": {"url": "redis://:pw@redis:6379/0"},
        "secrets": {"values": {"GATEWAY__PRIVATE_TOKEN": "t", "JWT__SECRET": "j" * 32}},
        "ingress": {"enabled": True}, "serviceMonitor": {"enabled": True},
    },
    "sqlite-persistent": {"persistence": {"enabled": True}, "strategy": {"type": "Recreate"},
                          "podDisruptionBudget": {"enabled": False}},
}


def fail(message: str) -> None:
    print(f"FAIL {message}")
    sys.exit(1)


def lint(name: str, values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    if problems:
        fail(f"{name}: helm lint: {problems}")


def render(name: str, values: dict[str, Any], **mode: bool) -> list[dict[str, Any]]:
    manifests = helm.Chart.load(CHART).render(values, name="sms", namespace="sms", **mode)
    objects = []
    for path, text in manifests.items():
        if path.endswith(".yaml"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def validate(name: str, obj: dict[str, Any]) -> None:
    where = f"{name}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
    if obj["kind"] == "ServiceMonitor":
        try:
            jsonschema.validate(obj, SERVICE_MONITOR)
        except jsonschema.ValidationError as exc:
            fail(f"{where}: {exc.message}")
        return
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            fail(f"{where} (Kubernetes {version}): {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            fail(f"{where}: {exc.message}")


def check_shape(name: str, values: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    """What the chart promises beyond valid objects: hardened pods, secrets as files, migration as a hook."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    (deployment,) = by_kind["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    if not pod["securityContext"].get("runAsNonRoot"):
        fail(f"{name}: pods may run as root")
    context = server["securityContext"]
    if not context.get("readOnlyRootFilesystem") or context["capabilities"]["drop"] != ["ALL"]:
        fail(f"{name}: container not hardened: {context}")
    env = {item["name"]: item["value"] for item in server["env"]}
    secret_keys = values.get("secrets", {}).get("existingSecretKeys", [])
    for key in secret_keys:
        if env.get(f"{key}_FILE") != f"/run/secrets/smsgate/{key}" or key in env:
            fail(f"{name}: {key} is not read from its file")
    jobs = by_kind.get("Job", [])
    shared_db = bool(values.get("externalDatabase", {}).get("host"))
    if shared_db != bool(jobs) or shared_db != ("--no-migrate" in server["args"]):
        fail(f"{name}: the migration Job and `serve --no-migrate` go together (and only with a shared database)")
    for job in jobs:
        if job["metadata"]["annotations"]["helm.sh/hook"] != "pre-install,pre-upgrade":
            fail(f"{name}: the migration Job is not a pre-install/pre-upgrade hook")
    print(f"{name}: {len(objects)} objects ({', '.join(sorted(by_kind))}), "
          f"{sum(1 for k in env if k.endswith('_FILE'))} secrets as files")


def main() -> None:
    print(f"Helm SDK {helm.helm_sdk_version()}, Kubernetes schemas {', '.join(KUBE_VERSIONS)}")
    for name, values in SCENARIOS.items():
        lint(name, values)
        for mode in ({"is_install": True}, {"is_upgrade": True}):
            objects = render(name, values, **mode)
            for obj in objects:
                validate(name, obj)
        check_shape(name, values, objects)
    print("chart: lint, render and schema validation passed")


if __name__ == "__main__":
    main()
