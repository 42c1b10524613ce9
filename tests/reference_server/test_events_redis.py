"""Redis pub/sub (the real server on 127.0.0.1:6379; required when CI=true): fan-out between instances,
resubscription after the connection is killed, and failures when Redis is unreachable."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import redis
import trio
from sse_client import eventually

from reference_server.events.redis_pubsub import RedisPubSub

pytestmark = pytest.mark.redis


class Subscriber:
    def __init__(self, pubsub: RedisPubSub) -> None:
        self.pubsub = pubsub
        self.received: list[bytes] = []

    async def deliver(self, payload: bytes) -> None:
        self.received.append(payload)


@pytest.fixture
def channel() -> str:
    return f"smsgate-test:{secrets.token_hex(6)}"  # a channel of its own: other servers may share this Redis


@pytest.fixture
async def subscribers(redis_server: str, channel: str) -> AsyncIterator[list[Subscriber]]:
    """Two instances (as in two server processes), each subscribed."""
    handles = [Subscriber(RedisPubSub(redis_server, channel, client_name=f"{channel}-{n}")) for n in range(2)]
    async with trio.open_nursery() as nursery:
        for handle in handles:
            await nursery.start(handle.pubsub.serve, handle.deliver)
        yield handles
        nursery.cancel_scope.cancel()
    for handle in handles:
        await handle.pubsub.aclose()


async def test_a_payload_reaches_every_subscribed_instance(subscribers: list[Subscriber]) -> None:
    first, second = subscribers
    await second.pubsub.publish(b'{"hello": 1}')
    await eventually(lambda: all(s.received for s in subscribers))
    assert first.received == second.received == [b'{"hello": 1}']


async def test_the_subscriber_comes_back_after_its_connection_is_killed(
        subscribers: list[Subscriber], redis_server: str) -> None:
    first, second = subscribers
    admin = redis.Redis.from_url(redis_server)
    try:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == first.pubsub.client_name
               and int(c.get("sub", 0)) > 0]
        assert ids, "the subscriber connection is not in CLIENT LIST"
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)  # what a Redis restart does to the connection
    finally:
        admin.close()

    async def publish_until_received() -> None:  # payloads published while it reconnects are missed
        while not first.received:
            await second.pubsub.publish(b"after-kill")
            await trio.sleep(0.1)

    with trio.fail_after(10):
        await publish_until_received()
    assert set(first.received) == {b"after-kill"}


async def test_unreachable_redis_fails_publishing_and_does_not_block_startup() -> None:
    from reference_server.events.pubsub import PublishError

    pubsub = RedisPubSub("redis://127.0.0.1:1/0", "smsgate-test:nowhere", subscribe_wait=0.2)
    received: list[bytes] = []

    async def deliver(payload: bytes) -> None:
        received.append(payload)

    async with trio.open_nursery() as nursery:
        with trio.fail_after(5):
            await nursery.start(pubsub.serve, deliver)  # starts anyway, keeps retrying in the background
        with pytest.raises(PublishError):
            await pubsub.publish(b"x")
        nursery.cancel_scope.cancel()
    await pubsub.aclose()
