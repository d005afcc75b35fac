"""/jobs: a client follows and cancels the background jobs it asked for.

A job is visible only to the user who asked for it: anyone else gets the same 404 as
for an id that does not exist, so ids cannot be probed. Endpoints that start work
answer ``202 Accepted`` with the job in ``data`` and ``Location: /jobs/{id}``
(:func:`accepted`), and the client polls that URL.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy import BindParameter, and_, bindparam, func, or_, select

from api.auth import SECURITY
from api.errors import ApiError
from api.routes.common import (
    AUTH,
    BAD_ID,
    BAD_QUERY,
    JOB_COLUMNS,
    MINE,
    NOT_FOUND,
    UNAVAILABLE,
    Cursor,
    JobId,
    Limit,
    Offset,
    encode_cursor,
    get_own_job,
    job_out,
    paging,
    parse_job_id,
)
from api.schemas import Envelope, ErrorBody, JobOut, Page, PageMeta
from api.state import AppState, AuthedRequest
from shared import job_records
from shared.db import Query
from shared.jobs import JobKind, JobStatus
from shared.models import Job

NOT_CANCELLABLE = {409: ResponseSpec(data_container=ErrorBody, description="the job has already finished")}


@lru_cache(maxsize=16)
def _list_queries(by_status: bool, by_kind: bool, keyset: bool) -> tuple[Query, Query]:
    """A page of jobs, newest first, by offset or after a cursor's ``(created_at, id)``; and their count."""
    conditions = [MINE]
    if by_status:
        conditions.append(Job.status == bindparam("status"))
    if by_kind:
        conditions.append(Job.kind == bindparam("kind"))
    rows = select(*JOB_COLUMNS).where(*conditions).order_by(Job.created_at.desc(), Job.id.desc())
    if keyset:
        after_at: BindParameter[datetime] = bindparam("after_at")
        rows = rows.where(
            or_(Job.created_at < after_at, and_(Job.created_at == after_at, Job.id < bindparam("after_id")))
        )
    else:
        rows = rows.offset(bindparam("offset"))
    return Query(rows.limit(bindparam("limit"))), Query(select(func.count()).select_from(Job).where(*conditions))


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
        cursor: Cursor = None,
        status: Annotated[JobStatus | None, Parameter(description="only jobs in this state")] = None,
        kind: Annotated[JobKind | None, Parameter(description="only jobs of this kind")] = None,
    ) -> Page[JobOut]:
        """Your jobs, newest first."""
        after = paging(offset, cursor, datetime, str)
        rows_query, count_query = _list_queries(status is not None, kind is not None, after is not None)
        filters: dict[str, Any] = {k: v.value for k, v in (("status", status), ("kind", kind)) if v is not None}
        position = {"offset": offset} if after is None else {"after_at": after[0], "after_id": after[1]}
        async with state.db.transaction() as tx:
            rows = await tx.fetch_all(rows_query, user_id=request.user, limit=limit + 1, **position, **filters)
            total = await tx.fetch_one(count_query, user_id=request.user, **filters)
        shown = rows[:limit]
        next_cursor = encode_cursor(shown[-1][9], shown[-1][0]) if len(rows) > limit else None
        meta = PageMeta(total[0] if total else 0, limit, offset, next_cursor)
        return Page("success getting jobs", [job_out(r) for r in shown], meta)

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
        cancelled = await job_records.cancel(state.db, ident, request.user)
        job = await get_own_job(state, ident, request.user)
        if not cancelled:
            raise ApiError(HTTP_409_CONFLICT, f"the job has already finished ({job.status})")
        await state.jobs.abort(ident)
        return Envelope("success cancelling job", job)
