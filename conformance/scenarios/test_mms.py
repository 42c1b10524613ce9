"""mms: outgoing MMS (client-go 1.15; no upstream server handler yet): `mmsMessage` on send."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from conformance.harness import PHONE, Suite, describe, expect
from conformance.harness.skips import skip

pytestmark = pytest.mark.capability("mms")

PART = base64.b64encode(b"conformance-mms-part\x00\xff").decode()
MMS = {"text": "conformance mms", "attachments": [{"contentType": "application/octet-stream", "name": "part.bin",
                                                    "data": PART}]}


async def send_mms(suite: Suite, account: Any, **extra: Any) -> dict[str, Any]:
    response = await suite.user(account).post("/messages", json={
        "deviceId": account.device_id, "mmsMessage": MMS, "phoneNumbers": [PHONE], **extra})
    if response.status_code in (400, 404, 501) and not extra:
        skip(f"missing: the target does not send MMS ({describe(response)})")
    expect(response, 202)
    return dict(response.json())


async def test_send_then_read_back(suite: Suite) -> None:
    account = await suite.account()
    sent = await send_mms(suite, account)
    assert sent.get("mmsMessage", {}).get("attachments") == MMS["attachments"], f"202 answer: {sent}"
    listed = expect(await suite.user(account).get("/messages", params={"includeContent": "true"}), 200).json()
    found = [m for m in listed if m.get("id") == sent["id"]]
    assert found and found[0].get("mmsMessage", {}).get("text") == MMS["text"], f"includeContent: {found}"
    pulled = expect(await suite.device(account).get("/message"), 200).json()
    mine = [m for m in pulled if m.get("id") == sent["id"]]
    assert mine and mine[0].get("mmsMessage", {}).get("attachments") == MMS["attachments"], f"pull: {mine}"


async def test_exactly_one_kind_of_content(suite: Suite) -> None:
    account = await suite.account()
    await send_mms(suite, account)
    both = await suite.user(account).post("/messages", json={
        "deviceId": account.device_id, "mmsMessage": MMS, "textMessage": {"text": "x"}, "phoneNumbers": [PHONE]})
    assert both.status_code == 400, f"textMessage and mmsMessage together: {describe(both)}"
    empty = await suite.user(account).post("/messages", json={
        "deviceId": account.device_id, "mmsMessage": {"attachments": [{"contentType": "x/y", "data": "%%%"}]},
        "phoneNumbers": [PHONE]})
    assert empty.status_code == 400, f"an attachment that is not base64: {describe(empty)}"
