"""worker.dispatcher: queued jobs Redis lost are found a page at a time, and all of them in the end."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from arq.constants import job_key_prefix

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.models import utcnow
from shared.settings import Settings
from tests.cancels import swallow_own_cancel
from tests.factories import Factory
from tests.processes import fresh_database
from worker import dispatcher
from worker.dispatcher import Dispatcher

PAGE = 3


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A database and a Redis namespace of this test's own, so other tests' rows stay out of it."""
    with fresh_database(tmp_path, "dispatch") as url:
        yield settings.model_copy(
            update={"database_url": url, "redis_namespace": f"{settings.redis_namespace}-{secrets.token_hex(3)}"}
        )


@pytest.fixture
async def own(own_settings: Settings) -> AsyncIterator[tuple[Dispatcher, Factory]]:
    db = Database(own_settings)
    queue = JobQueue(redis_client(own_settings), db)
    try:
        yield Dispatcher(db, queue, own_settings, "test:1:dispatcher"), Factory(db, own_settings)
    finally:
        keys = [key async for key in queue.redis.scan_iter(match=f"{own_settings.redis_namespace}*")]
        if keys:
            await queue.redis.delete(*keys)
        await queue.redis.aclose()
        await db.close()


async def queued_long_ago(factory: Factory, n: int) -> list[str]:
    """``n`` queued rows handed to Redis two minutes ago, oldest first; none is in Redis yet."""
    sent = utcnow() - timedelta(minutes=2)
    return [(await factory.job(None, dispatched_at=sent + timedelta(seconds=i))).id for i in range(n)]


async def in_redis(dispatch: Dispatcher, ids: list[str]) -> list[str]:
    return [job_id for job_id in ids if await dispatch.queue.redis.exists(job_key_prefix + job_id)]


async def forget(dispatch: Dispatcher, ids: list[str]) -> None:
    await dispatch.queue.redis.delete(*(job_key_prefix + job_id for job_id in ids))


async def test_after_a_redis_restart_one_sweep_sends_every_queued_job_again(
    own: tuple[Dispatcher, Factory], monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch, factory = own
    monkeypatch.setattr(dispatcher, "BATCH", PAGE)
    ids = await queued_long_ago(factory, 3 * PAGE + 1)
    assert await dispatch.recover() == len(ids)
    assert await in_redis(dispatch, ids) == ids
    await forget(dispatch, ids)
    assert await dispatch.recover() == len(ids)  # the next sweep starts over: nothing stays lost


async def test_a_sweep_checks_one_page_and_the_next_sweep_goes_on_from_there(
    own: tuple[Dispatcher, Factory], monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch, factory = own
    monkeypatch.setattr(dispatcher, "BATCH", PAGE)
    ids = await queued_long_ago(factory, 3 * PAGE)
    await dispatch.queue.send([(job_id, "compute_blog_stats") for job_id in ids[: 2 * PAGE]])
    lost = ids[2 * PAGE :]  # evicted, say: only the newest page is gone

    assert await dispatch.recover() == 0  # the first page is all there: one page is all this sweep reads
    assert await dispatch.recover() == 0  # the second page
    assert await dispatch.recover() == len(lost)  # the third: found, sent again
    assert await in_redis(dispatch, lost) == lost


class SwallowingDispatcher(Dispatcher):
    """Its first heartbeat meets a stop as redis-py's send can on Python 3.11 (worker.cancellation)."""

    swallowed = False

    async def heartbeat(self) -> None:
        await super().heartbeat()
        if not self.swallowed:
            await swallow_own_cancel()
            self.swallowed = True


async def test_a_stop_that_a_library_swallowed_still_stops_the_dispatcher(
    own: tuple[Dispatcher, Factory], own_settings: Settings
) -> None:
    given, _ = own
    dispatch = SwallowingDispatcher(
        given.db, given.queue, own_settings.model_copy(update={"dispatch_interval_seconds": 60}), "test:1:swallow"
    )
    running = asyncio.create_task(dispatch.run(asyncio.Event()))  # its stop event is never set
    done, _ = await asyncio.wait([running], timeout=20)  # its wait between rounds would be a minute
    assert done == {running}
    assert running.cancelled()
