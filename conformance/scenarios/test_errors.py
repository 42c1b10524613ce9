"""errors: API errors carry `{"message": "..."}` as application/json (contract §1.3)."""

from __future__ import annotations

import httpx
import pytest

from conformance.harness import PHONE, Suite, body, describe

pytestmark = pytest.mark.capability("errors")


def error_body(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, f"expected {status}: {describe(response)}"
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), f"error Content-Type {content_type!r}: {describe(response)}"
    document = body(response)
    assert isinstance(document, dict) and isinstance(document.get("message"), str) and document["message"], \
        f"error body is not {{\"message\": \"...\"}}: {describe(response)}"
    if "code" in document:
        assert isinstance(document["code"], int), f"`code` must be an integer: {describe(response)}"
    return str(document["message"])


async def test_no_credentials_is_401(suite: Suite) -> None:
    error_body(await suite.http.get(suite.target.thirdparty + "/messages"), 401)


async def test_wrong_password_is_401(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.http.get(suite.target.thirdparty + "/messages", auth=(account.login, "wrong-password-1"))
    error_body(response, 401)


async def test_unknown_device_token_is_401(suite: Suite) -> None:
    response = await suite.http.get(suite.target.mobile + "/message", headers={"Authorization": "Bearer nobody"})
    error_body(response, 401)


async def test_unknown_message_is_404(suite: Suite) -> None:
    account = await suite.account()
    error_body(await suite.user(account).get("/messages/no-such-message-id"), 404)


async def test_invalid_body_is_400(suite: Suite) -> None:
    account = await suite.account()
    error_body(await suite.user(account).post("/messages", json={"phoneNumbers": [PHONE]}), 400)


async def test_malformed_json_is_400(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.user(account).post("/messages", content=b'{"phoneNumbers": [',
                                              headers={"Content-Type": "application/json"})
    error_body(response, 400)


async def test_duplicate_id_is_409(suite: Suite) -> None:
    account = await suite.account()
    message = {"id": f"dup-{account.device_id}", "textMessage": {"text": "once"}, "phoneNumbers": [PHONE],
               "deviceId": account.device_id}
    await suite.send(account, message)
    error_body(await suite.user(account).post("/messages", json=message), 409)


@pytest.mark.should
async def test_unknown_route_is_404(suite: Suite) -> None:
    response = await suite.http.get(suite.target.root + "/no/such/route")
    assert response.status_code == 404, describe(response)
