"""Two users, each with devices, messages, webhooks, settings and tokens: no route lets user A read, change,
cancel or delete user B's data, even with B's ids in hand (ids guessed, leaked, or chosen to collide).

Every route of the app is listed below (a new route fails `test_every_route_is_covered` until it is), and each
user-facing one is called by A aimed at B's things. Afterwards B's view, taken with B's own credentials and from
storage, must be what it was, and A's answer must carry none of B's data. Device tokens do not work on the
3rd-party API, nor Basic or JWT on the device routes of the mobile API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Api, make_settings, open_api

# Recent: an SMS older than tasks.inbox_cleanup.max_age (30 days) may be cleaned up by the server's own task in
# the middle of a test, which would read as a change to B's data.
RECEIVED_AT = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

TP = "/api/3rdparty/v1"
MB = "/api/mobile/v1"
B_TEXT = "text-only-b-may-read"
B_HOOK = "https://b.example.org/hook-only-b-may-read"
B_LIMIT = 4242
B_NAME = "b/name-only-b-may-read"
MARKERS = (B_TEXT, B_HOOK, str(B_LIMIT), B_NAME)


@dataclass
class User:
    login: str
    password: str
    device_id: str
    token: str  # the device's bearer token
    message_id: str
    webhook_id: str
    jti: str
    access_token: str
    refresh_token: str

    @property
    def basic(self) -> tuple[str, str]:
        return self.login, self.password


@dataclass
class World:
    api: Api
    a: User
    b: User


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    settings = make_settings(tmp_path, database_url, JWT__SECRET="isolation-" + "0123456789abcdef" * 3)
    async for api in open_api(settings):
        yield World(api, await _user(api, "a", "text of a", "https://a.example.org/hook", 7),
                    await _user(api, "b", B_TEXT, B_HOOK, B_LIMIT, B_NAME))


async def _user(api: Api, tag: str, text: str, hook: str, limit: int, name: str = "") -> User:
    first = await api.register(name=name or f"{tag}/first")
    basic = (first["login"], first["password"])
    second = await api.register(auth=basic, name=name or f"{tag}/second")
    http = api.client
    sent = await http.post(f"{TP}/messages", auth=basic, json={
        "id": f"{tag}-message", "deviceId": first["id"], "textMessage": {"text": text},
        "phoneNumbers": ["+79990001122"]})
    assert sent.status_code == 202, sent.text
    hooked = await http.post(f"{TP}/webhooks", auth=basic,
                             json={"id": f"{tag}-hook", "url": hook, "event": "sms:received"})
    assert hooked.status_code == 201, hooked.text
    patched = await http.patch(f"{TP}/settings", auth=basic,
                               json={"messages": {"limit_period": "PerDay", "limit_value": limit}})
    assert patched.status_code == 200, patched.text
    uploaded = await http.post(f"{MB}/inbox", headers={"Authorization": f"Bearer {first['token']}"}, json=[{
        "id": f"{tag}-inbox", "type": "MMS", "sender": "+79990001122", "content": text, "isEncrypted": True,
        "createdAt": RECEIVED_AT, "attachments": [{"partId": 1, "contentType": "text/plain",
                                                    "name": name or "part", "data": "AA=="}]}])
    assert uploaded.status_code == 201, uploaded.text
    issued = await http.post(f"{TP}/auth/token", auth=basic, json={"scopes": ["all:any"]})
    assert issued.status_code == 201, issued.text
    token = issued.json()
    assert second["id"] != first["id"]
    return User(first["login"], first["password"], first["id"], first["token"], f"{tag}-message", f"{tag}-hook",
                token["id"], token["access_token"], token["refresh_token"])


def _stable(value: Any) -> Any:
    """Drops what moves by itself (last seen, update times) from an answer."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in ("lastSeen", "updatedAt")}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


async def _view_of(world: World, user: User) -> dict[str, Any]:
    """Everything of `user` the API shows to `user`, plus the device rows as stored."""
    http, basic = world.api.client, user.basic
    jwt = {"Authorization": f"Bearer {user.access_token}"}
    device = {"Authorization": f"Bearer {user.token}"}
    view: dict[str, Any] = {}
    for key, path in (("messages", f"{TP}/messages?includeContent=true"), ("devices", f"{TP}/devices"),
                      ("webhooks", f"{TP}/webhooks"), ("settings", f"{TP}/settings"), ("inbox", f"{TP}/inbox")):
        response = await http.get(path, auth=basic)
        assert response.status_code == 200, (key, response.text)
        view[key] = _stable(response.json())
    view["jwt works"] = (await http.get(f"{TP}/devices", headers=jwt)).status_code
    view["pending"] = _stable((await http.get(f"{MB}/message", headers=device)).json())
    view["device webhooks"] = (await http.get(f"{MB}/webhooks", headers=device)).json()
    rows = await world.api.services.accounts.devices.for_user(user.login)
    view["rows"] = sorted((d.id, d.name, d.auth_token, d.push_token, repr(d.sim_cards)) for d in rows)
    return view


