"""Login against guessing: throttled in Redis, the same work and answer for unknown emails, legacy hashes safe.

The throttle tests run on an app of their own with small limits and a Redis namespace of
their own, so the suite's other logins never meet their counters.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import bcrypt
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from api.app import create_app
from shared import passwords
from shared.db import Database
from shared.embedded import free_port
from shared.models import User
from shared.settings import Settings
from tests.api.expect import Client, error, ok
from tests.factories import AUser, Factory

INVALID_CREDENTIALS = "invalid credentials"
TOO_MANY = "too many failed logins, try again later"
PER_EMAIL, PER_ADDRESS, WINDOW = 3, 7, 120


async def login(client: Client, email: str, password: str) -> httpx.Response:
    return await client.post("/login", json={"email": email, "password": password})


def throttled(response: httpx.Response) -> int:
    """The Retry-After of a 429 (after checking it is one, with the JSON message)."""
    error(response, 429, TOO_MANY)
    wait = int(response.headers["retry-after"])
    assert 0 < wait <= WINDOW
    return wait


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[Client]:
    """An app that throttles after 3 failures per email and 7 per client address, in a 120 s window."""
    own = settings.model_copy(
        update={
            "login_max_failures_per_email": PER_EMAIL,
            "login_max_failures_per_address": PER_ADDRESS,
            "login_failure_window_seconds": WINDOW,
            "redis_namespace": f"{settings.redis_namespace}-throttle-{secrets.token_hex(4)}",
        }
    )
    async with AsyncTestClient(app=create_app(own)) as client:
        yield client


async def test_failures_for_one_email_end_in_429_with_retry_after_even_for_the_right_password(
    strict: Client, factory: Factory
) -> None:
    user = await factory.user()
    for _ in range(PER_EMAIL):
        error(await login(strict, user.email, "wrong password"), 401, INVALID_CREDENTIALS)
    throttled(await login(strict, user.email, "wrong password"))
    throttled(await login(strict, user.email.upper(), user.password))  # the answer gives nothing away
    other = await factory.user()
    ok(await login(strict, other.email, other.password), 200, "success login")  # only that email waits


async def test_an_unknown_email_is_throttled_like_a_known_one(strict: Client) -> None:
    email = f"nobody-{secrets.token_hex(4)}@example.com"
    for _ in range(PER_EMAIL):
        error(await login(strict, email, "guess"), 401, INVALID_CREDENTIALS)
    throttled(await login(strict, email, "guess"))


async def test_a_success_resets_the_emails_failures(strict: Client, factory: Factory) -> None:
    user = await factory.user()
    for _ in range(PER_EMAIL - 1):
        error(await login(strict, user.email, "wrong password"), 401, INVALID_CREDENTIALS)
    ok(await login(strict, user.email, user.password), 200, "success login")
    for _ in range(PER_EMAIL - 1):  # counted from zero again: no 429 yet
        error(await login(strict, user.email, "wrong password"), 401, INVALID_CREDENTIALS)
    ok(await login(strict, user.email, user.password), 200, "success login")


async def test_failures_from_one_address_across_emails_end_in_429_for_every_email(
    strict: Client, factory: Factory
) -> None:
    users = [await factory.user() for _ in range(PER_ADDRESS)]
    for user in users:  # one failure each: no email reaches its own limit
        error(await login(strict, user.email, "wrong password"), 401, INVALID_CREDENTIALS)
    fresh = await factory.user()
    throttled(await login(strict, fresh.email, fresh.password))


async def test_without_redis_login_still_works_unthrottled(settings: Settings, factory: Factory) -> None:
    """Fails open: Redis down must not lock everyone out (docs/security.md)."""
    dead = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "login_max_failures_per_email": 1}
    )
    user = await factory.user()
    async with AsyncTestClient(app=create_app(dead)) as client:
        for _ in range(3):
            error(await login(client, user.email, "wrong password"), 401, INVALID_CREDENTIALS)
        ok(await login(client, user.email, user.password), 200, "success login")


class CountingHasher:
    """The real argon2 hasher, counting what it is asked to verify."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(stored)
        result: bool = self.real.verify(stored, password)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)
    return counting


async def test_an_unknown_email_costs_one_argon2_verification_like_a_known_one(
    client: Client, factory: Factory, argon2_calls: CountingHasher
) -> None:
    """No user enumeration by time: both paths run one argon2id verify with the same parameters."""
    user = await factory.user()
    known = await login(client, user.email, "wrong password")
    assert len(argon2_calls.verified) == 1
    unknown = await login(client, f"nobody-{secrets.token_hex(4)}@example.com", "wrong password")
    assert len(argon2_calls.verified) == 2
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json() == {"message": INVALID_CREDENTIALS}
    stored_hash, dummy_hash = argon2_calls.verified
    assert dummy_hash.startswith("$argon2id$")
    assert dummy_hash.rsplit("$", 2)[0] == stored_hash.rsplit("$", 2)[0]  # same version, memory, time, lanes


async def test_a_deleted_users_email_costs_the_same_as_an_unknown_one(
    client: Client, factory: Factory, argon2_calls: CountingHasher
) -> None:
    user = await factory.user()
    ok(await client.delete(f"/users/{user.id}", headers=user.auth), 200, "success deleting user")
    error(await login(client, user.email, user.password), 401, INVALID_CREDENTIALS)
    assert argon2_calls.verified == [passwords._DUMMY_HASH]


async def legacy_user(factory: Factory, password: bytes) -> AUser:
    """A user as the original Go service stored them: a $2a$ bcrypt hash."""
    legacy = bcrypt.hashpw(password[:72], bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$", 1)
    return await factory.user_with_stored_password(legacy, password.decode())


async def stored_hash(db: Database, user: AUser) -> str:
    async with db.sessions() as session:
        stored: str = await session.scalar(select(User.password).where(User.id == user.id))
        return stored


async def test_a_legacy_bcrypt_user_with_a_wrong_password_is_refused_and_keeps_the_hash(
    client: Client, factory: Factory, db: Database
) -> None:
    user = await legacy_user(factory, b"old-go-password")
    before = await stored_hash(db, user)
    error(await login(client, user.email, "not-the-old-password"), 401, INVALID_CREDENTIALS)
    assert await stored_hash(db, user) == before


async def test_a_password_over_bcrypts_72_bytes_is_401_for_a_legacy_user_not_a_500(
    client: Client, factory: Factory, db: Database
) -> None:
    """bcrypt 5 raises on more than 72 bytes; the original could never have stored such a password."""
    user = await legacy_user(factory, b"x" * 72)
    error(await login(client, user.email, "x" * 73), 401, INVALID_CREDENTIALS)
    error(await login(client, user.email, "x" * 72 + "\u00e9" * 20), 401, INVALID_CREDENTIALS)
    ok(await login(client, user.email, "x" * 72), 200, "success login")
    assert (await stored_hash(db, user)).startswith("$argon2id$")
