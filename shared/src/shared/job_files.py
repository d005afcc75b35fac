"""Job files (an import's upload, an export's CSV) kept in the database, in numbered chunks.

Why the database: it is the one durable place every API and worker process reaches,
in one container or on many nodes; a shared directory would need storage that most
clusters do not offer. Each file is the rows of ``job_file_chunks`` with its job's id,
parts ``0..n-1`` of at most :data:`CHUNK_BYTES`, so no statement comes near MySQL's
``max_allowed_packet`` (16 MiB on MariaDB 10.11).

This module is the only one that reads, writes or deletes those rows. Every statement
runs in its own short transaction on a pooled connection that is given back at once:
a writer that waits for a slow client, or a reader that waits for a slow download,
holds no connection while it waits.

Life of a file:

* an upload is written by :class:`ChunkWriter` under the id its job will get, and the
  job row is inserted only once the file is whole; a refused or broken upload is
  :func:`delete`\\ d at once, and chunks whose job never came (the API process died
  mid-upload) are removed by :func:`sweep_abandoned` after ``JOB_FILE_ABANDON_SECONDS``;
* an export is written by the worker the same way, then its job is marked succeeded;
* a failed or cancelled job's file is deleted when the job ends or is cancelled; one
  the database was too busy to delete then (:func:`discard`) is left to the same
  sweep; every other file goes with its job row when the cleanup removes it
  (:func:`delete_for_jobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db_errors import is_retryable
from shared.jobs import JobStatus
from shared.models import Job, JobFileChunk, utcnow

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 1 << 20
UNSUCCESSFUL: Final = (JobStatus.FAILED.value, JobStatus.CANCELLED.value)
DELETE_PARTS: Final = 32  # chunks per DELETE: 32 MiB of blobs per transaction at most


async def write_part(engine: AsyncEngine, job_id: str, part: int, data: bytes) -> None:
    """Store one chunk in its own transaction."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(JobFileChunk).values(job_id=job_id, part=part, size=len(data), data=data, created_at=utcnow())
        )


class ChunkWriter:
    """Collects bytes into chunks of :data:`CHUNK_BYTES` and stores each as soon as it is full.

    At most one chunk is held in memory. :meth:`close` stores the rest and returns the
    file's size; on any failure the caller deletes what was stored (:func:`delete`).
    """

    def __init__(self, engine: AsyncEngine, job_id: str) -> None:
        self.engine = engine
        self.job_id = job_id
        self.size = 0
        self._parts = 0
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= CHUNK_BYTES:
            await self._store(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    async def close(self) -> int:
        if self._buffer:
            await self._store(bytes(self._buffer))
            self._buffer.clear()
        return self.size

    async def _store(self, data: bytes) -> None:
        await write_part(self.engine, self.job_id, self._parts, data)
        self._parts += 1


async def _part(engine: AsyncEngine, job_id: str, part: int) -> bytes | None:
    async with engine.connect() as conn:
        data = await conn.scalar(
            select(JobFileChunk.data).where(JobFileChunk.job_id == job_id, JobFileChunk.part == part)
        )
    return None if data is None else bytes(data)


async def chunks(engine: AsyncEngine, job_id: str) -> AsyncGenerator[bytes, None]:
    """The file's chunks in order, the next one already being read while this one is used."""
    part = 0
    ahead: asyncio.Future[bytes | None] = asyncio.ensure_future(_part(engine, job_id, part))
    try:
        while (data := await ahead) is not None:
            part += 1
            ahead = asyncio.ensure_future(_part(engine, job_id, part))
            yield data
    finally:
        ahead.cancel()
        with contextlib.suppress(BaseException):
            await ahead


async def size(engine: AsyncEngine, job_id: str) -> int | None:
    """The file's size in bytes, or None when it has no chunks (never written, or removed)."""
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.sum(JobFileChunk.size)).where(JobFileChunk.job_id == job_id))
    return None if total is None else int(total)


async def delete(engine: AsyncEngine, job_id: str) -> int:
    """Remove the file, a few chunks per transaction; the number of chunks removed."""
    removed = 0
    while True:
        async with engine.begin() as conn:
            parts = (
                await conn.scalars(
                    select(JobFileChunk.part)
                    .where(JobFileChunk.job_id == job_id)
                    .order_by(JobFileChunk.part)
                    .limit(DELETE_PARTS)
                )
            ).all()
            if not parts:
                return removed
            await conn.execute(
                sa.delete(JobFileChunk).where(JobFileChunk.job_id == job_id, JobFileChunk.part.in_(parts))
            )
        removed += len(parts)


async def discard(engine: AsyncEngine, job_id: str) -> bool:
    """Delete the file of a job that was just cancelled; False if the database was busy.

    The cancel has already been committed when this runs, so a lock wait or a lost
    connection must not turn it into an error: the file is then left to
    :func:`sweep_abandoned`, which removes the files of failed and cancelled jobs.
    """
    try:
        await delete(engine, job_id)
    except Exception as exc:
        if not is_retryable(exc):
            raise
        log.warning("the file of cancelled job %s is left to the sweep: %s", job_id, exc)
        return False
    return True


async def delete_if_unsuccessful(engine: AsyncEngine, job_id: str) -> int:
    """Remove the file of a job that failed or was cancelled: nothing can use it again."""
    async with engine.connect() as conn:
        status = await conn.scalar(select(Job.status).where(Job.id == job_id))
    if status not in UNSUCCESSFUL:
        return 0
    return await delete(engine, job_id)


async def delete_for_jobs(conn: AsyncConnection, job_ids: Sequence[str]) -> int:
    """Remove the files of jobs being deleted, in the caller's transaction (the cleanup's)."""
    if not job_ids:
        return 0
    result = await conn.execute(sa.delete(JobFileChunk).where(JobFileChunk.job_id.in_(job_ids)))
    return int(result.rowcount or 0)


async def sweep_abandoned(engine: AsyncEngine, written_before: datetime) -> int:
    """Remove files that nothing will read and that took no chunk since ``written_before``.

    Those are uploads without a job, whose API process died before it could finish or
    delete them, and files of failed or cancelled jobs that could not be deleted when
    the job ended (:func:`discard`). An upload still going on keeps adding chunks, so
    it is never taken for abandoned.
    """
    async with engine.connect() as conn:
        ids = (
            await conn.scalars(
                select(JobFileChunk.job_id)
                .outerjoin(Job, Job.id == JobFileChunk.job_id)
                .where(sa.or_(Job.id.is_(None), Job.status.in_(UNSUCCESSFUL)))
                .group_by(JobFileChunk.job_id)
                .having(func.max(JobFileChunk.created_at) < written_before)
            )
        ).all()
    removed = 0
    for job_id in ids:
        removed += await delete(engine, job_id)
    return removed


class ChunkReader(io.RawIOBase):
    """A job's file as a blocking binary stream, for a parser running in a worker thread.

    Each read the thread needs is fetched on the event loop (``loop``), with the next
    chunk read ahead by :func:`chunks`; the thread blocks only while the loop fetches.
    Wrap it in ``io.BufferedReader`` (and ``io.TextIOWrapper`` for text).
    """

    def __init__(self, engine: AsyncEngine, job_id: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._chunks = chunks(engine, job_id)
        self._loop = loop
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._done:
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            self._pending = future.result()
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    async def _next(self) -> bytes:
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            self._done = True
            return b""

    async def aclose(self) -> None:
        """Stop the read-ahead (on the event loop, after the thread has finished)."""
        await self._chunks.aclose()
