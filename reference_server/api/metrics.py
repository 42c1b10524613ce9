"""GET /metrics (Prometheus text, no auth, as upstream) and the HTTP request instrumentation."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST
from quart import Blueprint, Quart, Response, g, request

from .context import services

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
async def exposition() -> Response:
    state = services()
    if state.online is not None:
        state.online.publish()  # the online marks are counted in bulk, not per request
    return Response(state.metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def instrument(app: Quart) -> None:
    @app.before_request
    async def started() -> None:
        g.request_started = time.perf_counter()
        services().metrics.http_in_progress.labels(request.method).inc()

    @app.after_request
    async def finished(response: Response) -> Response:
        metrics = services().metrics
        started_at = g.pop("request_started", None)
        if started_at is not None:
            metrics.http_in_progress.labels(request.method).dec()
            # The route pattern, not the raw path, keeps the label set bounded.
            path = request.url_rule.rule if request.url_rule is not None else "unmatched"
            labels = (str(response.status_code), request.method, path)
            metrics.http_requests.labels(*labels).inc()
            metrics.http_duration.labels(*labels).observe(time.perf_counter() - started_at)
        return response
