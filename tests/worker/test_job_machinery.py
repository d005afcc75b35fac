"""Durable jobs end to end: API -> outbox row -> Redis -> real worker process -> row.

Each test runs real worker processes against the run's database and Redis (or, where a
test stops Redis, against a database and a redis-server of its own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from api.app import create_app
from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind
from shared.models import Blog, Job
from shared.settings import Settings
from tests.factories import Factory, blog_body
from tests.processes import RedisServer, eventually, fresh_database, isolated_settings, redis_server, workers

pytestmark = pytest.mark.process


async def job_rows(db: Database, *ids: str) -> list[Job]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Job).where(Job.id.in_(ids)))).all())


async def jobs_for_blog(db: Database, blog_id: int, requested_by: int) -> list[Job]:
    """The stats jobs this author's blog asked for (other tests' rows may name a blog of the same id)."""
    async with db.sessions() as session:
        query = select(Job).where(Job.kind == JobKind.COMPUTE_BLOG_STATS, Job.requested_by == requested_by)
        rows = (await session.scalars(query)).all()
    from shared.jobs import decode_json

    return [r for r in rows if decode_json(r.params) == {"blog_id": blog_id}]


async def all_finished(db: Database, ids: list[str]) -> list[Job] | None:
    rows = await job_rows(db, *ids)
    return rows if len(rows) == len(ids) and all(r.status not in ("queued", "running") for r in rows) else None


async def test_a_created_blog_gets_its_stats_through_a_recorded_job(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    author = await factory.user()
    body = blog_body(content="one two three " * 100)
    created = await client.post("/blogs", json=body, headers={**author.auth, "X-Request-ID": "req-blog-stats-1"})
    assert created.status_code == 201, created.text
    blog_id = created.json()["data"]["id"]
    [job] = await jobs_for_blog(db, blog_id, author.id)
    assert (job.status, job.requested_by, job.request_id) == ("queued", author.id, "req-blog-stats-1")

    with workers(worker_env, tmp_path) as [worker]:
        [done] = await eventually(lambda: all_finished(db, [job.id]), what="the stats job")
    # Read once the worker has stopped: it logs the outcome just after it writes the row.
    log = worker.output()

    assert (done.status, done.attempts, done.error) == ("succeeded", 1, None)
    assert done.result == '{"word_count":300,"reading_minutes":2}'
    assert done.started_at is not None and done.finished_at is not None
    async with db.sessions() as session:
        blog = await session.get(Blog, blog_id)
    assert blog is not None and (blog.word_count, blog.reading_minutes) == (300, 2)
    # The worker's line for the job names the job and the request that asked for it.
    assert "job compute_blog_stats succeeded" in log
    assert any(f"job={job.id}" in line and "request_id=req-blog-stats-1" in line for line in log.splitlines())


async def test_a_job_delivered_again_after_it_finished_does_nothing(
    client: AsyncTestClient[Litestar],
    factory: Factory,
    db: Database,
    settings: Settings,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    author = await factory.user()
    created = await client.post("/blogs", json=blog_body(), headers=author.auth)
    [job] = await jobs_for_blog(db, created.json()["data"]["id"], author.id)
    queue = JobQueue(redis_client(settings))
    with workers(worker_env, tmp_path) as [worker]:
        await eventually(lambda: all_finished(db, [job.id]))
        # arq keeps no result, so it accepts the id again; the worker must see the row is done.
        assert await queue.send([(job.id, job.kind)]) == [job.id]
        await eventually(lambda: _said(worker.output(), f"job {job.id} ({job.kind}) skipped"))
    [again] = await job_rows(db, job.id)
    assert (again.status, again.attempts) == ("succeeded", 1)
    await queue.redis.aclose()


async def _said(output: str, text: str) -> bool:
    return text in output


async def test_a_job_with_bad_parameters_fails_at_once_with_the_reason(
    db: Database, settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    queue = JobQueue(redis_client(settings), db)
    async with db.transaction() as tx:
        job = await queue.request(tx, JobKind.COMPUTE_BLOG_STATS, {"blog": 1}, requested_by=None)
    await queue.send([(job.id, job.kind)])
    with workers(worker_env, tmp_path):
        [failed] = await eventually(lambda: all_finished(db, [job.id]))
    assert failed.status == "failed"
    assert failed.attempts == 1  # permanent: not retried
    assert failed.error is not None and "unexpected keyword argument 'blog'" in failed.error
    assert failed.finished_at is not None
    await queue.redis.aclose()


async def test_a_running_job_whose_worker_died_is_taken_over(
    db: Database, settings: Settings, worker_env: dict[str, str], tmp_path: Path, factory: Factory
) -> None:
    """A row left `running` by a worker that no longer exists runs again, once, elsewhere."""
    author = await factory.user()
    blog = await factory.blog(author)
    queue = JobQueue(redis_client(settings), db)
    async with db.transaction() as tx:
        job = await queue.request(tx, JobKind.COMPUTE_BLOG_STATS, {"blog_id": blog.id}, requested_by=author.id)
    from datetime import timedelta

    from shared.models import utcnow

    async with db.sessions.begin() as session:  # as a SIGKILLed worker leaves it
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status="running", attempts=1, worker="gone:1:dead", started_at=utcnow() - timedelta(minutes=1))
        )
    await queue.redis.set(f"arq:in-progress:{job.id}", b"1", ex=3600)
    await queue.send([(job.id, job.kind)])
    with workers(worker_env, tmp_path) as [worker]:
        [done] = await eventually(lambda: all_finished(db, [job.id]))
        assert "which is gone: taking it over" in worker.output()
    assert (done.status, done.attempts) == ("succeeded", 2)
    await queue.redis.aclose()


# --- Redis stopped while requests create jobs ---------------------------------------------


@pytest.fixture
def isolated(
    tmp_path: Path, settings: Settings, worker_env: dict[str, str]
) -> Iterator[tuple[Settings, dict[str, str], RedisServer]]:
    """A database and a redis-server of this test's own (the test stops that Redis), and a worker env on them."""
    with fresh_database(tmp_path) as url, redis_server() as redis:
        own, env = isolated_settings(settings, worker_env, url, redis_url=redis.url)
        yield own, env, redis


