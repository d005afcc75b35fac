"""Accounts against takeover and enumeration: one email rule, current_password, tokens ended, limits.

Tests that count attempts run on an app of their own with small limits and a Redis
namespace of their own, so the suite's other requests never meet their counters.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.throttle import LoginThrottle
from shared.settings import Settings
from tests.api.expect import Client, bad_fields, error, ok
from tests.factories import Factory, bearer, user_body

INVALID_JWT = "invalid or expired jwt"
TOO_MANY = "too many failed logins, try again later"
WRONG_PASSWORD = "current password is incorrect"
PER_EMAIL = 3


def own_settings(settings: Settings, **limits: int) -> Settings:
    return settings.model_copy(
        update={"redis_namespace": f"{settings.redis_namespace}-accounts-{secrets.token_hex(4)}", **limits}
    )


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[Client]:
    """3 password attempts per email, 2 registrations per address."""
    own = own_settings(settings, login_max_failures_per_email=PER_EMAIL, registration_max_per_address=2)
    async with AsyncTestClient(app=create_app(own)) as client:
        yield client


async def login(client: Client, email: str, password: str) -> str:
    response = await client.post("/login", json={"email": email, "password": password})
    token: str = ok(response, 200, "success login")["token"]
    return token


# --- one notion of the same email -------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda e: e.upper(), id="upper case"),
        pytest.param(lambda e: "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in e), id="fullwidth"),
        pytest.param(lambda e: e.replace("@example.com", "@EXAMPLE.com"), id="domain case"),
    ],
)
async def test_a_look_alike_spelling_of_a_registered_email_is_the_same_account(
    client: Client, factory: Factory, spelling: Callable[[str], str]
) -> None:
    user = await factory.user()
    error(await client.post("/users", json=user_body(email=spelling(user.email))), 409, "email is already registered")
    ok(
        await client.post("/login", json={"email": spelling(user.email), "password": user.password}),
        200,
        "success login",
    )


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("look\u200balike@example.com", id="zero-width space"),
        pytest.param("lookalike@example.com.", id="trailing dot"),
        pytest.param("look\u0430like@example.com", id="Cyrillic a among Latin letters"),
        pytest.param("a@b.co,postmaster", id="a list of recipients"),
        pytest.param("x<root>a@b.co", id="angle brackets"),
        pytest.param("Name <n@b.co>", id="a display name"),
    ],
)
async def test_an_email_that_is_not_exactly_one_plain_address_is_refused(client: Client, email: str) -> None:
    assert bad_fields(await client.post("/users", json=user_body(email=email))) == {"email"}


async def test_an_accented_spelling_is_not_a_way_around_a_locked_email(strict: Client, factory: Factory) -> None:
    """The lookup compares the normal form byte for byte, like the throttle: no accent-insensitive match."""
    user = await factory.user(email=f"alice-{secrets.token_hex(3)}@example.com")
    for _ in range(PER_EMAIL):
        error(await strict.post("/login", json={"email": user.email, "password": "wrong guess"}), 401)
    accented = user.email.replace("@example.com", "@ex\u00e1mple.com")
    response = await strict.post("/login", json={"email": accented, "password": user.password})
    assert response.status_code != 200, response.text
    error(response, 401, "invalid credentials")


# --- current_password and token versions ------------------------------------------------


@pytest.mark.parametrize("change", [{"email": "new-address@example.com"}, {"password": "a-new-password"}])
async def test_changing_email_or_password_without_current_password_is_403_and_changes_nothing(
    client: Client, factory: Factory, change: dict[str, str]
) -> None:
    user = await factory.user()
    response = await client.put(f"/users/{user.id}", json=change, headers=user.auth)
    body = error(response, 403, "current password is required to change the email or the password")
    assert body["errors"] == [{"field": "current_password", "message": "is required"}]
    ok(await client.post("/login", json={"email": user.email, "password": user.password}), 200, "success login")


@pytest.mark.parametrize("change", [{"email": "other-address@example.com"}, {"password": "a-new-password"}])
async def test_a_wrong_current_password_is_403_and_changes_nothing(
    client: Client, factory: Factory, change: dict[str, str]
) -> None:
    user = await factory.user()
    body = {**change, "current_password": "not the password"}
    error(await client.put(f"/users/{user.id}", json=body, headers=user.auth), 403, WRONG_PASSWORD)
    own = ok(await client.get(f"/users/{user.id}", headers=user.auth), 200, "success getting user")
    assert own["email"] == user.email
    ok(await client.post("/login", json={"email": user.email, "password": user.password}), 200, "success login")


async def test_guessing_the_current_password_with_a_token_is_throttled_like_a_login(
    strict: Client, factory: Factory
) -> None:
    user = await factory.user()
    body = {"password": "a-new-password", "current_password": "guess-guess"}
    for _ in range(PER_EMAIL):
        error(await strict.put(f"/users/{user.id}", json=body, headers=user.auth), 403, WRONG_PASSWORD)
    right = {"password": "a-new-password", "current_password": user.password}
    response = await strict.put(f"/users/{user.id}", json=right, headers=user.auth)
    error(response, 429, TOO_MANY)
    assert int(response.headers["retry-after"]) > 0


async def test_a_password_change_ends_every_token_issued_before_it(client: Client, factory: Factory) -> None:
    user = await factory.user()
    earlier = await login(client, user.email, user.password)
    ok(await client.get("/users", headers=bearer(earlier)), 200, "success getting users")  # remembered as live
    change = {"password": "a-brand-new-one", "current_password": user.password}
    ok(await client.put(f"/users/{user.id}", json=change, headers=user.auth), 200, "success updating user")

    for token in (user.token, earlier):
        error(await client.get("/users", headers=bearer(token)), 401, INVALID_JWT)
    fresh = await login(client, user.email, "a-brand-new-one")
    ok(await client.get("/users", headers=bearer(fresh)), 200, "success getting users")


async def test_an_email_or_name_change_keeps_the_token(client: Client, factory: Factory) -> None:
    user = await factory.user()
    change = {"email": f"kept-{secrets.token_hex(3)}@example.com", "current_password": user.password}
    ok(await client.put(f"/users/{user.id}", json=change, headers=user.auth), 200, "success updating user")
    ok(await client.put(f"/users/{user.id}", json={"name": "Renamed"}, headers=user.auth), 200, "success updating user")
    ok(await client.get("/users", headers=user.auth), 200, "success getting users")


async def test_a_token_of_the_original_service_without_a_version_still_works(client: Client, factory: Factory) -> None:
    user = await factory.user()
    legacy = factory.forged_token(user.id)  # user_id, authorized, exp: no "ver"
    ok(await client.get("/users", headers=bearer(legacy)), 200, "success getting users")


@pytest.mark.parametrize("ver", [-1, "1", 1.5, None])
async def test_a_token_with_a_malformed_version_is_401(client: Client, factory: Factory, ver: object) -> None:
    user = await factory.user()
    error(await client.get("/users", headers=bearer(factory.forged_token(user.id, ver=ver))), 401, INVALID_JWT)


# --- registration limit and throttle keys -------------------------------------------------


async def test_registrations_from_one_address_beyond_the_limit_are_429_with_retry_after(strict: Client) -> None:
    for _ in range(2):
        ok(await strict.post("/users", json=user_body()), 201, "success creating user")
    response = await strict.post("/users", json=user_body())
    error(response, 429, "too many registrations, try again later")
    assert int(response.headers["retry-after"]) > 0


async def test_concurrent_reservations_let_exactly_the_limit_through(settings: Settings) -> None:
    """Forty at once at one email: the Lua script decides each in turn, so five pass."""
    own = own_settings(settings, login_max_failures_per_email=5)
    client = aioredis.Redis.from_url(own.redis_url)
    throttle = LoginThrottle(client, own)
    try:
        waits = await asyncio.gather(*(throttle.reserve("one@example.com", f"198.51.100.{i}") for i in range(40)))
    finally:
        await client.aclose()
    assert waits.count(None) == 5
    assert all(w is not None and 0 < w <= own.login_failure_window_seconds for w in waits if w is not None)


async def test_throttle_keys_are_bounded_and_hold_no_address_or_email(settings: Settings) -> None:
    own = own_settings(settings)
    client = aioredis.Redis.from_url(own.redis_url)
    throttle = LoginThrottle(client, own)
    address, email = "9" * 100_000, "someone@example.com"
    try:
        assert await throttle.reserve(email, address) is None
        keys = [k.decode() async for k in client.scan_iter(match=f"{own.redis_namespace}:*")]
        await client.delete(*keys)
    finally:
        await client.aclose()
    assert len(keys) == 2
    assert all(len(k) < len(own.redis_namespace) + 100 for k in keys)
    # A digest stands in for each; a random namespace or digest may hold "999" by chance.
    assert all(re.fullmatch("[0-9a-f]{32}", k.rsplit(":", 1)[1]) for k in keys)
    assert not any("9" * 33 in k or "someone" in k or "@" in k for k in keys)
