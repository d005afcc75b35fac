"""/users: registration is public, reads need a token, a user changes and deletes only themself."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shared.db import Database
from shared.models import User
from tests.api.expect import Client, error, ids, ok, page, total
from tests.factories import DEFAULT_PASSWORD, Factory, bearer, user_body

USER_FIELDS = {"id", "name", "email", "created_at", "updated_at"}
MISSING_JWT = "missing or malformed jwt"
INVALID_JWT = "invalid or expired jwt"


async def register(client: Client, **fields: Any) -> httpx.Response:
    return await client.post("/users", json=user_body(**fields))


async def login(client: Client, email: str, password: str) -> httpx.Response:
    return await client.post("/login", json={"email": email, "password": password})


def assert_no_password(response: httpx.Response) -> None:
    assert "password" not in response.text
    assert DEFAULT_PASSWORD not in response.text
    assert "$argon2" not in response.text


async def test_register_answers_201_with_the_user_and_no_password(client: Client) -> None:
    response = await register(client, name="Ayu", email="ayu.register@example.com")
    data = ok(response, 201, "success creating user")
    assert set(data) == USER_FIELDS
    assert (data["name"], data["email"]) == ("Ayu", "ayu.register@example.com")
    assert_no_password(response)


async def test_register_stores_an_argon2id_hash_not_the_password(client: Client, db: Database) -> None:
    data = ok(await register(client, password="plain-text-never"), 201, "success creating user")
    async with db.sessions() as session:
        stored = await session.scalar(select(User.password).where(User.id == data["id"]))
    assert stored is not None and stored.startswith("$argon2id$")


async def test_passwords_never_reach_the_logs(
    client: Client, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await factory.user()
    await register(client, password="logged-never-1")
    await login(client, user.email, "logged-never-2")
    await client.put(f"/users/{user.id}", json={"password": "logged-never-3"}, headers=user.auth)
    await client.post("/users", json=user_body(email="bad", password="logged-never-4"))
    assert caplog.records  # the capture works (the HTTP client logs each request)
    assert "logged-never" not in caplog.text
    assert not [r for r in caplog.records if "logged-never" in repr(r.args) or "logged-never" in str(r.msg)]


async def test_registered_user_can_log_in(client: Client) -> None:
    await register(client, email="budi.login@example.com", password="budi-password")
    ok(await login(client, "budi.login@example.com", "budi-password"), 200, "success login")


async def test_register_stores_the_email_in_lower_case(client: Client) -> None:
    data = ok(await register(client, email="Citra.Case@Example.COM"), 201, "success creating user")
    assert data["email"] == "citra.case@example.com"


async def test_register_with_a_live_users_email_is_409_in_any_case(client: Client, factory: Factory) -> None:
    existing = await factory.user()
    before = await total(client, "/users", existing.auth)
    error(await register(client, email=existing.email), 409)
    error(await register(client, email=existing.email.upper()), 409)
    assert await total(client, "/users", existing.auth) == before


async def test_email_of_a_deleted_user_can_be_registered_again(client: Client, factory: Factory) -> None:
    gone = await factory.user()
    ok(await client.delete(f"/users/{gone.id}", headers=gone.auth), 200, "success deleting user")
    data = ok(await register(client, email=gone.email), 201, "success creating user")
    assert data["id"] != gone.id


async def test_simultaneous_registrations_of_one_email_make_one_user(client: Client) -> None:
    body = user_body(email="twins.race@example.com")
    first, second = await asyncio.gather(client.post("/users", json=body), client.post("/users", json=body))
    assert sorted([first.status_code, second.status_code]) == [201, 409]


async def test_update_to_the_email_of_a_deleted_user_is_allowed(client: Client, factory: Factory) -> None:
    user, gone = await factory.user(), await factory.user()
    ok(await client.delete(f"/users/{gone.id}", headers=gone.auth), 200, "success deleting user")
    response = await client.put(f"/users/{user.id}", json={"email": gone.email}, headers=user.auth)
    assert ok(response, 200, "success updating user")["email"] == gone.email


async def test_list_users_pages_with_meta_and_no_password(client: Client, factory: Factory) -> None:
    user = await factory.user()
    response = await client.get("/users", headers=user.auth)
    body = await page(client, "/users", user.auth)
    assert body["message"] == "success getting users"
    assert {k: v for k, v in body["meta"].items() if k != "next_cursor"} == {
        "total": body["meta"]["total"],
        "limit": 20,
        "offset": 0,
    }
    assert all(set(row) == USER_FIELDS for row in body["data"])
    assert_no_password(response)


async def test_list_users_window_and_total_follow_registrations_and_deletes(client: Client, factory: Factory) -> None:
    user = await factory.user()
    before = await total(client, "/users", user.auth)
    made = [await factory.user() for _ in range(3)]
    body = await page(client, "/users", user.auth, limit=2, offset=before + 1)
    assert [row["id"] for row in body["data"]] == [made[1].id, made[2].id]
    await client.delete(f"/users/{made[0].id}", headers=made[0].auth)
    assert await total(client, "/users", user.auth) == before + 2


async def test_list_users_refuses_a_limit_over_100(client: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await client.get("/users", params={"limit": 101}, headers=user.auth), 400)


async def test_get_user_returns_the_user_and_no_password(client: Client, factory: Factory) -> None:
    user, other = await factory.user(), await factory.user()
    response = await client.get(f"/users/{other.id}", headers=user.auth)
    data = ok(response, 200, "success getting user")
    assert set(data) == USER_FIELDS
    assert (data["id"], data["name"], data["email"]) == (other.id, other.name, other.email)
    assert_no_password(response)


async def test_get_unknown_user_is_404(client: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await client.get(f"/users/{2**63 - 1}", headers=user.auth), 404, "record not found")


@pytest.mark.parametrize("path", ["/users", "/users/1"])
@pytest.mark.parametrize("authorization", [None, "Basic eDp5", "Bearer", "Bearer   ", "Token abc", "eyJhbGciOi.x.y"])
async def test_reading_users_without_a_bearer_token_is_401_missing(
    client: Client, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    error(await client.get(path, headers=headers), 401, MISSING_JWT)


@pytest.mark.parametrize("path", ["/users", "/users/1"])
@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda f, uid: "garbage", id="garbage"),
        pytest.param(lambda f, uid: "a.b.c", id="three-garbage-parts"),
        pytest.param(lambda f, uid: f.forged_token(uid, secret="not-the-secret-" + "y" * 32), id="bad-signature"),
        pytest.param(lambda f, uid: f.expired_token(uid), id="expired"),
        pytest.param(lambda f, uid: f.forged_token(uid, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda f, uid: f.forged_token(uid, algorithm="HS512"),
            id="other-algorithm",
            marks=pytest.mark.filterwarnings("ignore:The HMAC key"),  # the test secret is short for HS512
        ),
        pytest.param(lambda f, uid: f.forged_token(uid, exp=None), id="no-expiry"),
        pytest.param(lambda f, uid: f.forged_token(str(uid)), id="user-id-not-a-number"),
        pytest.param(lambda f, uid: f.forged_token(0), id="user-id-zero"),
    ],
)
async def test_reading_users_with_a_token_that_fails_verification_is_401_invalid(
    client: Client, factory: Factory, path: str, make_token: Any
) -> None:
    user = await factory.user()
    error(await client.get(path, headers=bearer(make_token(factory, user.id))), 401, INVALID_JWT)


async def test_a_token_from_login_reads_users(client: Client, factory: Factory) -> None:
    user = await factory.user()
    token = (await login(client, user.email, user.password)).json()["token"]
    ok(await client.get(f"/users/{user.id}", headers=bearer(token)), 200, "success getting user")


async def test_update_name_only_keeps_the_email_and_returns_the_stored_row(client: Client, factory: Factory) -> None:
    user = await factory.user()
    response = await client.put(f"/users/{user.id}", json={"name": "Dewi Baru"}, headers=user.auth)
    data = ok(response, 200, "success updating user")
    assert (data["id"], data["name"], data["email"]) == (user.id, "Dewi Baru", user.email)
    assert ok(await client.get(f"/users/{user.id}", headers=user.auth), 200, "success getting user") == data
    assert_no_password(response)


async def test_update_name_only_keeps_the_password(client: Client, factory: Factory) -> None:
    user = await factory.user()
    await client.put(f"/users/{user.id}", json={"name": "Eka"}, headers=user.auth)
    ok(await login(client, user.email, user.password), 200, "success login")


async def test_update_password_lets_the_new_one_in_and_keeps_the_old_one_out(client: Client, factory: Factory) -> None:
    user = await factory.user()
    response = await client.put(f"/users/{user.id}", json={"password": "a-brand-new-secret"}, headers=user.auth)
    ok(response, 200, "success updating user")
    assert "a-brand-new-secret" not in response.text
    ok(await login(client, user.email, "a-brand-new-secret"), 200, "success login")
    error(await login(client, user.email, user.password), 401, "invalid credentials")


async def test_update_email_stores_it_in_lower_case(client: Client, factory: Factory) -> None:
    user = await factory.user()
    response = await client.put(f"/users/{user.id}", json={"email": "Fajar.New@Example.com"}, headers=user.auth)
    assert ok(response, 200, "success updating user")["email"] == "fajar.new@example.com"
    ok(await login(client, "fajar.new@example.com", user.password), 200, "success login")


async def test_update_email_to_another_live_users_is_409(client: Client, factory: Factory) -> None:
    user, other = await factory.user(), await factory.user()
    error(await client.put(f"/users/{user.id}", json={"email": other.email.upper()}, headers=user.auth), 409)
    assert ok(await client.get(f"/users/{user.id}", headers=user.auth), 200, "success getting user")["email"] == (
        user.email
    )


async def test_update_email_to_ones_own_is_fine(client: Client, factory: Factory) -> None:
    user = await factory.user()
    ok(
        await client.put(f"/users/{user.id}", json={"email": user.email}, headers=user.auth),
        200,
        "success updating user",
    )


async def test_updating_another_user_is_403_and_changes_nothing(client: Client, factory: Factory) -> None:
    user, other = await factory.user(), await factory.user()
    error(await client.put(f"/users/{other.id}", json={"name": "hijacked"}, headers=user.auth), 403)
    assert ok(await client.get(f"/users/{other.id}", headers=user.auth), 200, "success getting user")["name"] == (
        other.name
    )


async def test_deleting_another_user_is_403_and_deletes_nothing(client: Client, factory: Factory) -> None:
    user, other = await factory.user(), await factory.user()
    error(await client.delete(f"/users/{other.id}", headers=user.auth), 403)
    ok(await client.get(f"/users/{other.id}", headers=user.auth), 200, "success getting user")


async def test_writes_on_users_need_a_token(client: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await client.put(f"/users/{user.id}", json={"name": "x"}), 401, MISSING_JWT)
    error(await client.delete(f"/users/{user.id}"), 401, MISSING_JWT)


async def test_delete_self_answers_only_a_message(client: Client, factory: Factory) -> None:
    user = await factory.user()
    response = await client.delete(f"/users/{user.id}", headers=user.auth)
    assert response.status_code == 200
    assert response.json() == {"message": "success deleting user"}


async def test_deleted_user_vanishes_from_list_and_get(client: Client, factory: Factory) -> None:
    user, reader = await factory.user(), await factory.user()
    await client.delete(f"/users/{user.id}", headers=user.auth)
    error(await client.get(f"/users/{user.id}", headers=reader.auth), 404, "record not found")
    assert user.id not in await ids(client, "/users", reader.auth)


async def test_deleted_user_cannot_be_updated_or_deleted_again(client: Client, factory: Factory) -> None:
    """The row is gone (404), and since a token dies with its user the token itself is refused (401)."""
    user = await factory.user()
    await client.delete(f"/users/{user.id}", headers=user.auth)
    updated = await client.put(f"/users/{user.id}", json={"name": "back"}, headers=user.auth)
    deleted = await client.delete(f"/users/{user.id}", headers=user.auth)
    for response in (updated, deleted):
        answer = (response.status_code, error(response, response.status_code)["message"])
        assert answer in {(404, "record not found"), (401, "invalid or expired jwt")}
