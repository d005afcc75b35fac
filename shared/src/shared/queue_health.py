"""The queue's health as operators see it in the console: counts, ages, workers, throughput.

Read from the durable rows and the workers' liveness keys, not from arq's Redis
structures, so the figures survive a Redis restart and agree with ``GET /jobs``.
A console snapshot costs four statements (:func:`read_queue`'s three, which the
worker's metrics also use, and the chart's one) and one Redis key scan, so
:class:`HealthCache` keeps one per process for ``HEALTH_CACHE_SECONDS``: any number of
open consoles cost the database the same.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from redis.asyncio import Redis
from sqlalchemy import Integer, bindparam, case, func, or_, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from shared import job_records
from shared.db import Database, Query
from shared.jobs import JobStatus, liveness_key
from shared.models import Job, utcnow
from shared.settings import Settings

HEALTH_CACHE_SECONDS: Final = 5.0
MINUTES: Final = 60  # the throughput chart's window, one bar per minute
# Counted from the rows; `succeeded` is not: it is most of the table, the one count no
# index keeps cheap (docs/performance.md, "Queue-health query"). The console's chart of
# jobs finished per minute and the worker's counters say how many succeed.
COUNTED_STATUSES: Final = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED)

BY_STATUS = Query(
    select(Job.status, func.count())
    .where(or_(*(Job.status == s.value for s in COUNTED_STATUSES)))  # no expanding IN on the driver path
    .group_by(Job.status)
)
OLDEST_QUEUED = Query(select(func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED.value))


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    by_status: dict[str, int]
    oldest_queued: datetime | None
    undispatched: int
    read_seconds: float


def _as_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))  # SQLite's driver path returns text


async def read_queue(db: Database) -> QueueSnapshot:
    """Jobs by status, the oldest queued job, the outbox: three index-range statements.

    Shared by the worker's ``wadah_queue_*`` metrics and the console's Queue health panel.
    """
    started = time.perf_counter()
    rows = await db.fetch_all(BY_STATUS)
    oldest = await db.fetch_one(OLDEST_QUEUED)
    undispatched = await job_records.count_undispatched(db)
    by_status = {s.value: 0 for s in COUNTED_STATUSES}
    by_status.update({str(status): int(n) for status, n in rows})
    return QueueSnapshot(
        by_status,
        _as_datetime(oldest[0]) if oldest else None,
        undispatched,
        time.perf_counter() - started,
    )


def _minute_bucket(i: int) -> ColumnElement[int]:
    start: BindParameter[datetime] = bindparam(f"m{i}")
    end: BindParameter[datetime] = bindparam(f"m{i + 1}")
    return func.sum(case(((Job.finished_at >= start) & (Job.finished_at < end), 1), else_=0), type_=Integer)


# One range read of ix_jobs_finished; a column per minute keeps it portable (no date functions).
FINISHED_PER_MINUTE = Query(
    select(*(_minute_bucket(i) for i in range(MINUTES))).where(Job.finished_at >= bindparam("m0"))
)


@dataclass(frozen=True, slots=True)
class QueueHealth:
    by_status: dict[str, int]
    oldest_queued_seconds: float | None
    workers_alive: int
    undispatched: int
    finished_per_minute: list[int]  # oldest minute first, the current (partial) minute last
    taken_at: datetime


async def read_health(db: Database, redis: Redis, settings: Settings) -> QueueHealth:
    """:func:`read_queue`, the finished-per-minute chart, and the workers alive."""
    now = utcnow()
    current = now.replace(second=0, microsecond=0)
    edges = {f"m{i}": current - timedelta(minutes=MINUTES - 1 - i) for i in range(MINUTES + 1)}
    queue = await read_queue(db)
    minutes = await db.fetch_one(FINISHED_PER_MINUTE, **edges)
    workers = 0
    async for _ in redis.scan_iter(match=liveness_key(settings, "*"), count=1000):
        workers += 1
    return QueueHealth(
        queue.by_status,
        None if queue.oldest_queued is None else max(0.0, (now - queue.oldest_queued).total_seconds()),
        workers,
        queue.undispatched,
        [int(v or 0) for v in (minutes or [0] * MINUTES)],
        now,
    )


class HealthCache:
    """One snapshot per process at a time, refreshed at most every ``ttl`` seconds."""

    def __init__(self, ttl: float = HEALTH_CACHE_SECONDS) -> None:
        self._ttl = ttl
        self._value: QueueHealth | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def get(self, db: Database, redis: Redis, settings: Settings) -> QueueHealth:
        async with self._lock:  # concurrent callers share one refresh
            if self._value is None or time.monotonic() >= self._until:
                self._value = await read_health(db, redis, settings)
                self._until = time.monotonic() + self._ttl
            return self._value
