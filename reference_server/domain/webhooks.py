"""The webhook registry: ids chosen by the client are honoured, an existing id is replaced."""

from __future__ import annotations

from ..events.notifier import DeviceEvent, Notifier
from ..storage.devices import DevicesRepository
from ..storage.webhooks import WebhooksRepository
from .errors import InvalidInput
from .ids import new_id
from .models import Webhook


class WebhooksService:
    def __init__(self, webhooks: WebhooksRepository, devices: DevicesRepository, notifier: Notifier) -> None:
        self.webhooks = webhooks
        self.devices = devices
        self.notifier = notifier

    async def create(self, user_id: str, ext_id: str | None, url: str, event: str,
                     device_id: str | None) -> Webhook:
        if not url.lower().startswith("https://"):
            raise InvalidInput("failed to validate: url must start with https://")
        if device_id and await self.devices.get(user_id, device_id) is None:
            raise InvalidInput(f'invalid "device_id" = "{device_id}": record not found')
        webhook = Webhook(ext_id=ext_id or new_id(), user_id=user_id, url=url, event=event,
                          device_id=device_id or None)
        await self.webhooks.upsert(webhook)
        await self.notifier.notify(user_id, webhook.device_id, DeviceEvent("WebhooksUpdated"))
        return webhook

    async def for_user(self, user_id: str) -> list[Webhook]:
        return await self.webhooks.for_user(user_id)

    async def for_device(self, user_id: str, device_id: str) -> list[Webhook]:
        return await self.webhooks.for_device(user_id, device_id)

    async def delete(self, user_id: str, ext_id: str) -> None:
        await self.webhooks.delete(user_id, ext_id)
        await self.notifier.notify(user_id, None, DeviceEvent("WebhooksUpdated"))
