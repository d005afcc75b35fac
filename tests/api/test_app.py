"""App-wide policy: cross-origin access only for CORS_ORIGINS, and no internals in any production error."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import literal_column, select, table

from api.app import create_app
from api.auth import PUBLIC
from api.state import AppState
from shared.db import Query
from shared.logging import FORMAT, ContextFormatter
from shared.settings import Settings
from tests.api.expect import Client, error

APP_ORIGIN = "https://app.example.com"
EVIL_ORIGIN = "https://evil.example.net"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


async def test_by_default_no_origin_is_allowed_cross_origin(client: Client) -> None:
    """Without CORS_ORIGINS a browser on another origin can neither read an answer nor preflight a write."""
    read = await client.get("/books", headers={"Origin": APP_ORIGIN})
    preflight = await client.options("/books", headers={"Origin": APP_ORIGIN, **PREFLIGHT})
    for response in (read, preflight):
        assert not any(name.startswith("access-control-") for name in response.headers)


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings.model_copy(update={"cors_origins": [APP_ORIGIN]}))) as c:
        yield c


async def test_a_listed_origin_may_read_and_preflight_writes(cors_client: Client) -> None:
    read = await cors_client.get("/books", headers={"Origin": APP_ORIGIN})
    assert read.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-request-id" in read.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-credentials" not in read.headers  # tokens, never cookies
    preflight = await cors_client.options("/books", headers={"Origin": APP_ORIGIN, **PREFLIGHT})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


async def test_an_unlisted_origin_is_not_allowed_even_when_others_are(cors_client: Client) -> None:
    read = await cors_client.get("/books", headers={"Origin": EVIL_ORIGIN})
    preflight = await cors_client.options("/books", headers={"Origin": EVIL_ORIGIN, **PREFLIGHT})
    assert "access-control-allow-origin" not in read.headers
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers


SECRET_SQL = "SELECT password FROM users WHERE email = 'root@example.com'"


@get("/test-only/crash", opt=PUBLIC, include_in_schema=False)
async def crash() -> None:
    raise RuntimeError(f"{SECRET_SQL} -- Traceback (most recent call last): password=hunter2")


@get("/test-only/bad-sql", opt=PUBLIC, include_in_schema=False)
async def bad_sql(state: AppState) -> None:
    await state.db.fetch_one(Query(select(literal_column("secret_column")).select_from(table("no_such_table"))))


@pytest.fixture
def api_log() -> Iterator[io.StringIO]:
    """What the API's loggers write, formatted as the shared format does it, request id included."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ContextFormatter(FORMAT))
    logger = logging.getLogger("api")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[Client]:
    """The app as production runs it (ENV=production), with two routes that fail on purpose."""
    app: Litestar = create_app(settings.model_copy(update={"env": "production"}))
    app.register(crash)
    app.register(bad_sql)
    assert not app.debug
    async with AsyncTestClient(app=app) as c:
        yield c


@pytest.mark.parametrize("path", ["/test-only/crash", "/test-only/bad-sql"])
async def test_in_production_an_internal_error_says_nothing_about_the_internals(
    production: Client, api_log: io.StringIO, path: str
) -> None:
    response = await production.get(path, headers={"X-Request-ID": "trace-me-42"})
    body = error(response, 500, "internal server error")
    assert body == {"message": "internal server error"}
    for leak in ("SELECT", "secret_column", "no_such_table", "Traceback", "hunter2", ".py", "line "):
        assert leak not in response.text
    logged = api_log.getvalue()  # the operator gets the whole story, under the request's id
    assert "Traceback" in logged and "request_id=trace-me-42" in logged
