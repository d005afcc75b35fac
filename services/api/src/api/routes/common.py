"""What every resource controller shares: paging, documented error responses, row mapping."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final, TypeVar

import msgspec
from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_400_BAD_REQUEST
from sqlalchemy import BigInteger, bindparam, cast, func, insert, select, true, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import BindParameter

from api.auth import INVALID_JWT, MISSING_JWT
from api.body import MAX_BODY_BYTES
from api.errors import (
    DB_UNAVAILABLE,
    INVALID_BODY,
    INVALID_ID,
    INVALID_QUERY,
    ApiError,
    body_too_large,
    error_response,
    forbidden,
    not_found,
)
from api.errors import NOT_FOUND as NOT_FOUND_MESSAGE
from api.schemas import Envelope, ErrorBody, FieldError, JobOut, Page, PageMeta, utc
from api.state import AppState
from shared.db import Database, Query
from shared.jobs import JobKind, JobStatus, NewJob, decode_json
from shared.models import MAX_ID, Blog, Book, Job, RowCount, User, utcnow

Model = type[User] | type[Book] | type[Blog]
T = TypeVar("T")

MAX_LIMIT: Final = 100
MAX_OFFSET: Final = 1_000_000_000

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size (1-100)")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="rows to skip")]
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        description=(
            "where the page starts: meta.next_cursor of the previous page, with the same limit "
            "(not with offset); a page at any depth costs what the first does"
        ),
    ),
]
# A path id arrives as text so that a malformed one is the original's 400 "provided id was
# invalid" (api.errors.parse_id), not a routing 404; the document says what a valid one is.
PathId = Annotated[
    str,
    Parameter(
        description="the record's id",
        schema_extra={"type": OpenAPIType.INTEGER, "minimum": 1, "maximum": MAX_ID},
    ),
]


def parse_id(raw: str) -> int:
    """A path id: ASCII digits only, 1 to 2**63-1; anything else is the original's 400.

    ``isascii`` matters: ``str.isdigit`` also accepts "²" (which ``int`` then refuses) and
    other scripts' digits (Arabic-Indic, Devanagari...), which no client means as an id.
    """
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 0 < (value := int(raw)) <= MAX_ID:
        raise ApiError(HTTP_400_BAD_REQUEST, INVALID_ID)
    return value


def parse_job_id(raw: str) -> str:
    """A job id is a UUID in its canonical form; anything else cannot name a job."""
    try:
        if len(raw) == 36:
            return str(uuid.UUID(raw))
    except ValueError:
        pass
    raise ApiError(HTTP_400_BAD_REQUEST, INVALID_ID)


# Parsed by parse_job_id (a malformed one is a 400); the document says what a valid one is.
JobId = Annotated[str, Parameter(description="the job's id", schema_extra={"format": "uuid"})]


_FIELD_ERRORS = ErrorBody(INVALID_BODY, [FieldError("year", "Expected `int`, got `str`")])
_QUERY_ERRORS = ErrorBody(INVALID_QUERY, [FieldError("limit", "Expected `int` <= 100")])

BAD_ID = error_response(400, "the id in the path is not a positive 64-bit integer", INVALID_ID)
BAD_BODY = error_response(400, "the body is not valid JSON or breaks a field's rules", _FIELD_ERRORS)
BAD_ID_OR_BODY = error_response(400, "a malformed id, or an invalid body", INVALID_ID, _FIELD_ERRORS)
BAD_QUERY = error_response(
    400, "limit is not 1-100, offset not 0-1000000000, or the cursor is not one of this list's", _QUERY_ERRORS
)
TOO_LARGE = error_response(413, f"the body is larger than {MAX_BODY_BYTES} bytes", body_too_large(MAX_BODY_BYTES))
AUTH = error_response(401, "no usable bearer token, or its user is gone", MISSING_JWT, INVALID_JWT)
NOT_FOUND = error_response(404, "no live record with this id", NOT_FOUND_MESSAGE)
UNAVAILABLE = error_response(503, "the database does not answer; retry after Retry-After seconds", DB_UNAVAILABLE)


def forbidden_response(what: str) -> dict[int, ResponseSpec]:
    return error_response(403, "the record belongs to another user", forbidden(what).detail)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address as the server saw it: the TCP peer, or what a trusted proxy said
    it was (``TRUSTED_PROXIES``, applied by the server before the app sees the request)."""
    return request.client.host if request.client else "unknown"


