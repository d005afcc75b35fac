"""The Litestar application: routes, error handling, OpenAPI, and the process's resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api.auth import BEARER_SCHEME, auth_middleware
from api.errors import exception_handlers
from api.routes.blogs import BlogController
from api.routes.books import BookController
from api.routes.health import healthz, readyz
from api.routes.jobs import JobController
from api.routes.login import login
from api.routes.users import UserController
from api.state import AppState
from shared.db import Database
from shared.jobs import JobQueue, redis_client
from shared.logging import configure_logging
from shared.settings import Settings, get_settings

log = logging.getLogger("api")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        db = Database(settings)
        redis = redis_client(settings)
        app.state.db, app.state.jobs = db, JobQueue(redis, db)
        try:
            await db.connect()
        except Exception as exc:  # serve anyway: /readyz reports it, requests get 503s
            log.warning("database not reachable at start-up: %s", exc)
        log.info("api ready (database: %s)", "embedded SQLite" if settings.database_is_embedded else "MySQL")
        try:
            yield
        finally:
            await app.state.jobs.drain()
            await db.close()
            await redis.aclose()

    return Litestar(
        route_handlers=[UserController, BookController, BlogController, JobController, login, healthz, readyz],
        state=AppState({"settings": settings}),
        lifespan=[resources],
        middleware=[auth_middleware],
        exception_handlers=exception_handlers,
        openapi_config=OpenAPIConfig(
            title="wadah",
            version="0.1.0",
            description="Users, books and blogs with JWT login; a rebuild of a Go course service.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin()],
            components=Components(
                security_schemes={BEARER_SCHEME: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        debug=False,
    )
