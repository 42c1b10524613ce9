"""The server's view at the end: every account's messages listed through the 3rd-party API.

A message a phone finished but the server still shows in flight may only be waiting for its last
PATCH, so accounts with such messages are listed again (once a second) for `patience` seconds after
the first round.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import trio

from .config import RunConfig
from .fleet import Account
from .tracker import FINAL_STATES, MessageRecord, Tracker

PAGE = 100
CONCURRENCY = 16


class ServerCheck:
    def __init__(self, client: httpx.AsyncClient, config: RunConfig, tracker: Tracker) -> None:
        self.client = client
        self.url = config.third_party_url + "/messages"
        self.tracker = tracker
        self.requests = 0
        self.errors = 0

    async def list_account(self, account: Account) -> dict[str, dict[str, object]] | None:
        """Every message of the account, by id; None when the server would not answer."""
        found: dict[str, dict[str, object]] = {}
        offset = 0
        while True:
            try:
                self.requests += 1
                response = await self.client.get(self.url, auth=(account.login or "", account.password or ""),
                                                 params={"limit": PAGE, "offset": offset, "sort": "created_at"})
                response.raise_for_status()
                page = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                self.errors += 1
                self.tracker.error("", "check", f"listing account {account.index}: {exc!r}")
                return None
            for item in page:
                found[str(item["id"])] = item
            total = int(response.headers.get("X-Total-Count", len(found)))
            offset += len(page)
            if not page or offset >= total:
                return found

    def _apply(self, account: Account, found: dict[str, dict[str, object]], records: Iterable[MessageRecord]) -> None:
        for record in records:
            item = found.get(record.id)
            if item is None:
                record.server_state = "missing"
                continue
            record.server_state = str(item.get("state"))
            states = item.get("states")
            record.server_states = {str(k): str(v) for k, v in states.items()} if isinstance(states, dict) else {}

    async def run(self, accounts: list[Account], patience: float = 10.0) -> None:
        by_account: dict[int, list[MessageRecord]] = {}
        for record in self.tracker.messages.values():
            if record.accepted:
                by_account.setdefault(record.account, []).append(record)
        todo = [account for account in accounts if account.index in by_account]
        deadline: float | None = None  # counted from the end of the first round, however long that took
        while todo:
            limiter = trio.CapacityLimiter(CONCURRENCY)

            async def check(account: Account, limiter: trio.CapacityLimiter = limiter) -> None:
                async with limiter:
                    found = await self.list_account(account)
                if found is not None:
                    self._apply(account, found, by_account[account.index])

            async with trio.open_nursery() as nursery:
                for account in todo:
                    nursery.start_soon(check, account)
            todo = [account for account in todo if any(self._worth_another_look(r) for r in by_account[account.index])]
            deadline = trio.current_time() + patience if deadline is None else deadline
            if not todo or trio.current_time() >= deadline:
                return
            await trio.sleep(1.0)

    @staticmethod
    def _worth_another_look(record: MessageRecord) -> bool:
        """The server is behind the phone (or was not reachable): ask again."""
        if record.server_state is None:
            return True
        return record.server_state not in FINAL_STATES and bool(record.states.keys() & FINAL_STATES)
