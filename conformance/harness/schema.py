"""Part 1: schemathesis against openapi/smsgate.yaml, rebased on the target's API path.

Every check runs. The per-operation exceptions are the contract's own documented answers that a check would
otherwise misread: those of openapi/schemathesis.toml (what a plain `st run` with that file applies, each with
its reason there) and two more that any implementation may need (below).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import schemathesis

from openapi import load_spec, schemathesis_operations

from ..settings import Settings

# The exceptions every run against the document honours (openapi/schemathesis.toml, each with its reason there),
# plus what the suite allows any target beyond our server: JWT or the stored inbox absent (their routes answer 501,
# declared), and a router
# on which DELETE /auth/token/{jti} also matches `refresh` (upstream's), so that `Allow` there may list DELETE.
HEALTH = ["healthCheck", "livenessCheck", "readinessCheck", "startupCheck",
          "userHealthCheck", "userLivenessCheck", "userReadinessCheck", "userStartupCheck"]
OPTIONAL_FEATURES = ["issueToken", "refreshToken", "revokeToken",  # JWT switched off
                     "listInbox", "getInboxAttachment", "uploadInbox"]  # no stored inbox (upstream before 1.48)
OVERLAPPING_TEMPLATE = ["refreshToken"]
ALIASES = ["sendMessageLegacy", "listMessagesLegacy", "getMessageLegacy", "cancelMessageLegacy", "exportInboxLegacy",
           "listDevicesLegacy", "deleteDeviceLegacy", "getPendingMessagesAlias", "reportMessageStatesAlias"]


EXCLUDED_TAGS = {"Docs", "Upstream"}
EXCLUDED_OPERATIONS = {"metrics", "getApiCatalog", "headApiCatalog"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


GROUPS = ("/api/3rdparty/v1", "/api/mobile/v1")  # the spec's API groups, each movable on its own


def rebased_spec(api_path: str, keep: Callable[[dict[str, Any]], bool] = lambda operation: True,
                 groups: dict[str, str] | None = None, at: Callable[[str], bool] = lambda path: True) -> dict[str, Any]:
    """The spec with `/api/...` paths moved under the target's API path (e.g. "" for the cloud's layout), or an
    API group to the path `groups` gives it (`--mobile-url`, `--thirdparty-url`), and only the operations `keep`
    accepts (schemathesis' own filters do not combine with per-operation config)."""
    spec = copy.deepcopy(load_spec())
    base = "/" + api_path.strip("/") if api_path.strip("/") else ""
    paths = {}
    for path, item in spec["paths"].items():
        item = {key: value for key, value in item.items() if key not in METHODS or keep(value)}
        if not METHODS & set(item) or not at(path):
            continue
        group = next((g for g in (groups or {}) if path == g or path.startswith(g + "/")), None)
        if group is not None:
            path = (groups or {})[group].rstrip("/") + path[len(group):]
        elif path == "/api" or path.startswith("/api/"):
            path = base + path[len("/api"):] if path != "/api" else (base or "/")
        paths[path] = item
    spec["paths"] = paths
    return spec


def config(settings: Settings) -> schemathesis.Config:
    thorough = settings.thorough
    operations: list[dict[str, Any]] = [
        *schemathesis_operations(),
        {"include-operation-id": OPTIONAL_FEATURES,
         "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "501"]}}},
        {"include-operation-id": OVERLAPPING_TEMPLATE, "checks": {"allow_header_conformance": {"enabled": False}}},
    ]
    if not thorough:  # the deterministic coverage phase runs on canonical routes only
        operations.append({"include-operation-id": ALIASES, "phases": {"coverage": {"enabled": False}}})
    return schemathesis.Config.from_dict({
        "seed": settings.seed,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "request-timeout": max(settings.request_timeout, 5),
        "generation": {"max-examples": settings.max_examples, "database": "none"},
        # The coverage phase (every boundary of every constraint, deterministically) is the long part: thorough only.
        "phases": {"coverage": {"enabled": thorough}},
        "checks": {"enabled": True, "max_response_time": max(settings.request_timeout, 5)},
        "operations": operations,
    })


def load(settings: Settings, tags: set[str] | None = None, operation_ids: set[str] | None = None) -> Any:
    def keep(operation: dict[str, Any]) -> bool:
        operation_tags = set(operation.get("tags", []))
        if operation_tags & EXCLUDED_TAGS or operation.get("operationId") in EXCLUDED_OPERATIONS:
            return False
        return (tags is None or bool(operation_tags & tags)) and \
            (operation_ids is None or operation.get("operationId") in operation_ids)

    origin, groups = origins(settings, tags, operation_ids)
    spec = rebased_spec(settings.api_path, keep, groups, at=lambda path: path_origin(settings, path) == origin)
    schema = schemathesis.openapi.from_dict(spec, config=config(settings))
    schema.config.update(base_url=origin)
    return schema


def split(url: str) -> tuple[str, str]:
    """scheme://host:port and the path of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


def path_origin(settings: Settings, path: str) -> str:
    """Where a spec path is served: its API group's origin, else the server's."""
    if path.startswith("/api/mobile/v1"):
        return split(settings.mobile)[0]
    if path.startswith("/api/3rdparty/v1"):
        return split(settings.thirdparty)[0]
    return settings.server.rstrip("/")


def origins(settings: Settings, tags: set[str] | None,
            operation_ids: set[str] | None) -> tuple[str, dict[str, str]]:
    """The base URL a schema is checked at (schemathesis takes one) and where each API group's paths go. The
    whole-spec (stateful) schema keeps the operations at the 3rd-party API's origin."""
    groups = {"/api/3rdparty/v1": split(settings.thirdparty)[1], "/api/mobile/v1": split(settings.mobile)[1]}
    if tags == {"Device"}:
        return split(settings.mobile)[0], groups
    if operation_ids is not None and operation_ids <= set(HEALTH):
        return settings.server.rstrip("/"), groups
    return split(settings.thirdparty)[0], groups


def authenticate(schema: Any, login: str, password: str, device_token: str, refresh_token: str | None) -> None:
    auth: dict[str, Any] = {"ApiAuth": {"username": login, "password": password},
                            "MobileToken": {"bearer": device_token}}
    if refresh_token:
        auth["JWTAuth"] = {"bearer": refresh_token}
    schema.config.auth = schemathesis.Config.from_dict({"auth": {"openapi": auth}}).projects.get_default().auth
