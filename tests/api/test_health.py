"""Liveness and readiness, and what clients see while the database or Redis is down.

The "down" apps are real apps pointed at a port nothing listens on, so the failure is a
refused TCP connection, as when a server is stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from shared.settings import Settings
from tests.api.expect import Client, error
from tests.factories import Factory, blog_body, book_body

NOTHING_LISTENS = "127.0.0.1:9"  # the discard port: closed on any sane test machine


async def _client_with(settings: Settings, **changes: Any) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings.model_copy(update=changes))) as client:
        yield client


@pytest.fixture(scope="module")
async def without_redis(settings: Settings) -> AsyncIterator[Client]:
    async for client in _client_with(settings, redis_url=f"redis://{NOTHING_LISTENS}/0"):
        yield client


@pytest.fixture(scope="module")
async def without_database(settings: Settings) -> AsyncIterator[Client]:
    async for client in _client_with(settings, database_url=f"mysql+asyncmy://root@{NOTHING_LISTENS}/wadah"):
        yield client


async def test_healthz_answers_200(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["message"] == "ok"


async def test_readyz_answers_200_with_the_database_and_redis_checks_ok(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert len(checks) == 2 and "redis" in checks
    assert set(checks.values()) == {"ok"}


async def test_readyz_is_503_naming_redis_when_redis_is_down(without_redis: Client) -> None:
    response = await without_redis.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "redis" in body["message"]
    assert body["checks"]["redis"] != "ok"
    assert all(status == "ok" for name, status in body["checks"].items() if name != "redis")


async def test_readyz_is_503_naming_mysql_when_the_database_is_down(without_database: Client) -> None:
    response = await without_database.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "mysql" in body["message"]
    assert body["checks"]["mysql"] != "ok"
    assert body["checks"]["redis"] == "ok"


async def test_healthz_stays_200_while_the_database_is_down(without_database: Client) -> None:
    assert (await without_database.get("/healthz")).status_code == 200


@pytest.mark.parametrize("path", ["/books", "/books/1", "/blogs", "/blogs/1"])
async def test_reads_are_503_json_with_retry_after_while_the_database_is_down(
    without_database: Client, path: str
) -> None:
    response = await without_database.get(path)
    error(response, 503)
    assert response.headers["retry-after"].isdigit()


async def test_writes_are_503_json_while_the_database_is_down(without_database: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await without_database.post("/books", json=book_body(), headers=user.auth), 503)
    error(await without_database.delete("/books/1", headers=user.auth), 503)


async def test_blog_writes_still_succeed_while_redis_is_down(without_redis: Client, factory: Factory) -> None:
    """The stats job cannot be queued now; the write is committed all the same."""
    user = await factory.user()
    created = await without_redis.post("/blogs", json=blog_body(), headers=user.auth)
    assert created.status_code == 201, created.text
    updated = await without_redis.put(f"/blogs/{created.json()['data']['id']}", json=blog_body(), headers=user.auth)
    assert updated.status_code == 200, updated.text
