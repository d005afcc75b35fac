"""Request bodies: decoded strictly, capped in size, and every refusal a JSON 4xx naming the problem."""

from __future__ import annotations

import json

import pytest

from api.app import MAX_BODY_BYTES
from tests.api.expect import Client, bad_fields, error, ok, total
from tests.factories import Factory, blog_body, book_body, user_body

# (path, body): one valid body per JSON route, for the tests that spoil it one way each.
CREATES = [("/books", book_body), ("/blogs", blog_body), ("/users", user_body)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("year", "2005"),  # a number written as a string
        ("year", True),
        ("year", 2005.5),
        ("year", None),
        ("year", [2005]),
        ("title", 7),
        ("title", None),
        ("title", {"text": "x"}),
        ("genre", False),
    ],
)
async def test_a_value_of_the_wrong_json_type_is_400_naming_its_field(
    client: Client, factory: Factory, field: str, value: object
) -> None:
    user = await factory.user()
    before = (await client.get("/books")).json()["meta"]["total"]
    assert bad_fields(await client.post("/books", json=book_body(**{field: value}), headers=user.auth)) == {field}
    assert (await client.get("/books")).json()["meta"]["total"] == before


async def test_an_integral_number_is_an_integer_as_json_schema_says(client: Client, factory: Factory) -> None:
    """2005.0 and 2005 are the same JSON number; the OpenAPI document (JSON Schema) calls both an integer."""
    user = await factory.user()
    created = ok(
        await client.post("/books", json=book_body(year=2005.0), headers=user.auth), 201, "success creating book"
    )
    assert created["year"] == 2005 and isinstance(created["year"], int)


@pytest.mark.parametrize(("path", "body"), CREATES)
async def test_an_unknown_field_is_400_naming_it(client: Client, factory: Factory, path: str, body: object) -> None:
    user = await factory.user()
    assert callable(body)
    assert bad_fields(await client.post(path, json=body(is_admin=True), headers=user.auth)) == {"is_admin"}


@pytest.mark.parametrize(("path", "body"), CREATES)
async def test_bytes_that_are_not_utf8_are_400_naming_the_body(
    client: Client, factory: Factory, path: str, body: object
) -> None:
    user = await factory.user()
    raw = b'{"title": "\xff\xfe caf\xe9", "name": "\xc3\x28"}'
    response = await client.post(path, content=raw, headers={**user.auth, "content-type": "application/json"})
    assert bad_fields(response) == {"body"}


async def test_a_body_over_the_cap_is_413_with_a_json_message(client: Client, factory: Factory) -> None:
    user = await factory.user()
    before = (await client.get("/books")).json()["meta"]["total"]
    raw = b'{"title": "x", "author": "y", "genre": "z", "year": 2005}'.ljust(MAX_BODY_BYTES + 1)
    response = await client.post("/books", content=raw, headers={**user.auth, "content-type": "application/json"})
    error(response, 413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    assert (await client.get("/books")).json()["meta"]["total"] == before


async def test_a_body_of_exactly_the_cap_is_read(client: Client, factory: Factory) -> None:
    """The cap is 2 MiB, not less: a padded but valid body of exactly that size is a book."""
    user = await factory.user()
    raw = b'{"title": "x", "author": "y", "genre": "z", "year": 2005}'.ljust(MAX_BODY_BYTES)
    response = await client.post("/books", content=raw, headers={**user.auth, "content-type": "application/json"})
    ok(response, 201, "success creating book")


async def test_the_longest_blog_in_its_longest_spelling_fits_under_the_cap(client: Client, factory: Factory) -> None:
    """100,000 characters outside the BMP, each escaped as a surrogate pair (12 bytes): 1.2 MB."""
    user = await factory.user()
    content = "\U0001f680" * 100_000
    raw = json.dumps(blog_body(content=content)).encode()  # ensure_ascii: every rocket is \\ud83d\\ude80
    assert len(raw) > 1_200_000
    response = await client.post("/blogs", content=raw, headers={**user.auth, "content-type": "application/json"})
    created = ok(response, 201, "success creating blog")
    fetched = ok(await client.get(f"/blogs/{created['id']}"), 200, "success getting blog")
    assert fetched["content"] == content


# What a browser may send cross-site without a CORS preflight, and a client that forgot the type.
NOT_JSON = ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data", None]


@pytest.mark.parametrize("content_type", NOT_JSON)
@pytest.mark.parametrize(("path", "body"), CREATES)
async def test_a_json_body_without_a_json_media_type_is_415_and_writes_nothing(
    client: Client, factory: Factory, path: str, body: object, content_type: str | None
) -> None:
    user = await factory.user()
    assert callable(body)
    fields = body()
    raw = json.dumps(fields).encode()
    headers = {**user.auth, **({"content-type": content_type} if content_type else {})}
    before = await total(client, path, user.auth)
    sent = content_type.partition(";")[0] if content_type else None
    expected = f"send the body as application/json, not {sent!r}" if sent else None
    error(await client.post(path, content=raw, headers=headers), 415, expected)
    assert await total(client, path, user.auth) == before


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"]
)
async def test_any_json_media_type_is_read(client: Client, factory: Factory, content_type: str) -> None:
    user = await factory.user()
    raw = json.dumps(book_body()).encode()
    response = await client.post("/books", content=raw, headers={**user.auth, "content-type": content_type})
    ok(response, 201, "success creating book")


async def test_a_body_without_any_content_type_is_415_saying_so(client: Client) -> None:
    response = await client.post("/login", content=json.dumps({"email": "a@b.cd", "password": "x" * 8}).encode())
    error(response, 415, "send the body as application/json (no Content-Type was sent)")
