"""What every resource controller shares: paging, documented error responses, row mapping."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Any, Final

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIType
from litestar.params import Parameter, QueryParameter
from sqlalchemy import bindparam, update

from api.schemas import ErrorBody
from shared.db import Query
from shared.models import MAX_ID, Blog, Book, User, utcnow

Model = type[User] | type[Book] | type[Blog]

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
TOO_LARGE = {413: _error("request body is larger than the limit (1 MiB)")}
AUTH = {401: _error("missing or malformed jwt / invalid or expired jwt")}
NOT_FOUND = {404: _error("record not found")}
FORBIDDEN = {403: _error("the record belongs to another user")}
CONFLICT = {409: _error("a live user already has this email")}
UNAVAILABLE = {503: _error("the database is unavailable")}


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
