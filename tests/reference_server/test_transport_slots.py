"""`guard_requests`, the request-slot limit (`http.max_concurrent_requests`), driven as ASGI under Trio: a request
beyond the slots waits, then gets 503 in the JSON error shape; a request with a body asks for its slot once the
body is in. (Over real HTTP: tests/reference_server/test_abuse_transport.py.)"""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing

from reference_server.transport import guard_requests

WAIT = 5.0  # the slot wait; the autojump clock skips it


def _scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "http_version": "1.1", "method": method, "path": "/", "headers": headers or []}


class Client:
    """One request: its body arrives when `body_in` is set; what the app sent is in `sent`."""

    def __init__(self, app: Any, scope: dict[str, Any], body: bytes = b"") -> None:
        self.app, self.scope, self.body = app, scope, body
        self.body_in = trio.Event()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        await self.body_in.wait()
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)


def _slow_app(release: trio.Event, seen: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["type"])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def test_a_request_beyond_the_slots_waits_then_gets_503(autojump_clock: trio.testing.MockClock) -> None:
    release, seen = trio.Event(), list[str]()
    app = guard_requests(_slow_app(release, seen), 1, WAIT)
    holder, late = Client(app, _scope()), Client(app, _scope())
    holder.body_in.set()
    late.body_in.set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(holder.run)
        await trio.testing.wait_all_tasks_blocked()
        await late.run()  # waits WAIT for the slot the holder keeps
        assert late.status == 503
        assert json.loads(late.sent[1]["body"]) == {"message": "server busy, try again later"}
        assert (b"retry-after", b"1") in late.sent[0]["headers"]
        release.set()
    assert holder.status == 200 and seen == ["http.request"]  # the late one never reached the app


async def test_a_request_with_a_body_asks_for_its_slot_once_the_body_is_in(
        autojump_clock: trio.testing.MockClock) -> None:
    release, seen = trio.Event(), list[str]()
    app = guard_requests(_slow_app(release, seen), 1, WAIT)
    upload = Client(app, _scope("POST", [(b"content-length", b"2")]), b"{}")
    holder = Client(app, _scope())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(upload.run)  # in the app, waiting for its body, without a slot
        await trio.testing.wait_all_tasks_blocked()
        holder.body_in.set()
        nursery.start_soon(holder.run)  # so this one gets the only slot
        await trio.testing.wait_all_tasks_blocked()
        assert seen == ["http.request"]
        upload.body_in.set()  # the body is in: no slot within WAIT -> 503, the app sees a disconnect
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(WAIT + 1)
        assert upload.status == 503
        release.set()
    assert seen == ["http.request", "http.disconnect"]
    assert holder.status == 200
    assert [m["type"] for m in upload.sent] == ["http.response.start", "http.response.body"]  # the app's answer dropped
