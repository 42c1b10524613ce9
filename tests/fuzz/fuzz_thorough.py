"""The long schemathesis pass (`nox -s fuzz`): every phase (examples, coverage, fuzzing, stateful), every check,
positive and negative data, many examples per operation, against a live server on MariaDB.

Not part of `nox -s tests` (its name does not match `test_*.py`; the fuzz session names the file). The spec's
documented exceptions (501 routes, 503 health and queue limits, semantic rules JSON Schema cannot state, ...)
are the ones tests/reference_server/test_schemathesis.py lists, read from there so that both runs agree.
At the end the number of requests the server answered (its own `http_requests_total`) is printed.

Environment: FUZZ_EXAMPLES (per operation, default 150), FUZZ_STATEFUL (scenarios, default 150), FUZZ_SEED.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from conftest import _create_database, _drop_database
from live_server import LiveServer

from openapi import load_spec, schemathesis_operations

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
STATEFUL = int(os.environ.get("FUZZ_STATEFUL", "150"))
SEED = int(os.environ.get("FUZZ_SEED", "20261122"))


def _bounded_suite() -> Any:
    path = Path(__file__).parent.parent / "reference_server" / "test_schemathesis.py"
    spec = importlib.util.spec_from_file_location("bounded_schemathesis", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BOUNDED = _bounded_suite()
MESSAGE_USERS = {"getMessage", "getMessageLegacy", "cancelMessage", "cancelMessageLegacy"}
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
    "request-timeout": 10,
    "generation": {"max-examples": EXAMPLES, "database": "none", "mode": "all"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    "checks": {"enabled": True, "max_response_time": 5},
    "operations": [
        *schemathesis_operations(),  # the documented exceptions of openapi/schemathesis.toml, reasons there
        # A message lives on one of the user's devices (picked at random when the send names none), and deleting
        # that device deletes its messages. The long stateful run registers extra devices and deletes them between
        # a send and the use of its id, and `ensure_resource_availability` then calls the documented 404 a lost
        # resource (first run: DELETE /message/{id} after POST /messages). Off for the reads and cancels of a
        # message only; isolation and durability of messages have their own tests.
        {"include-operation-id": [*MESSAGE_USERS], "checks": {"ensure_resource_availability": {"enabled": False}}},
    ],
})
schema = schemathesis.openapi.from_dict(load_spec(), config=CONFIG).exclude(tag=BOUNDED.EXCLUDED_TAGS)

_addresses = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))
OWN_DEVICE_PATHS = {"/api/3rdparty/v1/devices/{id}", "/api/3rdparty/v1/device/{id}"}
own_device: dict[str, Any] = {}


def prepare(case: schemathesis.Case) -> None:
    """Keep the device whose token authenticates the mobile operations; give each push its own client IP."""
    hypothesis.assume(not (case.method.upper() == "DELETE" and case.operation.path in OWN_DEVICE_PATHS
                           and (case.path_parameters or {}).get("id") == own_device["id"]))
    if case.operation.path == "/api/upstream/v1/push":
        case.headers = {**(case.headers or {}), "X-Forwarded-For": next(_addresses)}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mariadb_server: str) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("fuzz")
    database = _create_database(mariadb_server)
    server = LiveServer(workdir, env={
        "DATABASE__URL": database, "GATEWAY__MODE": "public", "HTTP__OPENAPI__ENABLED": "true",
        "HTTP__PROXIES": "127.0.0.1/32", "JWT__SECRET": "fuzz-" + "0123456789abcdef" * 4,
        "AUTH__FAILED_LOGIN_LIMIT": "0",  # ignored_auth sends wrong credentials on purpose
    })
    server.start()
    try:
        yield server
    finally:
        server.stop()
        errors = [line for line in server.log().splitlines() if " ERROR " in line or "Traceback" in line]
        print(f"\nserver log: {len(errors)} error lines" + "".join(f"\n  {line}" for line in errors[:20]))
        _drop_database(mariadb_server, database)


@pytest.fixture(scope="module", autouse=True)
def configured(live: LiveServer) -> dict[str, Any]:
    response = httpx.post(f"{live.base_url}/api/mobile/v1/device", json={"name": "fuzz/phone"})
    assert response.status_code == 201, response.text
    device = dict(response.json())
    own_device.update(device)
    response = httpx.post(f"{live.base_url}/api/3rdparty/v1/auth/token", json={"scopes": ["all:any"]},
                          auth=(device["login"], device["password"]))
    assert response.status_code == 201, response.text
    schema.config.update(base_url=live.base_url)
    schema.config.auth = schemathesis.Config.from_dict({"auth": {"openapi": {
        "ApiAuth": {"username": device["login"], "password": device["password"]},
        "MobileToken": {"bearer": device["token"]},
        "JWTAuth": {"bearer": response.json()["refresh_token"]},
    }}}).projects.get_default().auth
    return device


def requests_served(live: LiveServer) -> int:
    text = httpx.get(f"{live.base_url}/metrics").text
    return int(sum(float(value) for value in re.findall(r"^http_requests_total\{[^}]*\} (\S+)$", text, re.M)))


@schema.parametrize()
def test_operation(case: schemathesis.Case, live: LiveServer) -> None:
    prepare(case)
    case.call_and_validate(base_url=live.base_url)


def test_stateful(live: LiveServer) -> None:
    BOUNDED.run_state_machine(schema, prepare, max_examples=STATEFUL, stateful_step_count=10)


def test_report(live: LiveServer) -> None:
    """Last: how many requests the server answered, and that the device used throughout still works."""
    response = httpx.get(f"{live.base_url}/api/mobile/v1/device",
                         headers={"Authorization": f"Bearer {own_device['token']}"})
    assert response.json()["device"]["id"] == own_device["id"]
    served = requests_served(live)
    print(f"\nfuzz: {served} requests served (examples per operation {EXAMPLES}, stateful scenarios {STATEFUL})")
