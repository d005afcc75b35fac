"""JSON request bodies: decoded once, strictly, straight into the handler's msgspec type.

Litestar decodes a body to plain Python values and then converts them leniently, which
suits query strings but lets a wrong JSON type through (``"year": "2005"`` became 2005,
``1.0`` became 1), and bytes that are not UTF-8 escaped its decoder as a 500. Decoding
with one strict msgspec decoder for the handler's ``data`` type makes either a 400 that
names the field, and is a single pass instead of two. Litestar's conversion afterwards
sees an instance of the right type and passes it through.

A JSON body must say so: ``Content-Type: application/json`` (or a ``+json`` type), else
415. A browser sends ``text/plain``, a form type or no type at all cross-site without
asking the server first (no CORS preflight); were those read as JSON, any web page a
user visits could send the API a JSON body in that user's name. Only tokens in the
Authorization header authenticate here, which a page cannot add, but the rule keeps it
so if that ever changes, and a client that mislabels its body learns it at once.

JSON has one kind of number, and JSON Schema (so the OpenAPI document) counts ``2005.0``
as the integer 2005; so does this API. Only when the strict pass fails is the body
decoded again with integral numbers made integers, and checked as strictly.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_415_UNSUPPORTED_MEDIA_TYPE

from api.errors import INVALID_BODY, ApiError
from api.schemas import FieldError


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


# The largest JSON body any route accepts. The largest valid body is a blog of 100,000
# characters: 400 KB in UTF-8, 1.2 MB if every character is written as a surrogate-pair
# escape (``\ud83d\ude80``, as Python's json.dumps does by default). 2 MiB refuses no valid
# body however it is spelled, and is still nothing to a server.
MAX_BODY_BYTES = 2 * 1024 * 1024

# What msgspec raises for a body it cannot read as the type (ValidationError is a DecodeError):
# not UTF-8, not JSON, nested deeper than the stack, or the wrong shape.
_UNREADABLE = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters (charset) aside."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def require_json_media_type(content_type: str | None) -> None:
    """415 unless the request says its body is JSON."""
    if content_type is None:
        raise ApiError(HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the body as application/json (no Content-Type was sent)")
    if not is_json_media_type(content_type):
        sent = content_type.partition(";")[0].strip()
        raise ApiError(HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send the body as application/json, not {sent!r}")


@lru_cache(maxsize=64)
def _decoder(target: type[msgspec.Struct] | None) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(target if target is not None else Any, strict=True)


def _decode_slowly(target: type[msgspec.Struct], body: bytes) -> Any:
    """The strict decode once more, with ``2005.0`` read as 2005; raises as the strict pass did."""
    return msgspec.convert(integral_numbers_as_int(msgspec.json.decode(body)), target, strict=True)


class JSONRequest(Request[Any, Any, Any]):
    """The request class of the whole app; only :meth:`json` differs from Litestar's."""

    async def json(self) -> Any:
        require_json_media_type(self.headers.get("content-type"))
        body = await self.body()
        target = body_type(self.route_handler)
        try:
            return _decoder(target).decode(body or b"null")
        except _UNREADABLE as exc:
            if target is None:
                raise ApiError(HTTP_400_BAD_REQUEST, INVALID_BODY) from None
            if isinstance(exc, msgspec.ValidationError):
                with contextlib.suppress(*_UNREADABLE):
                    return _decode_slowly(target, body)
            raise ApiError(HTTP_400_BAD_REQUEST, INVALID_BODY, body_errors(target, body, str(exc))) from None
