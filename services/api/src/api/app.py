"""The Litestar application: routes, error handling, OpenAPI, and the process's resources.

Hardening that applies to every route lives here (docs/security.md): request bodies
are capped at ``MAX_BODY_BYTES`` (a handler that takes uploads sets its own
``request_max_body_size``), decoded strictly (:mod:`api.body`), cross-origin access is
off unless ``CORS_ORIGINS`` names origins, and :mod:`api.request_context` wraps the whole
application for the request id and security headers.

Observability (docs/operations.md): :mod:`api.metrics` counts and times every request
and answers ``GET /metrics`` (unless ``METRICS_ENABLED=false`` or ``METRICS_PORT`` moves
it to a port of its own); :mod:`api.tracing` opens each request's span when the
``OTEL_*`` environment asks for traces. Neither is installed when it is off.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from api.auth import BEARER_SCHEME, OPENAPI_PATH, LiveUsers, authenticate
from api.body import MAX_BODY_BYTES, JSONRequest
from api.console import console_router, template_config
from api.docs_ui import SwaggerUIPlugin
from api.exception_handlers import exception_handlers
from api.openapi import CONTACT, LICENSE, TAGS, FinishedJson, JSONBodyResponsesPlugin, StrictStructSchemaPlugin
from api.quotas import Quotas
from api.request_context import REQUEST_ID_HEADER, RequestContext
from api.responses import AppResponse
from api.routes.blogs import BlogController
from api.routes.book_import import BookImportController
from api.routes.books import BookController
from api.routes.exports import ExportController
from api.routes.health import healthz, readyz
from api.routes.jobs import JobController
from api.routes.login import login
from api.routes.queue import QueueController
from api.routes.users import UserController
from api.state import AppState
from api.throttle import LoginThrottle, RegistrationThrottle
from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.logging import configure_logging
from shared.passwords import PasswordWork
from shared.queue_health import HealthCache
from shared.runtime import tune_garbage_collector
from shared.settings import Settings, get_settings
from shared.tracing import configure_tracing, shutdown_tracing

log = logging.getLogger("api")


def cors_config(settings: Settings) -> CORSConfig | None:
    """Cross-origin access only for ``CORS_ORIGINS``: none by default.

    Tokens travel in the Authorization header, never in cookies, so credentials stay off.
    """
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
        allow_credentials=False,
        max_age=600,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    tracing = configure_tracing("wadah-api")

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        db = Database(settings)
        redis = redis_client(settings)
        app.state.db, app.state.jobs = db, JobQueue(redis, db)
        app.state.login_throttle = LoginThrottle(redis, settings)
        app.state.registration_throttle = RegistrationThrottle(redis, settings)
        app.state.passwords = PasswordWork(settings.password_hash_workers, settings.password_verify_workers)
        app.state.quotas = Quotas(redis, settings)
        app.state.health = HealthCache()
        try:
            await db.connect()
        except Exception as exc:  # serve anyway: /readyz reports it, requests get 503s
            log.warning("database not reachable at start-up: %s", exc)
        log.info("api ready (database: %s)", "embedded SQLite" if settings.database_is_embedded else "MySQL")
        tune_garbage_collector()
        try:
            yield
        finally:
            await app.state.jobs.drain()
            await db.close()
            await redis.aclose()
            app.state.passwords.close()
            shutdown_tracing()
            if settings.metrics_enabled:
                from api.metrics import process_exited

                process_exited()

    app = Litestar(
        route_handlers=[
            UserController,
            BookController,
            BlogController,
            BookImportController,
            ExportController,
            JobController,
            QueueController,
            console_router,
            login,
            healthz,
            readyz,
        ],
        state=AppState({"settings": settings, "live_users": LiveUsers(settings.auth_user_cache_seconds)}),
        lifespan=[resources],
        before_request=authenticate,  # every route needs a token unless marked PUBLIC (api.auth)
        exception_handlers=exception_handlers,
        logging_config=None,  # shared.logging's format, with each line's request id, not Litestar's own
        request_class=JSONRequest,
        response_class=AppResponse,
        template_config=template_config,
        request_max_body_size=MAX_BODY_BYTES,
        cors_config=cors_config(settings),
        plugins=[StrictStructSchemaPlugin(), JSONBodyResponsesPlugin()],
        openapi_config=OpenAPIConfig(
            title="wadah",
            version="0.1.0",
            description="Users, books and blogs with JWT login, and the background jobs they start "
            "(imports, exports); a rebuild of a Go course service. Every error answer is JSON with a "
            "`message` (and `errors[]` naming fields); every answer carries `X-Request-ID`.",
            path=OPENAPI_PATH,
            contact=CONTACT,
            license=LICENSE,
            tags=TAGS,
            create_examples=False,
            render_plugins=[SwaggerUIPlugin(), FinishedJson()],
            components=Components(
                security_schemes={BEARER_SCHEME: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        debug=False,
    )
    # Around everything Litestar does, its 404s, 405s and CORS preflights included.
    handler = app.asgi_handler
    if tracing:
        from api.tracing import Tracing

        handler = Tracing(handler)
    metrics = None
    if settings.metrics_enabled:
        from api.metrics import HttpMetrics

        metrics = HttpMetrics(serve=settings.metrics_port is None)
    app.asgi_handler = RequestContext(handler, metrics)
    return app
