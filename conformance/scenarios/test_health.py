"""health: the probes answer without credentials with a health document (contract §2.1)."""

from __future__ import annotations

import pytest

from conformance.harness import Suite, body, describe

pytestmark = pytest.mark.capability("health")

PROBES = ["/health", "/health/live", "/health/ready", "/health/startup"]
STATUSES = {"pass", "warn", "fail"}


def check_document(document: object, where: str) -> None:
    assert isinstance(document, dict), f"{where}: not a JSON object"
    assert document.get("status") in STATUSES, f"{where}: status {document.get('status')!r} not in {STATUSES}"
    checks = document.get("checks", {})
    assert isinstance(checks, dict), f"{where}: checks is not an object"
    for key, check in checks.items():
        assert ":" in key, f"{where}: check key {key!r} is not <provider>:<check>"
        assert isinstance(check, dict) and check.get("status") in STATUSES, f"{where}: check {key!r} malformed"


@pytest.mark.parametrize("path", PROBES)
async def test_root_probe(suite: Suite, path: str) -> None:
    response = await suite.http.get(suite.target.root + path)
    assert response.status_code in (200, 503), describe(response)
    assert response.headers.get("content-type", "").startswith("application/json"), describe(response)
    document = body(response)
    check_document(document, path)
    failing = document["status"] == "fail"
    assert (response.status_code == 503) == failing, f"status code vs status: {describe(response)}"


@pytest.mark.parametrize("path", PROBES)
async def test_thirdparty_probe(suite: Suite, path: str) -> None:
    response = await suite.http.get(suite.target.thirdparty + path)
    assert response.status_code in (200, 503), describe(response)
    check_document(body(response), "/3rdparty/v1" + path)


async def test_healthy_target_passes(suite: Suite) -> None:
    """The target under test is up: readiness is not `fail`."""
    response = await suite.http.get(suite.target.root + "/health/ready")
    assert response.status_code == 200 and body(response)["status"] in ("pass", "warn"), describe(response)
