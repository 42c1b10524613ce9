"""Event streams are per device: user A's triggers, even aimed at user B's device ids, never reach B's
stream, and B's never reach A's (real HTTP: Hypercorn in this Trio run, the app's own event routing)."""

from __future__ import annotations

from pathlib import Path

import httpx
from conftest import make_settings
from sse_client import event_stream, eventually, served

from reference_server.app import create_app

TP = "/api/3rdparty/v1"
WINDOW = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}


async def test_streams_carry_only_the_owners_events(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'streams.db'}"))
    sse = app.extensions["smsgate"].events.sse
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        a = (await http.post("/api/mobile/v1/device", json={"name": "a"})).json()
        b = (await http.post("/api/mobile/v1/device", json={"name": "b"})).json()
        a_auth, b_auth = (a["login"], a["password"]), (b["login"], b["password"])
        async with event_stream(http, a["token"]) as a_stream, event_stream(http, b["token"]) as b_stream:
            await eventually(lambda: sse.connections(a["id"]) == 1 and sse.connections(b["id"]) == 1)

            # A aims at B's device: refused or routed nowhere
            sent = await http.post(f"{TP}/messages", auth=a_auth, json={
                "deviceId": b["id"], "textMessage": {"text": "x"}, "phoneNumbers": ["+79990001122"]})
            assert sent.status_code == 400
            for path in (f"{TP}/inbox/refresh", f"{TP}/messages/inbox/export"):
                response = await http.post(path, auth=a_auth, json={**WINDOW, "deviceId": b["id"]})
                assert response.status_code == 202
            hooked = await http.post(f"{TP}/webhooks", auth=a_auth,
                                     json={"url": "https://a.example.org/h", "event": "sms:sent", "deviceId": b["id"]})
            assert hooked.status_code == 400

            # each user's own trigger reaches only its own device, and comes first: nothing of A's came before
            # (a stream can be read after `nothing_for` no more, so that check comes last)
            sent = await http.post(f"{TP}/messages", auth=b_auth, json={
                "textMessage": {"text": "for b"}, "phoneNumbers": ["+79990001122"]})
            assert sent.status_code == 202
            assert (await b_stream.next()).event == "MessageEnqueued"
            await http.patch(f"{TP}/settings", auth=a_auth, json={"messages": {"limit_value": 3,
                                                                               "limit_period": "PerDay"}})
            assert (await a_stream.next()).event == "SettingsUpdated"
            await a_stream.nothing_for(0.3)
            await b_stream.nothing_for(0.3)
