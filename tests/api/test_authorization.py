"""Who may write what: every write route refuses a missing token, and users and blogs their non-owners.

Also token rules beyond tests/api/test_users.py's (bad signature, expiry,
``none``, HS512, missing claims): an RS256 or otherwise re-labelled token is refused, and
a token dies with its user.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from api.app import create_app
from api.auth import INVALID_JWT, MISSING_JWT
from shared.db import Database
from shared.models import Blog, User, utcnow
from shared.settings import Settings
from tests.api.expect import Client, error, ok
from tests.factories import Factory, bearer, blog_body, book_body

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# The only write routes anyone may call without a token: registering and logging in.
PUBLIC_WRITES = {("POST", "/users"), ("POST", "/login")}


def write_routes(app: Litestar) -> list[tuple[str, str, bool]]:
    """(method, path template, public) for every write route the app serves."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods & WRITES:
                found.append((method, route.path, bool(handler.opt.get("public"))))
    return sorted(found)


def concrete(path: str, ident: int = 1) -> str:
    return re.sub(r"\{[^}]+\}", str(ident), path)


def test_only_registration_and_login_are_writes_without_a_token(app: Litestar) -> None:
    """A write route marked public by mistake would show up here."""
    public = {(method, path.rstrip("/")) for method, path, is_public in write_routes(app) if is_public}
    assert public == PUBLIC_WRITES


async def test_every_protected_write_route_is_401_without_a_token_or_with_a_bad_one(
    app: Litestar, client: Client, factory: Factory
) -> None:
    user = await factory.user()
    routes = [(m, p) for m, p, public in write_routes(app) if not public]
    assert len(routes) >= 8  # users, books and blogs at least
    for method, path in routes:
        url = concrete(path, user.id)
        error(await client.request(method, url, json={}), 401, MISSING_JWT)
        error(await client.request(method, url, json={}, headers={"Authorization": "Basic eDp5"}), 401, MISSING_JWT)
        error(await client.request(method, url, json={}, headers=bearer("not.a.jwt")), 401, INVALID_JWT)


@pytest.mark.parametrize(
    ("method", "resource"), [("PUT", "users"), ("DELETE", "users"), ("PUT", "blogs"), ("DELETE", "blogs")]
)
async def test_another_users_user_or_blog_is_403_and_left_as_it_was(
    client: Client, factory: Factory, method: str, resource: str
) -> None:
    owner, other = await factory.user(), await factory.user()
    if resource == "users":
        url, body, what = f"/users/{owner.id}", {"name": "taken over"}, "user"
    else:
        url, body, what = f"/blogs/{(await factory.blog(owner)).id}", {"title": "taken over"}, "blogs"
    before = await client.get(url, headers=owner.auth)
    response = await client.request(method, url, json=body if method == "PUT" else None, headers=other.auth)
    error(response, 403, f"you may only change your own {what}")
    after = await client.get(url, headers=owner.auth)
    assert after.status_code == 200 and after.json() == before.json()


async def test_any_signed_in_user_may_change_any_book_as_in_the_original(client: Client, factory: Factory) -> None:
    """Books have no owner in the original contract: a token is all a book write needs."""
    book = await factory.book()
    other = await factory.user()
    ok(await client.put(f"/books/{book.id}", json=book_body(), headers=other.auth), 200, "success updating book")


def hand_made_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(payload).encode()), part(signature)])


@pytest.mark.parametrize(
    "alg",
    ["RS256", "ES256", "PS256", "none", "None", "NONE", "nOnE", "", "hs256"],
)
async def test_a_token_labelled_with_any_algorithm_but_hs256_is_401(client: Client, factory: Factory, alg: str) -> None:
    """The algorithm is pinned: a public-key or unsigned label never reaches a verifier that trusts it."""
    user = await factory.user()
    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    token = hand_made_token({"alg": alg, "typ": "JWT"}, {"user_id": user.id, "authorized": True, "exp": exp}, b"sig")
    error(await client.get(f"/users/{user.id}", headers=bearer(token)), 401, INVALID_JWT)
    ok(await client.get(f"/users/{user.id}", headers=user.auth), 200, "success getting user")  # the real one works


async def test_a_deleted_users_token_is_refused_from_the_next_request_on(client: Client, factory: Factory) -> None:
    user = await factory.user()
    ok(await client.get("/users", headers=user.auth), 200, "success getting users")  # remembered as live
    ok(await client.delete(f"/users/{user.id}", headers=user.auth), 200, "success deleting user")
    error(await client.get("/users", headers=user.auth), 401, INVALID_JWT)
    error(await client.post("/blogs", json=blog_body(), headers=user.auth), 401, INVALID_JWT)


async def test_a_user_deleted_behind_the_apis_back_loses_their_token_too(
    settings: Settings, db: Database, factory: Factory
) -> None:
    """With no cache (AUTH_USER_CACHE_SECONDS=0) every request asks the database."""
    user = await factory.user()
    async with AsyncTestClient(app=create_app(settings.model_copy(update={"auth_user_cache_seconds": 0}))) as fresh:
        ok(await fresh.get("/users", headers=user.auth), 200, "success getting users")
        async with db.sessions.begin() as session:
            await session.execute(update(User).where(User.id == user.id).values(deleted_at=utcnow()))
        error(await fresh.get("/users", headers=user.auth), 401, INVALID_JWT)


async def test_a_deleted_users_blogs_cannot_be_changed_with_their_token(client: Client, factory: Factory) -> None:
    user = await factory.user()
    blog = await factory.blog(user)
    ok(await client.delete(f"/users/{user.id}", headers=user.auth), 200, "success deleting user")
    error(await client.put(f"/blogs/{blog.id}", json={"title": "ghost"}, headers=user.auth), 401, INVALID_JWT)
    async with factory.db.sessions() as session:
        stored = await session.get(Blog, blog.id)
        assert stored is not None and stored.title != "ghost"
