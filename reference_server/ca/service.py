"""CSR requests: submit (validate, store, queue), read (expired = gone), sign in the background, clean up.

Approval is automatic, as upstream: a request is queued for signing the moment it is stored, and a worker
task flips it from `pending` to `approved` with the certificate. A signing failure marks it `denied`. Requests
left pending (queue full, process restarted) are picked up again by the periodic sweep.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from ..domain.ids import new_id
from ..storage.ca_requests import CaRequestRow, CaRequestsRepository
from .authority import Authority
from .validation import Submission, ValidCsr, validate_csr

log = logging.getLogger(__name__)

STATUS_MESSAGES = {
    "pending": "CSR submitted successfully. Await processing.",
    "approved": "CSR approved. The certificate is ready for download.",
    "denied": "CSR denied. Please contact the administrator.",
}
QUEUE_SIZE = 1024
MAX_SWEEP_INTERVAL = 600.0  # seconds between clean-up sweeps (shorter when the TTL is short)


class CsrNotFound(LookupError):
    """No such request, or it expired (404 `csr not found`)."""


class WallClock:
    """UTC wall time plus however far Trio's clock has run ahead of real time.

    With Trio's own clock (perf_counter plus an offset) that is nothing: the system's wall time, NTP steps
    included, so a machine that boots with a wrong clock stops dating certificates by it once corrected.
    Under a MockClock the jumps count, so tests drive expiry without waiting. Millisecond precision, naive
    UTC: what the database stores. Read it inside `trio.run`.
    """

    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None

    def now(self) -> datetime:
        trio_now, real_now = trio.current_time(), time.perf_counter()
        if self._anchor is None:
            self._anchor = (trio_now, real_now)
        skew = (trio_now - self._anchor[0]) - (real_now - self._anchor[1])
        result = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=skew)
        return result.replace(microsecond=result.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class CsrStatus:
    request_id: str
    type: str
    status: str
    certificate: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"request_id": self.request_id, "type": self.type, "status": self.status,
                                "message": STATUS_MESSAGES[self.status]}
        if self.certificate:
            body["certificate"] = self.certificate
        return body


class CaService:
    def __init__(self, authority: Authority, requests: CaRequestsRepository, *, ttl: timedelta,
                 clock: WallClock | None = None) -> None:
        self.authority = authority
        self.requests = requests
        self.ttl = ttl
        self.clock = clock or WallClock()
        self._queue_in, self._queue_out = trio.open_memory_channel[str](QUEUE_SIZE)
        self._scope: trio.CancelScope | None = None
        self.sweep_interval = min(MAX_SWEEP_INTERVAL, max(1.0, ttl.total_seconds() / 2))
        self.periodic_sweeps = 0  # finished rounds of the periodic sweep

    async def submit(self, submission: Submission, client_ip: str | None = None) -> CsrStatus:
        """Validate and store a request, then queue it for signing. Raises CsrInvalid, CaRequestExists."""
        validate_csr(submission.content)
        now = self.clock.now()
        row = CaRequestRow(id=new_id(), type=submission.type, status="pending", content=submission.content,
                           metadata=submission.metadata or None, certificate=None, client_ip=client_ip,
                           expires_at=now + self.ttl, created_at=now, updated_at=now)
        await self.requests.insert(row)
        try:
            self._queue_in.send_nowait(row.id)
        except trio.WouldBlock:
            log.warning("signing queue full; request %s waits for the next sweep", row.id)
        return CsrStatus(row.id, row.type, row.status)

    async def get(self, request_id: str) -> CsrStatus:
        row = await self.requests.get(request_id)
        if row is None or row.expires_at <= self.clock.now():
            raise CsrNotFound(request_id)
        return CsrStatus(row.id, row.type, row.status, row.certificate)

    async def sign(self, request_id: str) -> str | None:
        """Sign one pending, unexpired request; returns its new status (None when there was nothing to do)."""
        row = await self.requests.get(request_id)
        now = self.clock.now()
        if row is None or row.status != "pending" or row.expires_at <= now:
            return None
        try:
            valid = validate_csr(row.content)
            certificate: str | None = await trio.to_thread.run_sync(self._sign_valid, valid, row.type, now)
            status = "approved"
        except Exception:
            log.exception("cannot sign request %s; denying it", request_id)
            certificate, status = None, "denied"
        if not await self.requests.resolve(request_id, status, certificate, self.clock.now()):
            return None
        log.info("request %s (%s) %s", request_id, row.type, status)
        return status

    def _sign_valid(self, valid: ValidCsr, kind: str, now: datetime) -> str:
        return self.authority.sign(valid.csr, valid.ip, kind, now)

    async def sweep(self) -> int:
        """Delete expired requests and sign any left pending; returns how many were deleted."""
        deleted = await self.requests.delete_expired(self.clock.now())
        for request_id in await self.requests.pending_ids(self.clock.now()):
            await self.sign(request_id)
        return deleted

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The background work: the signing worker and the periodic sweep, until `stop()`."""
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sign_queued)
                nursery.start_soon(self._sweep_periodically)
                task_status.started()

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    async def _sign_queued(self) -> None:
        async for request_id in self._queue_out:
            try:
                await self.sign(request_id)
            except Exception:  # the database may be down: the sweep retries later
                log.exception("signing request %s failed", request_id)

    async def _sweep_periodically(self) -> None:
        while True:
            try:
                deleted = await self.sweep()
                if deleted:
                    log.info("removed %d expired certificate requests", deleted)
            except Exception:
                log.exception("certificate request sweep failed")
            self.periodic_sweeps += 1
            await trio.sleep(self.sweep_interval)

