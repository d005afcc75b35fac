"""/jobs: a client follows, cancels and retries the background jobs it asked for.

A job is visible only to the user who asked for it and to operators (``users.operator``,
set by ``python -m shared.admin``): anyone else gets the same 404 as for an id that does
not exist, so ids cannot be probed. Operators also list every user's jobs
(``?all=true``). Endpoints that start work answer ``202 Accepted`` with the job in
``data`` and ``Location: /jobs/{id}`` (:func:`accepted`), and the client polls that URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_403_FORBIDDEN, HTTP_409_CONFLICT
from msgspec import Struct
from sqlalchemy import bindparam, func, select, true

from api.auth import SECURITY
from api.errors import ApiError, not_found
from api.routes._common import AUTH, BAD_ID, BAD_QUERY, NOT_FOUND, UNAVAILABLE, Limit, Offset
from api.schemas import Envelope, ErrorBody, Page, PageMeta, utc
from api.state import AppState, AuthedRequest
from shared.db import Query
from shared.jobs import KINDS, JobStatus, NewJob, RetryRefused, decode_json
from shared.models import Job

StatusFilter = Literal["queued", "running", "succeeded", "failed", "cancelled"]
KindFilter = Literal["compute_blog_stats", "welcome_email", "import_books", "export", "cleanup"]
assert set(KindFilter.__args__) == set(KINDS)  # type: ignore[attr-defined]

NOT_CANCELLABLE = {409: ResponseSpec(data_container=ErrorBody, description="the job has already finished")}
NOT_RETRYABLE = {
    409: ResponseSpec(
        data_container=ErrorBody, description="the job is not failed or cancelled, or was retried already"
    )
}
OPERATORS_ONLY = {403: ResponseSpec(data_container=ErrorBody, description="all=true is for operators")}
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
    retry_of: str | None  # the job this one runs again (POST /jobs/{id}/retry)


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
    Job.retry_of,
)
_MINE = Job.requested_by == bindparam("user_id")

GET_JOB = Query(select(*_COLUMNS).where(Job.id == bindparam("job_id"), _MINE))
GET_ANY_JOB = Query(select(*_COLUMNS).where(Job.id == bindparam("job_id")))


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
        row[12],
    )


def new_job_out(job: NewJob) -> JobOut:
    return JobOut(
        job.id,
        job.kind,
        JobStatus.QUEUED.value,
        job.params,
        0,
        0,
        None,
        None,
        None,
        utc(job.created_at),
        None,
        None,
        job.retry_of,
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


async def get_visible_job(state: AppState, job_id: str, user_id: int) -> JobOut:
    """The job if ``user_id`` asked for it or is an operator, else 404."""
    if await state.live_users.is_operator(state.db, user_id):
        row = await state.db.fetch_one(GET_ANY_JOB, job_id=parse_job_id(job_id))
        if row is None:
            raise not_found()
        return job_out(row)
    return await get_own_job(state, job_id, user_id)


@lru_cache(maxsize=16)
def list_query(everyone: bool, by_status: bool, by_kind: bool) -> Query:
    """A page of jobs and their total in one statement, newest first.

    ``SELECT total.n, page.* FROM (count) total LEFT JOIN (page) ON true``: the console
    polls this every two seconds per open page, so one round trip, both halves read
    from an index (``ix_jobs_requester`` for one user; ``ix_jobs_created`` and
    ``ix_jobs_status_dispatched`` for an operator's every-user list), and the total
    still arrives for a page past the end.
    """
    conditions = [] if everyone else [_MINE]
    if by_status:
        conditions.append(Job.status == bindparam("status"))
    if by_kind:
        conditions.append(Job.kind == bindparam("kind"))
    total = select(func.count().label("n")).select_from(Job).where(*conditions).subquery("total")
    rows = (
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    return Query(
        select(*rows.c, total.c.n)
        .select_from(total)
        .outerjoin(rows, true())
        .order_by(rows.c.created_at.desc(), rows.c.id.desc())
    )


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @get(security=SECURITY, responses={**BAD_QUERY, **AUTH, **OPERATORS_ONLY, **UNAVAILABLE})
    async def list_jobs(
        self,
        request: AuthedRequest,
        state: AppState,
        limit: Limit = 20,
        offset: Offset = 0,
        status: Annotated[StatusFilter | None, Parameter(description="only jobs in this state")] = None,
        kind: Annotated[KindFilter | None, Parameter(description="only jobs of this kind")] = None,
        everyone: Annotated[bool, QueryParameter(name="all", description="every user's jobs (operators only)")] = False,
    ) -> Page[JobOut]:
        """Your jobs (an operator's ``all=true``: everyone's), newest first."""
        if everyone and not await state.live_users.is_operator(state.db, request.user):
            raise ApiError(HTTP_403_FORBIDDEN, "only operators may list every user's jobs")
        query = list_query(everyone, status is not None, kind is not None)
        filters = {k: v for k, v in (("status", status), ("kind", kind)) if v is not None}
        owner = {} if everyone else {"user_id": request.user}
        rows = await state.db.fetch_all(query, limit=limit, offset=offset, **owner, **filters)
        total = rows[0][-1] if rows else 0
        return Page(
            "success getting jobs", [job_out(r) for r in rows if r[0] is not None], PageMeta(total, limit, offset)
        )

    @get("/{job_id:str}", security=SECURITY, responses={**BAD_ID, **AUTH, **NOT_FOUND, **UNAVAILABLE})
    async def get_job(self, request: AuthedRequest, state: AppState, job_id: JobId) -> Envelope[JobOut]:
        """One of your jobs (an operator: any job): its state, progress, and its result or error."""
        return Envelope("success getting job", await get_visible_job(state, job_id, request.user))

    @post(
        "/{job_id:str}/cancel",
        status_code=200,
        security=SECURITY,
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **NOT_CANCELLABLE, **UNAVAILABLE},
    )
    async def cancel_job(self, request: AuthedRequest, state: AppState, job_id: JobId) -> Envelope[JobOut]:
        """Cancel a queued or running job: a queued one never starts, a running one is aborted."""
        ident = parse_job_id(job_id)
        operator = await state.live_users.is_operator(state.db, request.user)
        cancelled = await state.jobs.cancel(ident, None if operator else request.user)
        job = await get_visible_job(state, ident, request.user)
        if not cancelled:
            raise ApiError(HTTP_409_CONFLICT, f"the job has already finished ({job.status})")
        return Envelope("success cancelling job", job)

    @post(
        "/{job_id:str}/retry",
        status_code=202,
        security=SECURITY,
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **NOT_RETRYABLE, **UNAVAILABLE},
    )
    async def retry_job(self, request: AuthedRequest, state: AppState, job_id: JobId) -> Response[Envelope[JobOut]]:
        """Run a failed or cancelled job again, as a new job whose ``retry_of`` names this one.

        The earlier job keeps its error and attempts; a job is retried once (retry the
        new one to go again), so two retries sent at once start one run.
        """
        ident = (await get_visible_job(state, job_id, request.user)).id
        try:
            job = await state.jobs.retry(ident)
        except LookupError:
            raise not_found() from None
        except RetryRefused as exc:
            raise ApiError(HTTP_409_CONFLICT, str(exc)) from None
        state.jobs.dispatch(job)
        return accepted("success retrying job", job)
