"""Fixtures of every scenario: the run's settings, the push hub (one per run) and a `Suite` per check."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from conformance.harness import PushHub, Suite
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
    async with httpx.AsyncClient(timeout=settings.request_timeout) as http:
        yield Suite(settings, http, hub)
