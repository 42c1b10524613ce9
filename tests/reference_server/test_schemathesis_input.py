"""Hostile input through schemathesis (issue #15): every operation of openapi/smsgate.yaml, Docs included, with
positive and negative data and a fixed seed, against a live server on SQLite and on MariaDB. Two checks only,
the ones this run is for: no 5xx, and no status the spec does not document for the operation (the bounded run
in test_schemathesis.py applies every check on SQLite, and `nox -s fuzz` runs long on MariaDB).

Ids in paths carry `pattern: '^[^\\x00-\\x1F\\x7F-\\x9F]*$'` in the spec, so negative generation puts control
characters into them; non-ASCII text comes from Hypothesis' full-Unicode strings. Both are counted per backend, and
each backend's figures test fails if either did not occur, if an operation was never called, or if fewer cases
ran than the size asks for. Size: FUZZ_INPUT_EXAMPLES per operation (2 by default); `nox -s tests` and
`nox -s fuzz-input` run 60, at least 2,000 cases per backend (FUZZ_INPUT_MIN_CASES), the latter printing the figures.
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import requests
import schemathesis
from conftest import _create_database, _drop_database
from live_server import LiveServer
from test_schemathesis import EVENT_STREAMS, NOT_IMPLEMENTED, OWN_DEVICE_PATHS, UNAVAILABLE

from openapi import load_spec

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_INPUT_EXAMPLES", "2"))
MIN_CASES = int(os.environ.get("FUZZ_INPUT_MIN_CASES", "90"))
SEED = int(os.environ.get("FUZZ_INPUT_SEED", "20261206"))
CHECKS = ["not_a_server_error", "status_code_conformance"]


def make_schema() -> Any:
    """One schema per backend: schemathesis keeps the credentials on the schema's config."""
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
        "request-timeout": 10,
        "generation": {"max-examples": EXAMPLES, "database": "none", "mode": "all"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}, "fuzzing": {"enabled": True}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "operations": [
            {"include-operation-id": NOT_IMPLEMENTED,
             "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "501"]}}},
            {"include-operation-id": UNAVAILABLE,
             "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}}},
            # the event stream is read until the request timeout: a short one and few cases
            {"include-operation-id": EVENT_STREAMS, "request-timeout": 1, "generation": {"max-examples": 2}},
        ],
    })
    return schemathesis.openapi.from_dict(load_spec(), config=config)


sqlite_schema, mariadb_schema = make_schema(), make_schema()
OPERATIONS = {f"{method.upper()} {path}" for path, item in load_spec()["paths"].items()
              for method, op in item.items() if isinstance(op, dict) and "operationId" in op}

_addresses = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))
own_devices: dict[str, str] = {}  # backend -> the id of the device whose token the run uses
sessions: dict[str, requests.Session] = {}  # backend -> one keep-alive session for all its cases
figures: dict[str, dict[str, Any]] = {}


def _figures(backend: str) -> dict[str, Any]:
    return figures.setdefault(backend, {"cases": 0, "operations": set(), "statuses": Counter(),
                                        "undocumented": [], "control_paths": 0, "non_ascii_paths": 0})


def _serve(backend: str, schema: Any, workdir: Path, database: str) -> Iterator[LiveServer]:
    server = LiveServer(workdir, env={
        "DATABASE__URL": database, "GATEWAY__MODE": "public", "HTTP__OPENAPI__ENABLED": "true",
        "HTTP__PROXIES": "127.0.0.1/32", "JWT__SECRET": "input-" + "0123456789abcdef" * 4,
        "AUTH__FAILED_LOGIN_LIMIT": "0",  # negative auth data sends wrong credentials on purpose
    })
    server.start()
    try:
        response = httpx.post(f"{server.base_url}/api/mobile/v1/device", json={"name": "input/phone"})
        assert response.status_code == 201, response.text
        device = dict(response.json())
        own_devices[backend] = device["id"]
        token = httpx.post(f"{server.base_url}/api/3rdparty/v1/auth/token", json={"scopes": ["all:any"]},
                           auth=(device["login"], device["password"]))
        assert token.status_code == 201, token.text
        schema.config.update(base_url=server.base_url)
        schema.config.auth = schemathesis.Config.from_dict({"auth": {"openapi": {
            "ApiAuth": {"username": device["login"], "password": device["password"]},
            "MobileToken": {"bearer": device["token"]},
            "JWTAuth": {"bearer": token.json()["refresh_token"]},
        }}}).projects.get_default().auth
        with requests.Session() as sessions[backend]:
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sqlite_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("schemathesis-input-sqlite")
    yield from _serve("sqlite", sqlite_schema, workdir, f"sqlite:///{workdir / 'smsgate.db'}")


