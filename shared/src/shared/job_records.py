"""Every statement that writes the ``jobs`` table, and the reads the job machinery makes.

A job row is the durable truth about a job (``shared.jobs``), so the places that change
it are kept together: the request (in the caller's transaction), a scheduled run's row,
the claim, progress and the import's checkpoint, the end, a cancel, the outbox's
dispatch mark and the cleanup. Each guards its write with the status (and, for a
running job, the worker holding it) that makes the change valid, so racing writers
cannot undo each other: a cancel wins over a late end, a takeover over a stale worker.

Statements are built once as :class:`shared.db.Query` and run on the process's driver
path, or, inside a job handler's own transaction, on its connection. Batched writes
name their rows as ``IN (:id0, :id1, ...)``, because a compiled ``Query`` has no
expanding parameters; see :func:`_width` for how many such statements a process keeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import Database, Query, Runner
from shared.db_errors import DuplicateKey
from shared.jobs import ACTIVE, FINISHED, JobStatus, NewJob, decode_json, encode_json
from shared.models import ImportRejection, Job, utcnow

_ACTIVE = or_(*(Job.status == s.value for s in ACTIVE))


def _width(n: int) -> int:
    """How many ``IN`` placeholders serve a batch of ``n`` ids: ``n`` rounded up to a power of two.

    Each width is a statement built and compiled once and kept for the life of the
    process (a few hundred bytes per placeholder: its ``BindParameter``, its clause
    and its share of the SQL text). Kept per exact batch size, as they were, a busy
    worker's batches kept reaching sizes not seen before (a rarer, larger batch every
    few thousand jobs), each adding a statement: its RSS rose by about 0.5 MB every
    10,000 jobs and was still rising after 100,000 (docs/performance.md, "Memory under
    load"). Powers of two make at most ten widths up to the batchers' 500, all reached
    early, for at most twice the placeholders a batch needs; the spare ones repeat the
    batch's last id (:func:`_named`), which ``IN`` ignores.
    """
    return 1 << (n - 1).bit_length() if n > 0 else 0


def _ids(width: int) -> list[BindParameter[str]]:
    return [bindparam(f"id{i}") for i in range(width)]


def _named(ids: Sequence[str]) -> dict[str, str]:
    """``ids`` as the parameters of a statement of ``_width(len(ids))`` placeholders, the last repeated."""
    named = {f"id{i}": job_id for i, job_id in enumerate(ids)}
    for i in range(len(ids), _width(len(ids))):
        named[f"id{i}"] = ids[-1]
    return named


# --- requesting ------------------------------------------------------------------------

_INSERT = Query(
    insert(Job).values(
        id=bindparam("id"),
        kind=bindparam("kind"),
        params=bindparam("params"),
        status=JobStatus.QUEUED.value,
        attempts=0,
        progress_done=0,
        requested_by=bindparam("requested_by"),
        request_id=bindparam("request_id"),
        traceparent=bindparam("traceparent"),
        created_at=bindparam("now"),
        dispatched_at=bindparam("dispatched_at"),
        retry_of=bindparam("retry_of"),
    )
)


async def insert_job(tx: Runner, job: NewJob) -> None:
    """The queued row of a job requested in the caller's transaction ``tx``."""
    await tx.execute(
        _INSERT,
        id=job.id,
        kind=job.kind,
        params=encode_json(job.params),
        requested_by=job.requested_by,
        request_id=job.request_id,
        traceparent=job.traceparent,
        now=job.created_at,
        dispatched_at=None,
        retry_of=job.retry_of,
    )


async def insert_scheduled_run(db: Database, row_id: str, kind: str) -> None:
    """The row of one scheduled run, already in Redis; every worker delivering it writes the same id."""
    now = utcnow()
    with contextlib.suppress(DuplicateKey):  # another worker's delivery of this run wrote it first
        await db.execute(
            _INSERT,
            id=row_id,
            kind=kind,
            params="{}",
            requested_by=None,
            request_id=None,
            traceparent=None,
            now=now,
            dispatched_at=now,
            retry_of=None,
        )


# --- the outbox ------------------------------------------------------------------------


@cache
def _mark_dispatched_query(width: int) -> Query:
    return Query(
        update(Job).where(Job.id.in_(_ids(width)), Job.dispatched_at.is_(None)).values(dispatched_at=bindparam("now"))
    )


async def mark_dispatched(db: Database, ids: Sequence[str]) -> None:
    """Stamp rows Redis now holds, so the dispatcher does not send them again."""
    await db.execute(_mark_dispatched_query(_width(len(ids))), now=utcnow(), **_named(ids))


_UNDISPATCHED = (Job.status == JobStatus.QUEUED.value, Job.dispatched_at.is_(None))
_COUNT_UNDISPATCHED = Query(select(func.count()).select_from(Job).where(*_UNDISPATCHED))
_UNDISPATCHED_BEFORE = Query(
    select(Job.id, Job.kind)
    .where(*_UNDISPATCHED, Job.created_at <= bindparam("cutoff"))
    .order_by(Job.created_at)
    .limit(bindparam("limit"))
)
_RUNNING_SINCE_BEFORE = Query(
    select(Job.id, Job.kind, Job.worker).where(
        Job.status == JobStatus.RUNNING.value, Job.started_at < bindparam("cutoff")
    )
)
_QUEUED_SENT_BEFORE = Query(
    select(Job.id, Job.kind, Job.dispatched_at)
    .where(
        Job.status == JobStatus.QUEUED.value,
        Job.dispatched_at < bindparam("cutoff"),
        tuple_(Job.dispatched_at, Job.id)
        > tuple_(bindparam("after_at", type_=Job.dispatched_at.type), bindparam("after_id", type_=Job.id.type)),
    )
    .order_by(Job.dispatched_at, Job.id)
    .limit(bindparam("limit"))
)
# Where a walk through the queued rows in order of dispatch starts: before every row.
FIRST_SENT: tuple[datetime, str] = (datetime(1970, 1, 1), "")


async def count_undispatched(db: Database) -> int:
    """Jobs written but not yet handed to Redis: the outbox (an index range, cheap)."""
    row = await db.fetch_one(_COUNT_UNDISPATCHED)
    return int(row[0]) if row else 0


async def undispatched(db: Database, created_before: datetime, limit: int) -> list[tuple[str, str]]:
    """The oldest ``(id, kind)`` of rows the API wrote but never handed to Redis."""
    return [(r[0], r[1]) for r in await db.fetch_all(_UNDISPATCHED_BEFORE, cutoff=created_before, limit=limit)]


async def running_since(db: Database, started_before: datetime) -> list[tuple[str, str, str | None]]:
    """``(id, kind, worker)`` of rows claimed before ``started_before`` and still running."""
    return [(r[0], r[1], r[2]) for r in await db.fetch_all(_RUNNING_SINCE_BEFORE, cutoff=started_before)]


async def queued_sent_before(
    db: Database, dispatched_before: datetime, *, after: tuple[datetime, str] = FIRST_SENT, limit: int
) -> list[tuple[str, str, datetime]]:
    """A page of ``(id, kind, dispatched_at)`` of queued rows handed to Redis before
    ``dispatched_before``, in order of dispatch, from just past ``after`` (the previous
    page's last ``(dispatched_at, id)``): a backlog is read a page at a time, never whole."""
    rows = await db.fetch_all(
        _QUEUED_SENT_BEFORE, cutoff=dispatched_before, after_at=after[0], after_id=after[1], limit=limit
    )
    return [(r[0], r[1], r[2]) for r in rows]


# --- running ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A row this worker now holds: what its handler needs to run it."""

    kind: str
    params: dict[str, Any]
    attempts: int
    progress_done: int
    request_id: str | None
    requested_by: int | None
    last_error: str | None
    traceparent: str | None = None  # of the request that asked, for the job's span


@dataclass(frozen=True, slots=True)
class End:
    """How one run ended; ``give_back_attempt`` for an interruption that was not the job's fault."""

    job_id: str
    status: JobStatus
    result: str | None = None
    error: str | None = None
    give_back_attempt: bool = False


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
    Job.traceparent,
)


