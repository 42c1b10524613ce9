"""The inbox upload (the app's pending change, PR #420; upstream server 1.48 `POST /mobile/v1/inbox`).

Off by default (`PhoneConfig.inbox_upload`). Each SMS and data SMS the app processes is queued for
upload; one worker drains the queue in batches of up to 500. Sender, recipient and content are
encrypted with the phone's passphrase (a data SMS's content is its base64 text) and every item says
`isEncrypted: true`: the app never uploads plaintext, so without a passphrase nothing is queued
(the app logs a warning). `id` is the SMS's `messageId` (its hash code), so an SMS uploaded twice
is one row on the server. A batch the server refuses (4xx) is split in halves down to the single
message at fault, which is dropped, as the app's worker does; a network error or a 5xx retries
the batch after 5 s x n (the worker's linear backoff).

Encryption: one key derivation per batch (the app's change derives once per batch too); each field
uses the `$aes-256-cbc/pbkdf2-sha1$i=..$salt$data` format the official clients decrypt, with the
batch's salt. MMS are not uploaded (the server takes attachment data as base64, which the app's
encrypted attachments are not).
"""

from __future__ import annotations

import base64
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from .api import ApiError, GatewayApi
from .crypto import DEFAULT_ITERATIONS, encrypt_text
from .inbox import InboxEntry, entry_type

BATCH_SIZE = 500
RETRY_STEP = 5.0  # the worker's linear backoff
MAX_RETRY = 300.0
NO_PASSPHRASE = "Encryption passphrase is not set; skipping encrypted upload (plaintext is never uploaded)."


@dataclass(frozen=True)
class Upload:
    entry: InboxEntry
    recipient: str | None
    created_at: str  # the SMS's PDU time, phone-local as Gson writes dates


class InboxUploader:
    def __init__(self, api: GatewayApi, passphrase: Callable[[], str | None], error: Callable[[str], None],
                 iterations: int = DEFAULT_ITERATIONS) -> None:
        self.api = api
        self.passphrase = passphrase
        self.error = error
        self.iterations = iterations
        self.queue: deque[Upload] = deque()
        self.uploaded = 0  # messages the server took (201)
        self.dropped = 0  # messages the server refused one by one
        self.batches = 0  # POSTs answered 201
        self._wake = trio.Event()

    def enqueue(self, entry: InboxEntry, recipient: str | None, created_at: str) -> bool:
        if self.passphrase() is None:
            self.error(NO_PASSPHRASE)
            return False
        self.queue.append(Upload(entry, recipient, created_at))
        self._wake.set()
        return True

    async def run(self) -> None:
        failures = 0
        while True:
            if not self.queue:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            batch = [self.queue[i] for i in range(min(BATCH_SIZE, len(self.queue)))]
            try:
                await self._upload(batch)
                failures = 0
            except (httpx.HTTPError, OSError, ApiError) as exc:  # ApiError here: a 5xx
                failures += 1
                self.error(f"Inbox upload failed: {exc}")
                await trio.sleep(min(RETRY_STEP * failures, MAX_RETRY))
                continue
            for _ in batch:
                self.queue.popleft()

    async def _upload(self, batch: list[Upload]) -> None:
        """POST the batch; on a 4xx split it in halves, down to the one message to drop."""
        passphrase = self.passphrase()
        if passphrase is None:  # cleared since it was queued: the app encrypted at queue time; we cannot
            self.dropped += len(batch)
            self.error(NO_PASSPHRASE)
            return
        items = await trio.to_thread.run_sync(encrypted_items, batch, passphrase, self.iterations)
        await self._post(batch, items)

    async def _post(self, batch: list[Upload], items: list[dict[str, Any]]) -> None:
        try:
            await self.api.upload_inbox(items)
        except ApiError as exc:
            if exc.status >= 500:
                raise
            if len(items) == 1:
                self.dropped += 1
                self.error(f"Inbox upload failed: {exc}")
                return
            middle = len(items) // 2
            await self._post(batch[:middle], items[:middle])
            await self._post(batch[middle:], items[middle:])
            return
        self.uploaded += len(items)
        self.batches += 1


def encrypted_items(batch: list[Upload], passphrase: str, iterations: int) -> list[dict[str, Any]]:
    """`GatewayApi.InboxMessage` items, Gson's field order; one salt (one key derivation) for the batch."""
    salt = os.urandom(16)

    def seal(text: str) -> str:
        return encrypt_text(passphrase, text, iterations, salt=salt)

    items = []
    for upload in batch:
        entry = upload.entry
        content = base64.b64encode(entry.data).decode() if entry.data is not None else entry.text or ""
        items.append({"id": entry.message_id, "type": entry_type(entry), "sender": seal(entry.sender),
                      "recipient": seal(upload.recipient) if upload.recipient else None,
                      "simNumber": entry.slot_index + 1 if entry.slot_index is not None else None,
                      "content": seal(content), "isEncrypted": True, "createdAt": upload.created_at})
    return items
