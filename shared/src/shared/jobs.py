"""Job contracts and the enqueue side: what may be asked of the worker, and how it travels.

The API and the worker agree here, and only here, on each job's kind, on its record in
the ``jobs`` table and on the wire format. Payloads are msgpack (msgspec), never arq's
default pickle: a Redis that someone else can write to must not be a way to run code
in the worker. The arq message carries nothing but the kind, under the job row's id:
parameters are read from the row, so the database is the one source of truth.

The transactional outbox
------------------------
A job is requested by :meth:`JobQueue.request`, inside the caller's transaction, next
to the change that causes it: a commit without its job, or a job without its commit,
cannot happen. After the commit the caller hands the ids to :meth:`JobQueue.dispatch`,
which enqueues them in the background (off the request's path) and marks the rows
``dispatched_at`` in batches. Rows that Redis did not take (it was down, the process
died in between) are sent by the workers' dispatcher (``worker.dispatcher``) once they
are ``DISPATCH_GRACE_SECONDS`` old.

Never enqueued twice in effect: arq refuses an id whose job (or kept result) is still
in Redis, so concurrent sends of one row collapse into one arq job. wadah keeps no arq
results (``keep_result = 0``: the row holds the result), so once a job has finished a
late second send is accepted by arq; the worker then finds the row already finished
and does nothing (``worker.jobs._runner``). The row's status, not Redis, decides.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import msgspec
from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from shared.batching import Batcher
from shared.db import Database, DatabaseUnavailable, Query, Runner
from shared.logging import request_id_var
from shared.models import Job, utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)

# Job kinds: the arq function names, and the `kind` column.
COMPUTE_BLOG_STATS: Final = "compute_blog_stats"
WELCOME_EMAIL: Final = "welcome_email"
IMPORT_BOOKS: Final = "import_books"
EXPORT: Final = "export"
CLEANUP: Final = "cleanup"
KINDS: Final = (COMPUTE_BLOG_STATS, WELCOME_EMAIL, IMPORT_BOOKS, EXPORT, CLEANUP)

REDIS_RETRY_SECONDS = 5.0  # after a failed enqueue, leave new jobs to the dispatcher this long


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE: Final = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED: Final = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

# The durable backlog: every job some worker has yet to finish. Plain SQL because an
# autoscaler runs it (KEDA's mysql scaler in deploy/k8s), not wadah; a leading-column
# range on ix_jobs_status_dispatched, so its cost follows the backlog, not the table.
BACKLOG_SQL: Final = "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"

_json_encoder = msgspec.json.Encoder()


def _encode_other(obj: Any) -> Any:
    """arq stores a failed job's exception as its result: as text here (msgpack has no exceptions)."""
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_msgpack_encoder = msgspec.msgpack.Encoder(enc_hook=_encode_other)
_msgpack_decoder = msgspec.msgpack.Decoder()


def encode_json(value: Any) -> str:
    return _json_encoder.encode(value).decode()


def decode_json(text: str | None) -> Any:
    return None if text is None else msgspec.json.decode(text)


def serialize(obj: Any) -> bytes:
    return _msgpack_encoder.encode(obj)


def deserialize(data: bytes) -> Any:
    return _msgpack_decoder.decode(data)


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so new rows land at the end of the primary key."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


_CRON_NAMESPACE = uuid.UUID("6f1d2b1e-6a51-4c1b-9a55-7761646168ff")


def cron_job_id(arq_job_id: str) -> str:
    """The row id of one scheduled run: the same for every worker that enqueues that run."""
    return str(uuid.uuid5(_CRON_NAMESPACE, arq_job_id))


def redis_client(settings: Settings) -> ArqRedis:
    """An arq-aware Redis client that connects lazily, so a process starts while Redis is down."""
    pool = ConnectionPool.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    return ArqRedis(
        pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job row just written in the caller's transaction."""

    id: str
    kind: str
    params: dict[str, Any]
    requested_by: int | None
    request_id: str | None
    created_at: datetime


INSERT_JOB = Query(
    insert(Job).values(
        id=bindparam("id"),
        kind=bindparam("kind"),
        params=bindparam("params"),
        status=JobStatus.QUEUED.value,
        attempts=0,
        progress_done=0,
        requested_by=bindparam("requested_by"),
        request_id=bindparam("request_id"),
        created_at=bindparam("now"),
    )
)

COUNT_PENDING = Query(
    select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED.value, Job.dispatched_at.is_(None))
)


