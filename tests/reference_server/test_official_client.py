"""The official Python client (`android-sms-gateway`, default httpx backend) against a real server process.

Both database backends; the device side is played with plain httpx calls to the mobile API.
The async client runs natively under trio (httpx's async transport goes through anyio, which supports trio).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import android_sms_gateway as sg
import httpx
import pytest
from android_sms_gateway import errors
from android_sms_gateway.ahttp import HttpxAsyncHttpClient
from android_sms_gateway.http import HttpxHttpClient
from live_server import LiveServer

from reference_server.app import package_version

pytestmark = pytest.mark.slow

PHONE = "+79990001122"
MOBILE = "/api/mobile/v1"


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    with LiveServer(tmp_path, env={"DATABASE__URL": database_url}) as live:
        yield live


def register(server: LiveServer, name: str = "client/phone", auth: Any = None) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}{MOBILE}/device", json={"name": name}, auth=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def device_get(server: LiveServer, token: str, path: str) -> Any:
    response = httpx.get(f"{server.base_url}{MOBILE}{path}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def device_report(server: LiveServer, token: str, reports: list[dict[str, Any]]) -> None:
    response = httpx.patch(f"{server.base_url}{MOBILE}/message", json=reports,
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204, response.text


def client_for(server: LiveServer, user: dict[str, Any]) -> sg.APIClient:
    return sg.APIClient(user["login"], user["password"], base_url=f"{server.base_url}/api/3rdparty/v1")


def test_messages(server: LiveServer) -> None:
    user = register(server)
    with client_for(server, user) as client:
        assert isinstance(client.http, HttpxHttpClient)  # the default backend when httpx is installed

        text = client.send(sg.Message(phone_numbers=[PHONE], text_message=sg.TextMessage("hello"), id="my-text-1",
                                      sim_number=2, ttl=3600))
        assert text.id == "my-text-1"
        assert text.state is sg.ProcessState.Pending
        assert text.device_id == user["id"]
        assert [(r.phone_number, r.state, r.error) for r in text.recipients] == [
            (PHONE, sg.ProcessState.Pending, None)]
        assert text.is_hashed is False and text.is_encrypted is False
        assert text.states is not None and list(text.states) == ["Pending"]

        # a national number is read in the default region (RU) and comes back in E.164
        data = client.send(sg.Message(phone_numbers=["89990001133"],
                                      data_message=sg.DataMessage.with_bytes(b"\x00\x01binary", 53739)))
        assert len(data.id) == 21
        assert [r.phone_number for r in data.recipients] == ["+79990001133"]

        third = client.send(sg.Message(phone_numbers=["+79990001144", "+79990001155"],
                                       text_message=sg.TextMessage("third"), id="my-text-3",
                                       priority=sg.MessagePriority.BYPASS_THRESHOLD))
        assert [r.phone_number for r in third.recipients] == ["+79990001144", "+79990001155"]

        fetched = client.get_state("my-text-1")
        assert fetched == text  # same id, state, recipients and states map

        # the device sees exactly what the client sent
        pulled = {m["id"]: m for m in device_get(server, user["token"], "/message")}
        assert set(pulled) == {"my-text-1", data.id, "my-text-3"}
        assert pulled["my-text-1"]["textMessage"] == {"text": "hello"}
        assert pulled["my-text-1"]["simNumber"] == 2
        assert 3590 <= pulled["my-text-1"]["ttl"] <= 3600
        assert pulled[data.id]["dataMessage"] == {"data": base64.b64encode(b"\x00\x01binary").decode(), "port": 53739}
        assert pulled["my-text-3"]["priority"] == 100
        assert all(m["withDeliveryReport"] is True for m in pulled.values())

        # the device reports one message as sent
        sent_at = "2025-03-01T10:00:01.250Z"
        device_report(server, user["token"], [{
            "id": data.id, "state": "Sent", "recipients": [{"phoneNumber": "+79990001133", "state": "Sent"}],
            "states": {"Processed": "2025-03-01T10:00:00.000Z", "Sent": sent_at}}])
        after = client.get_state(data.id)
        assert after.state is sg.ProcessState.Sent
        assert after.recipients[0].state is sg.ProcessState.Sent
        assert after.states is not None and set(after.states) == {"Pending", "Processed", "Sent"}
        assert datetime.fromisoformat(after.states["Sent"]) == datetime.fromisoformat(sent_at)

        # listing: filter, pagination, sort
        everything = client.get_messages()
        assert [m.id for m in everything] == ["my-text-3", data.id, "my-text-1"]  # newest first by default
        oldest_first = client.get_messages(sort="created_at")
        assert [m.id for m in oldest_first] == ["my-text-1", data.id, "my-text-3"]
        pending = client.get_messages(query=sg.MessagesQueryFilter(state="Pending"))
        assert [m.id for m in pending] == ["my-text-3", "my-text-1"]
        sent = client.get_messages(query=sg.MessagesQueryFilter(state="Sent", device_id=user["id"]))
        assert sent == [after]
        page = client.get_messages(query=sg.MessagesQueryFilter(state="Pending"),
                                   pagination=sg.QueryPagination(limit=1, offset=1))
        assert [m.id for m in page] == ["my-text-1"]
        page = client.get_messages(pagination=sg.QueryPagination(limit=2, offset=0), sort="created_at")
        assert [m.id for m in page] == ["my-text-1", data.id]
        now = datetime.now(UTC)  # aware datetimes go out as +00:00 (%2B00%3A00)
        window = sg.MessagesQueryFilter(from_=now - timedelta(hours=1), to=now + timedelta(hours=1))
        assert len(client.get_messages(query=window)) == 3
        assert client.get_messages(query=sg.MessagesQueryFilter(from_=now + timedelta(hours=1))) == []

        # cancel: Pending -> Cancelling; a second cancel is a conflict (plain APIError, 409)
        assert client.cancel_message("my-text-1") is None
        assert client.get_state("my-text-1").state is sg.ProcessState.Cancelling
        with pytest.raises(errors.APIError) as conflict:
            client.cancel_message("my-text-1")
        assert type(conflict.value) is errors.APIError
        assert conflict.value.status_code == 409
        assert "not pending" in conflict.value.response["message"]
        with pytest.raises(errors.APIError) as sent_conflict:  # not pending either
            client.cancel_message(data.id)
        assert sent_conflict.value.status_code == 409

        # error mapping
        with pytest.raises(errors.NotFoundError) as missing:
            client.get_state("no-such-message")
        assert missing.value.status_code == 404
        assert missing.value.response == {"message": "message not found"}
        with pytest.raises(errors.NotFoundError):
            client.cancel_message("no-such-message")
        with pytest.raises(errors.APIError) as duplicate:
            client.send(sg.Message(phone_numbers=[PHONE], text_message=sg.TextMessage("again"), id="my-text-3"))
        assert duplicate.value.status_code == 409
        with pytest.raises(errors.BadRequestError) as bad_phone:
            client.send(sg.Message(phone_numbers=["12"], text_message=sg.TextMessage("x")))
        assert bad_phone.value.status_code == 400
        assert bad_phone.value.response["message"]
        with pytest.raises(errors.BadRequestError):
            client.send(sg.Message(phone_numbers=[PHONE], text_message=sg.TextMessage("x"), device_id="x" * 21))
        # skipPhoneValidation lets anything through
        odd = client.send(sg.Message(phone_numbers=["12"], text_message=sg.TextMessage("x")),
                          skip_phone_validation=True)
        assert [r.phone_number for r in odd.recipients] == ["12"]

    with sg.APIClient(user["login"], "wrong-password", base_url=f"{server.base_url}/api/3rdparty/v1") as bad:
        with pytest.raises(errors.UnauthorizedError):
            bad.get_messages()


def test_devices_webhooks_settings(server: LiveServer) -> None:
    user = register(server, "first")
    second = register(server, "second", auth=(user["login"], user["password"]))
    assert second["login"] == user["login"] and "password" not in second
    with client_for(server, user) as client:
        devices = client.list_devices()
        assert sorted((d.id, d.name) for d in devices) == sorted([(user["id"], "first"), (second["id"], "second")])
        for device in devices:
            assert device.created_at is not None and device.created_at.tzinfo is not None
            assert device.updated_at is not None and device.last_seen is not None and device.deleted_at is None
            assert abs(device.created_at - datetime.now(UTC)) < timedelta(minutes=5)

        # webhooks: a client-chosen id comes back unchanged (upstream's own integration test)
        hook = sg.Webhook(id="webhook_123", url="https://example.com/hook", event=sg.WebhookEvent.SMS_RECEIVED)
        assert client.create_webhook(hook) == hook
        scoped = client.create_webhook(sg.Webhook(id=None, url="https://example.com/sent",
                                                  event=sg.WebhookEvent.SMS_SENT, device_id=second["id"]))
        assert scoped.id and len(scoped.id) == 21
        assert (scoped.url, scoped.event, scoped.device_id) == (
            "https://example.com/sent", sg.WebhookEvent.SMS_SENT, second["id"])
        assert sorted(client.get_webhooks(), key=lambda w: w.url) == [hook, scoped]
        # re-posting an id replaces the webhook
        moved = sg.Webhook(id="webhook_123", url="https://example.com/moved", event=sg.WebhookEvent.SMS_DELIVERED)
        assert client.create_webhook(moved) == moved
        assert sorted(client.get_webhooks(), key=lambda w: w.url) == [moved, scoped]
        with pytest.raises(errors.APIError) as invalid:
            client.create_webhook(sg.Webhook(id="bad", url="not_a_url", event=sg.WebhookEvent.SMS_RECEIVED))
        assert invalid.value.status_code == 400
        assert client.delete_webhook("webhook_123") is None
        assert client.get_webhooks() == [scoped]
        assert client.delete_webhook("webhook_123") is None  # deleting nothing is fine, as upstream

        # settings: PUT replaces, PATCH merges; the parsed objects carry the values
        assert client.get_settings() == sg.DeviceSettings()
        put = sg.DeviceSettings(
            messages=sg.SettingsMessages(limit_period=sg.LimitPeriod.PER_HOUR, limit_value=10, send_interval_min=5,
                                         send_interval_max=15, sim_selection_mode=sg.SimSelectionMode.ROUND_ROBIN),
            webhooks=sg.SettingsWebhooks(retry_count=3, internet_required=True),
            gateway=sg.SettingsGateway(notification_channel="SSE_ONLY"),
        )
        stored = client.update_settings(put)
        assert stored == put.asdict()
        assert client.get_settings() == put
        patched = client.patch_settings(sg.DeviceSettings(ping=sg.SettingsPing(interval_seconds=30),
                                                          messages=sg.SettingsMessages(limit_value=20)))
        assert patched["messages"]["limit_value"] == 20
        assert patched["messages"]["limit_period"] == "PerHour"
        assert patched["ping"] == {"interval_seconds": 30}
        settings = client.get_settings()
        assert settings.messages is not None and settings.messages.limit_value == 20
        assert settings.messages.sim_selection_mode is sg.SimSelectionMode.ROUND_ROBIN
        assert settings.ping == sg.SettingsPing(interval_seconds=30)
        assert settings.webhooks == sg.SettingsWebhooks(retry_count=3, internet_required=True)
        # the device reads the same document
        assert device_get(server, user["token"], "/settings")["ping"] == {"interval_seconds": 30}
        # values a server must refuse (upstream: `isdefault`) or that break a rule
        with pytest.raises(errors.BadRequestError):
            client.patch_settings(sg.DeviceSettings(encryption=sg.SettingsEncryption(passphrase="secret")))
        with pytest.raises(errors.BadRequestError):
            client.patch_settings(sg.DeviceSettings(webhooks=sg.SettingsWebhooks(signing_key="key")))
        with pytest.raises(errors.BadRequestError):
            client.patch_settings(sg.DeviceSettings(messages=sg.SettingsMessages(limit_value=0)))
        assert client.get_settings() == settings  # nothing changed by the refused calls

        # removing a device takes its messages and device-scoped webhooks with it
        message = client.send(sg.Message(phone_numbers=[PHONE], text_message=sg.TextMessage("x"),
                                         device_id=second["id"]))
        assert client.remove_device(second["id"]) is None
        assert [d.id for d in client.list_devices()] == [user["id"]]
        with pytest.raises(errors.NotFoundError):
            client.get_state(message.id)
        assert client.get_webhooks() == []


def test_health_and_inbox(server: LiveServer) -> None:
    user = register(server)
    with client_for(server, user) as client:
        version = package_version()
        health = client.health_check()
        assert (health.status, health.version) == (sg.HealthStatus.PASS, version)
        assert health.checks is not None
        assert health.checks["db:ping"].status is sg.HealthStatus.PASS
        assert health.checks["db:ping"].observed_value == 0
        ready = client.readiness_check()
        assert ready.status is sg.HealthStatus.PASS and ready.checks is not None and "db:ping" in ready.checks
        live = client.liveness_check()
        assert live.status in (sg.HealthStatus.PASS, sg.HealthStatus.WARN) and live.version == version
        startup = client.startup_check()
        assert startup.status is sg.HealthStatus.PASS and not startup.checks

        since, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
        assert client.export_inbox(sg.MessagesExportRequest(device_id=user["id"], since=since, until=until)) == {}
        assert client.refresh_inbox(sg.InboxRefreshRequest(since=since, until=until)) == {}
        assert client.refresh_inbox(sg.InboxRefreshRequest(
            since=since, until=until, device_id=user["id"], message_types=["SMS"],
            webhook_delivery=sg.WebhookDelivery.BATCH)) == {}
        with pytest.raises(errors.BadRequestError):  # since after until
            client.refresh_inbox(sg.InboxRefreshRequest(since=until, until=since))


async def test_async_client_under_trio(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(f"{MOBILE}/device", json={"name": "async/phone"})
    assert response.status_code == 201, response.text
    user = response.json()
    async with sg.AsyncAPIClient(user["login"], user["password"],
                                 base_url=f"{server.base_url}/api/3rdparty/v1") as client:
        assert isinstance(client.http, HttpxAsyncHttpClient)
        sent = await client.send(sg.Message(phone_numbers=[PHONE], text_message=sg.TextMessage("async"),
                                            id="async-1"))
        assert (sent.id, sent.state, sent.device_id) == ("async-1", sg.ProcessState.Pending, user["id"])
        data = await client.send(sg.Message(phone_numbers=[PHONE], data_message=sg.DataMessage("AAEC", 1000)))
        assert await client.get_state("async-1") == sent
        listed = await client.get_messages(query=sg.MessagesQueryFilter(state="Pending"),
                                           pagination=sg.QueryPagination(limit=1))
        assert [m.id for m in listed] == [data.id]
        await client.cancel_message("async-1")
        with pytest.raises(errors.APIError) as conflict:
            await client.cancel_message("async-1")
        assert conflict.value.status_code == 409
        with pytest.raises(errors.NotFoundError):
            await client.get_state("nope")

        hook = sg.Webhook(id="async-hook", url="https://example.com/a", event=sg.WebhookEvent.SYSTEM_PING)
        assert await client.create_webhook(hook) == hook
        assert await client.get_webhooks() == [hook]
        await client.delete_webhook("async-hook")
        assert await client.get_webhooks() == []

        assert [d.id for d in await client.list_devices()] == [user["id"]]
        patched = await client.patch_settings(sg.DeviceSettings(logs=sg.SettingsLogs(lifetime_days=7)))
        assert patched == {"logs": {"lifetime_days": 7}}
        assert (await client.get_settings()).logs == sg.SettingsLogs(lifetime_days=7)
        assert (await client.readiness_check()).status is sg.HealthStatus.PASS
        assert await client.refresh_inbox(sg.InboxRefreshRequest(
            since=datetime(2025, 1, 1, tzinfo=UTC), until=datetime(2025, 1, 2, tzinfo=UTC))) == {}
        await client.remove_device(user["id"])
        assert await client.list_devices() == []
