"""inbox: the stored inbox of upstream 1.48 (the phone uploads, the integrator lists and downloads parts)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conformance.harness import Account, Suite, describe, expect
from conformance.harness.skips import skip
from conformance.harness.target import error_body

pytestmark = pytest.mark.capability("inbox")

PART = b"conformance-part\x00\xff"

# Receive times a day ago (seconds apart where order matters): an SMS older than the target's inbox retention
# (upstream: tasks.inbox_cleanup.max_age, 30 days) may be cleaned up in the middle of a check.
_DAY_AGO = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def received_at(seconds: int = 0) -> str:
    return (_DAY_AGO + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def received(ext_id: str, created_at: str, **extra: Any) -> dict[str, Any]:
    return {"id": ext_id, "type": "SMS", "sender": "+79990001122", "content": f"sealed:{ext_id}",
            "isEncrypted": True, "createdAt": created_at, **extra}


async def upload(suite: Suite, account: Account, batch: list[dict[str, Any]]) -> None:
    response = await suite.device(account).post("/inbox", json=batch)
    if response.status_code in (404, 405, 501):
        skip(f"missing: the target has no stored inbox ({describe(response)})")
    expect(response, 201)


async def test_upload_then_list(suite: Suite) -> None:
    account = await suite.account()
    await upload(suite, account, [received("c1", received_at()),
                                  received("c2", received_at(3600), type="DATA_SMS")])
    await upload(suite, account, [received("c1", received_at(), content="again")])  # ignored
    listed = expect(await suite.user(account).get("/inbox"), 200)
    assert listed.headers.get("X-Total-Count") == "2", f"X-Total-Count: {describe(listed)}"
    found = listed.json()
    assert [m.get("id") for m in found] == ["c2", "c1"], f"newest first, repeats ignored: {found}"
    assert found[1].get("contentPreview") == "sealed:c1" and found[1].get("isEncrypted") is True, found[1]
    page = expect(await suite.user(account).get("/inbox", params={"type": "SMS", "limit": 1}), 200)
    assert [m.get("id") for m in page.json()] == ["c1"] and page.headers.get("X-Total-Count") == "1", \
        describe(page)


async def test_attachment_download(suite: Suite) -> None:
    account = await suite.account()
    part = {"partId": 3, "contentType": "application/octet-stream", "name": "part.bin", "size": len(PART),
            "data": base64.b64encode(PART).decode()}
    await upload(suite, account, [received("mms", received_at(), type="MMS", attachments=[part])])
    listed = expect(await suite.user(account).get("/inbox"), 200).json()
    assert listed[0].get("attachments") == [{"partId": 3, "name": "part.bin", "size": len(PART),
                                             "contentType": "application/octet-stream"}], listed
    got = expect(await suite.user(account).get("/inbox/mms/attachments/3"), 200)
    assert got.content == PART and got.headers.get("content-type", "").startswith("application/octet-stream"), \
        describe(got)
    assert got.headers.get("content-disposition", "").startswith("attachment"), describe(got)
    error_body(await suite.user(account).get("/inbox/mms/attachments/4"), 404)  # the contract's JSON 404
    expect(await suite.user(account).get("/inbox/mms/attachments/x"), 400)


async def test_refusals(suite: Suite) -> None:
    account = await suite.account()
    await upload(suite, account, [received("probe", received_at())])
    expect(await suite.device(account).post("/inbox", json=[]), 400)
    expect(await suite.device(account).post("/inbox", json=[received("p", received_at(),
                                                                      isEncrypted=False)]), 400)
    other = await suite.account()
    assert expect(await suite.user(other).get("/inbox"), 200).json() == [], "another user's inbox shows"