class JobQueue:
    """The enqueue side of every job: used by the API after its commits and by the dispatcher."""

    def __init__(self, redis: ArqRedis, db: Database | None = None) -> None:
        self.redis = redis
        self.db = db
        self._tasks: set[asyncio.Task[list[str]]] = set()
        self._redis_down_until = 0.0
        self._marks: Batcher[str, None] = Batcher(self._mark_dispatched)

    async def request(
        self,
        tx: Runner,
        kind: str,
        params: dict[str, Any],
        *,
        requested_by: int | None,
        request_id: str | None = None,
        job_id: str | None = None,
    ) -> NewJob:
        """Write a queued job row inside ``tx``; call :meth:`dispatch` after the commit.

        The request id defaults to the current request's (``X-Request-ID``), so the
        worker's log lines for the job carry it too. ``job_id`` is for callers that name
        something after the job before writing it (an upload's file).
        """
        job = NewJob(
            job_id or new_job_id(),
            kind,
            params,
            requested_by,
            request_id if request_id is not None else request_id_var.get(),
            utcnow(),
        )
        await tx.execute(
            INSERT_JOB,
            id=job.id,
            kind=kind,
            params=encode_json(params),
            requested_by=requested_by,
            request_id=job.request_id,
            now=job.created_at,
        )
        return job

    def dispatch(self, *jobs: NewJob) -> None:
        """Hand committed jobs to Redis in the background; never fails, never waits.

        While Redis has just failed, nothing is tried: the dispatcher sends the rows
        once Redis is back, and requests do not each pay a connection timeout.
        """
        if not jobs or time.monotonic() < self._redis_down_until:
            return
        task = asyncio.create_task(self.send([(j.id, j.kind) for j in jobs]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, jobs: Sequence[tuple[str, str]]) -> list[str]:
        """Enqueue ``(id, kind)`` pairs under their row ids; return the ids Redis now holds.

        Rows are marked dispatched in batches when this process has a database; a row
        whose mark is lost is sent again later, which arq or the worker turns into a no-op.
        """
        results = await asyncio.gather(
            *(self.redis.enqueue_job(kind, _job_id=job_id) for job_id, kind in jobs), return_exceptions=True
        )
        sent = [job_id for (job_id, _), r in zip(jobs, results, strict=True) if not isinstance(r, BaseException)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning("could not enqueue %d job(s), the dispatcher will retry: %s", len(failures), failures[0])
            if not isinstance(failures[0], RedisError | OSError):
                raise failures[0]
        if sent and self.db is not None:
            try:
                await asyncio.gather(*(self._marks.submit(job_id) for job_id in sent))
            except (SQLAlchemyError, DatabaseUnavailable, OSError) as exc:
                log.warning("could not mark %d job(s) dispatched: %s", len(sent), exc)
        return sent

    async def _mark_dispatched(self, ids: list[str]) -> list[None]:
        assert self.db is not None
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(Job).where(Job.id.in_(ids), Job.dispatched_at.is_(None)).values(dispatched_at=utcnow())
            )
        return [None] * len(ids)

    async def pending(self) -> int:
        """Jobs written but not yet handed to Redis: the outbox (an index range, cheap)."""
        assert self.db is not None
        row = await self.db.fetch_one(COUNT_PENDING)
        return int(row[0]) if row else 0

    async def abort(self, job_id: str) -> None:
        """Ask the worker running ``job_id`` to cancel it (arq's abort set); best effort."""
        try:
            await self.redis.zadd(abort_jobs_ss, {job_id: int(time.time() * 1000)})
        except (RedisError, OSError) as exc:
            log.warning("could not signal abort of job %s: %s (it stops at its next checkpoint)", job_id, exc)

    async def drain(self) -> None:
        """Wait for background sends (at shutdown): a row left unsent is the dispatcher's."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._marks.wait()
