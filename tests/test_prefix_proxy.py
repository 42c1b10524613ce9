"""The test proxy that moves the reference server's two APIs to other prefixes: requests, headers, SSE."""

from __future__ import annotations

from pathlib import Path

import httpx
from live_server import LiveServer
from prefix_proxy import MOBILE_PREFIX, THIRDPARTY_PREFIX, running_proxy, served_proxy
from sse_client import SseReader


async def test_both_apis_answer_at_their_new_prefixes_and_nowhere_else(tmp_path: Path) -> None:
    with LiveServer(tmp_path) as server:
        async with served_proxy(server.base_url) as proxy, httpx.AsyncClient(timeout=10) as http:
            assert proxy.mobile_url.endswith(MOBILE_PREFIX) and proxy.thirdparty_url.endswith(THIRDPARTY_PREFIX)
            # the server's own paths are not forwarded: a tool that ignores its prefix options sees 404
            for path in ("/api/mobile/v1/device", "/api/3rdparty/v1/health", "/health"):
                assert (await http.get(proxy.base_url + path)).status_code == 404
            registered = await http.post(proxy.mobile_url + "/device", json={"name": "proxy-phone"})
            assert registered.status_code == 201, registered.text
            device = registered.json()
            async with http.stream("GET", proxy.mobile_url + "/events",
                                   headers={"Authorization": f"Bearer {device['token']}"}) as events:
                assert events.status_code == 200
                assert events.headers["content-type"].startswith("text/event-stream")
                reader = SseReader(events)
                sent = await http.post(proxy.thirdparty_url + "/messages", auth=(device["login"], device["password"]),
                                       json={"id": "via-proxy", "textMessage": {"text": "hi"},
                                             "phoneNumbers": ["+79990000001"]})
                assert sent.status_code == 202, sent.text
                assert sent.headers["location"] == f"{THIRDPARTY_PREFIX}/messages/via-proxy"
                frame = await reader.next(within=5)
                assert frame.event == "MessageEnqueued"
            pending = await http.get(proxy.mobile_url + "/message",
                                     headers={"Authorization": f"Bearer {device['token']}"})
            assert [m["id"] for m in pending.json()] == ["via-proxy"]
            assert proxy.app.refused == 3


def test_the_threaded_proxy_serves_sync_callers(tmp_path: Path) -> None:
    with LiveServer(tmp_path) as server, running_proxy(server.base_url) as proxy:
        assert httpx.get(proxy.thirdparty_url + "/health", timeout=10).status_code == 200
        assert httpx.get(proxy.base_url + "/api/3rdparty/v1/health", timeout=10).status_code == 404
