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
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from shared.batching import Batcher
from shared.db import Database, DatabaseUnavailable, DuplicateKey, Query, Runner
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
RETRYABLE: Final = (JobStatus.FAILED, JobStatus.CANCELLED)


class RetryRefused(Exception):
    """The job cannot be run again: it is not failed or cancelled, or it has been retried already."""


def liveness_key(settings: Settings, worker_id: str) -> str:
    """The Redis key a live worker keeps refreshing (``worker.dispatcher``); the console counts them."""
    return f"{settings.redis_namespace}:worker:{worker_id}"


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
    retry_of: str | None = None


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
        retry_of=bindparam("retry_of"),
    )
)
# No IN list: a Query's statement is compiled once for the driver, without expanding binds.
_CANCELLABLE = (Job.id == bindparam("job_id"), or_(*(Job.status == s.value for s in ACTIVE)))
_CANCEL = {"status": JobStatus.CANCELLED.value, "finished_at": bindparam("now")}
CANCEL_OWN = Query(update(Job).where(*_CANCELLABLE, Job.requested_by == bindparam("user_id")).values(_CANCEL))
CANCEL_ANY = Query(update(Job).where(*_CANCELLABLE).values(_CANCEL))
# What a retry copies from the row it runs again.
RETRY_SOURCE = Query(select(Job.kind, Job.params, Job.status, Job.requested_by).where(Job.id == bindparam("job_id")))

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
        retry_of: str | None = None,
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
            retry_of,
        )
        await tx.execute(
            INSERT_JOB,
            id=job.id,
            kind=kind,
            params=encode_json(params),
            requested_by=requested_by,
            request_id=job.request_id,
            now=job.created_at,
            retry_of=retry_of,
        )
        return job

    async def retry(self, job_id: str) -> NewJob:
        """Write a new queued row that runs ``job_id`` again, in a transaction of its own;
        call :meth:`dispatch` with it afterwards.

        A new row, not a reset of the old one, so the earlier run keeps its error,
        attempts and times, and the new run gets a full set of attempts. The new row
        belongs to the earlier one's requester (whoever asks for the retry) and names
        the earlier row in ``retry_of``; that column is unique, so of two retries sent at
        once one inserts and the other hits the index: one run, whatever the timing.
        Raises :class:`LookupError` for an unknown id and :class:`RetryRefused` otherwise.
        """
        assert self.db is not None
        try:
            async with self.db.transaction() as tx:
                row = await tx.fetch_one(RETRY_SOURCE, job_id=job_id)
                if row is None:
                    raise LookupError(job_id)
                kind, params, status, requested_by = row
                if status not in RETRYABLE:
                    raise RetryRefused(f"only a failed or cancelled job can be retried; this one is {status}")
                return await self.request(tx, kind, decode_json(params), requested_by=requested_by, retry_of=job_id)
        except DuplicateKey as exc:
            raise RetryRefused("the job has already been retried") from exc

    async def cancel(self, job_id: str, requested_by: int | None) -> bool:
        """Mark a queued or running job cancelled (only ``requested_by``'s, unless None: an
        operator's cancel) and signal its worker; False if no such job was active.

        The row is marked first, so the cancel holds even if Redis is away: the worker
        checks the row before it starts a job, and long jobs check it between batches.
        """
        assert self.db is not None
        if requested_by is None:
            outcome = await self.db.execute(CANCEL_ANY, job_id=job_id, now=utcnow())
        else:
            outcome = await self.db.execute(CANCEL_OWN, job_id=job_id, user_id=requested_by, now=utcnow())
        if outcome.rowcount == 0:
            return False
        await self.abort(job_id)
        return True

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