def update_by_id(model: Model, fields: Iterable[str]) -> Query:
    """``UPDATE model SET f = :new_f ... WHERE id = :id``, for a PUT that sends only some fields."""
    return _update_query(model, frozenset(fields))


@lru_cache(maxsize=256)  # one compiled statement per set of fields a client has sent
def _update_query(model: Model, fields: frozenset[str]) -> Query:
    values: dict[str, Any] = {f: bindparam("new_" + f) for f in sorted(fields)}
    return Query(update(model).where(model.id == bindparam("row_id")).values(values))


def updated_values(sent: dict[str, object]) -> dict[str, object]:
    """The bind values for :func:`update_by_id`, with the ``updated_at`` every PUT sets."""
    return {"new_" + k: v for k, v in {**sent, "updated_at": utcnow()}.items()}


def page_query(model: Model, columns: Sequence[InstrumentedAttribute[Any]], *, keyset: bool = False) -> Query:
    """A page of live rows and their total in one statement, for every list endpoint.

    ``SELECT cols, total FROM (sum of row_counts) LEFT JOIN (page of ids) LEFT JOIN model``:

    * the total is the sum of the trigger-kept ``row_counts`` slots, a primary-key range
      of a few rows instead of counting the table on every request, and exact under
      concurrent writes because one statement reads one consistent snapshot;
    * the page is found on the ``(deleted_at, id)`` index alone (a "deferred join"), so
      skipping ``offset`` rows walks index entries, not whole rows; only the rows on the
      page are read in full. With ``keyset`` the page starts after the id ``after``
      instead: a seek into that index, whose cost does not grow with the depth;
    * the outer ``LEFT JOIN`` still returns the total, with NULL columns, for a page past
      the end.
    """
    ids = select(model.id.label("page_id")).where(model.deleted_at.is_(None)).order_by(model.id)
    if keyset:
        # A seek on the primary key: left to itself, MariaDB reads the deleted_at index from
        # its start and filters the ids, which costs as much as the offset it replaces.
        ids = ids.where(model.id > bindparam("after")).with_hint(model, "FORCE INDEX (PRIMARY)", "mysql")
    else:
        ids = ids.offset(bindparam("offset"))
    page_ids = ids.limit(bindparam("limit")).subquery("page")
    # One row, always: SUM over no rows is still a row. BIGINT, not MySQL's DECIMAL sum.
    total = (
        select(cast(func.sum(RowCount.n), BigInteger).label("total"))
        .where(RowCount.name == model.__tablename__)
        .subquery("total")
    )
    return Query(
        select(*columns, total.c.total)
        .select_from(total)
        .outerjoin(page_ids, true())
        .outerjoin(model, model.id == page_ids.c.page_id)
        .order_by(page_ids.c.page_id)
    )


def encode_cursor(*key: Any) -> str:
    """An opaque cursor for the row whose sort key is ``key``: the next page starts after it."""
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).rstrip(b"=").decode()


def decode_cursor(raw: str, *types: type[Any]) -> tuple[Any, ...]:
    """The sort key in a cursor this API gave out, or a 400 naming the ``cursor`` parameter."""
    try:
        key = msgspec.json.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), type=tuple[*types])  # type: ignore[valid-type]
    except (ValueError, msgspec.DecodeError):
        raise ApiError(
            HTTP_400_BAD_REQUEST,
            INVALID_QUERY,
            [FieldError("cursor", "is not a cursor from meta.next_cursor of this list")],
        ) from None
    return tuple(key)


def paging(offset: int, cursor: str | None, *types: type[Any]) -> tuple[Any, ...] | None:
    """The key a cursor page starts after (``None`` for an offset page); one of the two, never both."""
    if cursor is None:
        return None
    if offset:
        raise ApiError(
            HTTP_400_BAD_REQUEST,
            INVALID_QUERY,
            [FieldError("cursor", "cannot be combined with offset: a cursor already says where the page starts")],
        )
    return decode_cursor(cursor, *types)


