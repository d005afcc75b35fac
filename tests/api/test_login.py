"""POST /login: an email and password in, an HS256 token the original's clients can read out."""

from __future__ import annotations

from typing import Any

import bcrypt
import httpx
import jwt
from sqlalchemy import select

from shared.db import Database
from shared.models import User
from tests.api.expect import Client, bad_fields, error, ok
from tests.conftest import TEST_SECRET
from tests.factories import Factory, bearer

INVALID_CREDENTIALS = "invalid credentials"


async def login(client: Client, email: str, password: str) -> httpx.Response:
    return await client.post("/login", json={"email": email, "password": password})


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    return decoded


async def test_login_answers_200_with_a_token_and_message_only(client: Client, factory: Factory) -> None:
    user = await factory.user()
    body = ok(await login(client, user.email, user.password), 200, "success login")
    assert set(body) == {"message", "token"}


async def test_token_is_hs256_with_user_id_authorized_and_exp(client: Client, factory: Factory) -> None:
    user = await factory.user()
    token = (await login(client, user.email, user.password)).json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = claims(token)
    assert (decoded["user_id"], decoded["authorized"]) == (user.id, True)
    assert isinstance(decoded["exp"], int)


async def test_token_from_login_authenticates_requests(client: Client, factory: Factory) -> None:
    user = await factory.user()
    token = (await login(client, user.email, user.password)).json()["token"]
    ok(await client.get(f"/users/{user.id}", headers=bearer(token)), 200, "success getting user")


async def test_email_is_matched_in_any_case(client: Client, factory: Factory) -> None:
    user = await factory.user()
    ok(await login(client, user.email.upper(), user.password), 200, "success login")


async def test_wrong_password_is_401_invalid_credentials(client: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await login(client, user.email, "not the password"), 401, INVALID_CREDENTIALS)


async def test_unknown_email_fails_with_the_same_message_as_a_wrong_password(client: Client) -> None:
    error(await login(client, "nobody-here@example.com", "whatever-it-is"), 401, INVALID_CREDENTIALS)


async def test_deleted_user_cannot_log_in(client: Client, factory: Factory) -> None:
    user = await factory.user()
    ok(await client.delete(f"/users/{user.id}", headers=user.auth), 200, "success deleting user")
    error(await login(client, user.email, user.password), 401, INVALID_CREDENTIALS)


async def test_empty_password_is_401_not_a_crash(client: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await login(client, user.email, ""), 401, INVALID_CREDENTIALS)


async def test_login_body_missing_fields_is_400_naming_each(client: Client) -> None:
    assert bad_fields(await client.post("/login", json={})) == {"email", "password"}


async def test_login_body_of_wrong_types_is_400_naming_each(client: Client) -> None:
    assert bad_fields(await client.post("/login", json={"email": 1, "password": None})) == {"email", "password"}


async def test_login_ignores_a_bad_authorization_header(client: Client, factory: Factory) -> None:
    user = await factory.user()
    response = await client.post(
        "/login", json={"email": user.email, "password": user.password}, headers=bearer("garbage")
    )
    ok(response, 200, "success login")


async def test_legacy_bcrypt_user_logs_in_and_the_hash_becomes_argon2id(
    client: Client, factory: Factory, db: Database
) -> None:
    legacy = bcrypt.hashpw(b"old-go-password", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$", 1)
    user = await factory.user_with_stored_password(legacy, "old-go-password")
    async with db.sessions() as session:
        updated_before = await session.scalar(select(User.updated_at).where(User.id == user.id))
    ok(await login(client, user.email, user.password), 200, "success login")
    async with db.sessions() as session:
        stored, updated_after = (
            await session.execute(select(User.password, User.updated_at).where(User.id == user.id))
        ).one()
    assert stored.startswith("$argon2id$")
    assert updated_after == updated_before  # the rehash is not an edit of the user
    ok(await login(client, user.email, user.password), 200, "success login")
