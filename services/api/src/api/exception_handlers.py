"""How every exception becomes a JSON answer with a ``message``; none is a 500 for client input.

Handlers raise :class:`api.errors.ApiError`. Litestar's own exceptions (no route, wrong
method, a body or query parameter that failed validation) are rewritten into the same
shape. msgspec stops at the first bad field of a body, so on that (rare) path the body
is checked again field by field (:func:`api.body.body_errors`) to name every problem at
once. The database's classified errors (:mod:`shared.db_errors`) that a retry may cure
are 503s with ``Retry-After``.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from api.body import body_errors, body_type
from api.errors import DB_UNAVAILABLE, INVALID_BODY, INVALID_QUERY, ApiError, body_too_large
from api.schemas import ErrorBody, FieldError
from shared.db_errors import RETRYABLE

log = logging.getLogger(__name__)


def _json(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type=MediaType.JSON, headers=headers)


def _body_response(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """400 naming every bad field, if this request's body is what failed (else None)."""
    expected = body_type(request.route_handler)
    body = request._connection_state.body  # Litestar has read it by now and keeps it here
    if expected is None or not isinstance(body, bytes):
        return None
    return _json(HTTP_400_BAD_REQUEST, ErrorBody(INVALID_BODY, body_errors(expected, body)))


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    extra = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
    if not extra or any(e.get("source") == "body" for e in extra):
        response = _body_response(request)
        if response is not None:
            return response
    errors = [FieldError(str(e.get("key") or e.get("source")), str(e.get("message"))) for e in extra]
    return _json(HTTP_400_BAD_REQUEST, ErrorBody(INVALID_QUERY, errors or msgspec.UNSET))


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, ApiError):
        return _json(exc.status_code, ErrorBody(exc.detail, exc.errors or msgspec.UNSET), exc.headers)
    if exc.status_code == HTTP_400_BAD_REQUEST:  # Litestar could not decode the body (malformed JSON)
        response = _body_response(request)
        if response is not None:
            return response
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        limit = request.route_handler.resolve_request_max_body_size()
        return _json(exc.status_code, ErrorBody(body_too_large(limit)))
    return _json(exc.status_code, ErrorBody(str(exc.detail)), exc.headers)


def _on_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    # Unreachable, or a deadlock / lock wait that rolled the request back: either way the
    # same request, sent again shortly, may well succeed.
    log.error("database unavailable: %s: %s", type(exc).__name__, exc)
    return _json(
        HTTP_503_SERVICE_UNAVAILABLE,
        ErrorBody(DB_UNAVAILABLE),
        {"Retry-After": "5"},
    )


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    # Logged with the trace for the operator; the client learns nothing about the internals.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, ErrorBody("internal server error"))


def _on_too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[bytes]:
    # msgspec refuses JSON nested deeper than the stack allows ("[[[[..."): the client's body, not a crash.
    return _body_response(request) or _on_unexpected(request, exc)


exception_handlers: ExceptionHandlersMap = {
    ValidationException: _on_validation,
    HTTPException: _on_http,
    **dict.fromkeys(RETRYABLE, _on_unavailable),
    RecursionError: _on_too_deep,
    Exception: _on_unexpected,
}
