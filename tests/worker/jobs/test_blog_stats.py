"""compute_blog_stats: a blog written over HTTP gets its word count and reading time from a real worker.

The end-to-end tests run ``python -m worker`` as its own process (the ``worker_process``
fixture) on this run's database and Redis, and watch the blog through the API, as a
client would. Waits are bounded deadlines for a hung worker, not speed assertions.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from api.app import create_app
from shared.db import Database
from shared.jobs import JobKind, decode_json
from shared.models import Blog, Job
from shared.settings import Settings
from tests.factories import Factory, blog_body
from tests.processes import WorkerProcess, eventually
from worker.context import RunningJob
from worker.jobs.blog_stats import WORDS_PER_MINUTE, compute_blog_stats, reading_stats

STATS_LIMIT_SECONDS = 60.0


def words(n: int) -> str:
    return " ".join(f"kata{i}" for i in range(n))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", (0, 0)),
        (" \n\t ", (0, 0)),
        ("satu", (1, 1)),
        ("Docker  runs\napplications\tin containers.", (5, 1)),
        ("café naïve 日本語 —", (4, 1)),
        (words(WORDS_PER_MINUTE), (200, 1)),
        (words(WORDS_PER_MINUTE + 1), (201, 2)),
        (words(450), (450, 3)),
    ],
    ids=["empty", "blank", "one word", "any whitespace", "unicode", "200", "201", "450"],
)
def test_reading_stats_counts_words_and_rounds_minutes_up(content: str, expected: tuple[int, int]) -> None:
    assert reading_stats(content) == expected


async def stats_of(client: AsyncTestClient[Litestar], blog_id: int) -> dict[str, Any]:
    response = await client.get(f"/blogs/{blog_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def wait_for_stats(client: AsyncTestClient[Litestar], blog_id: int, word_count: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        blog = await stats_of(client, blog_id)
        return blog if blog["word_count"] == word_count else None

    return await eventually(probe, limit=STATS_LIMIT_SECONDS, what=f"blog {blog_id} to show {word_count} words")


async def test_a_blog_created_over_http_gets_its_stats_from_the_worker(
    client: AsyncTestClient[Litestar], factory: Factory, worker_process: WorkerProcess
) -> None:
    author = await factory.user()
    created = await client.post("/blogs", json=blog_body(content=words(450)), headers=author.auth)
    assert created.status_code == 201, created.text
    blog = created.json()["data"]
    assert (blog["word_count"], blog["reading_minutes"]) == (None, None)  # the worker has not run yet

    shown = await wait_for_stats(client, blog["id"], 450)

    assert shown["reading_minutes"] == 3
    assert shown["updated_at"] == blog["updated_at"]  # derived data: the author's last write stays the time


async def test_changing_the_content_recomputes_the_stats(
    client: AsyncTestClient[Litestar], factory: Factory, worker_process: WorkerProcess
) -> None:
    author = await factory.user()
    created = await client.post("/blogs", json=blog_body(content=words(450)), headers=author.auth)
    blog_id = created.json()["data"]["id"]
    await wait_for_stats(client, blog_id, 450)

    changed = await client.put(f"/blogs/{blog_id}", json={"content": words(10)}, headers=author.auth)
    assert changed.status_code == 200, changed.text

    shown = await wait_for_stats(client, blog_id, 10)
    assert shown["reading_minutes"] == 1
    assert shown["updated_at"] == changed.json()["data"]["updated_at"]


async def _finished_jobs(db: Database, blog_id: int, count: int) -> list[Job] | None:
    async with db.sessions() as session:
        rows = (await session.scalars(select(Job).where(Job.kind == JobKind.COMPUTE_BLOG_STATS))).all()
    mine = [r for r in rows if decode_json(r.params) == {"blog_id": blog_id}]
    done = [r for r in mine if r.status not in ("queued", "running")]
    return done if len(done) == count == len(mine) else None


async def test_running_the_job_again_stores_the_same_numbers(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_process: WorkerProcess
) -> None:
    """Two jobs for an unchanged blog (an edit that sends the same content) leave it as one did."""
    author = await factory.user()
    created = await client.post("/blogs", json=blog_body(content=words(250)), headers=author.auth)
    blog_id = created.json()["data"]["id"]
    first = await wait_for_stats(client, blog_id, 250)
    await eventually(lambda: _finished_jobs(db, blog_id, 1), limit=STATS_LIMIT_SECONDS, what="the first job")

    same = await client.put(f"/blogs/{blog_id}", json={"content": words(250)}, headers=author.auth)
    assert same.status_code == 200
    jobs = await eventually(lambda: _finished_jobs(db, blog_id, 2), limit=STATS_LIMIT_SECONDS, what="the second job")

    assert [(j.status, decode_json(j.result)) for j in jobs] == [
        ("succeeded", {"word_count": 250, "reading_minutes": 2}),
    ] * 2
    again = await stats_of(client, blog_id)
    assert (again["word_count"], again["reading_minutes"]) == (first["word_count"], first["reading_minutes"])
    assert again["updated_at"] == same.json()["data"]["updated_at"]


def _job(db: Database, settings: Settings) -> RunningJob:
    return RunningJob("in-process", JobKind.COMPUTE_BLOG_STATS, 1, 0, None, db, settings, worker="in-process")


async def _stored(db: Database, blog_id: int) -> tuple[Any, ...]:
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(Blog.word_count, Blog.reading_minutes, Blog.updated_at).where(Blog.id == blog_id)
            )
        ).one()
    return tuple(row)


async def test_the_handler_is_idempotent_and_keeps_updated_at(
    db: Database, settings: Settings, factory: Factory
) -> None:
    blog = await factory.blog(await factory.user(), content=words(401))

    first = await compute_blog_stats(_job(db, settings), blog.id)
    after_first = await _stored(db, blog.id)
    second = await compute_blog_stats(_job(db, settings), blog.id)

    assert first == second == {"word_count": 401, "reading_minutes": 3}
    assert await _stored(db, blog.id) == after_first == (401, 3, blog.updated_at)


async def test_a_blog_deleted_before_its_job_runs_is_left_alone(
    db: Database, settings: Settings, factory: Factory
) -> None:
    from shared.models import utcnow

    blog = await factory.blog(await factory.user(), deleted_at=utcnow())

    assert await compute_blog_stats(_job(db, settings), blog.id) is None
    assert (await _stored(db, blog.id))[:2] == (None, None)


@pytest.fixture
async def queue_without_worker(settings: Settings) -> Any:
    """An API on a queue of its own that no worker serves, so its jobs stay in Redis to be read."""
    alone = settings.model_copy(update={"redis_namespace": f"{settings.redis_namespace}-unserved"})
    async with AsyncTestClient(app=create_app(alone)) as api:
        yield api, alone


async def test_the_api_enqueues_msgpack_that_the_worker_runs(
    queue_without_worker: tuple[AsyncTestClient[Litestar], Settings],
    factory: Factory,
    db: Database,
    settings: Settings,
    worker_process: WorkerProcess,
) -> None:
    """The bytes the API leaves in Redis are msgpack, not pickle; moved to the served queue, they run."""
    api, alone = queue_without_worker
    author = await factory.user()
    created = await api.post("/blogs", json=blog_body(content=words(3)), headers=author.auth)
    assert created.status_code == 201
    r = redis.asyncio.Redis.from_url(alone.redis_url)

    async def queued() -> list[bytes] | None:
        ids: list[bytes] = await r.zrange(alone.queue_name, 0, -1)
        return ids or None

    try:
        [job_id] = await eventually(queued, limit=STATS_LIMIT_SECONDS, what="the API's enqueue")
        raw = await r.get(b"arq:job:" + job_id)
        assert raw is not None and raw[:1] != b"\x80"  # pickle's protocol marker
        with pytest.raises(pickle.UnpicklingError):
            pickle.loads(raw)  # noqa: S301 - proving the payload is not pickle
        assert msgspec.msgpack.decode(raw)["f"] == JobKind.COMPUTE_BLOG_STATS
    finally:
        # Hand the job to the queue the worker serves, so no row is left queued for ever.
        for stranded in await r.zrange(alone.queue_name, 0, -1):
            await r.zadd(settings.queue_name, {stranded: time.time() * 1000})
        await r.delete(alone.queue_name)
        await r.aclose()

    blog_id = created.json()["data"]["id"]
    [job] = await eventually(lambda: _finished_jobs(db, blog_id, 1), limit=STATS_LIMIT_SECONDS, what="the job")
    assert (job.id, job.status) == (job_id.decode(), "succeeded")
    assert (await stats_of(api, blog_id))["word_count"] == 3


class _Marker:
    """Unpickling this creates a file: the proof, or not, that a worker ran a pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


