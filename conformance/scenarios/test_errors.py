"""errors: API errors carry `{"message": "..."}` as application/json (contract §1.3)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from conformance.harness import PHONE, Account, Suite, describe
from conformance.harness.target import error_body, unknown_id

pytestmark = pytest.mark.capability("errors")


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
    await unknown_id(suite.user(account), "GET", "/messages/no-such-message-id")


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


CONTROL = {"nul": "\x00", "tab": "\t", "newline": "\n", "del": "\x7f"}


async def control_requests(suite: Suite, account: Account, char: str) -> list[tuple[str, httpx.Response]]:
    """Ids with a control character where a client can put one: path parameters and ids in bodies."""
    user, tag = suite.user(account), f"ctl{char}id"
    path = quote(tag, safe="")  # percent-encoded: the server decodes it back to the control character
    return [
        ("GET /messages/{id}", await user.get(f"/messages/{path}")),
        ("DELETE /messages/{id}", await user.delete(f"/messages/{path}")),
        ("DELETE /devices/{id}", await user.delete(f"/devices/{path}")),
        ("DELETE /webhooks/{id}", await user.delete(f"/webhooks/{path}")),
        ("POST /messages id", await user.post("/messages", json={
            "id": tag, "textMessage": {"text": "control"}, "phoneNumbers": [PHONE], "deviceId": account.device_id})),
        ("POST /webhooks id", await user.post("/webhooks", json={
            "id": tag, "url": "https://conformance.example.org/ctl", "event": "sms:sent"})),
    ]


@pytest.mark.parametrize("name", list(CONTROL))
async def test_control_characters_never_5xx(suite: Suite, name: str) -> None:
    account = await suite.account()
    for what, response in await control_requests(suite, account, CONTROL[name]):
        assert response.status_code < 500, f"{what} with a {name} in the id: {describe(response)}"


@pytest.mark.should
@pytest.mark.parametrize("name", list(CONTROL))
async def test_control_characters_refused(suite: Suite, name: str) -> None:
    """An id with a control character is refused (4xx, the JSON error shape) and nothing is stored."""
    account = await suite.account()
    for what, response in await control_requests(suite, account, CONTROL[name]):
        assert 400 <= response.status_code < 500, f"{what} with a {name} in the id: {describe(response)}"
        error_body(response, response.status_code)
    user = suite.user(account)
    stored = [m["id"] for m in (await user.ok("GET", "/messages", 200)) if "ctl" in str(m.get("id"))]
    hooks = [h["id"] for h in (await user.ok("GET", "/webhooks", 200)) if "ctl" in str(h.get("id"))]
    assert not stored and not hooks, f"stored despite the control character: {stored + hooks}"
