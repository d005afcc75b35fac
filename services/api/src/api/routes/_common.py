"""What every resource controller shares: paging, documented error responses, row mapping."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Annotated, Any, Final, TypeVar

from litestar import Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIType
from litestar.params import Parameter, QueryParameter
from sqlalchemy import bindparam, insert, select, true, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import BindParameter

from api.schemas import ErrorBody, Page, PageMeta
from shared.db import Query
from shared.models import MAX_ID, Blog, Book, RowCount, User, utcnow

Model = type[User] | type[Book] | type[Blog]
T = TypeVar("T")

INVALID_CREDENTIALS: Final = "invalid credentials"
TOO_MANY_FAILURES: Final = "too many failed logins, try again later"

MAX_LIMIT: Final = 100
MAX_OFFSET: Final = 1_000_000_000

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size (1-100)")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="rows to skip")]
# A path id arrives as text so that a malformed one is the original's 400 "provided id was
# invalid" (api.errors.parse_id), not a routing 404; the document says what a valid one is.
PathId = Annotated[
    str,
    Parameter(
        description="the record's id",
        schema_extra={"type": OpenAPIType.INTEGER, "minimum": 1, "maximum": MAX_ID},
    ),
]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ErrorBody, description=description, examples=[Example(value={"message": description})]
    )


BAD_ID = {400: _error("provided id was invalid, or an invalid body")}
BAD_QUERY = {400: _error("invalid request parameters (limit 1-100, offset 0-1000000000)")}
TOO_LARGE = {413: _error("request body is larger than the limit (2 MiB)")}
AUTH = {401: _error("missing or malformed jwt / invalid or expired jwt")}
NOT_FOUND = {404: _error("record not found")}
FORBIDDEN = {403: _error("the record belongs to another user")}
CONFLICT = {409: _error("a live user already has this email")}
UNAVAILABLE = {503: _error("the database is unavailable")}


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


def page_query(model: Model, columns: Sequence[InstrumentedAttribute[Any]]) -> Query:
    """A page of live rows and their total in one statement, for every list endpoint.

    ``SELECT cols, total FROM row_counts LEFT JOIN (page of ids) LEFT JOIN model``:

    * the total is the trigger-kept ``row_counts`` entry, a primary-key read instead of
      counting the table on every request, and exact under concurrent writes because
      one statement reads one consistent snapshot;
    * the page is found on the ``(deleted_at, id)`` index alone (a "deferred join"), so
      skipping ``offset`` rows walks index entries, not whole rows; only the rows on the
      page are read in full;
    * the outer ``LEFT JOIN`` still returns the total, with NULL columns, for a page past
      the end.
    """
    ids = (
        select(model.id.label("page_id"))
        .where(model.deleted_at.is_(None))
        .order_by(model.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    return Query(
        select(*columns, RowCount.n)
        .select_from(RowCount)
        .outerjoin(ids, true())
        .outerjoin(model, model.id == ids.c.page_id)
        .where(RowCount.name == model.__tablename__)
        .order_by(ids.c.page_id)
    )


def page(
    message: str, rows: Sequence[Sequence[Any]], to_out: Callable[[Sequence[Any]], T], limit: int, offset: int
) -> Page[T]:
    """The list envelope from :func:`page_query`'s rows (the last column is the total)."""
    total = rows[0][-1] if rows else 0
    return Page(message, [to_out(r) for r in rows if r[0] is not None], PageMeta(total, limit, offset))


class Statements:
    """The statements every resource runs on its table, built (and later compiled) once.

    ``get`` and ``lock`` find a live row by ``row_id`` (``lock`` holds it, with
    ``lock_columns``, until the transaction commits); ``page`` is :func:`page_query`;
    ``insert`` takes one parameter per field in ``insert_fields`` plus ``now``;
    ``soft_delete`` stamps ``deleted_at`` with ``now`` if the row is still live.
    """

    __slots__ = ("get", "insert", "lock", "page", "soft_delete")

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
        now: BindParameter[Any] = bindparam("now")
        self.insert = Query(
            insert(model).values({**{f: bindparam(f) for f in insert_fields}, "created_at": now, "updated_at": now})
        )
        self.soft_delete = Query(update(model).where(by_id, live).values(deleted_at=now))
