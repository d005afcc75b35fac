"""POST /books/import: upload a CSV or JSON-lines file of books; the worker imports it.

The body is the file itself (``Content-Type: text/csv`` or ``application/x-ndjson``,
also ``application/jsonl``), e.g. ``curl --data-binary @books.csv -H 'Content-Type:
text/csv'``. It is streamed into the database in chunks of 1 MiB as it arrives
(``shared.job_files``; never held whole, and no connection is held while the client is
slow), and refused with 413 past ``IMPORT_MAX_BYTES`` or ``IMPORT_MAX_ROWS`` lines (a
line is the unit here: a CSV cell with a line break counts twice). The job row is
written only once the file is whole; an upload that is refused or broken off leaves
no chunk behind. Rows are validated by the
worker, with the same rules as ``POST /books``; the answer is 202 with the job, whose
result ends with the counts and the line and reason of each rejected row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from litestar import Controller, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
)

from api.auth import SECURITY
from api.errors import ApiError
from api.routes.common import AUTH, UNAVAILABLE, accepted
from api.schemas import Envelope, ErrorBody, JobOut
from api.state import AppState, AuthedRequest
from shared import job_files
from shared.jobs import JobKind, new_job_id

FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
_ERRORS = {
    400: ResponseSpec(data_container=ErrorBody, description="the upload is empty"),
    413: ResponseSpec(data_container=ErrorBody, description="more bytes or rows than the import takes"),
    415: ResponseSpec(data_container=ErrorBody, description="not text/csv or application/x-ndjson"),
}


@dataclass
class UploadOperation(Operation):
    """The document's request body for the upload, which the handler streams itself (Litestar cannot see it)."""

    def __post_init__(self) -> None:
        # No type: the file's bytes are all there is to it (rows are checked by the worker), and
        # only an empty upload is refused here.
        text = OpenAPIMediaType(schema=Schema(min_length=1, description="the file, not empty"))
        self.request_body = RequestBody(content=dict.fromkeys(FORMATS, text), required=True)


async def _receive(request: AuthedRequest, state: AppState, job_id: str, max_lines: int) -> int:
    """Stream the body into the job's file; the number of lines. 413 (and no chunks) past either limit."""
    max_bytes = state.settings.import_max_bytes
    writer = job_files.ChunkWriter(state.db.engine, job_id)
    lines = 0
    try:
        async for chunk in request.stream():
            lines += chunk.count(b"\n")
            if writer.size + len(chunk) > max_bytes:
                raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the upload is larger than {max_bytes} bytes")
            if lines > max_lines:
                raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the upload has more than {max_lines} rows")
            await writer.write(chunk)
        if await writer.close() == 0:
            raise ApiError(HTTP_400_BAD_REQUEST, "the upload is empty")
    except BaseException:
        await _discard(state, job_id)
        raise
    return lines


async def _discard(state: AppState, job_id: str) -> None:
    """Delete what was stored of a failed upload, even while the request is being cancelled."""
    await asyncio.shield(job_files.delete(state.db.engine, job_id))


class BookImportController(Controller):
    path = "/books/import"
    tags = ["books", "jobs"]

    @post(
        security=SECURITY,
        status_code=202,
        request_max_body_size=None,  # the handler enforces IMPORT_MAX_BYTES while streaming
        responses={**_ERRORS, **AUTH, **UNAVAILABLE},
        operation_class=UploadOperation,
    )
    async def import_books(self, request: AuthedRequest, state: AppState) -> Response[Envelope[JobOut]]:
        """Import books from a CSV (header: title, author, genre, year) or JSON-lines upload."""
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        fmt = FORMATS.get(media_type)
        if fmt is None:
            raise ApiError(
                HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send text/csv or application/x-ndjson, not {media_type!r}"
            )
        job_id = new_job_id()
        header = 1 if fmt == "csv" else 0
        lines = await _receive(request, state, job_id, state.settings.import_max_rows + header)
        try:
            async with state.db.transaction() as tx:
                job = await state.jobs.request(
                    tx, JobKind.IMPORT_BOOKS, {"format": fmt, "lines": lines}, requested_by=request.user, job_id=job_id
                )
        except BaseException:
            await _discard(state, job_id)
            raise
        state.jobs.dispatch(job)
        return accepted("success importing books", job)
