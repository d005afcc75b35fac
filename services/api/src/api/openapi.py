"""The OpenAPI document as a product: what it says beyond Litestar's defaults, so that it
describes the real answers and a generated client needs no workaround.

Routes state their own operationId, summary, description and error answers (with one
example per message, ``api.routes.common.error_response``). What Litestar cannot be
told per route is done here, once, on the finished document (:func:`finish`):

* component names a client would choose (``BookEnvelope``, ``JobPage``), not Python paths;
* job ``status`` and ``kind`` as shared enums, job ids as UUIDs, a job's ``result`` typed
  by its kind;
* ids as ``int64`` (they reach 2**63-1), integer bounds as integers, no one-branch
  ``oneOf`` (Litestar's rendering of ``X | UnsetType``);
* optional query filters optional, not nullable (``null`` is not a value a query sends);
* files as files (``format: binary``), with the download's real headers;
* ``X-Request-ID`` on every answer, ``Location`` on 202, ``Retry-After`` on 429 and 503,
  a ``default`` error answer (unknown paths, wrong methods, 500), and ``security: []``
  on the operations that need no token.

The document is served by :class:`FinishedJson` (``/schema/openapi.json``), which
renders :func:`finish`'s result (computed once per document); the browsable page is
:mod:`api.docs_ui`, which reads that file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any, Final

import msgspec
from litestar import Request
from litestar._openapi.schema_generation import SchemaCreator

# Litestar's own plugin for msgspec Structs has no public import path (2.x); uv.lock pins it.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Contact, License, Schema, Tag
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from api.errors import error_response
from api.schemas import JOB_RESULTS, ErrorBody
from shared.jobs import JobKind, JobStatus
from shared.models import MAX_ID

TAGS: Final = [
    Tag(name="auth", description="Log in for a bearer token."),
    Tag(name="users", description="Accounts: registration is public, everything else needs a token."),
    Tag(name="books", description="The book catalogue: public reads, signed-in writes, bulk import."),
    Tag(name="blogs", description="Blogs: public reads; only a blog's author may change it."),
    Tag(name="jobs", description="Background work a request started: follow it, cancel it, read its result."),
    Tag(name="exports", description="CSV exports of books or blogs, written by the worker, then downloaded."),
    Tag(name="health", description="Liveness and readiness probes for orchestrators."),
]
CONTACT: Final = Contact(name="wadah maintainers")
LICENSE: Final = License(name="MIT", identifier="MIT")

_SCHEMAS: Final = "#/components/schemas/"
_HEADERS: Final = "#/components/headers/"
# Litestar names a generic component after its Python path: Envelope_api.schemas.BookOut_.
_GENERIC_NAME: Final = re.compile(r"^(?P<outer>Envelope|Page)_[\w.]*?\.(?P<inner>\w+?)(?:Out)?_$")
_ID_FIELDS: Final = frozenset({"id", "user_id"})

HEADERS: Final[dict[str, dict[str, Any]]] = {
    "X-Request-ID": {
        "description": "The request's id, in every log line written for it: the client's own `X-Request-ID` "
        "if it was 1-128 characters of `A-Za-z0-9._:@/+=-`, else a new random one. Quote it when reporting "
        "a problem.",
        "schema": {"type": "string", "maxLength": 128},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Location": {
        "description": "Where to follow the job that was started: `/jobs/{id}` (getJob).",
        "schema": {"type": "string", "format": "uri-reference"},
    },
}
_DOWNLOAD_HEADERS: Final[dict[str, dict[str, Any]]] = {
    "Content-Disposition": {
        "description": "`attachment`, with the file's name: the resource and when the export was asked for.",
        "schema": {"type": "string"},
        "example": 'attachment; filename="books-20261201T093000Z.csv"',
    },
    "Content-Length": {
        "description": "The file's size in bytes.",
        "schema": {"type": "integer", "format": "int64", "minimum": 0},
    },
    "Last-Modified": {
        "description": "When the file was written, as an HTTP-date (RFC 9110, e.g. `Tue, 01 Dec 2026 09:30:00 GMT`).",
        "schema": {"type": "string"},
    },
    "ETag": {"description": "The file's entity tag.", "schema": {"type": "string"}},
}
_DEFAULT_ERRORS: Final = {
    "Not Found": "no route has this path",
    "Method Not Allowed": "the path exists, the method does not (see the Allow header)",
    "internal server error": "a fault of the server, logged with the request id",
}


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Request bodies that refuse unknown fields say so: ``additionalProperties: false``.

    Litestar leaves it out, which documents that any extra field is accepted when the API
    answers it with a 400 (``forbid_unknown_fields``).
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Litestar's document (as a dict), made exact; the argument is left as it was."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    _rename_generic_components(doc)
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    _walk(doc, _tidy_schema)
    _add_job_types(schemas)  # after the walk, which points enums of statuses or kinds at these
    for schema in schemas.values():
        _ids_are_int64(schema)
    schemas["PageMeta"]["properties"]["total"]["format"] = "int64"
    components["headers"] = copy.deepcopy(HEADERS)
    for op in _operations(doc):
        _finish_operation(op)
    return doc


def _operations(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in doc.get("paths", {}).values():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield op


def _walk(node: Any, visit: Any) -> None:
    """``visit`` every dict in the tree, parents before children."""
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _rename_generic_components(doc: dict[str, Any]) -> None:
    schemas = doc.get("components", {}).get("schemas", {})
    renames = {}
    for name in list(schemas):
        if match := _GENERIC_NAME.match(name):
            new = match["inner"] + match["outer"]
            renames[_SCHEMAS + name] = _SCHEMAS + new
            schemas[new] = schemas.pop(name)
            schemas[new]["title"] = new

    def rename(node: dict[str, Any]) -> None:
        ref = node.get("$ref")
        if ref in renames:
            node["$ref"] = renames[ref]

    _walk(doc, rename)


def _add_job_types(schemas: dict[str, Any]) -> None:
    """Status and kind as enums every job schema and filter shares; the result by kind."""
    schemas["JobStatus"] = {
        "type": "string",
        "enum": [s.value for s in JobStatus],
        "description": "queued and running are live; succeeded, failed and cancelled are final.",
    }
    schemas["JobKind"] = {"type": "string", "enum": [k.value for k in JobKind], "description": "What the job does."}
    assert set(JOB_RESULTS) == set(JobKind), "every job kind has its result type"
    _, results = msgspec.json.schema_components(JOB_RESULTS.values(), ref_template=_SCHEMAS + "{name}")
    schemas.update(results)
    job = schemas["JobOut"]["properties"]
    job["id"] = {"type": "string", "format": "uuid"}
    job["status"] = {"$ref": _SCHEMAS + "JobStatus"}
    job["kind"] = {"$ref": _SCHEMAS + "JobKind"}
    job["result"] = {
        "oneOf": [*({"$ref": _SCHEMAS + t.__name__} for t in JOB_RESULTS.values()), {"type": "null"}],
        "description": "null until the job has succeeded; then shaped by its kind: "
        + ", ".join(f"{kind.value} → {t.__name__}" for kind, t in JOB_RESULTS.items())
        + ".",
    }


def _tidy_schema(node: dict[str, Any]) -> None:
    # ``X | UnsetType`` comes out as a oneOf of one branch: it is just X.
    for key in ("oneOf", "anyOf"):
        branches = node.get(key)
        if isinstance(branches, list) and len(branches) == 1 and isinstance(branches[0], dict):
            del node[key]
            node.update(branches[0])
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        value = node.get(key)
        if isinstance(value, float) and value.is_integer():
            node[key] = int(value)
    # An enum of exactly the job statuses (or kinds), wherever it appears, is the shared one.
    enum = node.get("enum")
    if isinstance(enum, list) and node.get("type") == "string":
        for name, values in (("JobStatus", {s.value for s in JobStatus}), ("JobKind", {k.value for k in JobKind})):
            if set(enum) == values:
                node.clear()
                node["$ref"] = _SCHEMAS + name


def _ids_are_int64(schema: dict[str, Any]) -> None:
    for name, prop in schema.get("properties", {}).items():
        if name in _ID_FIELDS and prop.get("type") == "integer":
            prop["format"] = "int64"


def _finish_operation(op: dict[str, Any]) -> None:
    op.setdefault("security", [])  # no token needed: said, not left to a missing key
    for param in op.get("parameters", []):
        schema = param.get("schema", {})
        if not param.get("required"):
            _not_nullable(schema)
            _not_nullable(param)
        if schema.get("type") == "integer" and schema.get("maximum") == MAX_ID:
            schema["format"] = "int64"
        schema.pop("description", None)  # the parameter's own description says it
    body = op.get("requestBody", {})
    for media in body.get("content", {}).values():
        media.get("schema", {}).pop("contentMediaType", None)
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses["default"] = _default_error()
    for status, response in responses.items():
        for media in response.get("content", {}).values():
            for example in media.get("examples", {}).values():
                example.pop("id", None)  # Litestar's key for the example, not a field of one
        headers = response.get("headers") or {}
        response["headers"] = headers
        _file_response(response, headers)
        if status == "202":
            headers["Location"] = {"$ref": _HEADERS + "Location"}
        if status in {"429", "503"} and _is_error(response):
            headers["Retry-After"] = {"$ref": _HEADERS + "Retry-After"}
        headers["X-Request-ID"] = {"$ref": _HEADERS + "X-Request-ID"}


def _not_nullable(schema: dict[str, Any]) -> None:
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        kinds = [k for k in kinds if k != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    if isinstance(schema.get("enum"), list):
        schema["enum"] = [v for v in schema["enum"] if v is not None]
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [b for b in schema[key] if b != {"type": "null"}]
            if len(schema[key]) == 1:
                schema.update(schema.pop(key)[0])
    _tidy_schema(schema)


def _is_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _SCHEMAS + ErrorBody.__name__)


def _file_response(response: dict[str, Any], headers: dict[str, Any]) -> None:
    """A file answer (Litestar's File, or a CSV Stream, which it leaves without a schema): a
    binary body with the headers the download really sends."""
    content = response.get("content", {})
    for media_type, media in content.items():
        schema = media.get("schema", {})
        if schema.get("contentMediaType") == "application/octet-stream" or (media_type == "text/csv" and not schema):
            media["schema"] = {"type": "string", "format": "binary"}
            headers.clear()
            headers.update(copy.deepcopy(_DOWNLOAD_HEADERS))
            response["description"] = "The file."
    if "text/csv" in content and "application/octet-stream" not in content:
        # The same bytes, for an Accept that prefers them. Listed first: openapi-python-client
        # decodes the first media type it knows, and reads any text/* answer as a str.
        response["content"] = {"application/octet-stream": copy.deepcopy(content["text/csv"]), **content}
        response["description"] = (
            "The file: `text/csv; charset=utf-8`, or `application/octet-stream` when `Accept` prefers it."
        )


def _default_error() -> dict[str, Any]:
    return {
        "description": "Any other error: an unknown path (404), a method the path does not have (405), "
        "or a fault of the server (500). The body is always the error shape.",
        "content": {
            "application/json": {
                "schema": {"$ref": _SCHEMAS + ErrorBody.__name__},
                "examples": {
                    message.replace(" ", "-").lower(): {"summary": why, "value": {"message": message}}
                    for message, why in _DEFAULT_ERRORS.items()
                },
            }
        },
    }


class _Finished:
    """Mixin for a render plugin: it renders the finished document, computed once per document.

    Litestar builds its document once and hands every render the same dict, so its identity
    says whether the finished one is still current.
    """

    _cache: tuple[dict[str, Any], dict[str, Any]] | None = None

    def finished(self, document: dict[str, Any]) -> dict[str, Any]:
        if self._cache is None or self._cache[0] is not document:
            self._cache = (document, finish(document))
        return self._cache[1]


class FinishedJson(_Finished, JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(openapi_schema))


UNSUPPORTED_MEDIA_TYPE: Final = error_response(
    415,
    "the body is not sent as application/json (or a +json type)",
    "send the body as application/json (no Content-Type was sent)",
    "send the body as application/json, not 'text/plain'",
)


class JSONBodyResponsesPlugin(ReceiveRoutePlugin):
    """Every operation that takes a JSON body documents the 415 :mod:`api.body` answers without one.

    Added as routes are registered, so no route module has to remember it.
    """

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if "data" in handler.parsed_fn_signature.parameters:
                handler.responses = {**(handler.responses or {}), **UNSUPPORTED_MEDIA_TYPE}
