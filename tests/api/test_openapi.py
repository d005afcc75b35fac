"""The OpenAPI document at /schema: every route, its bearer auth, and its error answers."""

from __future__ import annotations

from typing import Any

import pytest

from api.body import MAX_BODY_BYTES
from tests.api.expect import Client, error
from tests.factories import Factory

BEARER = [{"BearerToken": []}]
# (path, method): the 4xx answers the contract (docs/api.md) gives that operation.
PROTECTED = {
    ("/users", "get"): {"401"},
    ("/users/{user_id}", "get"): {"400", "401", "404"},
    ("/users/{user_id}", "put"): {"400", "401", "403", "404", "409"},
    ("/users/{user_id}", "delete"): {"400", "401", "403", "404"},
    ("/books", "post"): {"400", "401"},
    ("/books/{book_id}", "put"): {"400", "401", "404"},
    ("/books/{book_id}", "delete"): {"400", "401", "404"},
    ("/blogs", "post"): {"400", "401"},
    ("/blogs/{blog_id}", "put"): {"400", "401", "403", "404"},
    ("/blogs/{blog_id}", "delete"): {"400", "401", "403", "404"},
    ("/books/import", "post"): {"400", "401", "413", "415"},
    ("/exports", "post"): {"400", "401", "413"},
    ("/exports/{job_id}/download", "get"): {"400", "401", "404", "409", "410"},
    ("/jobs", "get"): {"400", "401"},
    ("/jobs/{job_id}", "get"): {"400", "401", "404"},
    ("/jobs/{job_id}/cancel", "post"): {"400", "401", "404", "409"},
}
PUBLIC = {
    ("/users", "post"): {"400", "409"},
    ("/login", "post"): {"400", "401", "429"},
    ("/books", "get"): {"400"},
    ("/books/{book_id}", "get"): {"400", "404"},
    ("/blogs", "get"): {"400"},
    ("/blogs/{blog_id}", "get"): {"400", "404"},
    ("/healthz", "get"): set(),
    ("/readyz", "get"): set(),
}


@pytest.fixture(scope="module")
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = document["paths"][path][method]
    return op


def test_document_lists_every_route(document: dict[str, Any]) -> None:
    listed = {(path, method) for path, ops in document["paths"].items() for method in ops if method != "parameters"}
    assert set(PROTECTED) | set(PUBLIC) <= listed


