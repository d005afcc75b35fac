"""The errors a handler raises: :class:`ApiError` and the messages more than one route uses.

Every error the API answers with is JSON with a ``message``; none is a 500 for client
input. How exceptions (these, Litestar's own, the database's) become responses is
:mod:`api.exception_handlers`.
"""

from __future__ import annotations

from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND

from api.schemas import FieldError

INVALID_ID = "provided id was invalid"
NOT_FOUND = "record not found"
INVALID_BODY = "request body is invalid"
INVALID_QUERY = "invalid request parameters"


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
