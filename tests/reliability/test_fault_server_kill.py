"""The server is SIGKILLed in the middle of a run of SSE phones and comes back on the same port.

The phones (tests/reliability/httpx_phone.py: the app's protocol played with httpx) lose their streams, reconnect
with a backoff, pull on connect, and every message answered 202 reaches a final state, sent by one phone once.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from httpx_phone import FINAL, Phone, PhoneStore, register, settle
from live_server import LiveServer

pytestmark = pytest.mark.slow

PHONES = 3
MESSAGES = 60
KILL_AFTER = 20  # accepted sends before the kill
DOWN_SECONDS = 1.5


async def _final_states(http: httpx.AsyncClient, auth: tuple[str, str]) -> dict[str, str]:
    states: dict[str, str] = {}
    offset = 0
    while True:
        response = await http.get("/api/3rdparty/v1/messages", params={"limit": 100, "offset": offset}, auth=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        states.update({m["id"]: m["state"] for m in page})
        if len(page) < 100:
            return states
        offset += 100


async def test_phones_recover_from_a_server_sigkill(tmp_path: Path) -> None:
    env = {"DATABASE__URL": f"sqlite:///{tmp_path / 'smsgate.db'}", "SSE__KEEP_ALIVE_PERIOD_SECONDS": "1"}
    server = LiveServer(tmp_path, env=env)
    await trio.to_thread.run_sync(server.start)
    restarted: LiveServer | None = None
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            first = await register(http, "kill/phone-0")
            auth = (first["login"], first["password"])
            stores = [PhoneStore(first["token"])]
            for n in range(1, PHONES):
                stores.append(PhoneStore((await register(http, f"kill/phone-{n}", auth))["token"]))
            phones = [Phone(http, store) for store in stores]
            accepted: set[str] = set()
            unanswered: set[str] = set()

            async def drive() -> None:
                for n in range(MESSAGES):
                    ext_id = f"kill-{n}"
                    body = {"id": ext_id, "textMessage": {"text": f"hello {n}"}, "phoneNumbers": ["+79990001122"]}
                    try:
                        response = await http.post("/api/3rdparty/v1/messages", json=body, auth=auth, timeout=5)
                    except httpx.TransportError:
                        unanswered.add(ext_id)  # the server is down: not accepted, the sender would retry
                    else:
                        assert response.status_code == 202, response.text
                        accepted.add(ext_id)
                    await trio.sleep(0.05)

            async def kill_and_restart() -> None:
                nonlocal restarted
                await settle(lambda: len(accepted) >= KILL_AFTER, within=30)
                await trio.to_thread.run_sync(server.kill)
                await trio.sleep(DOWN_SECONDS)
                restarted = LiveServer(tmp_path, env=env, port=server.port)
                await trio.to_thread.run_sync(restarted.start)

            async with trio.open_nursery() as nursery:
                for phone in phones:
                    nursery.start_soon(phone.run)
                async with trio.open_nursery() as driving:
                    driving.start_soon(drive)
                    driving.start_soon(kill_and_restart)

                async def all_final() -> bool:
                    states = await _final_states(http, auth)
                    return all(states.get(ext_id) in FINAL for ext_id in accepted)

                with trio.fail_after(30):
                    while not await all_final():  # noqa: ASYNC110 - the server's state, polled over HTTP
                        await trio.sleep(0.2)
                await settle(lambda: not any(store.outbox for store in stores), within=10)
                await settle(lambda: all(phone.connects >= 2 for phone in phones), within=15)  # streams are back
                nursery.cancel_scope.cancel()

            assert server.process is not None and server.process.returncode == -9
            assert unanswered, "no send met the dead server: the kill came too late to matter"
            radio = [ext_id for store in stores for ext_id in store.radio]
            assert len(radio) == len(set(radio)), "a message was sent twice"
            assert accepted <= set(radio)
            assert set(radio) - accepted <= unanswered  # committed before the kill, answer lost: sent all the same
            states = await _final_states(http, auth)
            assert {states[ext_id] for ext_id in accepted} == {"Delivered"}
            print(f"{len(accepted)} accepted, {len(unanswered)} unanswered during the kill, {len(radio)} sent once "
                  f"each, streams opened {[phone.connects for phone in phones]}")
    finally:
        await trio.to_thread.run_sync(server.stop)
        if restarted is not None:
            await trio.to_thread.run_sync(restarted.stop)
