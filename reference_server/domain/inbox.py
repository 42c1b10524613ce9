"""Inbox export: the server stores nothing; it asks the phones to re-send their inbox as webhooks."""

from __future__ import annotations

from datetime import datetime

from ..events.notifier import DeviceEvent, Notifier
from .clock import format_time
from .errors import InvalidInput


async def request_export(notifier: Notifier, user_id: str, *, since: datetime, until: datetime,
                         device_id: str | None, message_types: list[str] | None, webhook_delivery: str | None,
                         trigger_webhooks: bool | None) -> None:
    if since > until:
        raise InvalidInput("failed to validate: since must be less than or equal to until")
    if webhook_delivery is None:  # the deprecated flag only counts when the new field is absent
        webhook_delivery = "Individual" if trigger_webhooks else "Disabled"
    data = {"since": format_time(since), "until": format_time(until), "webhookDelivery": webhook_delivery,
            "triggerWebhooks": "true" if webhook_delivery != "Disabled" else "false"}
    if message_types:
        data["messageTypes"] = ",".join(message_types)
    await notifier.notify(user_id, device_id or None, DeviceEvent("MessagesExportRequested", data))
