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
        self.limiter_checks = Counter("sms_messages_limiter_checks_total", "Queue-limit checks on send", ["result"],
                                      registry=r)
        self.jwt_issued = Counter("sms_auth_jwt_tokens_issued_total", "JWT access tokens issued", ["status"],
                                  registry=r)
        self.jwt_validated = Counter("sms_auth_jwt_tokens_validated_total", "JWT validations", ["status"],
                                     registry=r)
        self.jwt_revoked = Counter("sms_auth_jwt_tokens_revoked_total", "JWT revocations", ["status"], registry=r)
        self.jwt_refreshed = Counter("sms_auth_jwt_tokens_refreshed_total", "JWT refreshes", ["status"], registry=r)
        self._add_notification_metrics(r)
        self.task_runs = Counter("sms_task_runs_total", "Periodic task ticks: ran (ok, failed) or left to another "
                                 "process holding the lease (skipped)", ["task", "result"], registry=r)
        self.task_last_success = Gauge("sms_task_last_success_timestamp_seconds",
                                       "When this process last ran the task successfully", ["task"], registry=r)

    def _add_notification_metrics(self, r: CollectorRegistry) -> None:
        """Push queue, event routing and SSE (events/)."""
        self.push_enqueued = Counter("sms_push_enqueued_total", "Pushes queued, by event", ["event"], registry=r)
        self.push_retries = Counter("sms_push_retries_total", "Failed pushes queued again", registry=r)
        self.push_blacklist = Counter("sms_push_blacklist_total", "Push blacklist: tokens added, pushes skipped",
                                      ["operation"], registry=r)
        self.push_errors = Counter("sms_push_errors_total", "Pushes the sender failed to deliver", registry=r)
        self.events_enqueued = Counter("sms_events_enqueued_total", "Device events raised, by event", ["event"],
                                       registry=r)
        self.events_sent = Counter("sms_events_sent_total", "Device events handed to a transport",
                                   ["event", "delivery_type"], registry=r)
        self.events_failed = Counter("sms_events_failed_total", "Device events not handed to a transport",
                                     ["event", "delivery_type", "reason"], registry=r)
        self.sse_active = Gauge("sms_sse_active_connections", "Open SSE connections", registry=r)
        self.sse_sent = Counter("sms_sse_events_sent_total", "Events written to SSE streams", ["event_type"],
                                registry=r)
        self.sse_errors = Counter("sms_sse_connection_errors_total", "SSE delivery problems", ["error_type"],
                                  registry=r)
        self.sse_latency = Histogram("sms_sse_event_delivery_latency_seconds",
                                     "From routing an event to writing it to an SSE stream", registry=r)
        self.sse_keepalives = Counter("sms_sse_keepalives_sent_total", "SSE keep-alive comments written", registry=r)

    def count_jwt(self, operation: str, status: str) -> None:
        counter = {"issued": self.jwt_issued, "validated": self.jwt_validated, "revoked": self.jwt_revoked,
                   "refreshed": self.jwt_refreshed}[operation]
        counter.labels(status).inc()

    def count_task(self, task: str, result: str) -> None:
        self.task_runs.labels(task, result).inc()
        if result == "ok":
            self.task_last_success.labels(task).set_to_current_time()

    def count_message_state(self, state: str) -> None:
        self.messages.labels(state).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
