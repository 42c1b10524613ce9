"""The application: services wired to storage, blueprints, lifespan."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from . import transport
from .api import catalog, docs, health, inbox, metrics, mobile, thirdparty, tokens, upstream
from .api.auth import BearerScheme
from .api.errors import COMMIT_UNKNOWN, RETRY_AFTER, register_error_handlers
from .api.login_limit import FailedLoginLimiter
from .api.responses import error_response
from .api.watchdog import Watchdog
from .config import Settings
from .domain.accounts import Accounts, OtpConfig
from .domain.messages import MessagesService
from .domain.queue_limits import QueueLimiter, QueueLimits
from .domain.settings import SettingsService
from .domain.tokens import JwtConfig, TokenService
from .domain.webhooks import WebhooksService
from .events.notifier import Notifier, PushSink
from .events.runtime import Events
from .metrics import Metrics
from .storage import deadline as deadlines
from .storage.database import Database
from .storage.devices import DevicesRepository
from .storage.inbox import InboxRepository
from .storage.maintenance import MaintenanceRepository
from .storage.messages import MessagesRepository
from .storage.migrate import upgrade
from .storage.settings import SettingsRepository
from .storage.shared_state import shared_state_for
from .storage.tokens import TokensRepository
from .storage.users import UsersRepository
from .storage.webhooks import WebhooksRepository
from .tasks.jobs import periodic_tasks
from .tasks.online import OnlineTracker
from .tasks.periodic import PeriodicTask, process_owner, run_periodic

log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return version("smsgate-reference")
    except PackageNotFoundError:
        return "0.0.0+local"


@dataclass
class Services:
    settings: Settings
    db: Database
    notifier: Notifier
    push_sink: PushSink
    accounts: Accounts
    messages: MessagesService
    webhooks: WebhooksService
    settings_service: SettingsService
    upstream_limiter: upstream.RelayLimiter
    login_limiter: FailedLoginLimiter
    events: Events  # SSE connections, push queue, routing (the default notifier and push sink)
    inbox: InboxRepository  # the stored inbox (upstream 1.48)
    metrics: Metrics = field(default_factory=Metrics)
    tokens: TokenService | None = None  # None: JWT disabled (jwt.secret empty)
    online: OnlineTracker | None = None
    maintenance: MaintenanceRepository | None = None
    periodic: list[PeriodicTask] = field(default_factory=list)
    bearer_schemes: list[BearerScheme] = field(default_factory=list)
    version: str = field(default_factory=package_version)
    failed_pings: int = 0

    @property
    def public_api_path(self) -> str:
        """Prefix of generated links: `http.api.path` counts only when `http.api.host` is set (upstream)."""
        api = self.settings.http.api
        return api.path.rstrip("/") if api.host else "/api"


def queue_limits(settings: Settings) -> QueueLimits:
    queue = settings.messages.queue
    return QueueLimits(queue.max_pending, queue.max_pending_age, queue.max_failed, queue.max_failed_age,
                       queue.stats_refresh_interval)


def build_services(settings: Settings, db: Database, notifier: Notifier | None = None,
                   push_sink: PushSink | None = None) -> Services:
    metrics = Metrics()
    devices = DevicesRepository(db)
    events = Events(settings, devices, metrics, package_version())
    notifier = notifier or events.router
    tokens_repository = TokensRepository(db)
    maintenance = MaintenanceRepository(db)
    online = OnlineTracker(maintenance, metrics=metrics)
    inbox_repository = InboxRepository(db)
    tokens = None
    if settings.jwt.enabled:
        jwt = settings.jwt
        tokens = TokenService(tokens_repository, JwtConfig(jwt.secret, jwt.issuer, jwt.access_ttl, jwt.refresh_ttl),
                              count=metrics.count_jwt, observe=metrics.observe_jwt)
    state = shared_state_for(settings.cache.url, db)  # one-time codes, credential epochs, failed logins
    otp = OtpConfig(settings.otp.enabled, settings.otp.length, settings.otp.ttl, settings.otp.retries)
    return Services(
        settings=settings,
        db=db,
        notifier=notifier,
        push_sink=push_sink or events.push_queue,
        accounts=Accounts(UsersRepository(db), devices, otp, tokens, online, state),
        messages=MessagesService(MessagesRepository(db), devices, notifier, settings.phones.default_region,
                                 count_state=metrics.count_message_state,
                                 limiter=QueueLimiter(queue_limits(settings), maintenance, metrics),
                                 count_cache=metrics.cache_misses.inc),
        webhooks=WebhooksService(WebhooksRepository(db), devices, notifier),
        settings_service=SettingsService(SettingsRepository(db), notifier),
        upstream_limiter=upstream.RelayLimiter(limit=5, window=60, state=state),
        login_limiter=FailedLoginLimiter(settings.auth.failed_login_limit, state=state),
        events=events,
        metrics=metrics,
        tokens=tokens,
        bearer_schemes=[tokens] if tokens else [],
        online=online,
        maintenance=maintenance,
        periodic=periodic_tasks(settings, maintenance, tokens_repository, inbox_repository),
        inbox=inbox_repository,
    )


def begin_shutdown(app: QuartTrio) -> None:
    """The server is about to stop: end the SSE streams so that in-flight requests can all finish."""
    app.extensions["smsgate"].events.close_streams()


class _App(QuartTrio):
    """Bounds each handler by `http.request_timeout`: past it a request none of whose database work committed
    answers 503, and that work is rolled back, never committed later (`storage.deadline`).

    A request with a COMMIT in flight at its deadline, or one committed already, goes on for at most
    `commit_grace` more: it answers from its outcome, or 504 when it still has not finished, as its effects may
    then be stored (a COMMIT sent to a frozen database is confirmed, if ever, when the database wakes up).
    """

    request_timeout = math.inf
    commit_grace = 2.0  # seconds; a COMMIT normally takes milliseconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchdog = Watchdog()

    async def dispatch_request(self, request_context: Any = None) -> Any:
        deadline = deadlines.Deadline()
        token = deadlines.current.set(deadline)
        try:
            with trio.move_on_after(self.request_timeout + self.commit_grace) as scope:
                watch = self.watchdog.watch(self.request_timeout, deadline, scope)
                try:
                    return await super().dispatch_request(request_context)
                finally:
                    watch.done = True
        finally:
            deadlines.current.reset(token)
        log.warning("%s %s: no answer within %ss", request.method, request.path, self.request_timeout)
        if deadline.expired:
            return error_response(503, "request timed out, try again later", {"Retry-After": RETRY_AFTER})
        return error_response(504, COMMIT_UNKNOWN)


def create_app(settings: Settings, *, notifier: Notifier | None = None, push_sink: PushSink | None = None,
               migrate_on_start: bool = True) -> QuartTrio:
    database = settings.database
    db = Database(settings.database_url(), pool_size=database.pool_size(), echo=database.debug,
                  connect_timeout=database.connect_timeout.total_seconds(),
                  query_timeout=database.query_timeout.total_seconds())
    app = _App(__name__)
    app.asgi_app = transport.guard_requests(  # type: ignore[method-assign]  # slots, X-Request-ID, the last send
        app.asgi_app, settings.http.max_concurrent_requests, settings.http.request_timeout.total_seconds())
    app.request_timeout = settings.http.request_timeout.total_seconds()
    app.config["MAX_CONTENT_LENGTH"] = settings.http.max_body_bytes
    app.config["BODY_TIMEOUT"] = settings.http.read_timeout.total_seconds()
    services = app.extensions["smsgate"] = build_services(settings, db, notifier, push_sink)

    register_error_handlers(app)
    metrics.instrument(app)
    app.before_request(transport.same_host_redirect)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(health.blueprint, url_prefix=thirdparty.PREFIX, name="thirdparty_health")
    app.register_blueprint(thirdparty.blueprint)
    app.register_blueprint(tokens.blueprint)
    app.register_blueprint(mobile.blueprint)
    app.register_blueprint(inbox.mobile_blueprint)
    app.register_blueprint(inbox.thirdparty_blueprint)
    app.register_blueprint(catalog.blueprint)
    app.register_blueprint(upstream.blueprint)  # 404 on every route in private mode
    app.register_blueprint(docs.blueprint)  # 404 on every route while `http.openapi.enabled` is false

    service_links = (
        '</.well-known/api-catalog>; rel="api-catalog", '
        f'<{app.extensions["smsgate"].public_api_path}/docs/doc.json>; rel="service-desc", '
        '<https://docs.sms-gate.app/>; rel="service-doc", </.well-known/api-catalog>; rel="describedby"'
    )

    @app.after_request
    async def link_header(response: Response) -> Response:
        third_party = request.path.startswith(thirdparty.PREFIX)
        links = '</.well-known/api-catalog>; rel="api-catalog"' if third_party else service_links
        own = response.headers.get("Link")  # a route's own links (a list's rel="next") come first
        response.headers["Link"] = f"{own}, {links}" if own else links
        return response

    background = trio.CancelScope()  # our loops; cancelled first thing on shutdown

    async def run_background(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        owner = process_owner()
        assert services.maintenance is not None
        with background:
            async with trio.open_nursery() as nursery:
                for task in services.periodic:
                    nursery.start_soon(partial(run_periodic, metrics=services.metrics), task, services.maintenance,
                                       owner)
                if services.online is not None:
                    nursery.start_soon(services.online.run)
                task_status.started()

    @app.before_serving
    async def start() -> None:
        if migrate_on_start:
            await trio.to_thread.run_sync(upgrade, db.engine)
        log.info("serving in %s mode, database %s", settings.gateway.mode, db.engine.url.render_as_string())
        await app.nursery.start(run_background)

    services.events.install(app)  # after the migrations; it stops before db.dispose()

    if settings.ca.enabled:  # here: its worker starts after the migrations and stops before db.dispose()
        from .ca.server import mount_ca_from_settings

        mount_ca_from_settings(app, settings, db, services.accounts.state)

    @app.after_serving
    async def stop() -> None:
        background.cancel()
        if services.online is not None:
            await services.online.flush()  # the last marks of last_seen
        db.dispose()

    return app
