"""The OpenAPI document at /schema: every route, its bearer auth, and its error answers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.expect import Client

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
}
PUBLIC = {
    ("/users", "post"): {"400", "409"},
    ("/login", "post"): {"400", "401"},
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
