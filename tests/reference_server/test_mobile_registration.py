"""Mobile API: registration, one-time codes, the device record, password change, webhooks, settings,
last-seen bookkeeping (contract §1.4, §2.3, §6; device protocol §1.2-§1.4, §1.11, §1.13)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from conftest import Api, make_settings, open_api

MOBILE = "/api/mobile/v1"
NANOID = re.compile(r"^[A-Za-z0-9_-]{21}$")
LOGIN = re.compile(r"^[A-Z0-9_-]{6}$")
PASSWORD = re.compile(r"^[a-z0-9_-]{14}$")
OTP_ALPHABET = set("23456789abcdefghjkmnpqrstuvwxyz")
SIM_CARDS = [
    {"slotIndex": 0, "simNumber": 1, "phoneNumber": "********1122", "carrierName": "****ne", "iccid": "****5678"},
    {"slotIndex": 1, "simNumber": 2},
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: dict[str, Any], password: str | None = None) -> tuple[str, str]:
    return user["login"], password if password is not None else user["password"]


def stored_device(api: Api, token: str) -> Any:
    """The device row as the server stores it (for fields no endpoint shows, e.g. the push token)."""
    services = api.client._transport.app.extensions["smsgate"]  # type: ignore[attr-defined]
    return services.accounts.devices.by_token(token)


async def devices_of(api: Api, user: dict[str, Any]) -> list[dict[str, Any]]:
    response = await api.client.get("/api/3rdparty/v1/devices", auth=basic(user))
    assert response.status_code == 200, response.text
    return list(response.json())


async def device_view(api: Api, user: dict[str, Any], device_id: str) -> dict[str, Any]:
    return next(d for d in await devices_of(api, user) if d["id"] == device_id)


async def user_code(api: Api, user: dict[str, Any]) -> str:
    response = await api.client.get(f"{MOBILE}/user/code", auth=basic(user))
    assert response.status_code == 200, response.text
    return str(response.json()["code"])


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message"}
    if message is not None:
        assert body["message"] == message


def parse_time(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
async def private_api(tmp_path: Any, sqlite_url: str) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, sqlite_url, GATEWAY__MODE="private", GATEWAY__PRIVATE_TOKEN="s3cret-token")
    async for handle in open_api(settings):
        yield handle


# --- registration, public mode ------------------------------------------------------------------------
async def test_anonymous_registration_creates_user_with_working_credentials(api: Api) -> None:
    response = await api.client.post(f"{MOBILE}/device",
                                     json={"name": "samsung/beyond0ltexx", "pushToken": "fcm-1", "simCards": SIM_CARDS})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "token", "login", "password"}
    assert NANOID.match(body["id"]) and NANOID.match(body["token"]) and body["id"] != body["token"]
    assert LOGIN.match(body["login"]), body["login"]
    assert PASSWORD.match(body["password"]), body["password"]

    devices = await devices_of(api, body)
    assert len(devices) == 1
    device = devices[0]
    assert device["id"] == body["id"]
    assert device["name"] == "samsung/beyond0ltexx"
    assert device["simCards"] == SIM_CARDS
    assert "pushToken" not in device and "token" not in device
    for key in ("createdAt", "updatedAt", "lastSeen"):
        parse_time(device[key])
    assert (await stored_device(api, body["token"])).push_token == "fcm-1"


async def test_registration_without_fields(api: Api) -> None:
    response = await api.client.post(f"{MOBILE}/device", json={"pushToken": None})
    assert response.status_code == 201, response.text
    user = response.json()
    [device] = await devices_of(api, user)
    assert device["name"] == "" and "simCards" not in device
    assert (await stored_device(api, user["token"])).push_token is None


async def test_empty_push_token_is_stored_as_null(sqlite_api: Api) -> None:
    user = await sqlite_api.register(name="x", pushToken="")
    assert (await stored_device(sqlite_api, user["token"])).push_token is None


async def test_each_anonymous_registration_is_a_new_user(sqlite_api: Api) -> None:
    first, second = await sqlite_api.register(), await sqlite_api.register()
    assert first["login"] != second["login"] and first["password"] != second["password"]
    assert [d["id"] for d in await devices_of(sqlite_api, first)] == [first["id"]]
    assert [d["id"] for d in await devices_of(sqlite_api, second)] == [second["id"]]


@pytest.mark.parametrize("header", ["Bearer whatever", "Bearer ", "bearer s3cret-token"])
async def test_public_mode_ignores_bearer(api: Api, header: str) -> None:
    existing = await api.register()
    created = await api.register(headers={"Authorization": header})
    assert "password" in created and created["login"] != existing["login"]


async def test_public_mode_bearer_device_token_still_creates_a_new_user(sqlite_api: Api) -> None:
    existing = await sqlite_api.register()
    created = await sqlite_api.register(headers=bearer(existing["token"]))
    assert "password" in created and created["login"] != existing["login"]
    assert len(await devices_of(sqlite_api, existing)) == 1


async def test_basic_join_adds_device_to_same_user(api: Api) -> None:
    user = await api.register(name="first")
    joined = await api.register(auth=basic(user), name="second", simCards=[{"slotIndex": 0, "simNumber": 1}])
    assert set(joined) == {"id", "token", "login"}
    assert joined["login"] == user["login"]
    assert joined["id"] != user["id"] and joined["token"] != user["token"]
    devices = await devices_of(api, user)
    assert sorted(d["name"] for d in devices) == ["first", "second"]
    assert next(d for d in devices if d["id"] == joined["id"])["simCards"] == [{"slotIndex": 0, "simNumber": 1}]
    # The new device's token works on the mobile API.
    response = await api.client.get(f"{MOBILE}/device", headers=bearer(joined["token"]))
    assert response.json()["device"]["id"] == joined["id"]


@pytest.mark.parametrize("header", [
    "wrong-password",
    "unknown-login",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic ",
])
async def test_bad_basic_join_is_401(sqlite_api: Api, header: str) -> None:
    user = await sqlite_api.register()
    if header == "wrong-password":
        header = "Basic " + base64.b64encode(f"{user['login']}:{user['password']}x".encode()).decode()
    elif header == "unknown-login":
        header = "Basic " + base64.b64encode(f"ZZZZZZ:{user['password']}".encode()).decode()
    response = await sqlite_api.client.post(f"{MOBILE}/device", json={"name": "x"},
                                            headers={"Authorization": header})
    assert_error(response, 401, "Unauthorized")
    assert len(await devices_of(sqlite_api, user)) == 1


async def test_basic_scheme_is_case_insensitive(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    encoded = base64.b64encode(f"{user['login']}:{user['password']}".encode()).decode()
    joined = await sqlite_api.register(headers={"Authorization": f"BASIC {encoded}"})
    assert joined["login"] == user["login"] and "password" not in joined


# --- one-time codes -----------------------------------------------------------------------------------
async def test_user_code_shape(api: Api) -> None:
    user = await api.register()
    before = datetime.now().astimezone()
    response = await api.client.get(f"{MOBILE}/user/code", auth=basic(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"code", "validUntil"}
    assert len(body["code"]) == 6 and set(body["code"]) <= OTP_ALPHABET
    valid_until = parse_time(body["validUntil"])
    assert 55 <= (valid_until - before).total_seconds() <= 65  # otp.ttl defaults to 60 s


async def test_code_join_works_once(api: Api) -> None:
    user = await api.register()
    code = await user_code(api, user)
    joined = await api.register(headers={"Authorization": f"Code {code}"}, name="by-code")
    assert set(joined) == {"id", "token", "login"} and joined["login"] == user["login"]
    assert {d["id"] for d in await devices_of(api, user)} == {user["id"], joined["id"]}

    again = await api.client.post(f"{MOBILE}/device", json={"name": "again"},
                                  headers={"Authorization": f"Code {code}"})
    assert_error(again, 401, "Unauthorized")
    assert len(await devices_of(api, user)) == 2


@pytest.mark.parametrize("header", ["CODE {upper}", "code {code}", "Code {upper}"])
async def test_code_is_case_insensitive(sqlite_api: Api, header: str) -> None:
    user = await sqlite_api.register()
    code = await user_code(sqlite_api, user)
    joined = await sqlite_api.register(headers={"Authorization": header.format(code=code, upper=code.upper())})
    assert joined["login"] == user["login"]


async def test_codes_are_distinct_and_each_usable(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    codes = [await user_code(sqlite_api, user) for _ in range(3)]
    assert len(set(codes)) == 3
    for code in codes:
        await sqlite_api.register(headers={"Authorization": f"Code {code}"})
    assert len(await devices_of(sqlite_api, user)) == 4


@pytest.mark.parametrize("code", ["", "zzzzzz", "123456"])
async def test_unknown_code_is_401(sqlite_api: Api, code: str) -> None:
    response = await sqlite_api.client.post(f"{MOBILE}/device", json={"name": "x"},
                                            headers={"Authorization": f"Code {code}"})
    assert_error(response, 401, "Unauthorized")


async def test_code_not_consumed_by_invalid_body(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    code = await user_code(sqlite_api, user)
    response = await sqlite_api.client.post(f"{MOBILE}/device", json={"name": "n" * 129},
                                            headers={"Authorization": f"Code {code}"})
    assert_error(response, 400)
    joined = await sqlite_api.register(headers={"Authorization": f"Code {code}"})
    assert joined["login"] == user["login"]


async def test_expired_code_is_401(sqlite_api: Api, mock_clock: trio.testing.MockClock) -> None:
    user = await sqlite_api.register()
    stale = await user_code(sqlite_api, user)
    fresh = await user_code(sqlite_api, user)
    mock_clock.jump(59)
    still_valid = await sqlite_api.register(headers={"Authorization": f"Code {fresh}"})
    assert still_valid["login"] == user["login"]
    mock_clock.jump(1.5)
    response = await sqlite_api.client.post(f"{MOBILE}/device", json={"name": "x"},
                                            headers={"Authorization": f"Code {stale}"})
    assert_error(response, 401, "Unauthorized")
    assert len(await devices_of(sqlite_api, user)) == 2


async def test_otp_ttl_and_length_follow_config(tmp_path: Any, sqlite_url: str,
                                                mock_clock: trio.testing.MockClock) -> None:
    settings = make_settings(tmp_path, sqlite_url, OTP__TTL="300", OTP__LENGTH="8")
    async for api in open_api(settings):
        user = await api.register()
        response = await api.client.get(f"{MOBILE}/user/code", auth=basic(user))
        code = response.json()["code"]
        assert len(code) == 8 and set(code) <= OTP_ALPHABET
        mock_clock.jump(299)
        await api.register(headers={"Authorization": f"Code {code}"})
        code = await user_code(api, user)
        mock_clock.jump(301)
        response = await api.client.post(f"{MOBILE}/device", json={}, headers={"Authorization": f"Code {code}"})
        assert_error(response, 401, "Unauthorized")


async def test_otp_disabled(tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, OTP__ENABLED="false")):
        user = await api.register()
        response = await api.client.get(f"{MOBILE}/user/code", auth=basic(user))
        assert_error(response, 501, "otp disabled")
        response = await api.client.post(f"{MOBILE}/device", json={}, headers={"Authorization": "Code abcdef"})
        assert_error(response, 501, "otp disabled")
        # Basic joins are unaffected.
        assert (await api.register(auth=basic(user)))["login"] == user["login"]


@pytest.mark.parametrize("kind", ["none", "device-token", "wrong-password", "code"])
async def test_user_code_requires_basic(sqlite_api: Api, kind: str) -> None:
    user = await sqlite_api.register()
    headers = {
        "none": {},
        "device-token": bearer(user["token"]),
        "wrong-password": {"Authorization": "Basic " + base64.b64encode(f"{user['login']}:nope".encode()).decode()},
        "code": {"Authorization": f"Code {await user_code(sqlite_api, user)}"},
    }[kind]
    response = await sqlite_api.client.get(f"{MOBILE}/user/code", headers=headers)
    assert_error(response, 401, "Unauthorized")


# --- private mode -------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Bearer s3cret-token-x",
                                    "Token s3cret-token"])
async def test_private_mode_rejects_missing_or_wrong_token(private_api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await private_api.client.post(f"{MOBILE}/device", json={"name": "x"}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["message"] in {"missing or malformed API Key", "Invalid or expired API Key"}


async def test_private_mode_error_texts(private_api: Api) -> None:
    response = await private_api.client.post(f"{MOBILE}/device", json={"name": "x"})
    assert_error(response, 401, "missing or malformed API Key")
    response = await private_api.client.post(f"{MOBILE}/device", json={"name": "x"}, headers=bearer("wrong"))
    assert_error(response, 401, "Invalid or expired API Key")


@pytest.mark.parametrize("header", ["Bearer s3cret-token", "bearer s3cret-token", "BEARER  s3cret-token "])
async def test_private_mode_with_token_creates_user(private_api: Api, header: str) -> None:
    created = await private_api.register(headers={"Authorization": header})
    assert LOGIN.match(created["login"]) and PASSWORD.match(created["password"])
    assert [d["id"] for d in await devices_of(private_api, created)] == [created["id"]]


async def test_private_mode_basic_and_code_join_without_token(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, GATEWAY__MODE="private", GATEWAY__PRIVATE_TOKEN="s3cret-token")
    async for api in open_api(settings):
        user = await api.register(headers=bearer("s3cret-token"))
        by_basic = await api.register(auth=basic(user))
        assert set(by_basic) == {"id", "token", "login"} and by_basic["login"] == user["login"]
        code = await user_code(api, user)
        by_code = await api.register(headers={"Authorization": f"Code {code}"})
        assert by_code["login"] == user["login"]
        assert len(await devices_of(api, user)) == 3
        bad = await api.client.post(f"{MOBILE}/device", json={}, auth=(user["login"], "wrong-password!"))
        assert_error(bad, 401, "Unauthorized")


async def test_private_mode_without_configured_token_refuses_new_users(tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, GATEWAY__MODE="private")):
        for headers in ({}, bearer("anything"), {"Authorization": "Bearer "}):
            response = await api.client.post(f"{MOBILE}/device", json={}, headers=headers)
            assert response.status_code == 401, response.text


# --- registration body validation ---------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    {"name": "n" * 129},
    {"name": 5},
    {"pushToken": "p" * 257},
    {"pushToken": 1},
    {"simCards": {"slotIndex": 0, "simNumber": 1}},
    {"simCards": [{"simNumber": 1}]},
    {"simCards": [{"slotIndex": 0}]},
    {"simCards": [{"slotIndex": -1, "simNumber": 1}]},
    {"simCards": [{"slotIndex": 0, "simNumber": 0}]},
    {"simCards": [{"slotIndex": 0, "simNumber": 4}]},
    {"simCards": [{"slotIndex": "0", "simNumber": 1}]},
    {"simCards": [{"slotIndex": 0, "simNumber": 1, "phoneNumber": "1" * 129}]},
    {"simCards": [{"slotIndex": 0, "simNumber": 1, "carrierName": "c" * 129}]},
    {"simCards": [{"slotIndex": 0, "simNumber": 1, "iccid": "i" * 129}]},
    {"simCards": ["sim"]},
    [],
    "device",
])
async def test_registration_body_validation(sqlite_api: Api, body: Any) -> None:
    response = await sqlite_api.client.post(f"{MOBILE}/device", json=body)
    assert_error(response, 400)
    assert response.json()["message"].startswith("failed to validate")


async def test_registration_malformed_json(sqlite_api: Api) -> None:
    response = await sqlite_api.client.post(f"{MOBILE}/device", content=b"{not json",
                                            headers={"Content-Type": "application/json"})
    assert_error(response, 400)
    assert response.json()["message"].startswith("failed to parse body")


async def test_registration_limits_inclusive(sqlite_api: Api) -> None:
    user = await sqlite_api.register(name="n" * 128, pushToken="p" * 256,
                                     simCards=[{"slotIndex": 7, "simNumber": 3, "phoneNumber": "1" * 128}])
    [device] = await devices_of(sqlite_api, user)
    assert device["name"] == "n" * 128
    assert device["simCards"] == [{"slotIndex": 7, "simNumber": 3, "phoneNumber": "1" * 128}]
    assert (await stored_device(sqlite_api, user["token"])).push_token == "p" * 256


async def test_registration_unknown_keys_ignored(sqlite_api: Api) -> None:
    user = await sqlite_api.register(name="x", extra={"a": 1}, simCards=[{"slotIndex": 0, "simNumber": 1, "x": 1}])
    [device] = await devices_of(sqlite_api, user)
    assert device["simCards"] == [{"slotIndex": 0, "simNumber": 1}]


# --- GET /device ----------------------------------------------------------------------------------------
async def test_device_info_without_token(api: Api) -> None:
    response = await api.client.get(f"{MOBILE}/device")
    assert response.status_code == 200, response.text
    assert response.json() == {"externalIp": "127.0.0.1"}


@pytest.mark.parametrize("header", ["Bearer unknown-token-aaaaaaa", "Bearer ", "Basic Zm9vOmJhcg=="])
async def test_device_info_with_unusable_token(sqlite_api: Api, header: str) -> None:
    await sqlite_api.register()
    response = await sqlite_api.client.get(f"{MOBILE}/device", headers={"Authorization": header})
    assert response.status_code == 200, response.text
    assert response.json() == {"externalIp": "127.0.0.1"}


async def test_device_info_with_token(api: Api) -> None:
    user = await api.register(name="phone", simCards=SIM_CARDS)
    response = await api.client.get(f"{MOBILE}/device", headers=bearer(user["token"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"device", "externalIp"}
    assert body["externalIp"] == "127.0.0.1"
    device = body["device"]
    assert set(device) == {"id", "name", "createdAt", "updatedAt", "lastSeen", "simCards"}
    assert device["id"] == user["id"] and device["name"] == "phone" and device["simCards"] == SIM_CARDS


async def test_forwarded_for_ignored_without_trusted_proxies(sqlite_api: Api) -> None:
    response = await sqlite_api.client.get(f"{MOBILE}/device", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.json() == {"externalIp": "127.0.0.1"}


@pytest.mark.parametrize("proxies", ["127.0.0.1", "10.0.0.1, 127.0.0.0/8"])
async def test_forwarded_for_honoured_from_trusted_proxy(tmp_path: Any, sqlite_url: str, proxies: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, HTTP__PROXIES=proxies)):
        response = await api.client.get(f"{MOBILE}/device",
                                        headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
        assert response.json() == {"externalIp": "203.0.113.7"}
        response = await api.client.get(f"{MOBILE}/device")
        assert response.json() == {"externalIp": "127.0.0.1"}


async def test_forwarded_for_ignored_from_untrusted_peer(tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, HTTP__PROXIES="10.0.0.1")):
        response = await api.client.get(f"{MOBILE}/device", headers={"X-Forwarded-For": "203.0.113.7"})
        assert response.json() == {"externalIp": "127.0.0.1"}


# --- PATCH /device --------------------------------------------------------------------------------------
async def test_update_device(api: Api) -> None:
    user = await api.register(name="phone", pushToken="fcm-old", simCards=SIM_CARDS)
    new_cards = [{"slotIndex": 0, "simNumber": 1, "carrierName": "****Mobile"}]
    response = await api.client.patch(f"{MOBILE}/device", headers=bearer(user["token"]),
                                      json={"id": user["id"], "pushToken": "fcm-new", "simCards": new_cards})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await stored_device(api, user["token"])).push_token == "fcm-new"
    device = await device_view(api, user, user["id"])
    assert device["simCards"] == new_cards and device["name"] == "phone"

    # Absent or null pushToken leaves it unchanged; absent simCards means [].
    for body in ({"id": user["id"]}, {"id": user["id"], "pushToken": None}):
        response = await api.client.patch(f"{MOBILE}/device", headers=bearer(user["token"]), json=body)
        assert response.status_code == 204, response.text
        assert (await stored_device(api, user["token"])).push_token == "fcm-new"
        assert "simCards" not in await device_view(api, user, user["id"])
    # An empty one removes it (upstream PR #258; before, it was ignored too).
    response = await api.client.patch(f"{MOBILE}/device", headers=bearer(user["token"]),
                                      json={"id": user["id"], "pushToken": ""})
    assert response.status_code == 204
    assert (await stored_device(api, user["token"])).push_token is None


async def test_update_device_sets_first_push_token(sqlite_api: Api) -> None:
    user = await sqlite_api.register(name="sse-only")
    response = await sqlite_api.client.patch(f"{MOBILE}/device", headers=bearer(user["token"]),
                                             json={"id": user["id"], "pushToken": "fcm-1", "simCards": SIM_CARDS})
    assert response.status_code == 204
    assert (await stored_device(sqlite_api, user["token"])).push_token == "fcm-1"
    assert (await device_view(sqlite_api, user, user["id"]))["simCards"] == SIM_CARDS


async def test_update_other_device_is_403(api: Api) -> None:
    user = await api.register(pushToken="fcm-a")
    other = await api.register(auth=basic(user), pushToken="fcm-b")
    response = await api.client.patch(f"{MOBILE}/device", headers=bearer(user["token"]),
                                      json={"id": other["id"], "pushToken": "stolen"})
    assert_error(response, 403, "Forbidden")
    assert (await stored_device(api, other["token"])).push_token == "fcm-b"
    assert (await stored_device(api, user["token"])).push_token == "fcm-a"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer unknown-token-aaaaaaa"},
                                     {"Authorization": "Bearer "}, {"Authorization": "Basic Zm9vOmJhcg=="}])
async def test_update_device_needs_device_token(sqlite_api: Api, headers: dict[str, str]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.patch(f"{MOBILE}/device", headers=headers,
                                             json={"id": user["id"], "pushToken": "x"})
    assert_error(response, 401, "Unauthorized")


async def test_update_device_with_user_basic_is_401(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.patch(f"{MOBILE}/device", auth=basic(user), json={"id": user["id"]})
    assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize("body", [
    {},
    {"id": ""},
    {"id": "x" * 22},
    {"id": 1},
    {"id": "{id}", "pushToken": "p" * 257},
    {"id": "{id}", "simCards": [{"slotIndex": 0, "simNumber": 9}]},
    {"id": "{id}", "simCards": "none"},
    [],
])
async def test_update_device_validation(sqlite_api: Api, body: Any) -> None:
    user = await sqlite_api.register(simCards=SIM_CARDS)
    if isinstance(body, dict) and body.get("id") == "{id}":
        body = {**body, "id": user["id"]}
    response = await sqlite_api.client.patch(f"{MOBILE}/device", headers=bearer(user["token"]), json=body)
    assert_error(response, 400)
    assert (await device_view(sqlite_api, user, user["id"]))["simCards"] == SIM_CARDS


# --- PATCH /user/password -------------------------------------------------------------------------------
async def test_change_password(api: Api) -> None:
    user = await api.register()
    new_password = "brand-new-password-1"
    assert len(await devices_of(api, user)) == 1  # the old password is now in the login cache
    response = await api.client.patch(f"{MOBILE}/user/password", headers=bearer(user["token"]),
                                      json={"currentPassword": user["password"], "newPassword": new_password})
    assert response.status_code == 204, response.text
    assert response.content == b""

    old = await api.client.get("/api/3rdparty/v1/devices", auth=basic(user))
    assert_error(old, 401, "Unauthorized")
    new = await api.client.get("/api/3rdparty/v1/devices", auth=basic(user, new_password))
    assert new.status_code == 200 and [d["id"] for d in new.json()] == [user["id"]]
    # Device tokens are unaffected; joins use the new password.
    assert (await api.client.get(f"{MOBILE}/message", headers=bearer(user["token"]))).status_code == 200
    assert (await api.register(auth=basic(user, new_password)))["login"] == user["login"]
    join_old = await api.client.post(f"{MOBILE}/device", json={}, auth=basic(user))
    assert_error(join_old, 401, "Unauthorized")


async def test_change_password_from_second_device(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    second = await sqlite_api.register(auth=basic(user))
    response = await sqlite_api.client.patch(f"{MOBILE}/user/password", headers=bearer(second["token"]),
                                             json={"currentPassword": user["password"], "newPassword": "n" * 14})
    assert response.status_code == 204, response.text
    assert (await sqlite_api.client.get("/api/3rdparty/v1/devices", auth=basic(user, "n" * 14))).status_code == 200


async def test_change_password_wrong_current(api: Api) -> None:
    user = await api.register()
    response = await api.client.patch(f"{MOBILE}/user/password", headers=bearer(user["token"]),
                                      json={"currentPassword": user["password"] + "x", "newPassword": "n" * 20})
    assert_error(response, 401, "failed to change password")
    assert len(await devices_of(api, user)) == 1  # the old password still works
    bad_new = await api.client.get("/api/3rdparty/v1/devices", auth=basic(user, "n" * 20))
    assert_error(bad_new, 401, "Unauthorized")


@pytest.mark.parametrize("body", [
    {"currentPassword": "{pw}", "newPassword": "n" * 13},
    {"currentPassword": "{pw}", "newPassword": ""},
    {"currentPassword": "{pw}"},
    {"newPassword": "n" * 14},
    {"currentPassword": "", "newPassword": "n" * 14},
    {"currentPassword": "{pw}", "newPassword": 12345678901234},
    {"currentPassword": "{pw}", "newPassword": "n" * 73},
    [],
])
async def test_change_password_validation(sqlite_api: Api, body: Any) -> None:
    user = await sqlite_api.register()
    if isinstance(body, dict):
        body = {k: user["password"] if v == "{pw}" else v for k, v in body.items()}
    response = await sqlite_api.client.patch(f"{MOBILE}/user/password", headers=bearer(user["token"]), json=body)
    assert_error(response, 400)
    assert len(await devices_of(sqlite_api, user)) == 1  # unchanged


async def test_change_password_needs_device_token(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    body = {"currentPassword": user["password"], "newPassword": "n" * 14}
    for kwargs in ({}, {"auth": basic(user)}, {"headers": bearer("unknown-token-aaaaaaa")}):
        response = await sqlite_api.client.patch(f"{MOBILE}/user/password", json=body, **kwargs)
        assert_error(response, 401, "Unauthorized")


# --- GET /webhooks, GET /settings ---------------------------------------------------------------------
async def test_device_webhooks(api: Api) -> None:
    user = await api.register()
    other_device = await api.register(auth=basic(user))
    stranger = await api.register()

    async def add(owner: dict[str, Any], **body: Any) -> dict[str, Any]:
        response = await api.client.post("/api/3rdparty/v1/webhooks", auth=basic(owner),
                                         json={"url": "https://example.com/hook", **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    wide = await add(user, id="wide", event="sms:received")
    mine = await add(user, id="mine", event="sms:sent", deviceId=user["id"])
    await add(user, id="theirs", event="sms:failed", deviceId=other_device["id"])
    await add(stranger, id="stranger", event="sms:received")

    response = await api.client.get(f"{MOBILE}/webhooks", headers=bearer(user["token"]))
    assert response.status_code == 200, response.text
    assert sorted(response.json(), key=lambda w: w["id"]) == [
        {"id": "mine", "deviceId": user["id"], "url": "https://example.com/hook", "event": "sms:sent"},
        {"id": "wide", "deviceId": None, "url": "https://example.com/hook", "event": "sms:received"},
    ]
    assert wide["deviceId"] is None and mine["deviceId"] == user["id"]

    response = await api.client.get(f"{MOBILE}/webhooks", headers=bearer(other_device["token"]))
    assert sorted(w["id"] for w in response.json()) == ["theirs", "wide"]
    response = await api.client.get(f"{MOBILE}/webhooks", headers=bearer(stranger["token"]))
    assert [w["id"] for w in response.json()] == ["stranger"]


async def test_device_webhooks_empty(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.get(f"{MOBILE}/webhooks", headers=bearer(user["token"]))
    assert response.status_code == 200 and response.json() == []


async def test_device_settings_are_raw(api: Api) -> None:
    user = await api.register()
    response = await api.client.get(f"{MOBILE}/settings", headers=bearer(user["token"]))
    assert response.status_code == 200 and response.json() == {}

    document = {
        "encryption": {"passphrase": ""},
        "messages": {"send_interval_min": 5, "limit_value": None},
        "webhooks": {"retry_count": 3, "signing_key": ""},
        "ping": None,
    }
    response = await api.client.patch("/api/3rdparty/v1/settings", auth=basic(user), json=document)
    assert response.status_code == 200, response.text
    public = (await api.client.get("/api/3rdparty/v1/settings", auth=basic(user))).json()
    assert public["encryption"] == {} and "signing_key" not in public["webhooks"]

    response = await api.client.get(f"{MOBILE}/settings", headers=bearer(user["token"]))
    assert response.status_code == 200
    raw = response.json()
    assert raw == {k: v for k, v in document.items() if v is not None}  # a null section is skipped, as upstream
    assert raw != public


async def test_device_settings_are_per_user(sqlite_api: Api) -> None:
    user, stranger = await sqlite_api.register(), await sqlite_api.register()
    second = await sqlite_api.register(auth=basic(user))
    await sqlite_api.client.put("/api/3rdparty/v1/settings", auth=basic(user), json={"ping": {"interval_seconds": 60}})
    for device in (user, second):
        response = await sqlite_api.client.get(f"{MOBILE}/settings", headers=bearer(device["token"]))
        assert response.json() == {"ping": {"interval_seconds": 60}}
    response = await sqlite_api.client.get(f"{MOBILE}/settings", headers=bearer(stranger["token"]))
    assert response.json() == {}


@pytest.mark.parametrize("method,path", [
    ("GET", "/message"), ("GET", "/messages"), ("PATCH", "/message"), ("PATCH", "/messages"),
    ("PATCH", "/device"), ("PATCH", "/user/password"), ("GET", "/webhooks"), ("GET", "/settings"),
])
@pytest.mark.parametrize("header", [None, "Bearer unknown-token-aaaaaaa", "Bearer"])
async def test_device_routes_need_device_token(sqlite_api: Api, method: str, path: str, header: str | None) -> None:
    await sqlite_api.register()
    headers = {"Authorization": header} if header else {}
    response = await sqlite_api.client.request(method, f"{MOBILE}{path}", headers=headers, json=[])
    assert_error(response, 401, "Unauthorized")


async def test_unknown_mobile_path_without_auth_is_401(sqlite_api: Api) -> None:
    response = await sqlite_api.client.get(f"{MOBILE}/nothing-here")
    assert_error(response, 401, "Unauthorized")


# --- last seen ------------------------------------------------------------------------------------------
async def _last_seen(api: Api, user: dict[str, Any], device_id: str) -> datetime:
    return parse_time((await device_view(api, user, device_id))["lastSeen"])


async def test_device_requests_update_last_seen(api: Api) -> None:
    user = await api.register()
    seen = await _last_seen(api, user, user["id"])
    assert seen == parse_time((await device_view(api, user, user["id"]))["createdAt"])
    await trio.sleep(0.01)
    assert (await api.client.get(f"{MOBILE}/message", headers=bearer(user["token"]))).status_code == 200
    later = await _last_seen(api, user, user["id"])
    assert later > seen
    # 3rd-party reads and other devices' requests do not touch it.
    other = await api.register(auth=basic(user))
    await trio.sleep(0.01)
    await api.client.get(f"{MOBILE}/settings", headers=bearer(other["token"]))
    assert await _last_seen(api, user, user["id"]) == later
    assert await _last_seen(api, user, other["id"]) > later


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/device", None),
    ("PATCH", "/device", {"id": "{id}"}),
    ("GET", "/message?order=fifo", None),
    ("GET", "/messages", None),
    ("PATCH", "/message", [{"id": "unknown", "state": "Sent", "recipients": [{"phoneNumber": "+1", "state": "Sent"}]}]),
    ("GET", "/webhooks", None),
    ("GET", "/settings", None),
    ("PATCH", "/user/password", {"currentPassword": "{pw}", "newPassword": "n" * 14}),
])
async def test_every_device_request_updates_last_seen(sqlite_api: Api, method: str, path: str, body: Any) -> None:
    user = await sqlite_api.register()
    if isinstance(body, dict):
        body = {k: {"{id}": user["id"], "{pw}": user["password"]}.get(v, v) for k, v in body.items()}
    before = await _last_seen(sqlite_api, user, user["id"])
    await trio.sleep(0.01)
    response = await sqlite_api.client.request(method, f"{MOBILE}{path}", headers=bearer(user["token"]), json=body)
    assert response.status_code in (200, 204), response.text
    if path == "/user/password":
        user = {**user, "password": "n" * 14}
    assert await _last_seen(sqlite_api, user, user["id"]) > before


async def test_failed_device_request_still_counts_as_seen(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    before = await _last_seen(sqlite_api, user, user["id"])
    await trio.sleep(0.01)
    response = await sqlite_api.client.get(f"{MOBILE}/message?order=random", headers=bearer(user["token"]))
    assert response.status_code == 400
    assert await _last_seen(sqlite_api, user, user["id"]) > before
