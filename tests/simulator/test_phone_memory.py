"""What keeps an idle simulated phone small without changing what it does (issue #25)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import httpx
import trio

from simulator.phone import Phone, PhoneConfig, RadioConfig
from simulator.phone.radio import LazyRandom, lazy_random


def test_a_lazy_random_draws_the_seeded_sequence_and_is_made_at_its_first_use() -> None:
    lazy = lazy_random(42)
    assert isinstance(lazy, LazyRandom) and lazy._random is None
    eager = random.Random(42)
    assert [lazy.random() for _ in range(5)] == [eager.random() for _ in range(5)]
    assert lazy.randint(1, 100) == eager.randint(1, 100) and lazy.choice("abc") == eager.choice("abc")


def test_an_idle_phone_makes_no_random_generator() -> None:
    phone = Phone(PhoneConfig(server="http://127.0.0.1:1/api/mobile/v1", name="idle", seed=7))
    assert phone.rng._random is None and phone.radio.random._random is None  # type: ignore[attr-defined]
    assert phone.sender.rng is phone.rng  # one generator, shared as before


async def _idle() -> AsyncIterator[bytes]:
    await trio.sleep_forever()
    yield b""


async def test_an_idle_phone_starts_its_queues_only_when_they_have_work() -> None:
    """An idle phone holds no task for its send loop, report queue or webhook queue, and no inbox; the first
    message from the server starts the sender and the reporter, and the phone still sends and reports it."""
    reported: list[str] = []
    pending = [{"id": "m1", "textMessage": {"text": "hi"}, "phoneNumbers": ["+15550001"], "state": "Pending"}]
    serve: list[dict[str, object]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/mobile/v1")
        if (request.method, path) == ("POST", "/device"):
            return httpx.Response(201, json={"id": "d1", "token": "t1", "login": "L", "password": "p"})
        if (request.method, path) == ("GET", "/message"):
            return httpx.Response(200, json=serve)
        if (request.method, path) == ("PATCH", "/message"):
            reported.append(json.loads(request.content)[0]["state"])
            return httpx.Response(204)
        if path == "/events":
            return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=_idle())
        return httpx.Response(200, json=[] if path == "/webhooks" else {})

    radio = RadioConfig(sent_latency=(0.0, 0.0), delivered_latency=(0.0, 0.0))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http, trio.open_nursery() as nursery:
        phone = Phone(PhoneConfig(server="http://fake.test/api/mobile/v1", radio=radio, seed=3), http=http)
        await nursery.start(phone.run)
        with trio.fail_after(10):
            while phone.puller.pulls < 1:  # noqa: ASYNC110 - the SSE connection's first pull
                await trio.sleep(0.01)
        assert not (phone.sender.task.started or phone.reporter.task.started or phone.webhooks.task.started)
        assert phone._inbox is None and phone._pushes is None
        serve.extend(pending)
        phone.puller.trigger()
        with trio.fail_after(10):
            while "Delivered" not in reported:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert phone.sender.task.started and phone.reporter.task.started
        assert not phone.webhooks.task.started  # no webhook registered: nothing to deliver
        nursery.cancel_scope.cancel()
    assert phone.sender.task.nursery is None  # detached when the phone stopped
