"""Fixtures of every scenario: the run's settings, the push hub (one per run) and a `Suite` per check."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from conformance.capabilities import BY_NAME
from conformance.harness import PushHub, Suite, Target
from conformance.harness.polite import PoliteTransport
from conformance.harness.skips import skip
from conformance.settings import Settings, active


@pytest.fixture(scope="session")
def settings() -> Settings:
    return active()


@pytest.fixture(scope="session")
def hub(settings: Settings) -> Iterator[PushHub | None]:
    credentials = None
    if settings.fcm_credentials:
        with open(settings.fcm_credentials, encoding="utf-8") as stream:
            credentials = json.load(stream)
    if credentials is None and not settings.relay_listen:
        yield None
        return
    started = PushHub(credentials, settings.relay_listen).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def suite(settings: Settings, hub: PushHub | None) -> AsyncIterator[Suite]:
    async with httpx.AsyncClient(timeout=settings.request_timeout, transport=PoliteTransport()) as http:
        yield Suite(settings, http, hub)


_absent: dict[tuple[int, str], str | None] = {}  # (run, capability) -> why it is Missing (None: present)


@pytest.fixture(autouse=True)
def feature_present(request: pytest.FixtureRequest, settings: Settings) -> None:
    """An optional feature whose every route answers 404 or 501 (without credentials: a route that exists asks
    for them first) is absent: each of its checks is skipped as Missing, one verdict instead of many failures."""
    marker = request.node.get_closest_marker("capability")
    capability = BY_NAME.get(str(marker.args[0])) if marker and marker.args else None
    if capability is None or not capability.routes:
        return
    key = (id(settings), capability.name)  # probed once a run
    if key not in _absent:
        target, answers = Target.main(settings), []
        with httpx.Client(timeout=settings.request_timeout) as http:
            for api, method, path in capability.routes:
                base = target.mobile if api == "mobile" else target.thirdparty
                answers.append((f"{method} {base}{path}", http.request(method, base + path).status_code))
        absent = all(status in (404, 501) for _, status in answers)
        _absent[key] = ("every route of the feature answered 404 or 501: " + ", ".join(
            f"{route} -> {status}" for route, status in answers)) if absent else None
    if _absent[key]:
        skip(f"missing: {_absent[key]}")


@pytest.fixture(autouse=True)
def shared_user_restored(settings: Settings) -> Iterator[None]:
    """With --login the scenarios work in a real user's account: what a check adds there (devices, webhooks)
    is removed afterwards and the settings are put back."""
    if not (settings.login and settings.password):
        yield
        return
    with httpx.Client(base_url=Target.main(settings).thirdparty, auth=(settings.login, settings.password),
                      timeout=settings.request_timeout) as http:
        devices = {d["id"] for d in http.get("/devices").json()}
        hooks = {h["id"] for h in http.get("/webhooks").json()}
        saved = http.get("/settings").json()
        yield
        for hook in http.get("/webhooks").json():
            if hook["id"] not in hooks:
                http.delete(f"/webhooks/{hook['id']}")
        for device in http.get("/devices").json():
            if device["id"] not in devices:
                http.delete(f"/devices/{device['id']}")
        http.put("/settings", json=saved)
