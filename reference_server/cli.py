"""`smsgate-server`: serve the API, upgrade the database, or probe a running server's health."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence

import httpx
import sqlalchemy as sa
import trio
from alembic.util import CommandError
from hypercorn.config import Config as HypercornConfig

from . import db_copy_cli
from .api.request_id import ACCESS_LOG_FORMAT
from .config import ConfigError, Settings, load_settings
from .storage.adopt import AdoptRefused
from .storage.adopt import adopt as adopt_database
from .storage.database import create_engine, one_line
from .storage.migrate import MigrationLockTimeout, UpstreamDatabase, upgrade

log = logging.getLogger("smsgate")
GIL_SWITCH_INTERVAL = 0.001
GC_THRESHOLDS = (50_000, 20, 20)  # Python's defaults: (700, 10, 10)

DESCRIPTION = """SMSGate reference server: the 3rd-party and mobile APIs of SMS Gateway for Android.

Configuration comes from config.yml (or --config / CONFIG_PATH), then .env, then environment
variables named SECTION__KEY (e.g. GATEWAY__MODE=private, HTTP__LISTEN=127.0.0.1:3000,
DATABASE__URL=mysql+pymysql://user:pass@host/db). With none of them it listens on :3000 and
keeps its data in ./smsgate.db (SQLite)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsgate-server", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (default: $CONFIG_PATH or ./config.yml)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the server (the default command)")
    serve.add_argument("--listen", help="override http.listen, e.g. 127.0.0.1:3000")
    serve.add_argument("--workers", type=int, default=1, help="server processes sharing the port (default 1)")
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the database on start")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    upgrade_command = db_commands.add_parser("upgrade", help="apply all migrations")
    adopt = db_commands.add_parser(
        "adopt", help="take over a database of the Go server (v1.46.2 to v1.47.1) in place, keeping its users, "
                      "phones, messages, webhooks, settings and tokens")
    adopt.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    for command in (upgrade_command, adopt):
        command.add_argument("--url", help="the database URL to act on instead of database.url (e.g. one with the "
                                           "rights to create a scratch database, which adopt needs)")
    db_copy_cli.add_parser(db_commands)
    commands.add_parser("health", help="ask the server at http.listen for /health/live; exit 0 when it passes")
    return parser


def tune_interpreter() -> None:
    """Database work runs in worker threads (MariaDB). A thread coming back from the driver (which releases the GIL
    for each statement) waits for the event loop to hand the GIL over, by default up to 5 ms, once per statement: a
    batch of statements crawls behind a busy loop. 1 ms keeps that wait short at a negligible cost.

    The cycle collector: each open SSE stream holds some 190 tracked objects (Trio tasks, Hypercorn's protocol,
    Quart's request) for as long as it lasts, so with a thousand phones a full collection walks half a million
    objects and stalls the event loop for 300-400 ms (measured with gc.callbacks at 100 msg/s end to end: one
    every 3-6 s). Full collections come after so many objects survived the young ones, and with the default
    thresholds a young collection runs every 700 allocations, which catches the objects of every request in
    flight and promotes them. Young collections every 50,000 allocations let those die first (reference counting
    frees nearly all of them), so objects reach the old generation, and full collections come, far less often.
    What the server holds once started (modules, the app) is left out of collections altogether (`freeze`)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_objects() -> None:
    """Keep the objects made while starting (imports, the app) out of every later collection."""
    gc.collect()
    gc.freeze()


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def migrate(settings: Settings, url: str | None = None, adopt: bool = False, dry_run: bool = False) -> None:
    """`upgrade` the database (of `url`, else database.url) or, with `adopt`, take over the Go server's."""
    database = settings.database
    query_timeout = max(database.query_timeout.total_seconds(), 300)  # DDL takes its time
    engine = create_engine(url or settings.database_url(), connect_timeout=database.connect_timeout.total_seconds(),
                           query_timeout=query_timeout)
    try:
        if adopt:
            adopt_database(engine, dry_run=dry_run, query_timeout=query_timeout)
        else:
            upgrade(engine)
    except (sa.exc.SQLAlchemyError, CommandError, MigrationLockTimeout) as exc:
        raise MigrationFailed(one_line(exc)) from None
    except (UpstreamDatabase, AdoptRefused) as exc:
        raise MigrationFailed(str(exc)) from None
    finally:
        engine.dispose()


class MigrationFailed(Exception):
    """The database could not be upgraded; the message is one line, fit for a log."""


def serve(settings: Settings, workers: int = 1, migrate_first: bool = True) -> None:
    tune_interpreter()
    if migrate_first:
        migrate(settings)
    config = HypercornConfig()
    config.bind = [settings.http.bind_address()]
    config.worker_class = "trio"
    # No read timeout: an SSE client sends nothing for as long as it listens (hours), and Hypercorn's
    # read timeout would close its stream. Slow clients are bounded all the same: Hypercorn counts a
    # connection whose request headers are still arriving as idle, so `http.idle_timeout` closes it
    # (slow-loris), and a body must arrive within `http.read_timeout` (Quart's BODY_TIMEOUT, 408).
    config.read_timeout = None
    config.keep_alive_timeout = settings.http.idle_timeout.total_seconds()
    config.graceful_timeout = 5
    config.h11_max_incomplete_size = 64 * 1024
    config.accesslog = "-" if settings.log.level == "DEBUG" else None
    config.access_log_format = ACCESS_LOG_FORMAT
    if workers > 1:
        from hypercorn.run import run

        if settings.pubsub.url.startswith("memory:"):
            log.warning("%d workers with pubsub.url memory://: a device's SSE stream only gets the events raised "
                        "in its own worker; set pubsub.url to a Redis URL", workers)

        if settings.cache.url.startswith("memory:"):
            # the workers must share one-time codes, failed-login counts and credential epochs
            log.info("%d workers with cache.url memory://: sharing that state through the database", workers)
            os.environ["CACHE__URL"] = "database://"
        config.workers = workers
        config.application_path = "reference_server.asgi:app"
        run(config)
        return
    from hypercorn.trio import serve as hypercorn_serve

    from .app import begin_shutdown, create_app
    from .transport import use_guarded_connections

    use_guarded_connections()
    app = create_app(settings, migrate_on_start=False)
    freeze_startup_objects()

    async def main() -> None:
        async def shutdown_trigger() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    begin_shutdown(app)  # SSE streams end now instead of at the graceful timeout
                    return

        log.info("listening on %s", config.bind[0])
        await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]

    trio.run(main)


def health(settings: Settings) -> int:
    host, _, port = settings.http.bind_address().rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "[::]", "") else host
    try:
        response = httpx.get(f"http://{host}:{port}/health/live", timeout=5)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 200 else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if getattr(args, "listen", None):
            settings = settings.model_copy(update={
                "http": settings.http.model_copy(update={"listen": args.listen})})
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    if args.command == "health":
        return health(settings)
    try:
        if args.command == "db" and args.action == "copy":
            return db_copy_cli.run(args)
        if args.command == "db":
            adopting = args.action == "adopt"
            migrate(settings, args.url, adopt=adopting, dry_run=adopting and args.dry_run)
            if args.action == "upgrade":
                print("database is up to date")
            return 0
        serve(settings, getattr(args, "workers", 1), not getattr(args, "no_migrate", False))
    except MigrationFailed as exc:
        if args.command == "db" and args.action == "adopt":
            print(f"db adopt: {exc}", file=sys.stderr)
        else:
            log.error("database migration failed: %s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