def test_bearer_scheme_is_http_bearer_jwt(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"], scheme.get("bearerFormat")) == ("http", "bearer", "JWT")


@pytest.mark.parametrize(("path", "method"), sorted(PROTECTED))
def test_protected_operation_requires_the_bearer_token(document: dict[str, Any], path: str, method: str) -> None:
    assert operation(document, path, method).get("security") == BEARER


@pytest.mark.parametrize(("path", "method"), sorted(PUBLIC))
def test_public_operation_requires_no_token(document: dict[str, Any], path: str, method: str) -> None:
    assert not operation(document, path, method).get("security", document.get("security"))


@pytest.mark.parametrize(("path", "method", "codes"), [(*key, codes) for key, codes in {**PROTECTED, **PUBLIC}.items()])
def test_operation_documents_its_error_answers_as_json(
    document: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    responses = operation(document, path, method)["responses"]
    assert codes <= set(responses)
    for code in codes:
        assert "application/json" in responses[code].get("content", {}), (code, responses[code])


async def test_schema_ui_answers_html(client: Client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


def test_every_operation_with_a_json_body_documents_the_415(document: dict[str, Any]) -> None:
    with_json_body = [
        (path, method, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert {(path, method) for path, method, _ in with_json_body} >= {("/users", "post"), ("/login", "post")}
    for path, method, op in with_json_body:
        assert "application/json" in op["responses"].get("415", {}).get("content", {}), (path, method)


# --- The document as a product: what a generated client is built from (docs/api.md).

OPERATION_IDS = {
    "register",
    "login",
    "listUsers",
    "getUser",
    "updateUser",
    "deleteUser",
    "listBooks",
    "getBook",
    "createBook",
    "updateBook",
    "deleteBook",
    "importBooks",
    "listBlogs",
    "getBlog",
    "createBlog",
    "updateBlog",
    "deleteBlog",
    "listJobs",
    "getJob",
    "cancelJob",
    "retryJob",
    "createExport",
    "downloadExport",
    "healthz",
    "readyz",
}
SCHEMAS = "#/components/schemas/"


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every operation by its operationId."""
    return {
        op["operationId"]: {**op, "path": path, "method": method}
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    }


def every_dict(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(every_dict(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(every_dict(value))
    return found


def error_messages(response: dict[str, Any]) -> list[str]:
    examples = response["content"]["application/json"].get("examples", {})
    return [example["value"]["message"] for example in examples.values()]


def test_operation_ids_are_the_published_names(document: dict[str, Any]) -> None:
    assert set(operations(document)) >= OPERATION_IDS
    assert len(operations(document)) == sum(len(item) for item in document["paths"].values())


def test_every_operation_has_a_summary_a_description_and_declared_tags(document: dict[str, Any]) -> None:
    declared = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert all(declared.values()), declared
    for name, op in operations(document).items():
        assert op.get("summary") and op.get("description"), name
        assert op["tags"] and set(op["tags"]) <= set(declared), name


def test_info_names_a_contact_and_a_license(document: dict[str, Any]) -> None:
    assert document["info"]["contact"]["name"]
    assert document["info"]["license"]["name"]


def test_component_names_are_plain_words(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    assert {"BookEnvelope", "BookPage", "UserEnvelope", "BlogPage", "JobEnvelope", "JobPage"} <= names
    assert all(name.isalnum() for name in names), sorted(n for n in names if not n.isalnum())


def test_job_status_and_kind_are_enums_shared_by_jobs_and_their_filters(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["JobStatus"]["enum"] == ["queued", "running", "succeeded", "failed", "cancelled"]
    assert set(schemas["JobKind"]["enum"]) >= {"compute_blog_stats", "welcome_email", "import_books", "export"}
    job = schemas["JobOut"]["properties"]
    assert job["status"] == {"$ref": SCHEMAS + "JobStatus"}
    assert job["kind"] == {"$ref": SCHEMAS + "JobKind"}
    assert job["id"] == {"type": "string", "format": "uuid"}
    filters = {p["name"]: p for p in operations(document)["listJobs"]["parameters"]}
    for name, enum in (("status", "JobStatus"), ("kind", "JobKind")):
        assert filters[name]["required"] is False
        assert filters[name]["schema"] == {"$ref": SCHEMAS + enum}


def test_a_jobs_result_is_typed_by_its_kind(document: dict[str, Any]) -> None:
    result = document["components"]["schemas"]["JobOut"]["properties"]["result"]
    refs = {branch.get("$ref") for branch in result["oneOf"]}
    assert {SCHEMAS + name for name in ("BookImportResult", "ExportResult", "BlogStatsResult")} <= refs
    assert {"type": "null"} in result["oneOf"]


def test_every_job_id_in_a_path_is_a_uuid(document: dict[str, Any]) -> None:
    for name, op in operations(document).items():
        for param in op.get("parameters", []):
            if param["name"] == "job_id":
                assert param["schema"]["format"] == "uuid", name


def test_ids_are_int64_and_bounds_are_integers(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("UserOut", "BookOut", "BlogOut"):
        assert schemas[name]["properties"]["id"]["format"] == "int64"
    assert schemas["BlogOut"]["properties"]["user_id"]["format"] == "int64"
    get_book = operations(document)["getBook"]["parameters"][0]["schema"]
    assert (get_book["type"], get_book["format"], get_book["minimum"]) == ("integer", "int64", 1)
    for node in every_dict(document):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            assert not isinstance(node.get(key), float), node


def test_no_schema_is_a_choice_of_one(document: dict[str, Any]) -> None:
    for node in every_dict(document):
        for key in ("oneOf", "anyOf"):
            assert len(node.get(key, [1, 2])) > 1, node


def test_no_query_parameter_is_nullable(document: dict[str, Any]) -> None:
    for name, op in operations(document).items():
        for param in op.get("parameters", []):
            assert "null" not in str(param["schema"]), (name, param)


def test_the_import_body_is_a_file(document: dict[str, Any]) -> None:
    body = operations(document)["importBooks"]["requestBody"]
    assert body["required"] is True
    # The one media type generated clients send a file as; text/csv and JSON lines are named in
    # the description (openapi-python-client skips an operation whose body is text/*).
    assert body["content"] == {
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary", "minLength": 1, "description": "the file, not empty"}
        }
    }
    assert "text/csv" in body["description"] and "application/x-ndjson" in body["description"]


def test_the_download_is_a_file_with_its_real_headers(document: dict[str, Any]) -> None:
    answer = operations(document)["downloadExport"]["responses"]["200"]
    file = {"schema": {"type": "string", "format": "binary"}}
    # octet-stream first: the first media type a generator knows is the one it decodes.
    assert list(answer["content"].items()) == [("application/octet-stream", file), ("text/csv", file)]
    headers = answer["headers"]
    assert {"Content-Disposition", "Content-Length", "Last-Modified", "X-Request-ID"} <= set(headers)
    assert headers["Content-Length"]["schema"]["type"] == "integer"
    assert "date-time" not in str(headers["Last-Modified"])


def test_every_answer_documents_its_request_id_and_every_operation_a_default_error(document: dict[str, Any]) -> None:
    for name, op in operations(document).items():
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {"$ref": SCHEMAS + "ErrorBody"}
        for status, answer in op["responses"].items():
            assert "X-Request-ID" in answer["headers"], (name, status)
            if status == "202":
                assert "Location" in answer["headers"], name
            if status in {"429", "503"} and name != "readyz":
                assert "Retry-After" in answer["headers"], (name, status)


def test_error_examples_are_the_messages_the_api_really_sends(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert error_messages(ops["register"]["responses"]["409"]) == ["email is already registered"]
    assert error_messages(ops["getUser"]["responses"]["401"]) == ["missing or malformed jwt", "invalid or expired jwt"]
    assert error_messages(ops["login"]["responses"]["429"]) == ["too many failed logins, try again later"]
    assert error_messages(ops["updateBlog"]["responses"]["403"]) == ["you may only change your own blogs"]
    with_errors = ops["createBook"]["responses"]["400"]["content"]["application/json"]["examples"]
    assert [e["value"]["errors"] for e in with_errors.values()] == [
        [{"field": "year", "message": "Expected `int`, got `str`"}]
    ]
    for node in every_dict(document):  # no generated example anywhere
        assert "example" not in node or isinstance(node["example"], str), node


@pytest.mark.parametrize("name", ["createBook", "createBlog", "register", "login", "createExport", "listBooks"])
def test_an_operation_without_an_id_documents_no_id_error(document: dict[str, Any], name: str) -> None:
    assert "provided id was invalid" not in error_messages(operations(document)[name]["responses"]["400"])


@pytest.mark.parametrize("name", ["getBook", "updateBook", "deleteUser", "getJob", "cancelJob", "downloadExport"])
def test_an_operation_with_an_id_documents_its_id_error(document: dict[str, Any], name: str) -> None:
    assert "provided id was invalid" in error_messages(operations(document)[name]["responses"]["400"])


def test_public_operations_say_they_need_no_token(document: dict[str, Any]) -> None:
    ops = operations(document)
    for name in ("register", "login", "listBooks", "getBook", "listBlogs", "getBlog", "healthz", "readyz"):
        assert ops[name]["security"] == [], name


# --- The answers the document used to leave out, sent for real.


def is_error_body(body: Any) -> bool:
    """The ErrorBody component: a message, and at most a list of field errors beside it."""
    return isinstance(body, dict) and isinstance(body.get("message"), str) and set(body) <= {"message", "errors"}


async def test_a_too_large_export_request_is_the_documented_413(
    client: Client, factory: Factory, document: dict[str, Any]
) -> None:
    user = await factory.user()
    response = await client.post(
        "/exports",
        content=b'{"resource": "books"}'.ljust(MAX_BODY_BYTES + 1),
        headers={**user.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert is_error_body(response.json())
    assert response.json()["message"] in error_messages(operations(document)["createExport"]["responses"]["413"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("PATCH", "/books", 405), ("DELETE", "/login", 405), ("GET", "/no-such-thing", 404), ("GET", "/books/1/x", 404)],
)
async def test_unknown_paths_and_methods_answer_the_documented_default_error(
    client: Client, document: dict[str, Any], method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    default = operations(document)["listBooks"]["responses"]["default"]
    assert response.json()["message"] in error_messages(default)
    assert is_error_body(response.json())


@pytest.mark.parametrize("query", ["status=null", "kind=null"])
async def test_a_null_job_filter_is_refused_as_the_document_says(client: Client, factory: Factory, query: str) -> None:
    """The filters are optional enums, not nullable ones: ``null`` is no value of theirs."""
    user = await factory.user()
    response = await client.get(f"/jobs?{query}", headers=user.auth)
    body = error(response, 400, "invalid request parameters")
    assert body["errors"] == [{"field": query.split("=")[0], "message": "null is not one of its values"}]