Request = tuple[str, str, dict[str, Any]]


def _a_basic(world: World) -> dict[str, Any]:
    return {"auth": world.a.basic}


def _a_device(world: World) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {world.a.token}"}}


def _report(world: World) -> list[dict[str, Any]]:
    return [{"id": world.b.message_id, "state": "Failed", "states": {"Failed": "2026-01-01T00:00:00.000Z"},
             "recipients": [{"phoneNumber": "+79990001122", "state": "Failed", "error": "by a"}]}]


# (method, rule) -> the request A makes against B's things. Rules as the app's url_map spells them.
ATTACKS: dict[tuple[str, str], Callable[[World], Request]] = {
    ("POST", f"{TP}/auth/token"): lambda w: ("POST", f"{TP}/auth/token", {
        **_a_basic(w), "json": {"scopes": ["all:any"]}}),
    ("DELETE", f"{TP}/auth/token/<jti:jti>"): lambda w: ("DELETE", f"{TP}/auth/token/{w.b.jti}", _a_basic(w)),
    ("POST", f"{TP}/auth/token/refresh"): lambda w: (
        "POST", f"{TP}/auth/token/refresh", {"headers": {"Authorization": f"Bearer {w.a.refresh_token}"}}),
    ("GET", f"{TP}/devices"): lambda w: ("GET", f"{TP}/devices", _a_basic(w)),
    ("GET", f"{TP}/device"): lambda w: ("GET", f"{TP}/device", _a_basic(w)),
    ("DELETE", f"{TP}/devices/<string:device_id>"): lambda w: ("DELETE", f"{TP}/devices/{w.b.device_id}", _a_basic(w)),
    ("DELETE", f"{TP}/device/<string:device_id>"): lambda w: ("DELETE", f"{TP}/device/{w.b.device_id}", _a_basic(w)),
    ("GET", f"{TP}/inbox"): lambda w: ("GET", f"{TP}/inbox", {**_a_basic(w), "params": {"deviceId": w.b.device_id}}),
    ("POST", f"{TP}/inbox/refresh"): lambda w: ("POST", f"{TP}/inbox/refresh", {**_a_basic(w), "json": {
        "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "deviceId": w.b.device_id}}),
    ("GET", f"{TP}/inbox/<string:message_id>/attachments/<string:part_id>"): lambda w: (
        "GET", f"{TP}/inbox/b-inbox/attachments/1", _a_basic(w)),
    ("GET", f"{TP}/logs"): lambda w: ("GET", f"{TP}/logs", {**_a_basic(w), "params": {"deviceId": w.b.device_id}}),
    # sending through B's device; the plain send (A's own device) collides with B's message id instead
    ("POST", f"{TP}/message"): lambda w: ("POST", f"{TP}/message", {**_a_basic(w), "json": {
        "deviceId": w.b.device_id, "textMessage": {"text": "from a"}, "phoneNumbers": ["+79990001122"]}}),
    ("POST", f"{TP}/messages"): lambda w: ("POST", f"{TP}/messages", {**_a_basic(w), "json": {
        "id": w.b.message_id, "textMessage": {"text": "from a"}, "phoneNumbers": ["+79990001122"]}}),
    ("GET", f"{TP}/message"): lambda w: ("GET", f"{TP}/message", {**_a_basic(w), "params": {
        "deviceId": w.b.device_id, "includeContent": "true"}}),
    ("GET", f"{TP}/messages"): lambda w: ("GET", f"{TP}/messages", {
        **_a_basic(w), "params": {"includeContent": "true"}}),
    ("GET", f"{TP}/message/<string:message_id>"): lambda w: ("GET", f"{TP}/message/{w.b.message_id}", _a_basic(w)),
    ("GET", f"{TP}/messages/<string:message_id>"): lambda w: ("GET", f"{TP}/messages/{w.b.message_id}", _a_basic(w)),
    ("DELETE", f"{TP}/message/<string:message_id>"): lambda w: (
        "DELETE", f"{TP}/message/{w.b.message_id}", _a_basic(w)),
    ("DELETE", f"{TP}/messages/<string:message_id>"): lambda w: (
        "DELETE", f"{TP}/messages/{w.b.message_id}", _a_basic(w)),
    ("POST", f"{TP}/message/inbox/export"): lambda w: ("POST", f"{TP}/message/inbox/export", {**_a_basic(w), "json": {
        "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "deviceId": w.b.device_id}}),
    ("POST", f"{TP}/messages/inbox/export"): lambda w: ("POST", f"{TP}/messages/inbox/export", {
        **_a_basic(w), "json": {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
                                "deviceId": w.b.device_id}}),
    ("GET", f"{TP}/settings"): lambda w: ("GET", f"{TP}/settings", _a_basic(w)),
    ("PUT", f"{TP}/settings"): lambda w: ("PUT", f"{TP}/settings", {**_a_basic(w), "json": {
        "messages": {"limit_period": "PerHour", "limit_value": 1}}}),
    ("PATCH", f"{TP}/settings"): lambda w: ("PATCH", f"{TP}/settings", {**_a_basic(w), "json": {
        "messages": {"limit_value": 2}}}),
    ("GET", f"{TP}/webhooks"): lambda w: ("GET", f"{TP}/webhooks", _a_basic(w)),
    ("POST", f"{TP}/webhooks"): lambda w: ("POST", f"{TP}/webhooks", {**_a_basic(w), "json": {
        "id": w.b.webhook_id, "url": "https://a.example.org/stolen", "event": "sms:sent"}}),
    ("DELETE", f"{TP}/webhooks/<string:webhook_id>"): lambda w: (
        "DELETE", f"{TP}/webhooks/{w.b.webhook_id}", _a_basic(w)),
    # mobile: A's phone, aimed at B's things
    ("POST", f"{MB}/device"): lambda w: ("POST", f"{MB}/device", {**_a_basic(w), "json": {"name": "a/third"}}),
    ("GET", f"{MB}/device"): lambda w: ("GET", f"{MB}/device", _a_device(w)),
    ("PATCH", f"{MB}/device"): lambda w: ("PATCH", f"{MB}/device", {**_a_device(w), "json": {
        "id": w.b.device_id, "pushToken": "a-took-over-b", "simCards": [{"slotIndex": 0, "simNumber": 1}]}}),
    ("GET", f"{MB}/message"): lambda w: ("GET", f"{MB}/message", _a_device(w)),
    ("GET", f"{MB}/messages"): lambda w: ("GET", f"{MB}/messages", _a_device(w)),
    ("PATCH", f"{MB}/message"): lambda w: ("PATCH", f"{MB}/message", {**_a_device(w), "json": _report(w)}),
    ("PATCH", f"{MB}/messages"): lambda w: ("PATCH", f"{MB}/messages", {**_a_device(w), "json": _report(w)}),
    ("POST", f"{MB}/inbox"): lambda w: ("POST", f"{MB}/inbox", {**_a_device(w), "json": [{  # B's id: no clash
        "id": "b-inbox", "type": "SMS", "sender": "+1", "content": "by a", "isEncrypted": True,
        "createdAt": "2026-01-01T00:00:00Z"}]}),
    ("GET", f"{MB}/settings"): lambda w: ("GET", f"{MB}/settings", _a_device(w)),
    ("GET", f"{MB}/webhooks"): lambda w: ("GET", f"{MB}/webhooks", _a_device(w)),
    ("GET", f"{MB}/user/code"): lambda w: ("GET", f"{MB}/user/code", _a_basic(w)),
    ("PATCH", f"{MB}/user/password"): lambda w: ("PATCH", f"{MB}/user/password", {**_a_device(w), "json": {
        "currentPassword": w.b.password, "newPassword": "a-chose-this-password"}}),
}
# Routes that hold no user's data: health, metrics, catalog, docs, the push relay (tested elsewhere).
USERLESS_PREFIXES = ("/health", f"{TP}/health", "/metrics", "/.well-known/", "/api/docs", "/static/",
                     "/api/upstream/")
USERLESS = {"/api", "/api/"}
# Streams: tested over real HTTP in test_isolation_streams.py.
STREAMS = {("GET", f"{MB}/events")}
DEVICE_ROUTES = [key for key in ATTACKS if key[1].startswith(MB) and key[1] not in (f"{MB}/device", f"{MB}/user/code")
                 ] + [("PATCH", f"{MB}/device")]


def test_every_route_is_covered(tmp_path: Path, sqlite_url: str) -> None:
    from reference_server.app import create_app

    app = create_app(make_settings(tmp_path, sqlite_url, JWT__SECRET="x" * 32))
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    uncovered = {(method, rule) for method, rule in routes
                 if (method, rule) not in ATTACKS and (method, rule) not in STREAMS and rule not in USERLESS
                 and not rule.startswith(USERLESS_PREFIXES)}
    assert not uncovered, f"routes without an isolation case: {sorted(uncovered)}"


@pytest.mark.parametrize("route", sorted(ATTACKS), ids=lambda route: f"{route[0]} {route[1]}")
async def test_a_cannot_reach_b(world: World, route: tuple[str, str]) -> None:
    before = await _view_of(world, world.b)
    method, path, options = ATTACKS[route](world)
    response = await world.api.client.request(method, path, **options)
    assert response.status_code < 500 or response.status_code == 501, response.text  # 501: logs
    leaked = [marker for marker in MARKERS if marker in response.text]
    assert not leaked, f"{method} {path} showed B's data: {response.text[:300]}"
    assert await _view_of(world, world.b) == before, f"{method} {path} changed B's data"
    basic = await world.api.client.get(f"{TP}/devices", auth=world.b.basic)
    assert basic.status_code == 200  # B's password still works


async def test_b_ids_answer_as_unknown_ids(world: World) -> None:
    """Guessing right gains nothing: B's ids answer A exactly as ids that exist nowhere."""
    http, auth = world.api.client, world.a.basic
    for template, real in ((f"{TP}/messages/{{}}", world.b.message_id), (f"{TP}/message/{{}}", world.b.message_id)):
        for method in ("GET", "DELETE"):
            guessed = await http.request(method, template.format(real), auth=auth)
            unknown = await http.request(method, template.format("no-such-id"), auth=auth)
            assert (guessed.status_code, guessed.json()["message"]) == (unknown.status_code, unknown.json()["message"])
            assert guessed.status_code == 404


async def test_device_tokens_do_not_work_on_the_3rdparty_api(world: World) -> None:
    for method, rule in sorted(ATTACKS):
        if not rule.startswith(TP):
            continue
        path = rule.replace("<string:jti>", world.b.jti).replace("<string:device_id>", world.b.device_id) \
            .replace("<string:message_id>", world.b.message_id).replace("<string:webhook_id>", world.b.webhook_id)
        response = await world.api.client.request(method, path, headers={"Authorization": f"Bearer {world.b.token}"},
                                                  json={})
        assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.parametrize("credential", ["basic", "jwt"])
async def test_basic_and_jwt_do_not_work_on_device_routes(world: World, credential: str) -> None:
    b = world.b
    auth: dict[str, Any] = ({"auth": b.basic} if credential == "basic"
                            else {"headers": {"Authorization": f"Bearer {b.access_token}"}})
    for method, rule in DEVICE_ROUTES:
        response = await world.api.client.request(method, rule, json=[], **auth)
        assert response.status_code == 401, (method, rule, response.status_code)
    info = await world.api.client.get(f"{MB}/device", **auth)
    assert "device" not in info.json()  # the optional-auth route shows no device for them


async def test_colliding_ids_stay_apart(world: World) -> None:
    """A chooses B's message and webhook ids for its own things: both users keep their own."""
    http, a, b = world.api.client, world.a, world.b
    sent = await http.post(f"{TP}/messages", auth=a.basic, json={
        "id": b.message_id, "textMessage": {"text": "a's own"}, "phoneNumbers": ["+79990001122"]})
    assert sent.status_code == 202, sent.text
    hooked = await http.post(f"{TP}/webhooks", auth=a.basic,
                             json={"id": b.webhook_id, "url": "https://a.example.org/own", "event": "sms:sent"})
    assert hooked.status_code == 201, hooked.text
    mine = await http.get(f"{TP}/messages/{b.message_id}", auth=a.basic)
    assert mine.json()["textMessage"] == {"text": "a's own"}
    theirs = await http.get(f"{TP}/messages/{b.message_id}", auth=b.basic)
    assert theirs.json()["textMessage"] == {"text": B_TEXT}
    assert [h["url"] for h in (await http.get(f"{TP}/webhooks", auth=b.basic)).json()] == [B_HOOK]
    cancelled = await http.delete(f"{TP}/messages/{b.message_id}", auth=a.basic)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "Cancelling"
    assert (await http.get(f"{TP}/messages/{b.message_id}", auth=b.basic)).json()["state"] == "Pending"
    await http.delete(f"{TP}/webhooks/{b.webhook_id}", auth=a.basic)
    assert [h["url"] for h in (await http.get(f"{TP}/webhooks", auth=b.basic)).json()] == [B_HOOK]
