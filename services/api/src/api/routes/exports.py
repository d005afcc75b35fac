"""/exports: a CSV of every book or blog, written by the worker, downloaded by the requester.

``POST /exports {"resource": "books" | "blogs"}`` answers 202 with the job; once it has
succeeded, ``GET /exports/{job_id}/download`` streams the file (from ``EXPORT_DIR``, a
volume shared with the worker). Another user's export is a 404, one that has not
succeeded a 409, and one the cleanup already removed a 410.
"""

from __future__ import annotations

from typing import Literal

import anyio
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import File
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_410_GONE
from msgspec import Struct

from api.auth import SECURITY
from api.errors import ApiError, not_found
from api.routes.common import AUTH, BAD_ID, NOT_FOUND, UNAVAILABLE, JobId, accepted, get_own_job
from api.schemas import Envelope, ErrorBody, JobOut
from api.state import AppState, AuthedRequest
from shared.jobs import JobKind, JobStatus


class ExportRequest(Struct, forbid_unknown_fields=True):
    resource: Literal["books", "blogs"]


_DOWNLOAD_ERRORS = {
    409: ResponseSpec(data_container=ErrorBody, description="the export has not succeeded (yet)"),
    410: ResponseSpec(data_container=ErrorBody, description="the file has been cleaned up"),
}


class ExportController(Controller):
    path = "/exports"
    tags = ["exports", "jobs"]

    @post(security=SECURITY, status_code=202, responses={**BAD_ID, **AUTH, **UNAVAILABLE})
    async def create_export(
        self, request: AuthedRequest, state: AppState, data: JSONBody[ExportRequest]
    ) -> Response[Envelope[JobOut]]:
        """Export every live book or blog as CSV; follow the job, then download the file."""
        async with state.db.transaction() as tx:
            job = await state.jobs.request(tx, JobKind.EXPORT, {"resource": data.resource}, requested_by=request.user)
        state.jobs.dispatch(job)
        return accepted("success exporting " + data.resource, job)

    @get(
        "/{job_id:str}/download",
        security=SECURITY,
        media_type="text/csv",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **_DOWNLOAD_ERRORS, **UNAVAILABLE},
    )
    async def download_export(self, request: AuthedRequest, state: AppState, job_id: JobId) -> File:
        """The export's CSV file, once its job has succeeded."""
        job = await get_own_job(state, job_id, request.user)
        if job.kind != JobKind.EXPORT:
            raise not_found()
        if job.status != JobStatus.SUCCEEDED:
            raise ApiError(HTTP_409_CONFLICT, f"the export is {job.status}, not ready to download")
        path = anyio.Path(state.settings.export_dir) / f"{job.id}.csv"
        if not await path.exists():
            raise ApiError(HTTP_410_GONE, "the export's file has been cleaned up; export again")
        name = f"{job.params['resource']}-{job.created_at:%Y%m%dT%H%M%SZ}.csv"
        return File(path=str(path), filename=name, media_type="text/csv")
