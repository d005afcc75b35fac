"""What every route answers to bad input: JSON errors with a message, never a 500, nothing half-written.

Covers, across all routes at once: malformed ids, invalid and malformed bodies (each bad
field named), unknown routes and methods, missing tokens, and the trailing slash the
original accepted on every path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.expect import Client, bad_fields, error, total
from tests.factories import AUser, Factory, blog_body, book_body, user_body

INVALID_ID = "provided id was invalid"
BAD_IDS = ["abc", "0", "-1", "1.5", "1e3", "0x1F", "%20", "\u00b2", "\u0661", str(2**63), str(2**64), "9" * 40]

# Every route that takes an id: (method, path prefix, a valid body if it takes one).
ID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/users/", None),
    ("PUT", "/users/", {"name": "Valid Name"}),
    ("DELETE", "/users/", None),
    ("GET", "/books/", None),
    ("PUT", "/books/", {"year": 2000}),
    ("DELETE", "/books/", None),
    ("GET", "/blogs/", None),
    ("PUT", "/blogs/", {"title": "Valid"}),
    ("DELETE", "/blogs/", None),
]

# Every route that takes a body, with a body that is wrong in several fields, and those fields.
# Paths name the world's records ({user}, {book}, {blog}: see _world).
BODY_ROUTES = [
    pytest.param(
        "POST",
        "/users",
        {"name": "", "email": "not-an-email", "password": "short"},
        {"name", "email", "password"},
        id="register",
    ),
    pytest.param(
        "POST",
        "/users",
        {"email": "x@example.com", "admin": True},
        {"name", "password", "admin"},
        id="register-missing-and-unknown",
    ),
    pytest.param(
        "PUT",
        "/users/{user}",
        {"name": 7, "email": "a b@c", "password": "x", "role": 1},
        {"name", "email", "password", "role"},
        id="update-user",
    ),
    pytest.param("POST", "/login", {"email": ["x"], "password": 12345678}, {"email", "password"}, id="login"),
    pytest.param(
        "POST",
        "/books",
        {"title": "", "year": "2005", "isbn": "x"},
        {"title", "author", "genre", "year", "isbn"},
        id="create-book",
    ),
    pytest.param(
        "POST",
        "/books",
        {"title": "T", "author": "A", "genre": "G", "year": 10**6},
        {"year"},
        id="create-book-year-range",
    ),
    pytest.param(
        "PUT",
        "/books/{book}",
        {"title": None, "author": "", "year": 1.5},
        {"title", "author", "year"},
        id="update-book",
    ),
    pytest.param(
        "POST", "/blogs", {"title": "x" * 256, "user_id": 1}, {"title", "content", "user_id"}, id="create-blog"
    ),
    pytest.param("PUT", "/blogs/{blog}", {"title": "", "content": ""}, {"title", "content"}, id="update-blog"),
]
BODY_PATHS = [
    ("POST", "/users"),
    ("PUT", "/users/{user}"),
    ("POST", "/login"),
    ("POST", "/books"),
    ("PUT", "/books/{book}"),
    ("POST", "/blogs"),
    ("PUT", "/blogs/{blog}"),
]
PROTECTED = [
    ("GET", "/users"),
    ("GET", "/users/1"),
    ("PUT", "/users/1"),
    ("DELETE", "/users/1"),
    ("POST", "/books"),
    ("PUT", "/books/1"),
    ("DELETE", "/books/1"),
    ("POST", "/blogs"),
    ("PUT", "/blogs/1"),
    ("DELETE", "/blogs/1"),
]


async def _world(factory: Factory) -> tuple[AUser, dict[str, int]]:
    """A user, and the ids of that user, a book, and a blog of theirs, to fill in paths."""
    user = await factory.user()
    book, blog = await factory.book(), await factory.blog(user)
    return user, {"user": user.id, "book": book.id, "blog": blog.id}


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize(("method", "prefix", "body"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES])
async def test_an_id_that_is_not_1_to_2_63_minus_1_is_400(
    client: Client, factory: Factory, method: str, prefix: str, body: dict[str, Any] | None, bad_id: str
) -> None:
    user = await factory.user()
    response = await client.request(method, prefix + bad_id, json=body, headers=user.auth)
    error(response, 400, INVALID_ID)


@pytest.mark.parametrize(("method", "path", "body", "fields"), BODY_ROUTES)
async def test_an_invalid_body_is_400_naming_each_bad_field(
    client: Client, factory: Factory, method: str, path: str, body: dict[str, Any], fields: set[str]
) -> None:
    user, world = await _world(factory)
    response = await client.request(method, path.format(**world), json=body, headers=user.auth)
    assert bad_fields(response) == fields


MALFORMED = [b'{"title": ', b"{'title': 'x'}", b"not json", b"", b"[]", b"null", b'"text"', b"42", b"\xff\xfe{}"]
TOO_DEEP = [b"[" * 5000, b'{"title":' * 5000]


@pytest.mark.parametrize("raw", MALFORMED + TOO_DEEP, ids=lambda raw: repr(raw[:12]))
@pytest.mark.parametrize(("method", "path"), BODY_PATHS)
async def test_a_malformed_or_non_object_body_is_400_naming_the_body(
    client: Client, factory: Factory, method: str, path: str, raw: bytes
) -> None:
    user, world = await _world(factory)
    headers = {**user.auth, "Content-Type": "application/json"}
    response = await client.request(method, path.format(**world), content=raw, headers=headers)
    assert bad_fields(response) == {"body"}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/books", book_body(year="x")), ("/blogs", blog_body(content="")), ("/users", user_body(password="short"))],
    ids=["books", "blogs", "users"],
)
async def test_a_refused_create_writes_nothing(
    client: Client, factory: Factory, path: str, body: dict[str, Any]
) -> None:
    user = await factory.user()
    before = await total(client, path, user.auth)
    error(await client.post(path, json=body, headers=user.auth), 400)
    assert await total(client, path, user.auth) == before


async def test_a_refused_update_changes_nothing(client: Client, factory: Factory) -> None:
    user, book = await factory.user(), await factory.book()
    error(await client.put(f"/books/{book.id}", json={"title": "New", "year": "x"}, headers=user.auth), 400)
    assert (await client.get(f"/books/{book.id}")).json()["data"]["title"] == book.title


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_every_protected_route_is_401_without_a_token_whatever_else_is_wrong(
    client: Client, method: str, path: str
) -> None:
    error(await client.request(method, path, content=b"{broken"), 401, "missing or malformed jwt")


@pytest.mark.parametrize("path", ["/nope", "/book", "/books/1/extra", "/users/1/blogs", "/api/books"])
async def test_an_unknown_route_is_404_json(client: Client, path: str) -> None:
    error(await client.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "/books/1"), ("DELETE", "/books"), ("PUT", "/blogs"), ("GET", "/login"), ("POST", "/healthz")],
)
async def test_an_unknown_method_is_405_json_with_allow(client: Client, method: str, path: str) -> None:
    response = await client.request(method, path)
    error(response, 405)
    assert method not in response.headers["allow"]


@pytest.mark.parametrize("limit", ["0", "-1", "101", "abc", "1.5"])
@pytest.mark.parametrize("path", ["/books", "/blogs", "/users"])
async def test_a_bad_limit_is_400_naming_limit(client: Client, factory: Factory, path: str, limit: str) -> None:
    user = await factory.user()
    body = error(await client.get(path, params={"limit": limit}, headers=user.auth), 400)
    assert [e["field"] for e in body["errors"]] == ["limit"]


@pytest.mark.parametrize("offset", ["-1", "abc"])
@pytest.mark.parametrize("path", ["/books", "/blogs", "/users"])
async def test_a_bad_offset_is_400_naming_offset(client: Client, factory: Factory, path: str, offset: str) -> None:
    user = await factory.user()
    body = error(await client.get(path, params={"offset": offset}, headers=user.auth), 400)
    assert [e["field"] for e in body["errors"]] == ["offset"]


# (method, path with a trailing slash, status, body from the world's user).
SLASHED: list[tuple[str, str, int, Callable[[AUser], dict[str, Any]] | None]] = [
    ("GET", "/healthz/", 200, None),
    ("GET", "/readyz/", 200, None),
    ("POST", "/users/", 201, lambda u: user_body()),
    ("POST", "/login/", 200, lambda u: {"email": u.email, "password": u.password}),
    ("GET", "/users/", 200, None),
    ("GET", "/users/{user}/", 200, None),
    ("PUT", "/users/{user}/", 200, lambda u: {"name": "Slashed"}),
    ("DELETE", "/users/{user}/", 200, None),
    ("GET", "/books/", 200, None),
    ("POST", "/books/", 201, lambda u: book_body()),
    ("GET", "/books/{book}/", 200, None),
    ("PUT", "/books/{book}/", 200, lambda u: {"year": 1999}),
    ("DELETE", "/books/{book}/", 200, None),
    ("GET", "/blogs/", 200, None),
    ("POST", "/blogs/", 201, lambda u: blog_body()),
    ("GET", "/blogs/{blog}/", 200, None),
    ("PUT", "/blogs/{blog}/", 200, lambda u: {"title": "Slashed"}),
    ("DELETE", "/blogs/{blog}/", 200, None),
]


@pytest.mark.parametrize(("method", "path", "status", "body"), SLASHED, ids=[f"{m} {p}" for m, p, _, _ in SLASHED])
async def test_a_trailing_slash_is_accepted_on_every_path(
    client: Client, factory: Factory, method: str, path: str, status: int, body: Callable[[AUser], Any] | None
) -> None:
    user, world = await _world(factory)
    json = body(user) if body else None
    response = await client.request(method, path.format(**world), json=json, headers=user.auth)
    assert response.status_code == status, response.text