@pytest.fixture
async def isolated_client(
    isolated: tuple[Settings, dict[str, str], RedisServer],
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    own, _, _ = isolated
    async with AsyncTestClient(app=create_app(own)) as test_client:
        yield test_client


async def test_jobs_requested_while_redis_is_down_all_run_once_it_is_back(
    isolated: tuple[Settings, dict[str, str], RedisServer],
    isolated_client: AsyncTestClient[Litestar],
    tmp_path: Path,
) -> None:
    own, own_env, redis = isolated
    db = Database(own)
    await db.connect()
    factory = Factory(db, own)
    author = await factory.user()
    with workers({**own_env, "DISPATCH_GRACE_SECONDS": "1"}, tmp_path) as [worker]:
        redis.stop()
        blog_ids = []
        for _ in range(20):
            response = await isolated_client.post("/blogs", json=blog_body(), headers=author.auth)
            assert response.status_code == 201, response.text  # the write never depends on Redis
            blog_ids.append(response.json()["data"]["id"])
        ready = await isolated_client.get("/readyz")
        assert ready.status_code == 503 and "redis" in ready.json()["message"]
        assert ready.json()["pending_jobs"] == 20  # the outbox says how many jobs wait
        async with db.sessions() as session:
            pending = (await session.scalars(select(Job).where(Job.dispatched_at.is_(None)))).all()
        assert len(pending) == 20

        redis.start()
        ids = [j.id for j in pending]
        done = await eventually(lambda: all_finished(db, ids), limit=120, what="jobs after Redis came back")
        worker.wait_ready(count=2)  # it lost Redis and started again by itself
    assert {(j.status, j.attempts) for j in done} == {("succeeded", 1)}
    async with db.sessions() as session:
        stats = (await session.execute(select(Blog.word_count).where(Blog.id.in_(blog_ids)))).scalars().all()
    assert None not in stats and len(stats) == 20
    await db.close()
