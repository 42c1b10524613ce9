"""3rd-party API: devices, settings, webhooks, authentication and HTTP plumbing (contract §1, §2.2.6–2.2.9)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Api, error_of, events

BASE = "/api/3rdparty/v1"
PHONE = "+79991234567"
HOOK_URL = "https://example.com/hook"


def creds(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


def bearer(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['token']}"}


# --- devices -----------------------------------------------------------------------------------------------
async def test_list_devices(api: Api) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    user = await api.register(name="first phone")
    second = await api.register(auth=creds(user), pushToken="push-token",
                                simCards=[{"slotIndex": 0, "simNumber": 1, "phoneNumber": PHONE,
                                           "carrierName": "MTS", "iccid": "8970100000000000001"},
                                          {"slotIndex": 1, "simNumber": 2}])
    await api.register()  # someone else's phone

    response = await api.client.get(f"{BASE}/devices", auth=creds(user))
    assert response.status_code == 200, response.text
    first, other = response.json()
    for device in (first, other):
        for key in ("createdAt", "updatedAt", "lastSeen"):
            assert before <= datetime.fromisoformat(device.pop(key)) <= datetime.now(UTC) + timedelta(seconds=1)
    assert first == {"id": user["id"], "name": "first phone"}  # simCards omitted when empty
    assert other == {"id": second["id"], "name": "", "simCards": [
        {"slotIndex": 0, "simNumber": 1, "phoneNumber": PHONE, "carrierName": "MTS", "iccid": "8970100000000000001"},
        {"slotIndex": 1, "simNumber": 2},
    ]}

    legacy = await api.client.get(f"{BASE}/device", auth=creds(user))
    assert legacy.status_code == 200
    assert [d["id"] for d in legacy.json()] == [user["id"], second["id"]]


async def test_delete_device_cascades(api: Api) -> None:
    user = await api.register()
    doomed = await api.register(auth=creds(user), name="doomed")
    for device, ext_id in ((user, "kept"), (doomed, "gone")):
        sent = await api.send(user, {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE], "id": ext_id,
                                     "deviceId": device["id"]})
        assert sent.status_code == 202, sent.text
    for hook_id, device_id in (("user-wide", None), ("on-doomed", doomed["id"]), ("on-kept", user["id"])):
        created = await api.client.post(f"{BASE}/webhooks", auth=creds(user), json={
            "id": hook_id, "url": HOOK_URL, "event": "sms:received", "deviceId": device_id})
        assert created.status_code == 201, created.text

    response = await api.client.delete(f"{BASE}/devices/{doomed['id']}", auth=creds(user))
    assert response.status_code == 204
    assert response.content == b""

    listed = await api.client.get(f"{BASE}/devices", auth=creds(user))
    assert [d["id"] for d in listed.json()] == [user["id"]]
    messages = await api.client.get(f"{BASE}/messages", auth=creds(user))
    assert ([m["id"] for m in messages.json()], messages.headers["X-Total-Count"]) == (["kept"], "1")
    gone = await api.client.get(f"{BASE}/messages/gone", auth=creds(user))
    assert error_of(gone, 404) == "message not found"
    hooks = await api.client.get(f"{BASE}/webhooks", auth=creds(user))
    assert sorted(h["id"] for h in hooks.json()) == ["on-kept", "user-wide"]
    # The deleted phone's token no longer works.
    assert (await api.client.get("/api/mobile/v1/message", headers=bearer(doomed))).status_code == 401


async def test_a_deleted_device_token_stops_working_though_it_was_just_used(api: Api) -> None:
    """Device tokens are cached in the process (as upstream does); deleting the device drops its entry."""
    user = await api.register()
    doomed = await api.register(auth=creds(user), name="doomed")
    assert (await api.client.get("/api/mobile/v1/message", headers=bearer(doomed))).status_code == 200
    response = await api.client.delete(f"{BASE}/devices/{doomed['id']}", auth=creds(user))
    assert response.status_code == 204
    assert (await api.client.get("/api/mobile/v1/message", headers=bearer(doomed))).status_code == 401
    assert (await api.client.get("/api/mobile/v1/message", headers=bearer(user))).status_code == 200


async def test_delete_unknown_or_foreign_device_is_204_and_changes_nothing(api: Api) -> None:
    user = await api.register()
    stranger = await api.register()

    for path in (f"{BASE}/devices/{stranger['id']}", f"{BASE}/devices/{'x' * 21}", f"{BASE}/device/{stranger['id']}"):
        response = await api.client.delete(path, auth=creds(user))
        assert response.status_code == 204, path

    theirs = await api.client.get(f"{BASE}/devices", auth=creds(stranger))
    assert [d["id"] for d in theirs.json()] == [stranger["id"]]


async def test_legacy_device_delete(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user))
    response = await api.client.delete(f"{BASE}/device/{second['id']}", auth=creds(user))
    assert response.status_code == 204
    listed = await api.client.get(f"{BASE}/device", auth=creds(user))
    assert [d["id"] for d in listed.json()] == [user["id"]]


# --- settings ----------------------------------------------------------------------------------------------
FULL_SETTINGS: dict[str, Any] = {
    "encryption": {"passphrase": ""},
    "messages": {"send_interval_min": 5, "send_interval_max": 10, "limit_period": "PerHour", "limit_value": 100,
                 "sim_selection_mode": "RoundRobin", "log_lifetime_days": 7, "work_hours_enabled": True,
                 "work_hours_start": "08:00", "work_hours_end": "22:30"},
    "ping": {"interval_seconds": 60},
    "logs": {"lifetime_days": 3},
    "webhooks": {"internet_required": True, "retry_count": 5, "signing_key": ""},
    "gateway": {"notification_channel": "SSE_ONLY"},
    "receiver": {"content_provider_enabled": False},
}
PUBLIC_FULL = {**FULL_SETTINGS, "encryption": {}, "webhooks": {"internet_required": True, "retry_count": 5}}


async def get_settings(api: Api, user: dict[str, Any]) -> Any:
    response = await api.client.get(f"{BASE}/settings", auth=creds(user))
    assert response.status_code == 200, response.text
    return response.json()


async def test_settings_put_get_and_the_device_view(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user))
    assert await get_settings(api, user) == {}
    api.notifier.sent.clear()

    response = await api.client.put(f"{BASE}/settings", json=FULL_SETTINGS, auth=creds(user))
    assert response.status_code == 200, response.text
    assert response.json() == PUBLIC_FULL
    assert await get_settings(api, user) == PUBLIC_FULL

    [notification] = events(api, "SettingsUpdated")
    assert (notification.user_id, notification.device_id) == (user["login"], None)  # every device of the user

    # The phones read the stored document itself.
    on_device = await api.client.get("/api/mobile/v1/settings", headers=bearer(second))
    assert on_device.json() == FULL_SETTINGS

    stranger = await api.register()
    assert await get_settings(api, stranger) == {}


async def test_settings_put_replaces_and_filters_by_whitelist(api: Api) -> None:
    user = await api.register()
    await api.client.put(f"{BASE}/settings", json=FULL_SETTINGS, auth=creds(user))

    body = {
        "messages": {"limit_value": 3, "processing_order": "FIFO", "unknown_key": 1},
        "gateway": {"cloud_url": "", "private_token": "", "notification_channel": "AUTO"},
        "unknown_section": {"a": 1},
        "ping": {},
    }
    response = await api.client.put(f"{BASE}/settings", json=body, auth=creds(user))
    assert response.status_code == 200, response.text
    expected = {"messages": {"limit_value": 3}, "gateway": {"notification_channel": "AUTO"}, "ping": {}}
    assert response.json() == expected
    assert await get_settings(api, user) == expected
    device_view = await api.client.get("/api/mobile/v1/settings", headers=bearer(user))
    assert device_view.json() == expected

    emptied = await api.client.put(f"{BASE}/settings", json={}, auth=creds(user))
    assert (emptied.status_code, emptied.json()) == (200, {})
    assert await get_settings(api, user) == {}


async def test_settings_patch_is_a_two_level_merge(api: Api) -> None:
    user = await api.register()
    api.notifier.sent.clear()
    first = await api.client.patch(f"{BASE}/settings", auth=creds(user), json={
        "messages": {"send_interval_min": 5, "limit_period": "PerDay", "limit_value": 10},
        "ping": {"interval_seconds": 30},
    })
    assert first.status_code == 200, first.text  # PATCH on nothing stored starts from {}

    response = await api.client.patch(f"{BASE}/settings", auth=creds(user), json={
        "messages": {"limit_value": 20, "limit_period": None, "processing_order": "LIFO"},
        "logs": {"lifetime_days": 2},
        "webhooks": {"signing_key": "", "retry_count": 1},
    })
    assert response.status_code == 200, response.text
    expected = {
        "messages": {"send_interval_min": 5, "limit_period": None, "limit_value": 20},  # null is stored
        "ping": {"interval_seconds": 30},
        "logs": {"lifetime_days": 2},
        "webhooks": {"retry_count": 1},
    }
    assert response.json() == expected
    assert await get_settings(api, user) == expected
    raw = await api.client.get("/api/mobile/v1/settings", headers=bearer(user))
    assert raw.json()["messages"]["limit_period"] is None
    assert raw.json()["webhooks"] == {"signing_key": "", "retry_count": 1}

    assert [(n.user_id, n.device_id) for n in events(api, "SettingsUpdated")] == [(user["login"], None)] * 2


async def test_settings_get_hides_encryption_and_signing_key(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.put(f"{BASE}/settings", auth=creds(user), json={
        "encryption": {"passphrase": ""}, "webhooks": {"signing_key": ""}})
    assert response.json() == {"encryption": {}, "webhooks": {}}
    assert await get_settings(sqlite_api, user) == {"encryption": {}, "webhooks": {}}


SECRETS = {
    "passphrase": {"encryption": {"passphrase": "secret"}},
    "signing_key": {"webhooks": {"signing_key": "secret"}},
    "cloud_url": {"gateway": {"cloud_url": "https://api.sms-gate.app/mobile/v1"}},
    "private_token": {"gateway": {"private_token": "secret"}},
}
BAD_SETTINGS = {
    **SECRETS,
    "not an object": ["messages"],
    "section not an object": {"messages": 5},
    "send_interval_min 0": {"messages": {"send_interval_min": 0}},
    "send_interval_min a string": {"messages": {"send_interval_min": "5"}},
    "send_interval_min a float": {"messages": {"send_interval_min": 1.5}},
    "send_interval_max < min": {"messages": {"send_interval_min": 10, "send_interval_max": 5}},
    "limit_value 0": {"messages": {"limit_value": 0}},
    "limit_period unknown": {"messages": {"limit_period": "PerWeek"}},
    "sim_selection_mode unknown": {"messages": {"sim_selection_mode": "First"}},
    "log_lifetime_days 0": {"messages": {"log_lifetime_days": 0}},
    "processing_order unknown": {"messages": {"processing_order": "RANDOM"}},
    "work_hours_enabled a string": {"messages": {"work_hours_enabled": "true"}},
    "work hours enabled without times": {"messages": {"work_hours_enabled": True}},
    "work hours enabled without end": {"messages": {"work_hours_enabled": True, "work_hours_start": "08:00"}},
    "work_hours_start 24:00": {"messages": {"work_hours_start": "24:00"}},
    "work_hours_end 12:60": {"messages": {"work_hours_end": "12:60"}},
    "work_hours_end 8:00": {"messages": {"work_hours_end": "8:00"}},
    "ping interval 0": {"ping": {"interval_seconds": 0}},
    "logs lifetime 0": {"logs": {"lifetime_days": 0}},
    "retry_count 0": {"webhooks": {"retry_count": 0}},
    "internet_required a number": {"webhooks": {"internet_required": 1}},
    "notification_channel unknown": {"gateway": {"notification_channel": "FCM"}},
    "content_provider_enabled a string": {"receiver": {"content_provider_enabled": "no"}},
}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("body", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
async def test_settings_validation(sqlite_api: Api, method: str, body: Any) -> None:
    user = await sqlite_api.register()
    await sqlite_api.client.put(f"{BASE}/settings", json={"ping": {"interval_seconds": 60}}, auth=creds(user))
    sqlite_api.notifier.sent.clear()

    response = await sqlite_api.client.request(method, f"{BASE}/settings", json=body, auth=creds(user))
    assert error_of(response, 400).startswith("Invalid settings format: ")
    assert await get_settings(sqlite_api, user) == {"ping": {"interval_seconds": 60}}  # unchanged
    assert events(sqlite_api, "SettingsUpdated") == []


GOOD_SETTINGS = {
    "work hours disabled without times": {"messages": {"work_hours_enabled": False}},
    "work hours at the edges": {"messages": {"work_hours_enabled": True, "work_hours_start": "00:00",
                                             "work_hours_end": "23:59"}},
    "send interval max == min": {"messages": {"send_interval_min": 7, "send_interval_max": 7}},
    "only max": {"messages": {"send_interval_max": 1}},
    "every limit period": {"messages": {"limit_period": "Per30Minutes"}},
}


@pytest.mark.parametrize("body", GOOD_SETTINGS.values(), ids=GOOD_SETTINGS.keys())
async def test_settings_accepted(sqlite_api: Api, body: dict[str, Any]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.put(f"{BASE}/settings", json=body, auth=creds(user))
    assert (response.status_code, response.json()) == (200, body)


async def test_settings_malformed_json(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    for method in ("PUT", "PATCH"):
        response = await sqlite_api.client.request(method, f"{BASE}/settings", content=b"{not json",
                                                   headers={"Content-Type": "application/json"}, auth=creds(user))
        assert error_of(response, 400).startswith("failed to parse body")


# --- webhooks ----------------------------------------------------------------------------------------------
async def list_hooks(api: Api, user: dict[str, Any]) -> list[dict[str, Any]]:
    response = await api.client.get(f"{BASE}/webhooks", auth=creds(user))
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_webhook_create_list_delete(api: Api) -> None:
    user = await api.register()
    assert await list_hooks(api, user) == []
    api.notifier.sent.clear()

    response = await api.client.post(f"{BASE}/webhooks", json={"url": HOOK_URL, "event": "sms:received"},
                                     auth=creds(user))
    assert response.status_code == 201, response.text
    created = response.json()
    assert len(created["id"]) == 21
    assert created == {"id": created["id"], "deviceId": None, "url": HOOK_URL, "event": "sms:received"}
    assert await list_hooks(api, user) == [created]

    with_null_id = await api.client.post(f"{BASE}/webhooks", auth=creds(user),
                                         json={"id": None, "url": HOOK_URL, "event": "sms:sent"})
    assert with_null_id.status_code == 201  # the official client sends "id": null
    assert [h["event"] for h in await list_hooks(api, user)] == ["sms:received", "sms:sent"]

    assert [(n.user_id, n.device_id) for n in events(api, "WebhooksUpdated")] == [(user["login"], None)] * 2
    api.notifier.sent.clear()

    deleted = await api.client.delete(f"{BASE}/webhooks/{created['id']}", auth=creds(user))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert [h["event"] for h in await list_hooks(api, user)] == ["sms:sent"]
    unknown = await api.client.delete(f"{BASE}/webhooks/never-was", auth=creds(user))
    assert unknown.status_code == 204
    assert [(n.user_id, n.device_id) for n in events(api, "WebhooksUpdated")] == [(user["login"], None)] * 2


async def test_webhook_client_id_is_an_upsert_key(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user))
    stranger = await api.register()
    first = {"id": "my-hook", "url": HOOK_URL, "event": "sms:received"}
    response = await api.client.post(f"{BASE}/webhooks", json=first, auth=creds(user))
    assert response.json() == {**first, "deviceId": None}
    # The same id belongs to each user separately.
    theirs = await api.client.post(f"{BASE}/webhooks", json=first | {"url": "https://stranger.example"},
                                   auth=creds(stranger))
    assert theirs.status_code == 201

    replacement = {"id": "my-hook", "url": "HTTPS://other.example/x", "event": "sms:failed", "deviceId": second["id"]}
    response = await api.client.post(f"{BASE}/webhooks", json=replacement, auth=creds(user))
    assert response.status_code == 201, response.text
    assert response.json() == replacement
    assert await list_hooks(api, user) == [replacement]
    assert [h["url"] for h in await list_hooks(api, stranger)] == ["https://stranger.example"]

    back = await api.client.post(f"{BASE}/webhooks", json=first, auth=creds(user))
    assert back.json()["deviceId"] is None
    assert await list_hooks(api, user) == [{**first, "deviceId": None}]


async def test_device_scoped_webhook(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user))
    api.notifier.sent.clear()
    response = await api.client.post(f"{BASE}/webhooks", auth=creds(user),
                                     json={"url": HOOK_URL, "event": "sms:delivered", "deviceId": second["id"]})
    assert response.status_code == 201, response.text
    assert response.json()["deviceId"] == second["id"]
    [notification] = events(api, "WebhooksUpdated")
    assert (notification.user_id, notification.device_id) == (user["login"], second["id"])

    on_second = await api.client.get("/api/mobile/v1/webhooks", headers=bearer(second))
    on_first = await api.client.get("/api/mobile/v1/webhooks", headers=bearer(user))
    assert [h["event"] for h in on_second.json()] == ["sms:delivered"]
    assert on_first.json() == []


async def test_webhook_device_must_be_the_users(api: Api) -> None:
    user = await api.register()
    stranger = await api.register()
    for device_id in (stranger["id"], "x" * 21):
        response = await api.client.post(f"{BASE}/webhooks", auth=creds(user),
                                         json={"url": HOOK_URL, "event": "sms:received", "deviceId": device_id})
        assert error_of(response, 400) == f'invalid "device_id" = "{device_id}": record not found'
    assert await list_hooks(api, user) == []
    assert events(api, "WebhooksUpdated") == []


async def test_webhook_device_id_in_snake_case_is_ignored(sqlite_api: Api) -> None:
    # The docs site says device_id; the server reads only deviceId, so the hook becomes user-wide.
    user = await sqlite_api.register()
    response = await sqlite_api.client.post(f"{BASE}/webhooks", auth=creds(user),
                                            json={"url": HOOK_URL, "event": "sms:received", "device_id": user["id"]})
    assert (response.status_code, response.json()["deviceId"]) == (201, None)


@pytest.mark.parametrize("event", ["sms:received", "sms:data-received", "sms:sent", "sms:delivered", "sms:failed",
                                   "sms:cancelled", "system:ping", "mms:received", "mms:downloaded", "app:started",
                                   "sms:batch:received", "sms:batch:data-received", "mms:batch:received",
                                   "mms:batch:downloaded"])
async def test_every_webhook_event_is_accepted(sqlite_api: Api, event: str) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.post(f"{BASE}/webhooks", json={"url": HOOK_URL, "event": event},
                                            auth=creds(user))
    assert (response.status_code, response.json()["event"]) == (201, event)


BAD_WEBHOOKS = {
    "http url": {"url": "http://example.com/hook", "event": "sms:received"},
    "no scheme": {"url": "example.com/hook", "event": "sms:received"},
    "scheme only": {"url": "https://", "event": "sms:received"},
    "url missing": {"event": "sms:received"},
    "url too long": {"url": "https://example.com/" + "a" * 240, "event": "sms:received"},
    "event unknown": {"url": HOOK_URL, "event": "sms:exploded"},
    "event in upper case": {"url": HOOK_URL, "event": "SMS:RECEIVED"},
    "event missing": {"url": HOOK_URL},
    "id 37 chars": {"id": "i" * 37, "url": HOOK_URL, "event": "sms:received"},
    "deviceId 22 chars": {"deviceId": "d" * 22, "url": HOOK_URL, "event": "sms:received"},
    "url a number": {"url": 5, "event": "sms:received"},
}


@pytest.mark.parametrize("body", BAD_WEBHOOKS.values(), ids=BAD_WEBHOOKS.keys())
async def test_webhook_validation(sqlite_api: Api, body: dict[str, Any]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.post(f"{BASE}/webhooks", json=body, auth=creds(user))
    assert error_of(response, 400).startswith("failed to validate")
    assert await list_hooks(sqlite_api, user) == []


# --- authentication and HTTP plumbing ----------------------------------------------------------------------------
ROUTES = [
    ("GET", "/messages"), ("POST", "/messages"), ("GET", "/messages/x"), ("DELETE", "/messages/x"),
    ("POST", "/messages/inbox/export"), ("GET", "/message"), ("POST", "/message"), ("GET", "/message/x"),
    ("DELETE", "/message/x"), ("GET", "/devices"), ("DELETE", "/devices/x"), ("GET", "/device"),
    ("DELETE", "/device/x"), ("GET", "/settings"), ("PUT", "/settings"), ("PATCH", "/settings"), ("GET", "/inbox"),
    ("POST", "/inbox/refresh"), ("GET", "/webhooks"), ("POST", "/webhooks"), ("DELETE", "/webhooks/x"),
    ("GET", "/logs"),
]


def basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_needs_credentials(sqlite_api: Api, method: str, path: str) -> None:
    user = await sqlite_api.register()
    login, password = creds(user)
    for headers in (
        {},
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!not-base64!!!"},
        basic(f"{login}{password}"),  # no colon
        basic(f"{login}:wrong-password"),
        basic(f"NOBODY:{password}"),
        basic(f"{login}:{password}x"),
        {"Authorization": f"Bearer {user['token']}"},  # a device token is not a 3rd-party credential
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},  # no JWT configured: every Bearer fails
    ):
        response = await sqlite_api.client.request(method, BASE + path, headers=headers, json={})
        assert error_of(response, 401) == "Unauthorized", headers
    assert sqlite_api.notifier.sent == []


async def test_basic_scheme_name_is_case_insensitive(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    token = base64.b64encode(f"{user['login']}:{user['password']}".encode()).decode()
    for scheme in ("basic", "BASIC", "Basic"):
        response = await sqlite_api.client.get(f"{BASE}/devices", headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 200, scheme


async def test_password_is_case_sensitive(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.get(f"{BASE}/devices", auth=(user["login"], user["password"].upper()))
    assert error_of(response, 401) == "Unauthorized"


async def test_unknown_route(sqlite_api: Api) -> None:
    # Upstream authenticates before routing: without credentials an unknown path is 401, not 404.
    for path in ("/no/such/route", "/messages/x/y", "/health/nothing"):
        assert error_of(await sqlite_api.client.get(BASE + path), 401) == "Unauthorized"
        user = await sqlite_api.register()
        assert error_of(await sqlite_api.client.get(BASE + path, auth=creds(user)), 404) == "Not Found"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/messages", {"GET", "POST"}),
    ("PATCH", "/messages/x", {"GET", "DELETE"}),
    ("POST", "/devices", {"GET"}),
    ("DELETE", "/settings", {"GET", "PUT", "PATCH"}),
    ("PUT", "/webhooks/x", {"DELETE"}),
])
async def test_wrong_method_is_405_with_allow(sqlite_api: Api, method: str, path: str, allowed: set[str]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.request(method, BASE + path, auth=creds(user))
    assert error_of(response, 405) == "Method Not Allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"} == allowed


async def test_wrong_method_without_credentials_is_401(sqlite_api: Api) -> None:
    # Upstream authenticates before routing: without credentials nothing about the route is revealed.
    response = await sqlite_api.client.put(f"{BASE}/messages")
    assert error_of(response, 401) == "Unauthorized"


@pytest.mark.parametrize(("method", "path"), [("POST", "/messages"), ("POST", "/webhooks"),
                                              ("POST", "/inbox/refresh"), ("POST", "/messages/inbox/export"),
                                              ("PUT", "/settings"), ("PATCH", "/settings")])
@pytest.mark.parametrize("raw", [b"{not json", b'{"phoneNumbers": [', b"", b"\xff\xfe"], ids=["garbage", "truncated",
                                                                                             "empty", "not utf-8"])
async def test_malformed_body_is_400(sqlite_api: Api, method: str, path: str, raw: bytes) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.request(method, BASE + path, content=raw, auth=creds(user),
                                               headers={"Content-Type": "application/json"})
    message = error_of(response, 400)
    if raw:
        assert message.startswith("failed to parse body"), message
    else:  # an empty body decodes as null: not a valid object either
        assert message.startswith(("failed to validate", "Invalid settings format")), message


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/health/startup"])
async def test_health_needs_no_credentials(sqlite_api: Api, path: str) -> None:
    response = await sqlite_api.client.get(BASE + path)
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("pass", "warn")
    assert (await sqlite_api.client.get(BASE + path, headers=basic("nobody:nothing"))).status_code == 200


async def test_link_header_points_at_the_api_catalog(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    for response in (await sqlite_api.client.get(f"{BASE}/devices", auth=creds(user)),
                     await sqlite_api.client.get(f"{BASE}/devices")):
        assert response.headers["Link"] == '</.well-known/api-catalog>; rel="api-catalog"'
