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
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
)

from api.auth import SECURITY
from api.errors import ApiError, error_response
from api.quotas import QUOTA_EXCEEDED
from api.routes.common import AUTH, UNAVAILABLE, accepted
from api.schemas import Envelope, JobOut
from api.state import AppState, AuthedRequest
from shared.jobs import JobKind, new_job_id
from shared.settings import Settings

FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
EMPTY = "the upload is empty"


def too_many_bytes(limit: int) -> str:
    return f"the upload is larger than {limit} bytes"


def too_many_rows(limit: int) -> str:
    return f"the upload has more than {limit} rows"


def unsupported(media_type: str) -> str:
    return f"send text/csv or application/x-ndjson, not {media_type!r}"


# Examples with the default limits (IMPORT_MAX_BYTES, IMPORT_MAX_ROWS); a deployment may set others.
_DEFAULTS = Settings.model_fields
_ERRORS = {
    **error_response(400, "the upload is empty", EMPTY),
    **error_response(
        413,
        "more bytes or rows than the import takes (IMPORT_MAX_BYTES, IMPORT_MAX_ROWS)",
        too_many_bytes(_DEFAULTS["import_max_bytes"].default),
        too_many_rows(_DEFAULTS["import_max_rows"].default),
    ),
    **error_response(415, "the body is neither CSV nor JSON lines", unsupported("application/json")),
    429: QUOTA_EXCEEDED,
}


@dataclass
class UploadOperation(Operation):
    """The document's request body for the upload, which the handler streams itself (Litestar cannot see it)."""

    def __post_init__(self) -> None:
        # A file, so that a generated client takes one: its rows are checked by the worker, and
        # only an empty upload is refused here.
        file = OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, min_length=1, description="the file, not empty"
            )
        )
        # Only CSV is listed, though JSON lines (application/x-ndjson, application/jsonl) are taken
        # too and the description says so: openapi-python-client 0.29 generates a client that does
        # not import for a body with more than one media type (docs/api.md).
        self.request_body = RequestBody(
            content={"text/csv": file},
            required=True,
            description="CSV with the header `title,author,genre,year`. JSON lines are taken too: the same "
            "file with `Content-Type: application/x-ndjson` (or `application/jsonl`), one object per line.",
        )


async def _receive(request: AuthedRequest, state: AppState, target: anyio.Path, max_bytes: int, max_lines: int) -> None:
    """Stream the body to ``target``; 413 (and no file) past either limit."""
    size = lines = 0
    try:
        async with await anyio.open_file(target, "wb") as out:
            async for chunk in state.quotas.metered(request.user, request.stream()):
                size += len(chunk)
                lines += chunk.count(b"\n")
                if size > max_bytes:
                    raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, too_many_bytes(max_bytes))
                if lines > max_lines:
                    raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, too_many_rows(max_lines))
                await out.write(chunk)
    except BaseException:
        await target.unlink(missing_ok=True)
        raise
    if size == 0:
        await target.unlink(missing_ok=True)
        raise ApiError(HTTP_400_BAD_REQUEST, EMPTY)


class BookImportController(Controller):
    path = "/books/import"
    tags = ["books", "jobs"]

    @post(
        security=SECURITY,
        status_code=202,
        request_max_body_size=None,  # the handler enforces IMPORT_MAX_BYTES while streaming
        operation_id="importBooks",
        summary="Import books from a file",
        description="Upload a CSV (header `title,author,genre,year`) or JSON-lines file as the body itself. "
        "Answers 202 with the job (`Location` names it); follow it with getJob. Rows are validated by the "
        "worker with createBook's rules; the job's result counts them and lists rejected lines.",
        responses={**_ERRORS, **AUTH, **UNAVAILABLE},
        operation_class=UploadOperation,
    )
    async def import_books(self, request: AuthedRequest, state: AppState) -> Response[Envelope[JobOut]]:
        """Import books from a CSV (header: title, author, genre, year) or JSON-lines upload."""
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        fmt = FORMATS.get(media_type)
        if fmt is None:
            raise ApiError(HTTP_415_UNSUPPORTED_MEDIA_TYPE, unsupported(media_type))
        await state.quotas.admit_upload(state.db, request.user)
        settings = state.settings
        job_id = new_job_id()
        name = f"{job_id}.{fmt}"
        directory = anyio.Path(settings.import_dir)
        await directory.mkdir(parents=True, exist_ok=True)
        part, upload = directory / f".{name}.part", directory / name
        header = 1 if fmt == "csv" else 0
        await _receive(request, state, part, settings.import_max_bytes, settings.import_max_rows + header)
        await part.rename(upload)
        try:
            async with state.db.transaction() as tx:
                await state.quotas.hold(tx, request.user, JobKind.IMPORT_BOOKS)
                job = await state.jobs.request(
                    tx, JobKind.IMPORT_BOOKS, {"file": name, "format": fmt}, requested_by=request.user, job_id=job_id
                )
        except BaseException:
            await upload.unlink(missing_ok=True)
            raise
        state.jobs.dispatch(job)
        return accepted("success importing books", job)
