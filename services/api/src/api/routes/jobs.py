"""/jobs: a client follows, cancels and retries the background jobs it asked for.

A job is visible only to the user who asked for it and to operators (``users.operator``,
set by ``python -m shared.admin``): anyone else gets the same 404 as for an id that does
not exist, so ids cannot be probed. Operators also list every user's jobs
(``?all=true``). Endpoints that start work answer ``202 Accepted`` with the job in
``data`` and ``Location: /jobs/{id}`` (:func:`accepted`), and the client polls that URL.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_403_FORBIDDEN, HTTP_409_CONFLICT
from sqlalchemy import BindParameter, and_, bindparam, func, or_, select, true

from api.auth import SECURITY
from api.errors import INVALID_QUERY, ApiError, error_response, not_found
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
    accepted,
    encode_cursor,
    get_visible_job,
    job_out,
    paging,
    parse_job_id,
)
from api.schemas import Envelope, FieldError, JobOut, Page, PageMeta
from api.state import AuthedRequest, app_state
from shared import job_files
from shared.db import Query
from shared.job_queue import IMPORT_NOT_RETRYABLE
from shared.jobs import FINISHED, JobKind, JobStatus, RetryRefused
from shared.models import Job

ONLY_OPERATORS = "only operators may list every user's jobs"


def already_finished(status: str) -> str:
    return f"the job has already finished ({status})"


def not_retryable(status: str) -> str:
    return f"only a failed or cancelled job can be retried; this one is {status}"


NOT_CANCELLABLE = error_response(409, "the job has already finished", *(already_finished(s) for s in FINISHED))
NOT_RETRYABLE = error_response(
    409,
    "the job is not failed or cancelled, or was retried already",
    not_retryable(JobStatus.SUCCEEDED),
    "the job has already been retried",
    IMPORT_NOT_RETRYABLE,
)
OPERATORS_ONLY = error_response(403, "all=true is for operators", ONLY_OPERATORS)


def refuse_null_filters(request: AuthedRequest, *names: str) -> None:
    """A filter is one of its values or absent: ``status=null`` is a 400, like ``status=nul``.

    Litestar converts query values leniently, so ``null`` would otherwise mean "no filter",
    which the document (and so a generated client) cannot say without making every filter
    nullable.
    """
    errors = [FieldError(n, "null is not one of its values") for n in names if request.query_params.get(n) == "null"]
    if errors:
        raise ApiError(HTTP_400_BAD_REQUEST, INVALID_QUERY, errors)


@lru_cache(maxsize=32)
def list_query(everyone: bool, by_status: bool, by_kind: bool, keyset: bool) -> Query:
    """A page of jobs and their total in one statement, newest first, by offset or after a
    cursor's ``(created_at, id)``.

    ``SELECT page.*, total.n FROM (count) total LEFT JOIN (page) ON true``: the console
    polls this every two seconds per open page, so one round trip, both halves read
    from an index (``ix_jobs_requester`` for one user; ``ix_jobs_created`` and
    ``ix_jobs_status_dispatched`` for an operator's every-user list), and the total
    still arrives for a page past the end.
    """
    conditions = [] if everyone else [MINE]
    if by_status:
        conditions.append(Job.status == bindparam("status"))
    if by_kind:
        conditions.append(Job.kind == bindparam("kind"))
    total = select(func.count().label("n")).select_from(Job).where(*conditions).subquery("total")
    rows = select(*JOB_COLUMNS).where(*conditions).order_by(Job.created_at.desc(), Job.id.desc())
    if keyset:
        after_at: BindParameter[datetime] = bindparam("after_at")
        rows = rows.where(
            or_(Job.created_at < after_at, and_(Job.created_at == after_at, Job.id < bindparam("after_id")))
        )
    else:
        rows = rows.offset(bindparam("offset"))
    page = rows.limit(bindparam("limit")).subquery("page")
    return Query(
        select(*page.c, total.c.n)
        .select_from(total)
        .outerjoin(page, true())
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @get(
        security=SECURITY,
        operation_id="listJobs",
        summary="List your jobs",
        description="The jobs you asked for, newest first, optionally only those in one status or of one kind. "
        "An operator's `all=true` lists every user's jobs.",
        responses={**BAD_QUERY, **AUTH, **OPERATORS_ONLY, **UNAVAILABLE},
    )
    async def list_jobs(
        self,
        request: AuthedRequest,
        limit: Limit = 20,
        offset: Offset = 0,
        cursor: Cursor = None,
        status: Annotated[JobStatus | None, Parameter(description="only jobs in this state")] = None,
        kind: Annotated[JobKind | None, Parameter(description="only jobs of this kind")] = None,
        everyone: Annotated[bool, QueryParameter(name="all", description="every user's jobs (operators only)")] = False,
    ) -> Page[JobOut]:
        """Your jobs (an operator's ``all=true``: everyone's), newest first."""
        state = app_state(request)
        refuse_null_filters(request, "status", "kind")
        if everyone and not await state.live_users.is_operator(state.db, request.user):
            raise ApiError(HTTP_403_FORBIDDEN, ONLY_OPERATORS)
        after = paging(offset, cursor, datetime, str)
        query = list_query(everyone, status is not None, kind is not None, after is not None)
        filters: dict[str, Any] = {k: v.value for k, v in (("status", status), ("kind", kind)) if v is not None}
        position = {"offset": offset} if after is None else {"after_at": after[0], "after_id": after[1]}
        owner = {} if everyone else {"user_id": request.user}
        rows = await state.db.fetch_all(query, limit=limit + 1, **position, **owner, **filters)
        total = rows[0][-1] if rows else 0
        listed = [r for r in rows if r[0] is not None]
        shown = listed[:limit]
        next_cursor = encode_cursor(shown[-1][9], shown[-1][0]) if len(listed) > limit else None
        return Page("success getting jobs", [job_out(r) for r in shown], PageMeta(total, limit, offset, next_cursor))

    @get(
        "/{job_id:str}",
        security=SECURITY,
        operation_id="getJob",
        summary="Get one of your jobs",
        description="Its status, progress, and once finished its result (shaped by its kind) or error. "
        "Another user's job is a 404, like one that does not exist.",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **UNAVAILABLE},
    )
    async def get_job(self, request: AuthedRequest, job_id: JobId) -> Envelope[JobOut]:
        """One of your jobs (an operator: any job): its state, progress, and its result or error."""
        state = app_state(request)
        return Envelope("success getting job", await get_visible_job(state, job_id, request.user))

    @post(
        "/{job_id:str}/cancel",
        status_code=200,
        security=SECURITY,
        operation_id="cancelJob",
        summary="Cancel one of your jobs",
        description="A queued job never starts; a running one is aborted between batches. A finished one is a 409.",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **NOT_CANCELLABLE, **UNAVAILABLE},
    )
    async def cancel_job(self, request: AuthedRequest, job_id: JobId) -> Envelope[JobOut]:
        """Cancel a queued or running job: a queued one never starts, a running one is aborted."""
        state = app_state(request)
        ident = parse_job_id(job_id)
        operator = await state.live_users.is_operator(state.db, request.user)
        cancelled = await state.jobs.cancel(ident, None if operator else request.user)
        job = await get_visible_job(state, ident, request.user)
        if not cancelled:
            raise ApiError(HTTP_409_CONFLICT, already_finished(job.status))
        await job_files.discard(state.db.engine, ident)  # an upload or a partial export nothing will read
        return Envelope("success cancelling job", job)

    @post(
        "/{job_id:str}/retry",
        status_code=202,
        security=SECURITY,
        operation_id="retryJob",
        summary="Run a failed or cancelled job again",
        description="Starts a new job with the same kind and parameters, whose `retry_of` names this one; "
        "this one keeps its error and attempts. A job is retried once (retry the new one to go again). "
        "Answers 202 with the new job (`Location` names it); any other status is a 409.",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **NOT_RETRYABLE, **UNAVAILABLE},
    )
    async def retry_job(self, request: AuthedRequest, job_id: JobId) -> Response[Envelope[JobOut]]:
        """Run a failed or cancelled job again, as a new job whose ``retry_of`` names this one.

        The earlier job keeps its error and attempts; a job is retried once (retry the
        new one to go again), so two retries sent at once start one run.
        """
        state = app_state(request)
        ident = (await get_visible_job(state, job_id, request.user)).id
        try:
            job = await state.jobs.retry(ident)
        except LookupError:
            raise not_found() from None
        except RetryRefused as exc:
            raise ApiError(HTTP_409_CONFLICT, str(exc)) from None
        state.jobs.dispatch(job)
        return accepted("success retrying job", job)