@pytest.fixture(scope="module")
def mariadb_live(tmp_path_factory: pytest.TempPathFactory, mariadb_server: str) -> Iterator[LiveServer]:
    database = _create_database(mariadb_server)
    try:
        yield from _serve("mariadb", mariadb_schema, tmp_path_factory.mktemp("schemathesis-input-mariadb"), database)
    finally:
        _drop_database(mariadb_server, database)


def _documented(case: schemathesis.Case, status: int) -> bool:
    documented = {str(code).upper() for code in case.operation.definition.raw.get("responses", {})}
    return bool({str(status), f"{status // 100}XX", "DEFAULT"} & documented)


def _record(backend: str, case: schemathesis.Case, status: int) -> None:
    found = _figures(backend)
    found["cases"] += 1
    found["operations"].add(f"{case.method.upper()} {case.operation.path}")
    found["statuses"][status] += 1
    if not _documented(case, status):
        found["undocumented"].append(f"{case.method.upper()} {case.operation.path} -> {status}")
    values = [unquote(str(value)) for value in (case.path_parameters or {}).values()]
    if any(unicodedata.category(char) == "Cc" for value in values for char in value):
        found["control_paths"] += 1
    if any(not value.isascii() for value in values):
        found["non_ascii_paths"] += 1


def run_case(backend: str, case: schemathesis.Case, live: LiveServer) -> None:
    parameters = case.path_parameters or {}
    if case.operation.path in OWN_DEVICE_PATHS and parameters.get("id") == own_devices[backend]:
        case.path_parameters = {**parameters, "id": "not-the-suite-device"}  # keep the device the run uses
    if case.operation.path == "/api/upstream/v1/push":
        case.headers = {**(case.headers or {}), "X-Forwarded-For": next(_addresses)}  # 5/min per client IP
    response = case.call(base_url=live.base_url, session=sessions[backend])
    _record(backend, case, response.status_code)
    case.validate_response(response)


@sqlite_schema.parametrize()
def test_sqlite(case: schemathesis.Case, sqlite_live: LiveServer) -> None:
    run_case("sqlite", case, sqlite_live)


def test_sqlite_figures(sqlite_live: LiveServer) -> None:
    check_figures("sqlite", sqlite_live)


@mariadb_schema.parametrize()
@pytest.mark.mariadb
def test_mariadb(case: schemathesis.Case, mariadb_live: LiveServer) -> None:
    run_case("mariadb", case, mariadb_live)


@pytest.mark.mariadb
def test_mariadb_figures(mariadb_live: LiveServer) -> None:
    check_figures("mariadb", mariadb_live)


def check_figures(backend: str, live: LiveServer) -> None:
    """After a backend's run: what it covered, printed; the conditions of issue #15 asserted."""
    found = _figures(backend)
    server_errors = sum(n for status, n in found["statuses"].items() if status >= 500 and status not in (501, 503))
    print(f"\nschemathesis input run on {backend}: seed {SEED}, {found['cases']} cases, "
          f"{len(found['operations'])}/{len(OPERATIONS)} operations, {server_errors} 5xx (501/503 documented "
          f"apart), {len(found['undocumented'])} undocumented statuses, path parameters with control characters "
          f"{found['control_paths']}, with non-ASCII text {found['non_ascii_paths']}; "
          f"statuses {dict(sorted(found['statuses'].items()))}")
    assert found["operations"] == OPERATIONS, sorted(OPERATIONS - found["operations"])
    assert found["cases"] >= MIN_CASES
    assert server_errors == 0 and found["undocumented"] == [], found["undocumented"][:20]
    assert found["control_paths"] > 0 and found["non_ascii_paths"] > 0
    assert "Traceback" not in live.log()
