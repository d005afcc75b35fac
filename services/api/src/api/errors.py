"""The errors a handler raises (:class:`ApiError`, the messages more than one route uses) and how
the document describes them (:func:`error_response`).

Every error the API answers with is JSON with a ``message``; none is a 500 for client
input. How exceptions (these, Litestar's own, the database's) become responses is
:mod:`api.exception_handlers`.
"""

from __future__ import annotations

import re

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND

from api.schemas import ErrorBody, FieldError

INVALID_ID = "provided id was invalid"
NOT_FOUND = "record not found"
INVALID_BODY = "request body is invalid"
INVALID_QUERY = "invalid request parameters"
DB_UNAVAILABLE = "the database is unavailable, try again shortly"


def body_too_large(limit: int | None) -> str:
    return f"request body is larger than {limit} bytes"


class ApiError(HTTPException):
    """An error with the status, message and (optionally) field errors the client sees."""

    def __init__(
        self,
        status_code: int,
        message: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.errors = errors


def not_found() -> ApiError:
    return ApiError(HTTP_404_NOT_FOUND, NOT_FOUND)


def forbidden(what: str) -> ApiError:
    return ApiError(HTTP_403_FORBIDDEN, f"you may only change your own {what}")


def error_response(status: int, description: str, *answers: str | ErrorBody) -> dict[int, ResponseSpec]:
    """A documented error status with one example per message the route really answers with it.

    Generated examples stay off: random strings in an example teach a client nothing, and
    a wrong one teaches it the wrong thing.
    """
    bodies = [a if isinstance(a, ErrorBody) else ErrorBody(a) for a in answers]
    examples = [Example(id=_example_id(b.message), summary=b.message, value=msgspec.to_builtins(b)) for b in bodies]
    return {
        status: ResponseSpec(
            data_container=ErrorBody, description=description, generate_examples=False, examples=examples
        )
    }


def _example_id(message: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", message.lower()).strip("-")
