"""Bad input: bodies over the limit, malformed JSON, wrong types, huge arrays and deep nesting, unicode edge cases
and SQL-injection-shaped values. Each is a 4xx that changes nothing, or, where the value is legitimate text,
is stored and read back byte for byte (on SQLite and MariaDB)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Api, error_of

from reference_server.storage import tables

TP = "/api/3rdparty/v1"
MB = "/api/mobile/v1"
PHONE = "+79990001122"
INJECTIONS = ["' OR '1'='1", "1; DROP TABLE messages; --", "\" OR \"\"=\"",
              "x' UNION SELECT password_hash FROM users --",
              "%' OR 1=1 #", "\\'; DELETE FROM devices; --"]
# JSON routes and a valid-looking body for each (the shape matters less than that it is JSON)
JSON_ROUTES = [("POST", f"{TP}/messages"), ("POST", f"{TP}/webhooks"), ("PUT", f"{TP}/settings"),
               ("PATCH", f"{TP}/settings"), ("POST", f"{TP}/inbox/refresh"), ("POST", f"{TP}/messages/inbox/export"),
               ("POST", f"{MB}/device"), ("PATCH", f"{MB}/device"), ("PATCH", f"{MB}/message"),
               ("PATCH", f"{MB}/user/password"), ("POST", "/api/upstream/v1/push")]
MALFORMED = [b"{", b"{'a': 1}", b'{"a": 1,}', b"\xff\xfe{}", b'{"a": "\\ud800"}', b"NaN", b'{"a": 1} trailing',
             b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000]
WRONG_TYPES = [
    ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": PHONE}),
    ("POST", f"{TP}/messages", {"textMessage": {"text": 5}, "phoneNumbers": [PHONE]}),
    ("POST", f"{TP}/messages", {"textMessage": "x", "phoneNumbers": [PHONE]}),
    ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE], "simNumber": "1"}),
    ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE], "isEncrypted": "true"}),
    ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE], "ttl": 1.5}),
    ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE], "priority": 2**70}),
    ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE], "validUntil": 1700000000}),
    ("POST", f"{TP}/messages", ["not", "an", "object"]),
    ("POST", f"{TP}/webhooks", {"url": ["https://x.example"], "event": "sms:sent"}),
    ("PATCH", f"{TP}/settings", {"messages": {"limit_value": "many"}}),
    ("PATCH", f"{TP}/settings", {"messages": []}),
    ("PATCH", f"{MB}/message", {"id": "x", "state": "Sent"}),
    ("PATCH", f"{MB}/message", [{"id": "x", "state": 5, "recipients": [{"phoneNumber": PHONE,
                                                                                  "state": "Sent"}]}]),
    ("PATCH", f"{MB}/user/password", {"currentPassword": 1, "newPassword": 2}),
]


async def _counts(api: Api) -> dict[str, int]:
    def count(conn: Any) -> dict[str, int]:
        return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in tables.metadata.sorted_tables if table is not tables.task_leases}  # background work

    return dict(await api.services.db.run(count))


async def _setup(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    user = await api.register(name="abuse/phone")
    response = await api.send(user, {"id": "kept", "textMessage": {"text": "kept"}, "phoneNumbers": [PHONE]})
    assert response.status_code == 202
    return user, {"Authorization": f"Bearer {user['token']}"}


def _auth_for(method: str, path: str, user: dict[str, Any], device: dict[str, str]) -> dict[str, Any]:
    if path.startswith(MB) and (method, path) != ("POST", f"{MB}/device"):
        return {"headers": {**device, "Content-Type": "application/json"}}
    if path.startswith(TP):
        return {"auth": (user["login"], user["password"]), "headers": {"Content-Type": "application/json"}}
    return {"headers": {"Content-Type": "application/json"}}


async def test_bodies_over_the_limit_get_413(sqlite_api: Api) -> None:
    user, device = await _setup(sqlite_api)
    before = await _counts(sqlite_api)
    limit = sqlite_api.services.settings.http.max_body_bytes
    huge = b'{"textMessage": {"text": "' + b"x" * limit + b'"}, "phoneNumbers": ["+79990001122"]}'
    for method, path in JSON_ROUTES:
        response = await sqlite_api.client.request(method, path, content=huge, **_auth_for(method, path, user, device))
        assert response.status_code == 413, (path, response.status_code)
        assert response.json()["message"]

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = await sqlite_api.client.post(f"{MB}/device", content=chunks())
    assert response.status_code == 413
    assert await _counts(sqlite_api) == before


@pytest.mark.parametrize("body", MALFORMED, ids=lambda b: repr(b[:12]))
async def test_malformed_json_is_400_and_changes_nothing(sqlite_api: Api, body: bytes) -> None:
    user, device = await _setup(sqlite_api)
    before = await _counts(sqlite_api)
    for method, path in JSON_ROUTES:
        response = await sqlite_api.client.request(method, path, content=body, **_auth_for(method, path, user, device))
        assert response.status_code == 400, (method, path, response.status_code, response.text)
        assert response.json()["message"]
    assert await _counts(sqlite_api) == before


async def test_wrong_types_and_huge_arrays_are_400(sqlite_api: Api) -> None:
    user, device = await _setup(sqlite_api)
    before = await _counts(sqlite_api)
    huge = [
        ("POST", f"{TP}/messages", {"textMessage": {"text": "x"}, "phoneNumbers": [PHONE] * 10_000}),
        ("PATCH", f"{MB}/message", [{"id": "x", "state": "Sent", "recipients": [{"phoneNumber": PHONE,
                                                                                "state": "Sent"}]}] * 1001),
        ("POST", "/api/upstream/v1/push", [{"token": "t", "event": "MessageEnqueued"}] * 1001),
        ("POST", f"{TP}/auth/token", {"scopes": ["all:any"] * 10_000}),
    ]
    for method, path, body in WRONG_TYPES + huge:
        response = await sqlite_api.client.request(method, path, json=body, **_auth_for(method, path, user, device))
        assert response.status_code in (400, 501), (method, path, body if len(str(body)) < 200 else "...",
                                                    response.text)
    assert await _counts(sqlite_api) == before


async def test_injection_shaped_values_find_nothing_and_change_nothing(api: Api) -> None:
    user, device = await _setup(api)
    auth = (user["login"], user["password"])
    api.services.login_limiter.limit = 0  # every wrong login here is meant; the limit has its own tests
    before = await _counts(api)
    http = api.client
    for value in INJECTIONS:
        for path in (f"{TP}/messages/{value}", f"{TP}/message/{value}"):
            assert (await http.get(path, auth=auth)).status_code == 404
            assert (await http.delete(path, auth=auth)).status_code == 404
        assert (await http.delete(f"{TP}/devices/{value}", auth=auth)).status_code == 204  # upstream: always 204
        assert (await http.delete(f"{TP}/webhooks/{value}", auth=auth)).status_code == 204
        listed = await http.get(f"{TP}/messages", auth=auth, params={"deviceId": value[:21].ljust(21, "x")})
        assert listed.status_code == 200 and listed.json() == []
        for param in ("state", "sort", "from", "limit", "includeContent"):
            assert (await http.get(f"{TP}/messages", auth=auth, params={param: value})).status_code == 400
        assert (await http.get(f"{TP}/messages", auth=(value, value))).status_code == 401
        assert (await http.get(f"{TP}/messages", auth=(user["login"], value))).status_code == 401
        assert (await http.get(f"{MB}/message", headers={"Authorization": f"Bearer {value}"})).status_code == 401
        reported = await http.patch(f"{MB}/message", headers=device, json=[
            {"id": value, "state": "Failed", "recipients": [{"phoneNumber": value, "state": "Failed"}]}])
        assert reported.status_code in (204, 400)  # 400: longer than an id may be
    assert await _counts(api) == before
    # the original message was not touched either
    kept = (await http.get(f"{TP}/messages/kept", auth=auth)).json()
    assert kept["state"] == "Pending" and kept["textMessage"] == {"text": "kept"}


UNICODE_TEXTS = [
    "😀" * 16_383 + "x" * 3,  # 4-byte characters (utf8mb4 on MariaDB), 65,535 bytes and more
    "nul\x00inside", "rtl \u202eoverride\u202c", "e\u0301 combining", "zero\u200bwidth\ufeff", "\U0010ffff max",
    "𝕌𝕟𝕚𝕔𝕠𝕕𝕖", "‮'; DROP TABLE messages; --",
]


@pytest.mark.parametrize("text", UNICODE_TEXTS, ids=lambda t: repr(t[:10]))
async def test_unicode_and_injection_text_round_trips(api: Api, text: str, request: pytest.FixtureRequest) -> None:
    user, device = await _setup(api)
    # PostgreSQL text cannot hold NUL: a column value with one is refused (400), not stored (the message text
    # is stored as JSON, where it is escaped, and round-trips on every backend).
    nul_refused = "\x00" in text and request.node.callspec.params["database_url"] == "postgresql"
    auth = (user["login"], user["password"])
    response = await api.send(user, {"id": "u1", "textMessage": {"text": text}, "phoneNumbers": [PHONE]})
    assert response.status_code == 202, response.text
    found = (await api.client.get(f"{TP}/messages/u1", auth=auth)).json()
    assert found["textMessage"]["text"] == text
    pulled = (await api.client.get(f"{MB}/message", headers=device)).json()
    assert {m["id"]: m["textMessage"]["text"] for m in pulled}["u1"] == text
    # the same text as an id, a device name and a webhook url where it fits the length rules
    named = await api.client.post(f"{MB}/device", json={"name": text[:128]}, auth=auth)
    if nul_refused:
        assert "NUL" in error_of(named, 400)
        return
    assert named.status_code == 201, named.text
    hooked = await api.client.post(f"{TP}/webhooks", auth=auth,
                                   json={"id": text[:36], "url": f"https://x.example/{text[:200]}",
                                         "event": "sms:sent"})
    assert hooked.status_code in (201, 400), hooked.text
    if hooked.status_code == 201:
        listed = (await api.client.get(f"{TP}/webhooks", auth=auth)).json()
        assert text[:36] in [hook["id"] for hook in listed]


async def test_lone_surrogates_and_bad_base64_credentials_are_4xx(sqlite_api: Api) -> None:
    user, _ = await _setup(sqlite_api)
    auth = (user["login"], user["password"])
    raw_surrogate = '{"textMessage": {"text": "\udc80"}, "phoneNumbers": ["+79990001122"]}'
    for raw in (b'{"textMessage": {"text": "\\udc80"}, "phoneNumbers": ["+79990001122"]}',
                raw_surrogate.encode("utf-8", "surrogatepass")):
        response = await sqlite_api.client.post(f"{TP}/messages", content=raw, auth=auth,
                                                headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
    for header in ("Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), "Basic !!!", "Basic " + "A" * 100_000,
                   "Basic " + base64.b64encode(b"no-colon").decode()):
        response = await sqlite_api.client.get(f"{TP}/messages", headers={"Authorization": header})
        assert response.status_code in (401, 431), response.status_code


async def test_recipients_differing_in_case_are_distinct_on_every_backend(api: Api) -> None:
    """Found by the fuzz pass: MariaDB's default collation counted `ABC` and `abc` (or two strings of ignorable
    control characters) as one and the unique key answered 500. Since migration 0006 recipients compare byte for
    byte there too, as on SQLite: both are stored, as given."""
    user, _ = await _setup(api)
    for phones in (["ABC", "abc"], ["\u0081\u0081", "\u000f"]):
        response = await api.client.post(f"{TP}/messages", params={"skipPhoneValidation": "true"},
                                         auth=(user["login"], user["password"]),
                                         json={"textMessage": {"text": "x"}, "phoneNumbers": phones})
        assert response.status_code == 202, response.text
        assert [r["phoneNumber"] for r in response.json()["recipients"]] == phones


async def test_early_years_are_written_as_rfc3339(sqlite_api: Api) -> None:
    """Found by the fuzz pass: year 16 came back as "16-10-22T…" (strftime's %Y), no RFC 3339 date."""
    user, device = await _setup(sqlite_api)
    response = await sqlite_api.send(user, {"id": "old", "textMessage": {"text": "x"}, "phoneNumbers": [PHONE],
                                            "validUntil": "0016-10-22T04:47:48Z"})
    assert response.status_code == 202, response.text
    pulled = {m["id"]: m for m in (await sqlite_api.client.get(f"{MB}/message", headers=device)).json()}
    assert pulled["old"]["validUntil"] == "0016-10-22T04:47:48.000Z"
