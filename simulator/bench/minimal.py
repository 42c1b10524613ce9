"""The ceiling: a minimal quart-trio route (parse the JSON body, answer 202) on the same Hypercorn setup as
`smsgate-server serve` (trio worker, the same timeouts), one process or several.

Run as `python -m simulator.bench.minimal HOST:PORT WORKERS`.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import AsyncIterator

import trio
from hypercorn.config import Config
from quart import Response, request
from quart_trio import QuartTrio

from .procs import GC_THRESHOLDS, settle

TUNED_WORKERS = "SMSGATE_BENCH_MINIMAL_TUNED"
app = QuartTrio(__name__)
streams: set[trio.MemorySendChannel[bytes]] = set()


@app.post("/api/3rdparty/v1/messages")
async def accept() -> Response:
    body = json.loads(await request.get_data())
    return Response(json.dumps({"id": "x", "state": "Pending", "n": len(body)}), 202,
                    content_type="application/json")


@app.get("/health")
async def health() -> Response:
    return Response("{}", 200, content_type="application/json")


@app.get("/api/mobile/v1/events")
async def events() -> Response:
    """An SSE stream fed by a memory channel, as the server's are, minus authentication and routing."""
    send, receive = trio.open_memory_channel[bytes](8)

    async def body() -> AsyncIterator[bytes]:
        streams.add(send)
        try:
            async for frame in receive:
                yield frame
        finally:
            streams.discard(send)

    response = Response(body(), content_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    response.timeout = None
    return response


@app.patch("/api/3rdparty/v1/settings")
async def broadcast() -> Response:
    """One event to every open stream."""
    for channel in list(streams):
        try:
            channel.send_nowait(b"event: SettingsUpdated\ndata: null\n\n")
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass
    return Response("{}", 200, content_type="application/json")


def config(bind: str, workers: int) -> Config:
    """As `reference_server.cli.serve` sets it up."""
    cfg = Config()
    cfg.bind = [bind]
    cfg.worker_class = "trio"
    cfg.read_timeout = None
    cfg.keep_alive_timeout = 60
    cfg.graceful_timeout = 5
    cfg.h11_max_incomplete_size = 64 * 1024
    cfg.accesslog = None
    cfg.workers = workers
    return cfg


def tune_interpreter() -> None:
    """As `reference_server.cli.tune_interpreter` and `freeze_startup_objects` do (the simulator may not import the
    server): the same GIL switch interval and cycle-collector thresholds, the objects made while starting frozen."""
    sys.setswitchinterval(0.001)
    gc.set_threshold(*GC_THRESHOLDS)
    settle()


def main(argv: list[str] | None = None) -> int:
    bind, workers = (sys.argv[1:] if argv is None else argv)[:2]
    cfg = config(bind, int(workers))
    tune_interpreter()
    if int(workers) > 1:
        from hypercorn.run import run

        cfg.application_path = "simulator.bench.minimal:app"
        os.environ[TUNED_WORKERS] = "1"  # the workers are new interpreters: they tune themselves on import
        run(cfg)
        return 0
    import trio
    from hypercorn.trio import serve

    trio.run(serve, app, cfg)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
elif os.environ.get(TUNED_WORKERS):
    tune_interpreter()  # a worker process that `main(..., workers > 1)` started, importing the app
