"""Where the CA API runs: mounted inside smsgate-server (`ca.enabled`), or as its own app (`smsgate-ca serve`)."""

from __future__ import annotations

import logging
import signal
from datetime import timedelta
from pathlib import Path

import trio
from hypercorn.config import Config as HypercornConfig
from quart_trio import QuartTrio

from ..api.errors import register_error_handlers
from ..config import Settings
from ..domain.shared_state import SharedState
from ..storage.ca_requests import CaRequestsRepository
from ..storage.database import Database
from ..storage.migrate import upgrade
from .authority import Authority, load_authority
from .paths import DATABASE_NAME
from .ratelimit import RateLimiter
from .routes import EXTENSION, CaApi, blueprint
from .service import CaService, WallClock

log = logging.getLogger(__name__)

STANDALONE_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024  # a CSR is at most 16 KiB of text; metadata is small


def mount_ca(app: QuartTrio, *, authority: Authority, db: Database, prefix: str, ttl: timedelta,
             rate_limit: int, proxies: list[str] | None = None, clock: WallClock | None = None,
             state: SharedState | None = None) -> CaService:
    """Serve the CA API under `prefix` in `app`, and run its signing worker while the app serves. `state` holds
    the rate limit's counts (the server's `cache.url`; memory when None: one process).

    Call it after the hooks that prepare the database (migrations) are registered: hooks run in order.
    """
    service = CaService(authority, CaRequestsRepository(db), ttl=ttl, clock=clock)
    app.extensions[EXTENSION] = CaApi(service, RateLimiter(rate_limit, 60.0, state), list(proxies or []))
    app.register_blueprint(blueprint, url_prefix=prefix)

    @app.before_serving
    async def start_ca_worker() -> None:
        await app.nursery.start(service.run)

    @app.after_serving
    async def stop_ca_worker() -> None:
        service.stop()  # before the app's nursery waits for its children

    return service


def mount_ca_from_settings(app: QuartTrio, settings: Settings, db: Database, state: SharedState) -> CaService:
    """smsgate-server's switch: the CA in `ca.dir` under `ca.path_prefix` (config validated the directory), its
    rate limit counted in the server's shared state (one limit for every process of the deployment)."""
    ca = settings.ca
    return mount_ca(app, authority=load_authority(Path(ca.dir)), db=db, prefix=ca.path_prefix, ttl=ca.ttl,
                    rate_limit=ca.rate_limit, proxies=settings.http.proxies, state=state)


def database_url(settings: Settings, directory: Path) -> str:
    """The configured database when one is configured, else an SQLite file in the CA directory."""
    if settings.database.url or settings.database.host:
        return settings.database_url()
    return f"sqlite:///{(directory / DATABASE_NAME).resolve()}"


def create_ca_app(settings: Settings, directory: Path, *, migrate_on_start: bool = True,
                  clock: WallClock | None = None) -> QuartTrio:
    """The standalone CA: its API under /api/v1. Raises RootMissing when `directory` holds no root."""
    authority = load_authority(directory)
    db = Database(database_url(settings, directory), pool_size=settings.database.pool_size(),
                  echo=settings.database.debug)
    app = QuartTrio("smsgate_ca")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    register_error_handlers(app)

    @app.before_serving
    async def migrate() -> None:
        if migrate_on_start:
            await trio.to_thread.run_sync(upgrade, db.engine)
        log.info("CA %s serving %s, database %s", authority.certificate.subject.rfc4514_string(),
                 STANDALONE_PREFIX, db.engine.url.render_as_string())

    mount_ca(app, authority=authority, db=db, prefix=STANDALONE_PREFIX, ttl=settings.ca.ttl,
             rate_limit=settings.ca.rate_limit, proxies=settings.http.proxies, clock=clock)

    @app.after_serving
    async def close_database() -> None:
        db.dispose()

    return app


def serve(app: QuartTrio, bind: str, *, access_log: bool = False) -> None:
    """Run `app` on Hypercorn (Trio) at `bind` until SIGINT or SIGTERM."""
    config = HypercornConfig()
    config.bind = [bind]
    config.worker_class = "trio"
    config.graceful_timeout = 5
    config.accesslog = "-" if access_log else None
    from hypercorn.trio import serve as hypercorn_serve

    async def main() -> None:
        async def shutdown_trigger() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    return

        log.info("listening on http://%s%s", bind, STANDALONE_PREFIX)
        await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]

    trio.run(main)
