"""shared.queue_health: the operators' figures, read from the rows and the workers' liveness keys.

On an empty database of each backend (the per-minute statement is the portable
CASE-per-minute form, so SQLite and MariaDB must agree), with a Redis namespace of
the test's own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from redis.asyncio import Redis

from shared.db import Database
from shared.jobs import liveness_key
from shared.migrate import upgrade
from shared.models import Job, utcnow
from shared.queue_health import MINUTES, HealthCache, read_health
from shared.settings import Settings


@pytest.fixture
async def isolated(empty_database: str, redis_url: str) -> AsyncIterator[tuple[Database, Redis, Settings]]:
    await asyncio.to_thread(upgrade, empty_database)
    settings = Settings(
        database_url=empty_database,
        redis_url=redis_url,
        redis_namespace=f"wadah-health-{secrets.token_hex(4)}",
        _env_file=None,  # type: ignore[call-arg]
    )
    db, redis = Database(settings), Redis.from_url(redis_url)
    await db.connect()
    yield db, redis, settings
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis_namespace}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await db.close()


async def add(
    db: Database,
    status: str,
    *,
    age: timedelta = timedelta(0),
    finished_ago: timedelta | None = None,
    dispatched: bool = True,
) -> None:
    now = utcnow()
    async with db.sessions.begin() as session:
        session.add(
            Job(
                id=secrets.token_hex(18),
                kind="export",
                params="{}",
                status=status,
                created_at=now - age,
                dispatched_at=(now - age) if dispatched else None,
                finished_at=None if finished_ago is None else now - finished_ago,
            )
        )


async def test_an_empty_queue(isolated: tuple[Database, Redis, Settings]) -> None:
    db, redis, settings = isolated
    health = await read_health(db, redis, settings)
    assert health.by_status == {"queued": 0, "running": 0, "failed": 0, "cancelled": 0}
    assert (health.oldest_queued_seconds, health.workers_alive, health.undispatched) == (None, 0, 0)
    assert health.finished_per_minute == [0] * MINUTES


async def test_counts_ages_workers_outbox_and_throughput(isolated: tuple[Database, Redis, Settings]) -> None:
    # Half a minute into a minute, so "a second ago" is in the current minute's bar
    # whenever the test runs (the clock still ticks: the rows and the read stay in order).
    with time_machine.travel(datetime.now(UTC).replace(second=30, microsecond=0), tick=True):
        await _counts_ages_workers_outbox_and_throughput(*isolated)


async def _counts_ages_workers_outbox_and_throughput(db: Database, redis: Redis, settings: Settings) -> None:
    await add(db, "queued", age=timedelta(minutes=7), dispatched=False)
    await add(db, "queued", age=timedelta(minutes=1))
    await add(db, "running")
    for _ in range(3):
        await add(db, "succeeded", finished_ago=timedelta(seconds=1))  # the current minute: the last bar
    await add(db, "failed", finished_ago=timedelta(minutes=30))
    await add(db, "succeeded", finished_ago=timedelta(minutes=90))  # outside the hour
    await redis.set(liveness_key(settings, "w1"), b"1", ex=60)
    await redis.set(liveness_key(settings, "w2"), b"1", ex=60)
    await redis.set(f"{settings.redis_namespace}:queue", b"not a worker")

    health = await read_health(db, redis, settings)
    # succeeded is not counted from the rows (most of the table); the chart shows the rate
    assert health.by_status == {"queued": 2, "running": 1, "failed": 1, "cancelled": 0}
    assert health.oldest_queued_seconds is not None and 7 * 60 <= health.oldest_queued_seconds < 8 * 60
    assert (health.workers_alive, health.undispatched) == (2, 1)
    assert health.finished_per_minute[-1] == 3
    assert health.finished_per_minute[-31] == 1
    assert sum(health.finished_per_minute) == 4


async def test_a_snapshot_is_shared_for_its_lifetime(isolated: tuple[Database, Redis, Settings]) -> None:
    db, redis, settings = isolated
    kept, fresh = HealthCache(ttl=3600), HealthCache(ttl=0)
    first, first_fresh = await kept.get(db, redis, settings), await fresh.get(db, redis, settings)
    await add(db, "queued")
    assert await kept.get(db, redis, settings) is first
    assert (await fresh.get(db, redis, settings)).by_status["queued"] == first_fresh.by_status["queued"] + 1