async def test_the_worker_never_unpickles_a_job(
    settings: Settings, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """A pickled job pushed into the queue (by anyone who can write to Redis) is dropped unread."""
    marker = tmp_path / "unpickled"
    job_id = "pickle-" + tmp_path.name
    payload = pickle.dumps({"f": JobKind.COMPUTE_BLOG_STATS, "a": [_Marker(marker)], "k": {}, "t": 1, "et": 0})
    r = redis.asyncio.Redis.from_url(settings.redis_url)
    try:
        await r.set(f"arq:job:{job_id}", payload, ex=600)
        await r.zadd(settings.queue_name, {job_id: time.time() * 1000})  # due now (arq reads 0 as taken)

        async def taken() -> bool:
            return await r.zscore(settings.queue_name, job_id) is None and not await r.exists(f"arq:job:{job_id}")

        await eventually(taken, limit=STATS_LIMIT_SECONDS, what="the worker to take the pickled job")
    finally:
        await r.delete(f"arq:job:{job_id}", f"arq:in-progress:{job_id}", f"arq:retry:{job_id}")
        await r.zrem(settings.queue_name, job_id)
        await r.aclose()

    assert not marker.exists()
    assert worker_process.proc.poll() is None  # and it keeps serving
    assert "deserializing job" in worker_process.output()
