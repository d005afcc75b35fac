"""The one wrapper every job runs in: its durable record, retries, and cancellation.

For each arq job the wrapper

1. claims the row: ``queued`` (or ``running`` after a crash) becomes ``running`` with
   ``attempts + 1``. A row that is finished, cancelled or missing is not claimed and the
   job does nothing: that check, not Redis, is what makes a second delivery harmless.
2. runs the handler with the row's parameters, under its own timeout.
3. records the end: ``succeeded`` with the result; on a transient error (database or
   Redis connection lost, deadlock 1213, lock wait timeout 1205, SMTP unreachable...)
   back to ``queued`` with the error and ``arq.Retry`` after an exponential backoff; on
   any other error, or once ``JOB_MAX_TRIES`` attempts are used, ``failed`` with the error.

Attempts are counted on the row, not by arq (whose own limit is set out of reach), so a
job whose worker was killed mid-way is not silently dropped by arq's retry counter.

Cancellation: ``CancelledError`` reaches the handler both when the client cancels the job
(arq's abort; the API has already set the row ``cancelled``) and when the worker shuts
down after its grace period. Either way the wrapper writes ``running -> queued`` with
the attempt given back, which leaves a cancelled row as it is and returns a shut-down
job to the queue, where arq keeps it for the next worker.

The start and end writes go through :class:`shared.batching.Batcher`, so a busy worker
writes many jobs' records in one statement and one commit.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from arq.cron import CronJob, cron
from arq.worker import Function, Retry
from redis.exceptions import RedisError
from sqlalchemy import BindParameter, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared import job_files
from shared.batching import Batcher
from shared.db import Database, DatabaseUnavailable, Query
from shared.jobs import ACTIVE, JobStatus, cron_job_id, decode_json, encode_json
from shared.logging import job_id_var, request_id_var
from shared.models import Job, utcnow
from shared.settings import Settings

log = logging.getLogger("worker.jobs")

LINGER_SECONDS = 0.002  # how long a start or end write waits for others to share its statement
ARQ_MAX_TRIES = 1_000_000  # arq never gives up on its own; the row's attempts decide
TIMEOUT_MARGIN_SECONDS = 30  # arq's timeout sits above the wrapper's, which records the end first

# MySQL error codes that mean "try again": deadlock, lock wait timeout, and a lost connection.
_TRANSIENT_MYSQL_CODES = {1205, 1213, 2003, 2006, 2013, 2055, 1927}


class PermanentError(Exception):
    """Bad data or a refusal that retrying cannot fix: the job fails at once with this reason."""


class TransientError(Exception):
    """Something outside the job was away; worth another try after a backoff."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError | DatabaseUnavailable | RedisError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig or exc
    code = exc.args[0] if exc.args else None
    return isinstance(code, int) and code in _TRANSIENT_MYSQL_CODES


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PermanentError | TransientError) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True, slots=True)
class Claim:
    kind: str
    params: dict[str, Any]
    attempts: int
    progress_done: int
    request_id: str | None
    requested_by: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class End:
    job_id: str
    status: JobStatus
    result: str | None = None
    error: str | None = None
    give_back_attempt: bool = False


_ACTIVE = or_(*(Job.status == s.value for s in ACTIVE))
_CLAIMED_COLUMNS = (
    Job.id,
    Job.kind,
    Job.params,
    Job.status,
    Job.worker,
    Job.attempts,
    Job.progress_done,
    Job.request_id,
    Job.requested_by,
    Job.error,
)


def _ids(n: int) -> list[BindParameter[str]]:
    return [bindparam(f"id{i}") for i in range(n)]


@cache
def _claim_queries(n: int) -> tuple[Query, Query]:
    """Claim ``n`` rows and read them back: one compiled pair per batch size.

    Written out as ``IN (:id0, :id1, ...)`` rather than an expanding parameter, so they
    run on the driver's own pool like the API's statements (shared.db): the engine's
    per-statement cost was most of a short job's.
    """
    ids = _ids(n)
    claim = (
        update(Job)
        .where(Job.id.in_(ids), _ACTIVE)
        .values(
            status=JobStatus.RUNNING.value,
            attempts=Job.attempts + 1,
            started_at=bindparam("b_now"),
            worker=bindparam("b_worker"),
            dispatched_at=func.coalesce(Job.dispatched_at, bindparam("b_now")),
        )
    )
    return Query(claim), Query(select(*_CLAIMED_COLUMNS).where(Job.id.in_(ids)))