def page(
    message: str,
    rows: Sequence[Sequence[Any]],
    to_out: Callable[[Sequence[Any]], T],
    limit: int,
    offset: int,
    next_key: Callable[[Sequence[Any]], tuple[Any, ...]] | None = None,
) -> Page[T]:
    """The list envelope from up to ``limit + 1`` rows (the last column is the total).

    The row past the limit, when there is one, is not shown: it says that another page
    follows, so ``next_cursor`` is set exactly when a next page has rows.
    """
    total = rows[0][-1] if rows else 0
    shown = [r for r in rows if r[0] is not None]
    more = len(shown) > limit
    shown = shown[:limit]
    key = next_key or (lambda row: (row[0],))
    cursor = encode_cursor(*key(shown[-1])) if more else None
    return Page(message, [to_out(r) for r in shown], PageMeta(total, limit, offset, cursor))


async def list_page(
    db: Database,
    statements: Statements,
    message: str,
    to_out: Callable[[Sequence[Any]], T],
    limit: int,
    offset: int,
    cursor: str | None,
) -> Page[T]:
    """One page of a resource's list, by offset or by cursor (the resource's ``id`` order)."""
    after = paging(offset, cursor, int)
    if after is None:
        rows = await db.fetch_all(statements.page, limit=limit + 1, offset=offset)
    else:
        rows = await db.fetch_all(statements.page_after, limit=limit + 1, after=after[0])
    return page(message, rows, to_out, limit, offset)


class Statements:
    """The statements every resource runs on its table, built (and later compiled) once.

    ``get`` and ``lock`` find a live row by ``row_id`` (``lock`` holds it, with
    ``lock_columns``, until the transaction commits); ``page`` and ``page_after`` are
    :func:`page_query` by offset and by keyset;
    ``insert`` takes one parameter per field in ``insert_fields`` plus ``now``;
    ``soft_delete`` stamps ``deleted_at`` with ``now`` if the row is still live.
    """

    __slots__ = ("get", "insert", "lock", "page", "page_after", "soft_delete")

    def __init__(
        self,
        model: Model,
        columns: Sequence[InstrumentedAttribute[Any]],
        insert_fields: Sequence[str],
        lock_columns: Sequence[InstrumentedAttribute[Any]] = (),
    ) -> None:
        live, by_id = model.deleted_at.is_(None), model.id == bindparam("row_id")
        self.get = Query(select(*columns).where(by_id, live))
        self.lock = Query(select(*(lock_columns or (model.id,))).where(by_id, live).with_for_update())
        self.page = page_query(model, columns)
        self.page_after = page_query(model, columns, keyset=True)
        now: BindParameter[Any] = bindparam("now")
        self.insert = Query(
            insert(model).values({**{f: bindparam(f) for f in insert_fields}, "created_at": now, "updated_at": now})
        )
        self.soft_delete = Query(update(model).where(by_id, live).values(deleted_at=now))


# --- jobs: what every route that starts or shows a job answers ---------------------------

JOB_COLUMNS = (
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
MINE = Job.requested_by == bindparam("user_id")
_GET_JOB = Query(select(*JOB_COLUMNS).where(Job.id == bindparam("job_id"), MINE))
_GET_ANY_JOB = Query(select(*JOB_COLUMNS).where(Job.id == bindparam("job_id")))


def _maybe(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def job_out(row: Sequence[Any]) -> JobOut:
    """A :data:`JOB_COLUMNS` row as the client sees it."""
    return JobOut(
        row[0],
        JobKind(row[1]),
        JobStatus(row[2]),
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


def accepted(message: str, job: NewJob) -> Response[Envelope[JobOut]]:
    """The answer of every endpoint that starts work: 202, the job, and where to follow it."""
    out = JobOut(
        job.id,
        JobKind(job.kind),
        JobStatus.QUEUED,
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
    return Response(Envelope(message, out), status_code=HTTP_202_ACCEPTED, headers={"Location": f"/jobs/{job.id}"})


async def get_own_job(state: AppState, job_id: str, user_id: int) -> JobOut:
    """The requester's job, or 404 (also for another user's job, so ids cannot be probed)."""
    row = await state.db.fetch_one(_GET_JOB, job_id=parse_job_id(job_id), user_id=user_id)
    if row is None:
        raise not_found()
    return job_out(row)


async def get_visible_job(state: AppState, job_id: str, user_id: int) -> JobOut:
    """The job if ``user_id`` asked for it or is an operator (``python -m shared.admin``), else 404."""
    if not await state.live_users.is_operator(state.db, user_id):
        return await get_own_job(state, job_id, user_id)
    row = await state.db.fetch_one(_GET_ANY_JOB, job_id=parse_job_id(job_id))
    if row is None:
        raise not_found()
    return job_out(row)
