"""/exports: a CSV of every book or blog, written by the worker, downloaded by the requester.

``POST /exports {"resource": "books" | "blogs"}`` answers 202 with the job; once it has
succeeded, ``GET /exports/{job_id}/download`` streams the file from the database
(``shared.job_files``), chunk by chunk with the next read ahead, each read on a pooled
connection given back before the chunk is sent, so a slow download holds none.
Another user's export is a 404, one that has not succeeded a 409, and one whose file
has been removed a 410. The file is ``text/csv``, or the same bytes labelled
``application/octet-stream`` for a client whose ``Accept`` prefers that (what generated
clients decode as a file).
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Literal

from litestar import Controller, Response, get, post
from litestar.params import JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_410_GONE
from msgspec import Struct

from api.auth import SECURITY
from api.errors import ApiError, error_response, not_found
from api.quotas import QUOTA_EXCEEDED
from api.routes.common import (
    AUTH,
    BAD_BODY,
    BAD_ID,
    NOT_FOUND,
    TOO_LARGE,
    UNAVAILABLE,
    JobId,
    accepted,
    get_own_job,
)
from api.schemas import Envelope, JobOut
from api.state import AuthedRequest, app_state
from shared import job_files
from shared.jobs import JobKind, JobStatus


class ExportRequest(Struct, forbid_unknown_fields=True):
    resource: Literal["books", "blogs"]


GONE = "the export's file has been cleaned up; export again"
# The first is the default, for an Accept that names neither (or none).
DOWNLOAD_TYPES = ["text/csv", "application/octet-stream"]


def not_ready(status: str) -> str:
    return f"the export is {status}, not ready to download"


_DOWNLOAD_ERRORS = {
    **error_response(
        409,
        "the export has not succeeded (yet)",
        *(not_ready(s) for s in JobStatus if s != JobStatus.SUCCEEDED),
    ),
    **error_response(410, "the file has been cleaned up (after JOB_RETENTION_DAYS)", GONE),
}


class ExportController(Controller):
    path = "/exports"
    tags = ["exports", "jobs"]

    @post(
        security=SECURITY,
        status_code=202,
        operation_id="createExport",
        summary="Export books or blogs as CSV",
        description="Starts a job that writes every live book or blog to a CSV file. Answers 202 with the job "
        "(`Location` names it); once getJob says `succeeded`, fetch the file with downloadExport.",
        responses={**BAD_BODY, **AUTH, **TOO_LARGE, 429: QUOTA_EXCEEDED, **UNAVAILABLE},
    )
    async def create_export(self, request: AuthedRequest, data: JSONBody[ExportRequest]) -> Response[Envelope[JobOut]]:
        """Export every live book or blog as CSV; follow the job, then download the file.

        The same export asked again while one is under way, or soon after one succeeded, is
        answered with that job (``EXPORT_REUSE_SECONDS``).
        """
        state = app_state(request)
        params = {"resource": data.resource}
        async with state.db.transaction() as tx:
            same = await state.quotas.same_export(tx, request.user, params)
            if same is None:
                job = await state.jobs.request(tx, JobKind.EXPORT, params, requested_by=request.user)
        if same is not None:  # answered with the export already made or under way
            found = await get_own_job(state, same, request.user)
            return Response(
                Envelope("success exporting " + data.resource, found),
                status_code=202,
                headers={"Location": f"/jobs/{same}"},
            )
        state.jobs.dispatch(job)
        return accepted("success exporting " + data.resource, job)

    @get(
        "/{job_id:str}/download",
        security=SECURITY,
        media_type="text/csv",  # Litestar adds "; charset=utf-8"
        operation_id="downloadExport",
        summary="Download an export's file",
        description="The CSV file of one of your exports whose job has succeeded, as an attachment.",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **_DOWNLOAD_ERRORS, **UNAVAILABLE},
    )
    async def download_export(self, request: AuthedRequest, job_id: JobId) -> Stream:
        """The export's CSV file, once its job has succeeded."""
        state = app_state(request)
        job = await get_own_job(state, job_id, request.user)
        if job.kind != JobKind.EXPORT:
            raise not_found()
        if job.status != JobStatus.SUCCEEDED:
            raise ApiError(HTTP_409_CONFLICT, not_ready(job.status))
        size = await job_files.size(state.db.engine, job.id)
        if size is None:
            raise ApiError(HTTP_410_GONE, GONE)
        name = f"{job.params['resource']}-{job.created_at:%Y%m%dT%H%M%SZ}.csv"
        headers = {
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{name}"',
            # A job's file is written once, when it succeeds: its id names this content.
            "Last-Modified": format_datetime(job.finished_at or job.created_at, usegmt=True),
            "ETag": f'"{job.id}"',
        }
        media_type = request.accept.best_match(DOWNLOAD_TYPES, default=DOWNLOAD_TYPES[0])
        if media_type != DOWNLOAD_TYPES[0]:
            headers["Content-Type"] = media_type  # the route's text/csv would win over the Stream's own
        return Stream(job_files.chunks(state.db.engine, job.id), headers=headers)