@cache
def _end_query(n: int) -> Query:
    """Record the same end for ``n`` rows, only while this worker still holds them
    (not over a cancel, nor over another worker's takeover)."""
    return Query(
        update(Job)
        .where(Job.id.in_(_ids(n)), Job.status == JobStatus.RUNNING.value, Job.worker == bindparam("b_worker"))
        .values(
            status=bindparam("b_status"),
            result=bindparam("b_result"),
            error=bindparam("b_error"),
            finished_at=bindparam("b_finished_at"),
            attempts=Job.attempts - bindparam("b_give_back"),
        )
    )


class JobRecorder:
    """Batched start and end writes of job rows, for one worker process."""

    def __init__(self, db: Database, worker_id: str) -> None:
        self.db = db
        self.worker_id = worker_id
        self._claims: Batcher[str, Claim | None] = Batcher(self._claim_batch, linger=LINGER_SECONDS)
        self._ends: Batcher[End, None] = Batcher(self._end_batch, linger=LINGER_SECONDS)

    async def claim(self, job_id: str) -> Claim | None:
        return await self._claims.submit(job_id)

    async def end(self, end: End) -> None:
        await self._ends.submit(end)

    async def wait(self) -> None:
        await self._claims.wait()
        await self._ends.wait()

    async def _claim_batch(self, ids: list[str]) -> Sequence[Claim | None]:
        # No transaction needed: a row cancelled between the two statements reads back
        # as cancelled and is not run; one that was not claimable reads back unchanged.
        claim, read = _claim_queries(len(ids))
        named = {f"id{i}": job_id for i, job_id in enumerate(ids)}
        await self.db.execute(claim, b_now=utcnow(), b_worker=self.worker_id, **named)
        rows = await self.db.fetch_all(read, **named)
        by_id = {
            r[0]: Claim(r[1], decode_json(r[2]), r[5], r[6], r[7], r[8], r[9])
            for r in rows
            if r[3] == JobStatus.RUNNING and r[4] == self.worker_id
        }
        return [by_id.get(i) for i in ids]

    async def _end_batch(self, ends: list[End]) -> Sequence[None]:
        now = utcnow()
        groups: dict[tuple[JobStatus, str | None, str | None, bool], list[str]] = {}
        for e in ends:  # a busy worker's ends mostly share their outcome: one statement each
            groups.setdefault((e.status, e.result, e.error, e.give_back_attempt), []).append(e.job_id)
        statements = [
            (
                _end_query(len(ids)),
                {  # b_ names: SQLAlchemy reserves a column's own name in its SET clause
                    "b_status": status.value,
                    "b_result": result,
                    "b_error": error,
                    "b_finished_at": None if status in ACTIVE else now,
                    "b_give_back": 1 if give_back else 0,
                    "b_worker": self.worker_id,
                    **{f"id{i}": job_id for i, job_id in enumerate(ids)},
                },
            )
            for (status, result, error, give_back), ids in groups.items()
        ]
        if len(statements) == 1:
            await self.db.execute(statements[0][0], **statements[0][1])
        else:
            async with self.db.transaction() as tx:
                for query, params in statements:
                    await tx.execute(query, **params)
        return [None] * len(ends)


@dataclass
class RunningJob:
    """What a handler gets: its job's identity and the process's resources."""

    id: str
    kind: str
    attempt: int
    progress_done: int  # as last committed: where a resumable job picks up
    requested_by: int | None
    db: Database
    settings: Settings
    ctx: dict[str, Any]
    worker: str = ""  # this worker's id, as the row names its holder

    async def progress(self, done: int, total: int | None = None) -> None:
        """Record progress (only while the job is still running here)."""
        values: dict[str, Any] = {"progress_done": done}
        if total is not None:
            values["progress_total"] = total
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(Job).where(Job.id == self.id, Job.status == JobStatus.RUNNING.value).values(**values)
            )


