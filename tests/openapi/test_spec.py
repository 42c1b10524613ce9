"""Static checks of openapi/smsgate.yaml: valid OpenAPI 3.1 and consistent per-operation documentation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from openapi import SPEC_PATH, load_spec, spec_json_bytes

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Operations that exist only to answer 501 (served for real by the phone's local server).
NOT_IMPLEMENTED = frozenset({"getLogs"})
# Operations whose only outcome is a redirect.
REDIRECT_ONLY = frozenset({"redirectToDocs"})
ERROR_SCHEMA = "#/components/schemas/ErrorResponse"


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in load_spec()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


OPERATIONS = list(_operations())
IDS = [f"{method.upper()} {path}" for path, method, _ in OPERATIONS]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = load_spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_file_is_packaged_next_to_loader() -> None:
    assert SPEC_PATH.name == "smsgate.yaml"
    assert SPEC_PATH.is_file()


def test_is_valid_openapi_31() -> None:
    spec = load_spec()
    assert spec["openapi"] == "3.1.0"
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_json_bytes_round_trip() -> None:
    assert json.loads(spec_json_bytes()) == load_spec()


def test_operation_ids_are_unique() -> None:
    ids = [operation.get("operationId") for _, _, operation in OPERATIONS]
    assert len(ids) == len(set(ids))


def test_paths_are_internal_paths() -> None:
    assert load_spec()["servers"] == [{"url": "/"}]
    for path in load_spec()["paths"]:
        assert path.startswith(("/api", "/health", "/.well-known/", "/metrics")), path


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_operation_is_documented(path: str, method: str, operation: dict[str, Any]) -> None:
    declared_tags = {tag["name"] for tag in load_spec()["tags"]}
    assert operation.get("operationId"), "missing operationId"
    assert operation.get("tags"), "missing tag"
    assert set(operation["tags"]) <= declared_tags

    statuses = set(operation["responses"])
    if operation["operationId"] in NOT_IMPLEMENTED:
        assert "501" in statuses
        assert not any(status.startswith("2") for status in statuses)
    elif operation["operationId"] in REDIRECT_ONLY:
        assert statuses == {"301", "404"}  # 404: the docs are off (the default)
        assert operation["responses"]["301"]["headers"]["Location"]["required"] is True
    else:
        assert any(status.startswith("2") for status in statuses), "no 2xx response"


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_secured_operation_documents_401(path: str, method: str, operation: dict[str, Any]) -> None:
    security = operation.get("security", load_spec().get("security"))
    if not security:
        return
    schemes = load_spec()["components"]["securitySchemes"]
    for requirement in security:
        assert set(requirement) <= set(schemes), requirement
    # With an anonymous alternative (`{}`) credentials are optional, so 401 is not always possible.
    if {} not in security:
        assert "401" in operation["responses"]


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_error_bodies_are_error_response(path: str, method: str, operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        if status[0] not in "45":
            continue
        content = _resolve(response).get("content", {})
        if status == "503" and "/health" in path:
            continue  # health probes answer 503 with the health report
        assert list(content) == ["application/json"], (status, list(content))
        assert content["application/json"]["schema"] == {"$ref": ERROR_SCHEMA}, status
