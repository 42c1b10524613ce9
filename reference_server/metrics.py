"""Prometheus metrics, with upstream's names where they apply (contract §7.4).

All collectors live in one registry per process so tests can build several apps without clashes:
`Metrics()` creates its own registry, and `/metrics` exposes it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.http_requests = Counter("http_requests_total", "HTTP requests by status, method and route",
                                     ["status_code", "method", "path"], registry=r)
        self.http_duration = Histogram("http_request_duration_seconds", "HTTP request duration",
                                       ["status_code", "method", "path"], registry=r)
        self.http_in_progress = Gauge("http_requests_in_progress_total", "HTTP requests being served",
                                      ["method"], registry=r)
        self.messages = Counter("sms_messages_total", "Messages by state they were stored in", ["state"], registry=r)
        self.jwt_issued = Counter("sms_auth_jwt_tokens_issued_total", "JWT access tokens issued", ["status"],
                                  registry=r)
        self.jwt_validated = Counter("sms_auth_jwt_tokens_validated_total", "JWT validations", ["status"],
                                     registry=r)
        self.jwt_revoked = Counter("sms_auth_jwt_tokens_revoked_total", "JWT revocations", ["status"], registry=r)
        self.jwt_refreshed = Counter("sms_auth_jwt_tokens_refreshed_total", "JWT refreshes", ["status"], registry=r)

    def count_jwt(self, operation: str, status: str) -> None:
        counter = {"issued": self.jwt_issued, "validated": self.jwt_validated, "revoked": self.jwt_revoked,
                   "refreshed": self.jwt_refreshed}[operation]
        counter.labels(status).inc()

    def count_message_state(self, state: str) -> None:
        self.messages.labels(state).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
