"""The periodic tasks this server runs, built from the `tasks.*` and `messages.*` settings."""

from __future__ import annotations

from datetime import timedelta

from ..config import Settings
from ..domain.clock import now
from ..storage.inbox import InboxRepository
from ..storage.maintenance import MaintenanceRepository
from ..storage.tokens import TokensRepository
from .periodic import PeriodicTask


def periodic_tasks(settings: Settings, maintenance: MaintenanceRepository,
                   tokens: TokensRepository | None, inbox: InboxRepository | None = None) -> list[PeriodicTask]:
    tasks_config = settings.tasks
    messages_max_age = tasks_config.messages_cleanup.max_age
    devices_max_age = tasks_config.devices_cleanup.max_age
    tokens_max_age = tasks_config.tokens_cleanup.max_age
    inbox_max_age = tasks_config.inbox_cleanup.max_age

    async def hash_messages() -> int:
        total = 0
        while (done := await maintenance.hash_messages()) > 0:
            total += done
        return total

    async def clean_messages() -> int:
        return await maintenance.delete_messages_created_before(now() - messages_max_age)

    async def clean_devices() -> int:
        return await maintenance.delete_devices_unseen_since(now() - devices_max_age)

    async def clean_tokens() -> int:
        return await tokens.delete_expired(now() - tokens_max_age) if tokens else 0

    async def clean_inbox() -> int:
        return await inbox.cleanup(now() - inbox_max_age) if inbox else 0

    # Upstream hashes in the server every messages.hashing_interval_seconds and again in its worker every
    # tasks.messages_hashing.interval; one process does both here, so the shorter interval wins.
    hashing_interval = timedelta(seconds=settings.messages.hashing_interval_seconds)
    if tasks_config.messages_hashing.interval.total_seconds() > 0:
        hashing_interval = min(hashing_interval, tasks_config.messages_hashing.interval)
    tasks = [
        PeriodicTask("messages:cleanup", tasks_config.messages_cleanup.interval, clean_messages),
        PeriodicTask("messages:counts", tasks_config.messages_counts.interval, maintenance.recount_messages),
        PeriodicTask("devices:cleanup", tasks_config.devices_cleanup.interval, clean_devices),
        PeriodicTask("tokens:cleanup", tasks_config.tokens_cleanup.interval, clean_tokens),
        PeriodicTask("inbox:cleanup", tasks_config.inbox_cleanup.interval, clean_inbox),
    ]
    if settings.messages.hashing_enabled:
        tasks.append(PeriodicTask("messages:hashing", hashing_interval, hash_messages))
    return tasks
