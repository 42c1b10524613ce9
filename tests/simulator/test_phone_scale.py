"""1,000 phones in one process: Trio tasks on one shared httpx client, no thread per phone."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from simulator.phone import Phone, PhoneConfig, RadioConfig

PHONES = 1000


async def idle() -> AsyncIterator[bytes]:
    await trio.sleep_forever()
    yield b""


@pytest.mark.slow
async def test_a_thousand_phones_register_send_and_report() -> None:
    delivered: set[str] = set()
    served: set[str] = set()

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/mobile/v1")
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if (request.method, path) == ("POST", "/device"):
            n = len(served)
            served.add(f"t{n}")
            return httpx.Response(201, json={"id": f"d{n}", "token": f"t{n}", "login": "L", "password": "p"})
        if (request.method, path) == ("GET", "/message"):
            pending = [] if token in delivered else [{"id": f"m-{token}", "textMessage": {"text": "hi"},
                                                      "phoneNumbers": ["+15550001"], "state": "Pending"}]
            return httpx.Response(200, json=pending)
        if (request.method, path) == ("PATCH", "/message"):
            if json.loads(request.content)[0]["state"] == "Delivered":
                delivered.add(token)
            return httpx.Response(204)
        if path == "/events":  # a stream that stays open: its opening is what makes a new phone pull
            return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=idle())
        return httpx.Response(200, json=[] if path == "/webhooks" else {})

    radio = RadioConfig(sent_latency=(0.1, 0.5), delivered_latency=(0.1, 0.5))
    threads = threading.active_count()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http, trio.open_nursery() as nursery:
        phones = [Phone(PhoneConfig(server="http://fake.test/api/mobile/v1", radio=radio, seed=i), http=http)
                  for i in range(PHONES)]
        for phone in phones:
            await nursery.start(phone.run)
        with trio.fail_after(120):  # a guard against a hang, not a timing: the bench measures speed
            while len(delivered) < PHONES:  # noqa: ASYNC110
                await trio.sleep(0.1)
        assert threading.active_count() <= threads + 2
        nursery.cancel_scope.cancel()
