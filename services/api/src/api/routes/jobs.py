"""/jobs: a client follows and cancels the background jobs it asked for.

A job is visible only to the user who asked for it: anyone else gets the same 404 as
for an id that does not exist, so ids cannot be probed. Endpoints that start work
answer ``202 Accepted`` with the job in ``data`` and ``Location: /jobs/{id}``
(:func:`accepted`), and the client polls that URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_409_CONFLICT
from msgspec import Struct
from sqlalchemy import bindparam, func, or_, select, update

from api.auth import SECURITY
from api.errors import ApiError, not_found
from api.routes._common import AUTH, BAD_ID, BAD_QUERY, NOT_FOUND, UNAVAILABLE, Limit, Offset
from api.schemas import Envelope, ErrorBody, Page, PageMeta, utc
from api.state import AppState, AuthedRequest
from shared import job_files
from shared.db import Query
from shared.jobs import ACTIVE, KINDS, JobStatus, NewJob, decode_json
from shared.models import Job, utcnow

StatusFilter = Literal["queued", "running", "succeeded", "failed", "cancelled"]
KindFilter = Literal["compute_blog_stats", "welcome_email", "import_books", "export", "cleanup"]
assert set(KindFilter.__args__) == set(KINDS)  # type: ignore[attr-defined]

NOT_CANCELLABLE = {409: ResponseSpec(data_container=ErrorBody, description="the job has already finished")}
# Parsed by parse_job_id (a malformed one is a 400); the document says what a valid one is.
JobId = Annotated[str, Parameter(description="the job's id", schema_extra={"format": "uuid"})]


class JobOut(Struct):
    id: str
    kind: str
    status: str
    params: dict[str, Any]
    attempts: int
    progress_done: int
    progress_total: int | None
    result: Any
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_COLUMNS = (
    Job.id,
    Job.kind,
    Job.status,
    Job.params,
    Job.attempts,
    Job.progress_done,
    Job.progress_total,
    Job.result,
    Job.error,
    Job.created_at,
    Job.started_at,
    Job.finished_at,
)
_MINE = Job.requested_by == bindparam("user_id")

GET_JOB = Query(select(*_COLUMNS).where(Job.id == bindparam("job_id"), _MINE))
CANCEL_JOB = Query(
    update(Job)
    # No IN list: a Query's statement is compiled once for the driver, without expanding binds.
    .where(Job.id == bindparam("job_id"), _MINE, or_(*(Job.status == s.value for s in ACTIVE)))
    .values(status=JobStatus.CANCELLED.value, finished_at=bindparam("now"))
)


def _maybe(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def job_out(row: Sequence[Any]) -> JobOut:
    return JobOut(
        row[0],
        row[1],
        row[2],
        decode_json(row[3]),
        row[4],
        row[5],
        row[6],
        decode_json(row[7]),
        row[8],
        utc(row[9]),
        _maybe(row[10]),
        _maybe(row[11]),
    )


def new_job_out(job: NewJob) -> JobOut:
    return JobOut(
        job.id, job.kind, JobStatus.QUEUED.value, job.params, 0, 0, None, None, None, utc(job.created_at), None, None
    )


def accepted(message: str, job: NewJob) -> Response[Envelope[JobOut]]:
    """The answer of every endpoint that starts work: 202, the job, and where to follow it."""
    return Response(
        Envelope(message, new_job_out(job)), status_code=HTTP_202_ACCEPTED, headers={"Location": f"/jobs/{job.id}"}
    )


def parse_job_id(raw: str) -> str:
    """A job id is a UUID in its canonical form; anything else cannot name a job."""
    try:
        return str(uuid.UUID(raw)) if len(raw) == 36 else _invalid()
    except ValueError:
        return _invalid()


def _invalid() -> str:
    raise ApiError(400, "provided id was invalid")


async def get_own_job(state: AppState, job_id: str, user_id: int) -> JobOut:
    """The requester's job, or 404 (also for another user's job)."""
    row = await state.db.fetch_one(GET_JOB, job_id=parse_job_id(job_id), user_id=user_id)
    if row is None:
        raise not_found()
    return job_out(row)


@lru_cache(maxsize=8)
def _list_queries(by_status: bool, by_kind: bool) -> tuple[Query, Query]:
    conditions = [_MINE]
    if by_status:
        conditions.append(Job.status == bindparam("status"))
    if by_kind:
        conditions.append(Job.kind == bindparam("kind"))
    rows = (
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return Query(rows), Query(select(func.count()).select_from(Job).where(*conditions))


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @get(security=SECURITY, responses={**BAD_QUERY, **AUTH, **UNAVAILABLE})
    async def list_jobs(
        self,
        request: AuthedRequest,
        state: AppState,
        limit: Limit = 20,
        offset: Offset = 0,
        status: Annotated[StatusFilter | None, Parameter(description="only jobs in this state")] = None,
        kind: Annotated[KindFilter | None, Parameter(description="only jobs of this kind")] = None,
    ) -> Page[JobOut]:
        """Your jobs, newest first."""
        rows_query, count_query = _list_queries(status is not None, kind is not None)
        filters = {k: v for k, v in (("status", status), ("kind", kind)) if v is not None}
        async with state.db.transaction() as tx:
            rows = await tx.fetch_all(rows_query, user_id=request.user, limit=limit, offset=offset, **filters)
            total = await tx.fetch_one(count_query, user_id=request.user, **filters)
        return Page(
            "success getting jobs", [job_out(r) for r in rows], PageMeta(total[0] if total else 0, limit, offset)
        )

    @get("/{job_id:str}", security=SECURITY, responses={**BAD_ID, **AUTH, **NOT_FOUND, **UNAVAILABLE})
    async def get_job(self, request: AuthedRequest, state: AppState, job_id: JobId) -> Envelope[JobOut]:
        """One of your jobs: its state, progress, and its result or error."""
        return Envelope("success getting job", await get_own_job(state, job_id, request.user))

    @post(
        "/{job_id:str}/cancel",
        status_code=200,
        security=SECURITY,
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **NOT_CANCELLABLE, **UNAVAILABLE},
    )
    async def cancel_job(self, request: AuthedRequest, state: AppState, job_id: JobId) -> Envelope[JobOut]:
        """Cancel a queued or running job: a queued one never starts, a running one is aborted.

        The row is marked first, so the cancel holds even if Redis is away: the worker
        checks the row before it starts a job, and long jobs check it between batches.
        """
        ident = parse_job_id(job_id)
        outcome = await state.db.execute(CANCEL_JOB, job_id=ident, user_id=request.user, now=utcnow())
        job = await get_own_job(state, ident, request.user)
        if outcome.rowcount == 0:
            raise ApiError(HTTP_409_CONFLICT, f"the job has already finished ({job.status})")
        await state.jobs.abort(ident)
        await job_files.delete(state.db.engine, ident)  # an upload or a partial export nothing will read
        return Envelope("success cancelling job", job)