@cache
def _claim_queries(width: int) -> tuple[Query, Query]:
    ids = _ids(width)
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


async def claim(db: Database, ids: Sequence[str], worker: str) -> list[Claim | None]:
    """Take active rows for ``worker`` (``queued``, or ``running`` after a crash), one attempt more.

    A row that is finished, cancelled or unknown is not taken (``None``): that check, not
    Redis, makes a second delivery harmless. No transaction: a row cancelled between the
    two statements reads back cancelled and is not run.
    """
    update_rows, read_rows = _claim_queries(_width(len(ids)))
    named = _named(ids)
    await db.execute(update_rows, b_now=utcnow(), b_worker=worker, **named)
    rows = await db.fetch_all(read_rows, **named)
    by_id = {
        r[0]: Claim(r[1], decode_json(r[2]), r[5], r[6], r[7], r[8], r[9], r[10])
        for r in rows
        if r[3] == JobStatus.RUNNING and r[4] == worker
    }
    return [by_id.get(i) for i in ids]


@cache
def _end_query(width: int) -> Query:
    return Query(
        update(Job)
        .where(Job.id.in_(_ids(width)), Job.status == JobStatus.RUNNING.value, Job.worker == bindparam("b_worker"))
        .values(  # b_ names: SQLAlchemy reserves a column's own name in its SET clause
            status=bindparam("b_status"),
            result=bindparam("b_result"),
            error=bindparam("b_error"),
            finished_at=bindparam("b_finished_at"),
            attempts=Job.attempts - bindparam("b_give_back"),
        )
    )


