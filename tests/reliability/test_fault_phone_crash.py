"""A phone crashes in the middle of sending and comes back (tests/reliability/httpx_phone.py plays it).

At the crash one message has been handed to the radio with none of its reports through, one has its Processed
report through and its Sent report queued, and one was received but not yet sent; a PATCH from before the crash
is still on its way. After the comeback no message goes to the radio twice, and the server's states converge to
the phone's own, even when that old PATCH arrives last.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from httpx_phone import LocalMessage, Phone, PhoneStore, register, settle
from live_server import LiveServer

pytestmark = pytest.mark.slow


def _times(states: dict[str, str]) -> dict[str, datetime]:
    return {state: datetime.fromisoformat(at) for state, at in states.items()}


async def test_phone_crash_mid_send(tmp_path: Path) -> None:
    with LiveServer(tmp_path, env={"DATABASE__URL": f"sqlite:///{tmp_path / 'smsgate.db'}"}) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            device = await register(http, "crash/phone")
            auth = (device["login"], device["password"])
            for ext_id in ("radio-only", "half-reported", "received"):
                response = await http.post("/api/3rdparty/v1/messages", auth=auth, json={
                    "id": ext_id, "textMessage": {"text": ext_id}, "phoneNumbers": ["+79990001122"]})
                assert response.status_code == 202, response.text

            # --- before the crash: what the first life of the phone got done ---------------------------
            store = PhoneStore(device["token"])
            before = Phone(http, store)
            response = await http.get("/api/mobile/v1/message", headers=before.headers)
            pulled = {item["id"]: LocalMessage(item["id"], item["phoneNumbers"]) for item in response.json()}
            assert set(pulled) == {"radio-only", "half-reported", "received"}
            store.messages.update(pulled)

            radio_only = pulled["radio-only"]
            radio_only.move("Processed")
            before.queue_report(radio_only)
            in_flight: dict[str, Any] = json.loads(json.dumps(radio_only.report()))  # reaches the server last
            store.radio.append(radio_only.id)
            radio_only.move("Sent")
            before.queue_report(radio_only)

            half = pulled["half-reported"]
            half.move("Processed")
            assert await before.patch(half.report())
            store.radio.append(half.id)
            half.move("Sent")
            before.queue_report(half)
            # crash: `before` is gone; its store (the app's database and queued jobs) stays

            # --- the comeback --------------------------------------------------------------------------
            after = Phone(http, store)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(after.run)
                await settle(lambda: after.connects >= 1 and not store.outbox
                             and all(m.state == "Delivered" for m in store.messages.values()), within=15)
                await trio.sleep(0.5)  # let the pull on connect land too
                await settle(lambda: not store.outbox, within=5)
                nursery.cancel_scope.cancel()
            assert await after.patch(in_flight)  # the old PATCH, overtaken, arrives now

            assert sorted(store.radio) == ["half-reported", "radio-only", "received"], store.radio
            for ext_id, local in store.messages.items():
                response = await http.get(f"/api/3rdparty/v1/messages/{ext_id}", auth=auth)
                found = response.json()
                assert found["state"] == local.state == "Delivered", (ext_id, found)
                assert [r["state"] for r in found["recipients"]] == ["Delivered"]
                reported = {k: v for k, v in _times(found["states"]).items() if k != "Pending"}
                assert reported == _times(local.history), ext_id
            response = await http.get("/api/mobile/v1/message", headers=after.headers)
            assert response.json() == []
