"""POST /books/import: upload a CSV or JSON-lines file of books; the worker imports it.

The body is the file itself (``Content-Type: text/csv`` or ``application/x-ndjson``,
also ``application/jsonl``), e.g. ``curl --data-binary @books.csv -H 'Content-Type:
text/csv'``. ``application/octet-stream`` is what generated clients send for a file, so it
is taken too, and the file tells its format (``sniff``). It is streamed into the database in chunks of 1 MiB as it arrives
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
from api.state import AppState, AuthedRequest, app_state
from shared import job_files
from shared.jobs import JobKind, new_job_id
from shared.settings import Settings

FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
# A file of no declared format: what openapi-python-client (and most generated clients) send.
ANY_FILE = "application/octet-stream"
EMPTY = "the upload is empty"


def too_many_bytes(limit: int) -> str:
    return f"the upload is larger than {limit} bytes"


def too_many_rows(limit: int) -> str:
    return f"the upload has more than {limit} rows"


def unsupported(media_type: str) -> str:
    return f"send text/csv, application/x-ndjson or application/octet-stream, not {media_type!r}"


def sniff(head: bytes) -> str:
    """The format of a file sent as application/octet-stream, from its first bytes.

    A JSON-lines file starts with an object; a CSV starts with its header, which cannot
    begin with ``{``. A byte-order mark and blank space are skipped first.
    """
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def max_lines(settings: Settings, fmt: str) -> int:
    """The lines an upload may have: IMPORT_MAX_ROWS rows, and a CSV's header."""
    return settings.import_max_rows + (1 if fmt == "csv" else 0)


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
        # Only application/octet-stream is listed, though text/csv and the JSON-lines types are
        # taken too and the description says so: openapi-python-client 0.29 skips an operation
        # whose body names a text/* type, and a body with several media types breaks its client
        # (docs/api.md).
        self.request_body = RequestBody(
            content={ANY_FILE: file},
            required=True,
            description="The file: CSV with the header `title,author,genre,year`, or JSON lines, one object per "
            "line. Sent as `application/octet-stream`, its format is read from its first byte (`{` is JSON "
            "lines); say it with `Content-Type: text/csv` or `application/x-ndjson` (also `application/jsonl`).",
        )


async def _receive(request: AuthedRequest, state: AppState, job_id: str, fmt: str | None) -> tuple[int, str]:
    """Stream the body into the job's file: (its lines, its format, sniffed when ``fmt`` is None).

    413 (and no chunks) past either limit.
    """
    max_bytes = state.settings.import_max_bytes
    writer = job_files.ChunkWriter(state.db.engine, job_id)
    lines = 0
    try:
        async for chunk in state.quotas.metered(request.user, request.stream()):
            if fmt is None and chunk.strip():
                fmt = sniff(chunk)
            lines += chunk.count(b"\n")
            if writer.size + len(chunk) > max_bytes:
                raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, too_many_bytes(max_bytes))
            if lines > max_lines(state.settings, fmt or "csv"):
                raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, too_many_rows(state.settings.import_max_rows))
            await writer.write(chunk)
        if await writer.close() == 0:
            raise ApiError(HTTP_400_BAD_REQUEST, EMPTY)
    except BaseException:
        await _discard(state, job_id)
        raise
    return lines, fmt or "csv"


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
        operation_id="importBooks",
        summary="Import books from a file",
        description="Upload a CSV (header `title,author,genre,year`) or JSON-lines file as the body itself. "
        "Answers 202 with the job (`Location` names it); follow it with getJob. Rows are validated by the "
        "worker with createBook's rules; the job's result counts them and lists rejected lines.",
        responses={**_ERRORS, **AUTH, **UNAVAILABLE},
        operation_class=UploadOperation,
    )
    async def import_books(self, request: AuthedRequest) -> Response[Envelope[JobOut]]:
        """Import books from a CSV (header: title, author, genre, year) or JSON-lines upload."""
        state = app_state(request)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        fmt = FORMATS.get(media_type)
        if fmt is None and media_type != ANY_FILE:
            raise ApiError(HTTP_415_UNSUPPORTED_MEDIA_TYPE, unsupported(media_type))
        await state.quotas.admit_upload(state.db, request.user)
        job_id = new_job_id()
        lines, fmt = await _receive(request, state, job_id, fmt)
        try:
            async with state.db.transaction() as tx:
                await state.quotas.hold(tx, request.user, JobKind.IMPORT_BOOKS)
                job = await state.jobs.request(
                    tx, JobKind.IMPORT_BOOKS, {"format": fmt, "lines": lines}, requested_by=request.user, job_id=job_id
                )
        except BaseException:
            await _discard(state, job_id)
            raise
        state.jobs.dispatch(job)
        return accepted("success importing books", job)
