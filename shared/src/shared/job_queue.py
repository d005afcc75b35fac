"""Requesting jobs and handing them to Redis: the transactional outbox.

A job is requested by :meth:`JobQueue.request`, inside the caller's transaction, next
to the change that causes it: a commit without its job, or a job without its commit,
cannot happen. After the commit the caller hands the jobs to :meth:`JobQueue.dispatch`,
which enqueues them in the background (off the request's path) and marks the rows
``dispatched_at`` in batches, on the process's own pool. Rows that Redis did not take
(it was down, the process died in between) are sent by the workers' dispatcher
(``worker.dispatcher``) once they are ``DISPATCH_GRACE_SECONDS`` old.

Never enqueued twice in effect: an id whose arq job (or kept result) is still in Redis
is refused, so concurrent sends of one row collapse into one arq job. wadah keeps no arq
results (``keep_result = 0``: the row holds the result), so once a job has finished a
late second send is accepted by arq; the worker then finds the row already finished
and does nothing (``shared.job_records.claim``). The row's status, not Redis, decides.

The enqueue writes arq's own job key and queue entry, with arq's refusal of a known id,
but as one Lua script instead of arq's WATCH/EXISTS/MULTI exchange (one round trip
instead of three; a batch is one pipeline), and it publishes on the queue's wake channel
(:func:`wake_channel`) so that idle workers start the job at once instead of at their
next poll (``worker.arq_worker``). An abort publishes there too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import BlockingConnectionPool, ConnectionPool
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared import job_records
from shared.batching import Batcher
from shared.db import Database, Runner
from shared.db_errors import DatabaseUnavailable, DuplicateKey
from shared.jobs import RETRYABLE, JobKind, NewJob, RetryRefused, deserialize, new_job_id, serialize
from shared.logging import request_id_var
from shared.models import utcnow
from shared.settings import Settings
from shared.tracing import current_traceparent

log = logging.getLogger(__name__)

# A failed or cancelled import's upload is deleted at once (shared.job_files), so there is
# nothing left to run again.
IMPORT_NOT_RETRYABLE = "an import's file is removed when it fails or is cancelled; upload the file again"

REDIS_RETRY_SECONDS = 5.0  # after a failed enqueue, leave new jobs to the dispatcher this long
COMMAND_TIMEOUT_SECONDS = 5.0  # the longest one Redis command may take before it fails (redis_client)

# arq's enqueue_job in one step. KEYS: the job key, its result key, the queue; ARGV: the
# serialized job, its lifetime (ms), its score, its id, and the channel to wake workers
# on ('' for none). 1 if enqueued, 0 if Redis already knows the id.
_ENQUEUE = """
if redis.call('exists', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('psetex', KEYS[1], ARGV[2], ARGV[1])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('publish', ARGV[5], '') end
return 1
"""


def wake_channel(queue_name: str) -> str:
    """The channel an enqueue or an abort publishes on, and every worker of the queue listens to."""
    return f"{queue_name}:wake"


def redis_client(
    settings: Settings, max_connections: int | None = None, *, command_timeout_s: float = COMMAND_TIMEOUT_SECONDS
) -> ArqRedis:
    """An arq-aware Redis client that connects lazily, so a process starts while Redis is down.

    Unbounded, the pool opens a connection whenever more callers than ever before talk to
    Redis at once, and keeps it: a worker's pool kept growing with its busiest moment
    (docs/performance.md, "Memory under load"). With ``max_connections`` a caller waits
    for a free connection instead. The wait needs no timeout of its own: every command
    holds its connection at most ``command_timeout_s``, the socket timeout, so a Redis
    that stops answering fails commands instead of hanging them. A subscription waits
    longer than that for its messages, with a timeout of its own (the worker's
    ``BatchedWorker._listen``).
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": 2,
        "socket_timeout": command_timeout_s,
        "health_check_interval": 30,
    }
    pool = (
        ConnectionPool.from_url(settings.redis_url, **options)
        if max_connections is None
        else BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=max_connections, timeout=None, **options
        )
    )
    return ArqRedis(
        pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )


class JobQueue:
    """The enqueue side of every job: used by the API after its commits and by the dispatcher."""

    def __init__(self, redis: ArqRedis, db: Database | None = None) -> None:
        self.redis = redis
        self.db = db
        self._tasks: set[asyncio.Task[list[str]]] = set()
        self._redis_down_until = 0.0
        self._marks: Batcher[str, None] = Batcher(self._mark_dispatched)
        self._enqueue = redis.register_script(_ENQUEUE)

    async def request(
        self,
        tx: Runner,
        kind: JobKind,
        params: dict[str, Any],
        *,
        requested_by: int | None,
        request_id: str | None = None,
        job_id: str | None = None,
        retry_of: str | None = None,
    ) -> NewJob:
        """Write a queued job row inside ``tx``; call :meth:`dispatch` after the commit.

        The request id defaults to the current request's (``X-Request-ID``), so the
        worker's log lines for the job carry it too; with tracing on, the current span's
        ``traceparent`` goes on the row in the same statement, so the worker's span
        joins the request's trace (shared.tracing). ``job_id`` is for callers that name
        something after the job before writing it (an upload's file).
        """
        job = NewJob(
            job_id or new_job_id(),
            kind,
            params,
            requested_by,
            request_id if request_id is not None else request_id_var.get(),
            utcnow(),
            current_traceparent(),
            retry_of,
        )
        await job_records.insert_job(tx, job)
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
                source = await job_records.retry_source(tx, job_id)
                if source is None:
                    raise LookupError(job_id)
                kind, params, status, requested_by = source
                if status not in RETRYABLE:
                    raise RetryRefused(f"only a failed or cancelled job can be retried; this one is {status}")
                if kind == JobKind.IMPORT_BOOKS:
                    raise RetryRefused(IMPORT_NOT_RETRYABLE)
                return await self.request(tx, JobKind(kind), params, requested_by=requested_by, retry_of=job_id)
        except DuplicateKey as exc:
            raise RetryRefused("the job has already been retried") from exc

    async def cancel(self, job_id: str, requested_by: int | None) -> bool:
        """Mark a queued or running job cancelled (only ``requested_by``'s, unless None: an
        operator's cancel) and signal its worker; False if no such job was active.

        The row is marked first, so the cancel holds even if Redis is away: the worker
        checks the row before it starts a job, and long jobs check it between batches.
        """
        assert self.db is not None
        if not await job_records.cancel(self.db, job_id, requested_by):
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
        results = await self._enqueue_all(jobs)
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

    async def _enqueue_all(self, jobs: Sequence[tuple[str, str]]) -> list[Any]:
        """Each job's script outcome, or the exception that kept it out of Redis; the last
        job of the batch wakes the workers (one message for the batch)."""
        queue, now = self.redis.default_queue_name, timestamp_ms()
        expires = self.redis.expires_extra_ms
        channel = wake_channel(queue)
        if not jobs:
            return []
        calls: list[tuple[list[str], list[bytes | str | int]]] = [
            (
                [job_key_prefix + job_id, result_key_prefix + job_id, queue],
                [
                    serialize_job(kind, (), {}, None, now, serializer=self.redis.job_serializer),
                    expires,
                    now,
                    job_id,
                    channel if i == len(jobs) - 1 else "",
                ],
            )
            for i, (job_id, kind) in enumerate(jobs)
        ]
        try:
            if len(calls) == 1:
                return [await self._enqueue(keys=calls[0][0], args=calls[0][1])]
            async with self.redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    await self._enqueue(keys=keys, args=args, client=pipe)
                return list(await pipe.execute(raise_on_error=False))
        except (RedisError, OSError) as exc:
            return [exc] * len(calls)

    async def _mark_dispatched(self, ids: list[str]) -> list[None]:
        assert self.db is not None
        await job_records.mark_dispatched(self.db, ids)
        return [None] * len(ids)

    async def abort(self, job_id: str) -> None:
        """Ask the worker running ``job_id`` to cancel it (arq's abort set); best effort."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(abort_jobs_ss, {job_id: int(time.time() * 1000)})
                pipe.publish(wake_channel(self.redis.default_queue_name), b"")
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not signal abort of job %s: %s (it stops at its next checkpoint)", job_id, exc)

    async def drain(self) -> None:
        """Wait for background sends (at shutdown): a row left unsent is the dispatcher's."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._marks.wait()
