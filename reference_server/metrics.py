"""Prometheus metrics, with upstream's names where they apply (contract §7.4).

All collectors live in one registry per process so tests can build several apps without clashes:
`Metrics()` creates its own registry, and `/metrics` exposes it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

# Upstream's buckets, per family (online/metrics.go, jwt/metrics.go, worker/executor/metrics.go).
MEMORY_BUCKETS = (1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, .001, .005, .01, .05, .1)
DATABASE_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
JWT_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1)
WORKER_BUCKETS = (.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25)


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
        self._add_upstream_module_metrics(r)
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
                                     "From routing an event to writing it to an SSE stream",
                                     buckets=MEMORY_BUCKETS, registry=r)
        self.sse_keepalives = Counter("sms_sse_keepalives_sent_total", "SSE keep-alive comments written", registry=r)

    def _add_upstream_module_metrics(self, r: CollectorRegistry) -> None:
        """Upstream's online, message cache, limiter, JWT timing and worker families (names, labels, buckets)."""
        memory, database = MEMORY_BUCKETS, DATABASE_BUCKETS
        self.online_status_set = Counter("sms_online_status_set_total", "Total number of online status updates",
                                         ["status"], registry=r)
        self.online_cache_ops = Counter("sms_online_cache_operations_total", "Total cache operations by type",
                                        ["operation", "status"], registry=r)
        self.online_cache_latency = Histogram("sms_online_cache_latency_seconds", "Cache operation latency in seconds",
                                              buckets=memory, registry=r)
        self.online_persist_latency = Histogram("sms_online_persistence_latency_seconds",
                                                "Persistence operation latency in seconds", buckets=database,
                                                registry=r)
        self.online_persist_errors = Counter("sms_online_persistence_errors_total", "Total persistence errors by type",
                                             registry=r)
        self.online_batch_size = Gauge("sms_online_batch_size", "Current batch size", registry=r)
        self.cache_hits = Counter("sms_messages_cache_hits_total", "Number of cache hits", registry=r)
        self.cache_misses = Counter("sms_messages_cache_misses_total", "Number of cache misses", registry=r)
        self.limiter_refreshes = Counter("sms_messages_limiter_refreshes_total",
                                         "Total number of limiter refresh requests", registry=r)
        self.limiter_batch_size = Gauge("sms_messages_limiter_batch_size",
                                        "Number of devices processed per refresh cycle", registry=r)
        self.limiter_query_errors = Counter("sms_messages_limiter_query_errors_total",
                                            "Total number of limiter query errors by check type", ["check"], registry=r)
        self.jwt_durations = {
            operation: Histogram(f"sms_auth_jwt_{name}_duration_seconds", f"JWT {name} duration in seconds",
                                 buckets=JWT_BUCKETS, registry=r)
            for operation, name in (("issued", "issuance"), ("validated", "validation"), ("revoked", "revocation"),
                                    ("refreshed", "refresh"))
        }
        self.worker_active = Gauge("worker_executor_active_tasks", "Number of active tasks", registry=r)
        self.worker_results = Counter("worker_executor_task_result_total",
                                      "Task result, labeled by task name and result", ["task", "result"], registry=r)
        self.worker_duration = Histogram("worker_executor_task_duration_seconds", "Task duration in seconds", ["task"],
                                         buckets=WORKER_BUCKETS, registry=r)

    def observe_jwt(self, operation: str, seconds: float) -> None:
        self.jwt_durations[operation].observe(seconds)

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
