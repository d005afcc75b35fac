"""Three real workers at once: the cleanup cron runs once per schedule, and no job runs twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind, decode_json, new_job_id
from shared.models import Blog, Book, Job, User, utcnow
from shared.settings import Settings
from tests.factories import Factory, blog_body
from tests.processes import eventually, workers

pytestmark = pytest.mark.process


async def test_three_workers_run_the_cleanup_once_per_schedule_and_it_deletes_what_is_due(
    factory: Factory, db: Database, settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    long_ago, lately = utcnow() - timedelta(days=40), utcnow() - timedelta(days=10)
    gone_author, kept_author, live_author = await factory.user(), await factory.user(), await factory.user()
    old_blog = await factory.blog(gone_author, deleted_at=long_ago)
    live_blog_of_deleted_author = await factory.blog(kept_author)
    old_book, recent_book = await factory.book(deleted_at=long_ago), await factory.book(deleted_at=lately)
    old_job, recent_job = new_job_id(), new_job_id()
    export_file = settings.export_dir / f"{old_job}.csv"
    async with db.sessions.begin() as session:
        for user in (gone_author, kept_author):
            (await session.get_one(User, user.id)).deleted_at = long_ago
        for job_id, finished in ((old_job, long_ago), (recent_job, lately)):
            session.add(
                Job(
                    id=job_id, kind="export", params="{}", status="succeeded", created_at=finished, finished_at=finished
                )
            )
    export_file.parent.mkdir(parents=True, exist_ok=True)
    export_file.write_text("id\n")

    env = {**worker_env, "CLEANUP_SCHEDULE": "*/2 * * * * *"}
    with workers(env, tmp_path, count=3) as running:

        async def three_runs() -> list[Job] | None:
            async with db.sessions() as session:
                rows = (
                    await session.scalars(select(Job).where(Job.kind == JobKind.CLEANUP, Job.status == "succeeded"))
                ).all()
            return list(rows) if len(rows) >= 3 else None

        await eventually(three_runs, what="three scheduled cleanups")
    logs = [w.output() for w in running]
    async with db.sessions() as session:
        runs = (await session.scalars(select(Job).where(Job.kind == JobKind.CLEANUP))).all()
        remaining_books = set(
            (await session.scalars(select(Book.id).where(Book.id.in_([old_book.id, recent_book.id])))).all()
        )
        remaining_blogs = set(
            (
                await session.scalars(select(Blog.id).where(Blog.id.in_([old_blog.id, live_blog_of_deleted_author.id])))
            ).all()
        )
        remaining_users = set(
            (
                await session.scalars(
                    select(User.id).where(User.id.in_([gone_author.id, kept_author.id, live_author.id]))
                )
            ).all()
        )
        remaining_jobs = set((await session.scalars(select(Job.id).where(Job.id.in_([old_job, recent_job])))).all())

    finished = [r for r in runs if r.status == "succeeded"]
    # Each scheduled run was claimed once (attempt 1) and executed by exactly one worker.
    assert all(r.attempts == 1 for r in finished)
    executed = sum(log.count("job cleanup succeeded") for log in logs)
    assert executed == len(finished)
    assert sum(1 for log in logs if "job cleanup succeeded" in log) >= 1
    # Its effect happened once: the first run deleted the due rows, the later ones found none.
    totals = {k: sum(decode_json(r.result)[k] for r in finished) for k in ("blogs", "books", "users", "jobs", "files")}
    assert totals == {"blogs": 1, "books": 1, "users": 1, "jobs": 1, "files": 1}
    assert remaining_books == {recent_book.id}
    assert remaining_blogs == {live_blog_of_deleted_author.id}
    assert remaining_users == {kept_author.id, live_author.id}  # kept: a live blog still names them
    assert remaining_jobs == {recent_job}
    assert not export_file.exists()


async def test_three_workers_run_every_job_once_even_when_it_is_delivered_twice(
    client: AsyncTestClient[Litestar],
    factory: Factory,
    db: Database,
    settings: Settings,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    author = await factory.user()
    blog_ids = []
    for _ in range(60):
        response = await client.post("/blogs", json=blog_body(), headers=author.auth)
        blog_ids.append(response.json()["data"]["id"])
    async with db.sessions() as session:
        jobs = [
            j
            for j in (await session.scalars(select(Job).where(Job.kind == JobKind.COMPUTE_BLOG_STATS))).all()
            if decode_json(j.params).get("blog_id") in blog_ids
        ]
    assert len(jobs) == 60
    queue = JobQueue(redis_client(settings))
    with workers(worker_env, tmp_path, count=3) as running:
        await queue.send([(j.id, j.kind) for j in jobs])  # a second delivery of every job

        async def all_done() -> list[Job] | None:
            async with db.sessions() as session:
                rows = (await session.scalars(select(Job).where(Job.id.in_([j.id for j in jobs])))).all()
            return list(rows) if all(r.status == "succeeded" for r in rows) else None

        done = await eventually(all_done)
        await queue.send([(j.id, j.kind) for j in jobs])  # and a third, after they finished
        await eventually(lambda: _skipped_at_least(running, 1))
    assert {r.attempts for r in done} == {1}
    runs = sum(w.output().count("job compute_blog_stats succeeded") for w in running)
    assert runs == 60
    await queue.redis.aclose()


async def _skipped_at_least(running: list[object], n: int) -> bool:
    return sum(w.output().count("skipped: not queued") for w in running) >= n  # type: ignore[attr-defined]
