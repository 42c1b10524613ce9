"""Upstream's behaviours that a careful user of the Go server relies on (issue #16, part 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from conftest import Api, make_settings, open_api
from live_server import LiveServer

TEXT = {"textMessage": {"text": "hello"}, "phoneNumbers": ["+79990001122"]}
SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret!"


def device(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


async def test_a_report_with_an_unknown_state_keeps_the_others(api: Api) -> None:
    user = await api.register()
    first, second = [(await api.send(user, TEXT)).json()["id"] for _ in range(2)]
    recipients = [{"phoneNumber": "+79990001122", "state": "Sent"}]
    answer = await api.client.patch("/api/mobile/v1/message", headers=device(user), json=[
        {"id": first, "state": "Teleported", "recipients": recipients},
        {"id": second, "state": "Sent", "recipients": recipients},
        {"id": first, "state": "Sent", "recipients": [{"phoneNumber": "+79990001122", "state": "Lost"}]},
    ])
    assert answer.status_code == 204, answer.text
    auth = (user["login"], user["password"])
    states = {m: (await api.client.get(f"/api/3rdparty/v1/messages/{m}", auth=auth)).json()["state"]
              for m in (first, second)}
    assert states == {first: "Pending", second: "Sent"}
    # Any other fault still refuses the batch, as upstream's validator does.
    broken = await api.client.patch("/api/mobile/v1/message", headers=device(user),
                                    json=[{"id": second, "state": "Teleported"}, {"state": "Sent"}])
    assert broken.status_code == 400


async def test_inbox_read_is_a_scope(tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, JWT__SECRET=SECRET)):
        user = await api.register()
        issued = await api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": ["inbox:read"]},
                                       auth=(user["login"], user["password"]))
        assert issued.status_code == 201, issued.text
        refused = await api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": ["inbox:write"]},
                                        auth=(user["login"], user["password"]))
        assert refused.status_code == 400


async def test_every_answer_carries_a_request_id(sqlite_api: Api) -> None:
    client = sqlite_api.client
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123_XYZ"})
    assert echoed.headers["X-Request-ID"] == "abc-123_XYZ"
    made = {(await client.get("/api/3rdparty/v1/devices")).headers["X-Request-ID"] for _ in range(2)}
    assert len(made) == 2 and all(len(rid) == 36 for rid in made)  # two fresh UUIDs, on 401 answers too
    for insane in ("x" * 129, "has space", "tab\there", "ünïcode".encode()):
        replaced = await client.get("/nowhere", headers={"X-Request-ID": insane})
        assert replaced.status_code == 404 and replaced.headers["X-Request-ID"] not in (insane, "has")
        assert len(replaced.headers["X-Request-ID"]) == 36
    assert (await client.get("/health/live", headers={"X-Request-ID": "y" * 128})).headers["X-Request-ID"] == "y" * 128


async def test_max_failed_age_zero_turns_the_failed_check_off(tmp_path: Any, sqlite_url: str) -> None:
    # Upstream checks the failed streak only when both max_failed and max_failed_age are set.
    settings = make_settings(tmp_path, sqlite_url, MESSAGES__QUEUE__MAX_FAILED="1",
                             MESSAGES__QUEUE__MAX_FAILED_AGE="0", MESSAGES__QUEUE__STATS_REFRESH_INTERVAL="0s")
    async for api in open_api(settings):
        user = await api.register()
        for _ in range(2):
            sent = (await api.send(user, TEXT)).json()
            assert "id" in sent, sent
            reported = await api.client.patch("/api/mobile/v1/message", headers=device(user), json=[
                {"id": sent["id"], "state": "Failed",
                 "recipients": [{"phoneNumber": "+79990001122", "state": "Failed", "error": "x"}]}])
            assert reported.status_code == 204
        assert (await api.send(user, TEXT)).status_code == 202


def test_a_live_server_goes_on_past_unknown_keys_and_logs_request_ids(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("gateway:\n  mode: public\nhttp:\n  proxys: [10.0.0.1]\ndatabase:\n  timezone: Asia/Tokyo\n")
    env = {"CONFIG_PATH": str(config), "LOG__LEVEL": "DEBUG", "DATABASE__URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    with LiveServer(tmp_path, env=env) as server:
        answer = httpx.get(f"{server.base_url}/health/live", headers={"X-Request-ID": "trace-4711"}, timeout=10)
        assert answer.headers["X-Request-ID"] == "trace-4711"
        made = httpx.get(f"{server.base_url}/api/3rdparty/v1/devices", timeout=10).headers["X-Request-ID"]
    log = server.log()
    assert "unknown key 'http.proxys' in" in log and "(did you mean 'http.proxies'?)" in log
    assert "database.timezone is set but has no effect" in log
    assert any('"GET /health/live' in line and line.endswith("request_id=trace-4711") for line in log.splitlines())
    assert any("/api/3rdparty/v1/devices" in line and line.endswith(f"request_id={made}") for line in log.splitlines())


async def test_json_keys_match_in_any_letter_case(sqlite_api: Api) -> None:
    # Go's decoder matches a key to its field in any case; of two keys for one field, the later wins.
    user = await sqlite_api.register()
    sent = await sqlite_api.send(user, {"TextMessage": {"TEXT": "hi"}, "phonenumbers": ["+7 999 000 11 22"],
                                        "ID": "any-case"})
    assert sent.status_code == 202, sent.text
    assert sent.json()["id"] == "any-case" and sent.json()["recipients"][0]["phoneNumber"] == "+79990001122"
    later = await sqlite_api.send(user, {**TEXT, "phoneNumbers": ["not a number"], "PhoneNumbers": ["+79990003344"]})
    assert later.status_code == 202 and later.json()["recipients"][0]["phoneNumber"] == "+79990003344"
    text = {"textMessage": TEXT["textMessage"]}
    earlier = await sqlite_api.send(user, {**text, "PhoneNumbers": ["+79990003344"], "phoneNumbers": ["nope"]})
    assert earlier.status_code == 400


async def test_patch_with_a_null_section_leaves_it_alone(api: Api) -> None:
    """As upstream's `appendMap`: a section sent as null is skipped; a key sent as null is stored as null."""
    user = await api.register()
    auth = (user["login"], user["password"])
    stored = {"messages": {"send_interval_min": 5, "send_interval_max": 10}, "ping": {"interval_seconds": 60}}
    assert (await api.client.put("/api/3rdparty/v1/settings", json=stored, auth=auth)).status_code == 200
    answer = await api.client.patch("/api/3rdparty/v1/settings", auth=auth,
                                    json={"messages": None, "ping": {"interval_seconds": None}})
    assert answer.status_code == 200, answer.text
    settings = (await api.client.get("/api/3rdparty/v1/settings", auth=auth)).json()
    assert settings["messages"] == {"send_interval_min": 5, "send_interval_max": 10}
    assert settings["ping"] == {"interval_seconds": None}
