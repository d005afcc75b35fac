"""Every error the API answers with is JSON with a ``message``; none is a 500 for client input.

Handlers raise :class:`ApiError` (or a helper below). Litestar's own exceptions (no
route, wrong method, a body or query parameter that failed validation) are rewritten
into the same shape. msgspec stops at the first bad field of a body, so on that (rare)
path the body is checked again field by field to name every problem at once.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from api.schemas import ErrorBody, FieldError
from shared.db import DatabaseUnavailable
from shared.models import MAX_ID

log = logging.getLogger(__name__)

INVALID_ID = "provided id was invalid"
NOT_FOUND = "record not found"
INVALID_BODY = "request body is invalid"
INVALID_PARAMETERS = "invalid request parameters"
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


def parse_id(raw: str) -> int:
    """A path id: ASCII digits only, 1 to 2**63-1; anything else is the original's 400.

    ``isascii`` matters: ``str.isdigit`` also accepts "²" (which ``int`` then refuses) and
    other scripts' digits (Arabic-Indic, Devanagari...), which no client means as an id.
    """
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 0 < (value := int(raw)) <= MAX_ID:
        raise ApiError(HTTP_400_BAD_REQUEST, INVALID_ID)
    return value


def _json(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type=MediaType.JSON, headers=headers)


def integral_numbers_as_int(value: Any) -> Any:
    """JSON has one kind of number: ``2005.0`` is the integer 2005 (as JSON Schema says too)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral_numbers_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_numbers_as_int(v) for v in value]
    return value


def body_errors(struct_type: type[msgspec.Struct], raw: bytes, fallback: str = "invalid") -> list[FieldError]:
    """Name every bad field of ``raw`` against ``struct_type`` (``fallback`` if none is to blame alone)."""
    try:
        obj = msgspec.json.decode(raw)
    except UnicodeDecodeError:
        return [FieldError("body", "is not UTF-8")]
    except msgspec.DecodeError as exc:
        return [FieldError("body", f"malformed JSON: {exc}")]
    except RecursionError:  # msgspec's guard against a stack overflow, e.g. "[[[[..." many levels deep
        return [FieldError("body", "JSON is nested too deeply")]
    if not isinstance(obj, dict):
        return [FieldError("body", "expected a JSON object")]
    errors: list[FieldError] = []
    known = set()
    for field in msgspec.structs.fields(struct_type):
        known.add(field.encode_name)
        if field.encode_name not in obj:
            if field.required:
                errors.append(FieldError(field.encode_name, "is required"))
            continue
        try:
            msgspec.convert(integral_numbers_as_int(obj[field.encode_name]), field.type, strict=True)
        except msgspec.ValidationError as exc:
            errors.append(FieldError(field.encode_name, str(exc).replace(" - at `$`", "")))
    errors.extend(FieldError(str(name), "is not a known field") for name in obj if name not in known)
    if errors:
        return errors
    # Left: a check across the struct (its __post_init__), whose message starts with its field.
    named = fallback.split(" ", 1)[0]
    return [FieldError(named if named in known else "body", fallback)]


def body_type(handler: HTTPRouteHandler) -> type[msgspec.Struct] | None:
    """The msgspec type of the handler's ``data`` (its JSON body), if it has one."""
    data = handler.parsed_fn_signature.parameters.get("data")
    annotation = data.annotation if data is not None else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct) else None


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
    return _json(HTTP_400_BAD_REQUEST, ErrorBody(INVALID_PARAMETERS, errors or msgspec.UNSET))


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


def _on_unavailable(_: Request[Any, Any, Any], exc: DatabaseUnavailable) -> Response[bytes]:
    log.error("database unavailable: %s", exc)
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
    DatabaseUnavailable: _on_unavailable,
    RecursionError: _on_too_deep,
    Exception: _on_unexpected,
}