Handler = Callable[..., Awaitable[Any]]


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Exponential with full jitter, so retries of many jobs after one outage spread out."""
    ceiling = min(settings.job_retry_base_seconds * 2 ** (attempt - 1), settings.job_retry_max_seconds)
    return random.uniform(ceiling / 2, ceiling)


async def run(kind: str, handler: Handler, timeout_s: float, ctx: dict[str, Any]) -> None:
    """The arq job function of every kind (see the module's docstring)."""
    recorder: JobRecorder = ctx["recorder"]
    settings: Settings = ctx["settings"]
    job_id: str = ctx["row_id"] if "row_id" in ctx else ctx["job_id"]
    claim = await recorder.claim(job_id)
    if claim is None:
        log.info("job %s (%s) skipped: not queued (finished, cancelled or unknown)", job_id, kind)
        return
    job_token, request_token = job_id_var.set(job_id), request_id_var.set(claim.request_id)
    try:
        if claim.attempts > settings.job_max_tries:
            error = f"gave up after {claim.attempts - 1} attempts; last error: {claim.last_error or 'worker stopped'}"
            log.error("job %s failed: %s", kind, error)
            await recorder.end(End(job_id, JobStatus.FAILED, error=error))
            await job_files.delete_if_unsuccessful(ctx["db"].engine, job_id)
            return
        job = RunningJob(
            job_id,
            kind,
            claim.attempts,
            claim.progress_done,
            claim.requested_by,
            ctx["db"],
            settings,
            ctx,
            recorder.worker_id,
        )
        started = time.perf_counter()
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                result = await handler(job, **claim.params)
        except asyncio.CancelledError:
            await _interrupted(recorder, job, kind)
            raise
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling() and not deadline.expired():
                # A driver turned the cancellation into its own error (asyncmy raises
                # InterfaceError "Cancelled during execution"): still an interruption.
                await _interrupted(recorder, job, kind)
                raise asyncio.CancelledError from exc
            error = f"timed out after {timeout_s:.0f}s" if deadline.expired() else describe(exc)
            if is_transient(exc) and claim.attempts < settings.job_max_tries:
                delay = backoff_seconds(settings, claim.attempts)
                log.warning("job %s attempt %d failed (%s); retrying in %.1fs", kind, claim.attempts, error, delay)
                await recorder.end(End(job_id, JobStatus.QUEUED, error=error))
                raise Retry(defer=delay) from exc
            log.error("job %s failed after %d attempt(s): %s", kind, claim.attempts, error)
            await recorder.end(End(job_id, JobStatus.FAILED, error=error))
            await job_files.delete_if_unsuccessful(job.db.engine, job_id)
            return
        await recorder.end(End(job_id, JobStatus.SUCCEEDED, result=encode_json(result)))
        log.info("job %s succeeded in %.3fs", kind, time.perf_counter() - started)
    finally:
        job_id_var.reset(job_token)
        request_id_var.reset(request_token)


async def _interrupted(recorder: JobRecorder, job: RunningJob, kind: str) -> None:
    """Back to ``queued`` with the attempt given back; a cancelled row stays cancelled, its file goes."""
    await asyncio.shield(recorder.end(End(job.id, JobStatus.QUEUED, give_back_attempt=True)))
    await asyncio.shield(job_files.delete_if_unsuccessful(job.db.engine, job.id))
    log.info("job %s interrupted (cancelled or shutting down)", kind)


def job_function(kind: str, handler: Handler, *, timeout_s: float) -> Function:
    """Register ``handler`` with arq under ``kind``, wrapped in :func:`run`."""

    async def arq_job(ctx: dict[str, Any]) -> None:
        await run(kind, handler, timeout_s, ctx)

    return Function(
        name=kind,
        coroutine=arq_job,
        timeout_s=timeout_s + TIMEOUT_MARGIN_SECONDS,
        keep_result_s=0,
        keep_result_forever=False,
        max_tries=ARQ_MAX_TRIES,
    )


def cron_function(kind: str, handler: Handler, *, timeout_s: float, schedule: dict[str, Any]) -> CronJob:
    """A scheduled job: every worker enqueues each run under one arq id (``unique``), and the
    run's row id is derived from that id, so however many workers deliver a run, one claims it.
    """

    async def arq_cron(ctx: dict[str, Any]) -> None:
        row_id = cron_job_id(ctx["job_id"])
        db: Database = ctx["db"]
        now = utcnow()
        try:
            async with db.engine.begin() as conn:
                await conn.execute(
                    insert(Job).values(
                        id=row_id,
                        kind=kind,
                        params="{}",
                        status=JobStatus.QUEUED.value,
                        attempts=0,
                        progress_done=0,
                        created_at=now,
                        dispatched_at=now,
                    )
                )
        except IntegrityError:
            pass  # another worker's delivery of this run wrote it first
        await run(kind, handler, timeout_s, {**ctx, "row_id": row_id})

    arq_cron.__qualname__ = kind
    return cron(
        arq_cron,
        name=f"cron:{kind}",
        unique=True,
        timeout=timeout_s + TIMEOUT_MARGIN_SECONDS,
        keep_result=0,
        max_tries=ARQ_MAX_TRIES,
        microsecond=0,
        **schedule,
    )
