"""shared.job_files on the test database: chunked writes, ordered reads, deletes and the sweep."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared import job_files
from shared.db import Database
from shared.jobs import new_job_id
from shared.models import JobFileChunk, utcnow
from tests.factories import Factory


async def parts_of(db: Database, job_id: str) -> list[int]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(JobFileChunk.size).where(JobFileChunk.job_id == job_id).order_by(JobFileChunk.part)
        )
    return list(rows)


async def test_a_file_is_stored_in_chunks_of_at_most_one_mib_and_read_back_in_order(db: Database) -> None:
    job_id = new_job_id()
    data = bytes(range(256)) * (5 * 4096 + 7)  # 5 MiB and a bit, written in odd pieces
    writer = job_files.ChunkWriter(db.engine, job_id)
    for start in range(0, len(data), 300_001):
        await writer.write(data[start : start + 300_001])
    assert await writer.close() == len(data)
    assert await parts_of(db, job_id) == [job_files.CHUNK_BYTES] * 5 + [len(data) - 5 * job_files.CHUNK_BYTES]
    assert await job_files.size(db.engine, job_id) == len(data)
    assert b"".join([chunk async for chunk in job_files.chunks(db.engine, job_id)]) == data

    # The same bytes as a blocking stream, read by a thread as the import's parser reads them.
    raw = job_files.ChunkReader(db.engine, job_id, asyncio.get_running_loop())
    read = await asyncio.to_thread(io.BufferedReader(raw).read)
    await raw.aclose()
    assert read == data

    assert await job_files.delete(db.engine, job_id) == 6
    assert await job_files.size(db.engine, job_id) is None
    assert [chunk async for chunk in job_files.chunks(db.engine, job_id)] == []


async def test_the_sweep_removes_only_uploads_without_a_job_that_stopped_arriving(
    db: Database, factory: Factory
) -> None:
    user = await factory.user()
    abandoned, arriving, owned = new_job_id(), new_job_id(), await factory.finished_export(user)
    long_ago = utcnow() - timedelta(hours=2)
    await factory.job_file(abandoned, parts=3, written_at=long_ago)
    await factory.job_file(arriving, parts=1, written_at=long_ago)
    await job_files.write_part(db.engine, arriving, 1, b"the upload goes on")
    await factory.job_file(owned, parts=2, written_at=long_ago)

    assert await job_files.sweep_abandoned(db.engine, utcnow() - timedelta(hours=1)) == 3
    assert await job_files.size(db.engine, abandoned) is None
    assert await job_files.size(db.engine, arriving) is not None
    assert await job_files.size(db.engine, owned) is not None
    async with db.sessions() as session:
        assert (
            await session.scalar(select(func.count()).select_from(JobFileChunk).where(JobFileChunk.job_id == abandoned))
            == 0
        )
    await job_files.delete(db.engine, arriving)  # other tests count the chunks no job owns


@contextlib.asynccontextmanager
async def chunks_locked(db: Database, job_id: str) -> AsyncIterator[None]:
    """Another writer holds the job's chunks, as the embedded worker's import or a long
    transaction on MariaDB does: SQLite's whole-file write lock, InnoDB's row locks."""
    if db.engine.dialect.name == "sqlite":
        holder = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    async with db.engine.connect() as conn, conn.begin() as tx:
        await conn.execute(select(JobFileChunk.part).where(JobFileChunk.job_id == job_id).with_for_update())
        yield
        await tx.rollback()


def impatient(db: Database) -> AsyncEngine:
    """An engine on the test database that gives up on a lock at once (or after a second)."""
    if db.engine.dialect.name == "sqlite":
        return create_async_engine(db.engine.url, connect_args={"timeout": 0})
    return create_async_engine(db.engine.url, connect_args={"init_command": "SET innodb_lock_wait_timeout = 1"})


async def test_a_cancelled_jobs_file_the_database_is_too_busy_to_delete_is_left_to_the_sweep(
    db: Database, factory: Factory
) -> None:
    job = await factory.job(await factory.user(), "cancelled")
    await factory.job_file(job.id, parts=3, written_at=utcnow() - timedelta(hours=2))
    engine = impatient(db)
    try:
        async with chunks_locked(db, job.id):
            assert await job_files.discard(engine, job.id) is False
        assert await job_files.size(db.engine, job.id) is not None  # nothing half-deleted, nothing lost

        assert await job_files.sweep_abandoned(db.engine, utcnow() - timedelta(hours=1)) >= 3
        assert await job_files.size(db.engine, job.id) is None
        assert await job_files.discard(engine, job.id) is True  # nothing left: a quiet no-op
    finally:
        await engine.dispose()


async def test_the_sweep_keeps_the_files_of_queued_running_and_succeeded_jobs(db: Database, factory: Factory) -> None:
    user = await factory.user()
    kept = [(await factory.job(user, status)).id for status in ("queued", "running", "succeeded")]
    failed = (await factory.job(user, "failed")).id
    for job_id in [*kept, failed]:
        await factory.job_file(job_id, parts=1, written_at=utcnow() - timedelta(hours=2))

    await job_files.sweep_abandoned(db.engine, utcnow() - timedelta(hours=1))
    assert [await job_files.size(db.engine, job_id) is not None for job_id in kept] == [True, True, True]
    assert await job_files.size(db.engine, failed) is None
    for job_id in kept:
        await job_files.delete(db.engine, job_id)