async def end(db: Database, ends: Sequence[End], worker: str) -> None:
    """Record how runs ended, only where ``worker`` still holds the row (not over a cancel or takeover).

    Ends that share their outcome, as a busy worker's mostly do, share one statement.
    """
    now = utcnow()
    groups: dict[tuple[JobStatus, str | None, str | None, bool], list[str]] = {}
    for e in ends:
        groups.setdefault((e.status, e.result, e.error, e.give_back_attempt), []).append(e.job_id)
    statements = [
        (
            _end_query(_width(len(ids))),
            {
                "b_status": status.value,
                "b_result": result,
                "b_error": error,
                "b_finished_at": None if status in ACTIVE else now,
                "b_give_back": 1 if give_back else 0,
                "b_worker": worker,
                **_named(ids),
            },
        )
        for (status, result, error, give_back), ids in groups.items()
    ]
    if len(statements) == 1:
        await db.execute(statements[0][0], **statements[0][1])
        return
    async with db.transaction() as tx:
        for query, params in statements:
            await tx.execute(query, **params)


_PROGRESS = Query(
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.status == JobStatus.RUNNING.value)
    .values(progress_done=bindparam("done"), progress_total=func.coalesce(bindparam("total"), Job.progress_total))
)


async def progress(db: Database, job_id: str, done: int, total: int | None) -> None:
    """Progress of a running job (a finished or cancelled one keeps what it had)."""
    await db.execute(_PROGRESS, job_id=job_id, done=done, total=total)


_CHECKPOINT = (
    update(Job)
    .where(
        Job.id == bindparam("b_id"),
        Job.status == JobStatus.RUNNING.value,
        Job.worker == bindparam("b_worker"),  # b_ names: a column's own name is reserved in an UPDATE
        Job.progress_done == bindparam("b_done"),
    )
    .values(progress_done=bindparam("b_new_done"), progress_total=bindparam("b_total"))
)


async def checkpoint(conn: AsyncConnection, job_id: str, worker: str, done: int, new_done: int, total: int) -> bool:
    """Move a resumable job's checkpoint from ``done`` to ``new_done`` inside the handler's transaction.

    Compare-and-set: ``False`` when the job was cancelled, taken over, or moved on by
    another run, and the caller must roll its work back.
    """
    moved = await conn.execute(
        _CHECKPOINT, {"b_id": job_id, "b_worker": worker, "b_done": done, "b_new_done": new_done, "b_total": total}
    )
    return moved.rowcount == 1


_SET_TOTAL = update(Job).where(Job.id == bindparam("job_id")).values(progress_total=bindparam("total"))


async def set_total(conn: AsyncConnection, job_id: str, total: int) -> None:
    """The final size of a job's work, once it is known exactly."""
    await conn.execute(_SET_TOTAL, {"job_id": job_id, "total": total})


# --- the API's and the cleanup's changes -----------------------------------------------

_CANCELLED = {"status": JobStatus.CANCELLED.value, "finished_at": bindparam("now")}
_CANCEL = Query(
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.requested_by == bindparam("user_id"), _ACTIVE)
    .values(_CANCELLED)
)
_CANCEL_ANY = Query(update(Job).where(Job.id == bindparam("job_id"), _ACTIVE).values(_CANCELLED))


async def cancel(db: Database, job_id: str, requested_by: int | None) -> bool:
    """Cancel ``requested_by``'s job (any job for None: an operator's cancel) if it is still active; whether it was."""
    if requested_by is None:
        outcome = await db.execute(_CANCEL_ANY, job_id=job_id, now=utcnow())
    else:
        outcome = await db.execute(_CANCEL, job_id=job_id, user_id=requested_by, now=utcnow())
    return outcome.rowcount == 1


_RETRY_SOURCE = Query(select(Job.kind, Job.params, Job.status, Job.requested_by).where(Job.id == bindparam("job_id")))


async def retry_source(tx: Runner, job_id: str) -> tuple[str, dict[str, Any], str, int | None] | None:
    """What a retry copies from the row it runs again: kind, parameters, status and requester."""
    row = await tx.fetch_one(_RETRY_SOURCE, job_id=job_id)
    return None if row is None else (row[0], decode_json(row[1]), row[2], row[3])


_FINISHED_BEFORE = (
    select(Job.id, Job.kind)
    .where(Job.status.in_([s.value for s in FINISHED]), Job.finished_at < bindparam("cutoff"))
    .limit(bindparam("limit"))
)


async def delete_finished(conn: AsyncConnection, finished_before: datetime, limit: int) -> list[tuple[str, str]]:
    """Delete up to ``limit`` jobs finished before ``finished_before``, with their import rejections.

    Returns the deleted ``(id, kind)`` so the caller can remove what else belonged to them.
    """
    old = [(r[0], r[1]) for r in await conn.execute(_FINISHED_BEFORE, {"cutoff": finished_before, "limit": limit})]
    if old:
        ids = [job_id for job_id, _ in old]
        await conn.execute(delete(ImportRejection).where(ImportRejection.job_id.in_(ids)))
        await conn.execute(delete(Job).where(Job.id.in_(ids)))
    return old
