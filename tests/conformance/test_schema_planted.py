"""The suite's schema capability catches a spec-server disagreement: with one documented status taken out of a
copy of the spec (GET /messages/{id} answering 404 for an unknown id, which the server does), the same
harness that passes against the real spec reports the server's 404 as undocumented."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from live_server import LiveServer
from schemathesis.core.failures import FailureGroup

from conformance.harness import schema as harness
from conformance.settings import Settings
from openapi import load_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("planted")
    live = LiveServer(workdir, env={"DATABASE__URL": f"sqlite:///{workdir / 'smsgate.db'}"}).start()
    try:
        device = httpx.post(f"{live.base_url}/api/mobile/v1/device", json={"name": "planted/phone"}).json()
        yield live, device
    finally:
        live.stop()


def _failures(live: LiveServer, device: dict[str, Any], spec: dict[str, Any], monkeypatch: Any) -> list[str]:
    monkeypatch.setattr(harness, "load_spec", lambda: spec)
    settings = Settings(server=live.base_url, examples=5, seed=7)
    loaded = harness.load(settings, operation_ids={"getMessage"})
    auth = {"Authorization": "Basic " + base64.b64encode(f"{device['login']}:{device['password']}".encode()).decode()}
    found = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        for path_id in ("no-such-message", "another-unknown-id"):
            case = operation.Case(path_parameters={"id": path_id})
            try:
                case.call_and_validate(headers=auth)
            except FailureGroup as exc:
                found.append(str(exc))
    return found


def test_the_real_spec_passes(server: tuple[LiveServer, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _failures(*server, load_spec(), monkeypatch) == []


def test_an_undeclared_status_fails(server: tuple[LiveServer, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    planted = copy.deepcopy(load_spec())
    responses = planted["paths"]["/api/3rdparty/v1/messages/{id}"]["get"]["responses"]
    del responses["404"]
    failures = _failures(*server, planted, monkeypatch)
    assert failures, "the planted disagreement went unnoticed"
    assert all("Undocumented status code" in text and "Received: 404" in text for text in failures), failures
