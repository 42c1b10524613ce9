"""listing: GET /3rdparty/v1/messages — filters, sort, paging and X-Total-Count (contract §2.2.3). Every query
is narrowed to a device of the scenario's own, so other users of the same account do not disturb it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import trio

from conformance.harness import PHONE, Account, Suite, describe, expect
from conformance.harness.times import now, parse, rfc3339

pytestmark = pytest.mark.capability("listing")


async def listed(suite: Suite, account: Account, **params: Any) -> tuple[list[dict[str, Any]], int]:
    query = {"deviceId": account.device_id, **{k: str(v) for k, v in params.items()}}
    response = expect(await suite.user(account).get("/messages", params=query), 200)
    total = response.headers.get("x-total-count")
    assert total is not None and total.isdigit(), f"X-Total-Count missing or not a number: {describe(response)}"
    items = response.json()
    assert isinstance(items, list), f"not a list: {describe(response)}"
    return items, int(total)


async def make_messages(suite: Suite, account: Account, count: int) -> list[str]:
    return [await suite.text(account, f"list {n}") for n in range(count)]


async def test_total_count_and_paging(suite: Suite) -> None:
    account = await suite.account()
    ids = await make_messages(suite, account, 5)
    first, total = await listed(suite, account, limit=2)
    assert total == 5 and len(first) == 2, f"limit=2: {len(first)} items, X-Total-Count {total}"
    pages = [first] + [(await listed(suite, account, limit=2, offset=offset))[0] for offset in (2, 4)]
    assert [len(page) for page in pages] == [2, 2, 1], f"page sizes {[len(p) for p in pages]}"
    seen = [item["id"] for page in pages for item in page]
    assert sorted(seen) == sorted(ids), f"pages do not cover the messages exactly once: {seen} vs {ids}"
    beyond, total = await listed(suite, account, offset=10)
    assert beyond == [] and total == 5, f"past the end: {beyond}, X-Total-Count {total}"


async def test_sort(suite: Suite) -> None:
    account = await suite.account()
    ids = await make_messages(suite, account, 4)
    default, _ = await listed(suite, account)
    assert [m["id"] for m in default] == ids[::-1], "the default order must be newest first"
    newest, _ = await listed(suite, account, sort="-created_at")
    oldest, _ = await listed(suite, account, sort="created_at")
    assert [m["id"] for m in newest] == ids[::-1] and [m["id"] for m in oldest] == ids, "sort=created_at/-created_at"


async def test_state_filter(suite: Suite) -> None:
    account = await suite.account()
    ids = await make_messages(suite, account, 3)
    await suite.device(account).ok("PATCH", "/message", 204, json=[{
        "id": ids[1], "state": "Sent", "recipients": [{"phoneNumber": PHONE, "state": "Sent"}],
        "states": {"Sent": now()}}])
    sent, total = await listed(suite, account, state="Sent")
    assert [m["id"] for m in sent] == [ids[1]] and total == 1, f"state=Sent: {sent}, X-Total-Count {total}"
    pending, total = await listed(suite, account, state="Pending")
    assert sorted(m["id"] for m in pending) == sorted([ids[0], ids[2]]) and total == 2, "state=Pending"


async def test_time_filter(suite: Suite) -> None:
    account = await suite.account()
    early = await make_messages(suite, account, 2)
    await trio.sleep(1.2)
    late = await make_messages(suite, account, 2)
    split = parse((await suite.message(account, late[0]))["states"]["Pending"]) - timedelta(milliseconds=500)
    after, total = await listed(suite, account, **{"from": rfc3339(split)})
    assert sorted(m["id"] for m in after) == sorted(late) and total == 2, f"from: {[m['id'] for m in after]}"
    before, total = await listed(suite, account, to=rfc3339(split))
    assert sorted(m["id"] for m in before) == sorted(early) and total == 2, f"to: {[m['id'] for m in before]}"
    none, total = await listed(suite, account, **{"from": now(hours=1)})
    assert none == [] and total == 0, "from in the future"


async def test_include_content(suite: Suite) -> None:
    account = await suite.account()
    await suite.text(account, "content please")
    plain, _ = await listed(suite, account)
    assert "textMessage" not in plain[0], f"content without includeContent: {plain[0]}"
    full, _ = await listed(suite, account, includeContent="true")
    assert full[0].get("textMessage") == {"text": "content please"}, f"includeContent=true: {full[0]}"


async def test_empty(suite: Suite) -> None:
    account = await suite.account(join=await suite.account())
    items, total = await listed(suite, account)
    assert items == [] and total == 0


@pytest.mark.parametrize("param", ["state=Bogus", "deviceId=short", "from=yesterday", "sort=name"])
async def test_bad_parameter_is_400(suite: Suite, param: str) -> None:
    account = await suite.account()
    name, value = param.split("=")
    expect(await suite.user(account).get("/messages", params={name: value}), 400)


async def test_default_order_as_upstream(suite: Suite) -> None:
    """Without `sort`, upstream lists newest first (`created_at DESC, id DESC`) whatever the messages' priority
    and schedule: its 3rd-party handler defaults `sort` to `-created_at` (handlers/messages/3rdparty.go), and
    `schedule_at ASC, priority DESC` is the order of the phone's pull, not of this list (modules/messages/
    repository.go). Checked with mixed priorities and schedules."""
    account = await suite.account()
    plain = await suite.text(account, "plain")
    urgent = await suite.text(account, "urgent", priority=100)
    later_plain = await suite.text(account, "later plain")
    low = await suite.text(account, "low", priority=-5)
    far = await suite.text(account, "far", scheduleAt=rfc3339(parse(now()) + timedelta(hours=2)))
    near = await suite.text(account, "near", scheduleAt=rfc3339(parse(now()) + timedelta(hours=1)), priority=-5)
    items, _ = await listed(suite, account)
    names = {plain: "plain", urgent: "urgent", later_plain: "later plain", low: "low", far: "far", near: "near"}
    seen = [names[m["id"]] for m in items if m["id"] in names]
    assert seen == ["near", "far", "low", "later plain", "urgent", "plain"], \
        f"default order (created_at DESC, id DESC, as upstream): {seen}"
