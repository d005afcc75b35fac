"""POST /books/import: upload a CSV or JSON-lines file of books; the worker imports it.

The body is the file itself (``Content-Type: text/csv`` or ``application/x-ndjson``,
also ``application/jsonl``), e.g. ``curl --data-binary @books.csv -H 'Content-Type:
text/csv'``. It is streamed to ``IMPORT_DIR`` chunk by chunk, never held in memory, and
refused with 413 past ``IMPORT_MAX_BYTES`` or ``IMPORT_MAX_ROWS`` lines (a line is the
unit here: a CSV cell with a line break counts twice). Rows are validated by the
worker, with the same rules as ``POST /books``; the answer is 202 with the job, whose
result ends with the counts and the line and reason of each rejected row.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
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


async def _receive(request: AuthedRequest, target: anyio.Path, max_bytes: int, max_lines: int) -> None:
    """Stream the body to ``target``; 413 (and no file) past either limit."""
    size = lines = 0
    try:
        async with await anyio.open_file(target, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                lines += chunk.count(b"\n")
                if size > max_bytes:
                    raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the upload is larger than {max_bytes} bytes")
                if lines > max_lines:
                    raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the upload has more than {max_lines} rows")
                await out.write(chunk)
    except BaseException:
        await target.unlink(missing_ok=True)
        raise
    if size == 0:
        await target.unlink(missing_ok=True)
        raise ApiError(HTTP_400_BAD_REQUEST, "the upload is empty")


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
        settings = state.settings
        job_id = new_job_id()
        name = f"{job_id}.{fmt}"
        directory = anyio.Path(settings.import_dir)
        await directory.mkdir(parents=True, exist_ok=True)
        part, upload = directory / f".{name}.part", directory / name
        header = 1 if fmt == "csv" else 0
        await _receive(request, part, settings.import_max_bytes, settings.import_max_rows + header)
        await part.rename(upload)
        try:
            async with state.db.transaction() as tx:
                job = await state.jobs.request(
                    tx, JobKind.IMPORT_BOOKS, {"file": name, "format": fmt}, requested_by=request.user, job_id=job_id
                )
        except BaseException:
            await upload.unlink(missing_ok=True)
            raise
        state.jobs.dispatch(job)
        return accepted("success importing books", job)
