"""Token verification is remembered per process, and a remembered token still expires on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar.testing import AsyncTestClient
from time_machine import TimeMachineFixture

from api.auth import _verified_claims
from tests.api.expect import error
from tests.factories import Factory, bearer


async def test_a_token_accepted_before_expires_on_time_all_the_same(
    client: AsyncTestClient, factory: Factory, time_machine: TimeMachineFixture
) -> None:
    user = await factory.user()
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    token = factory.forged_token(user.id, exp=expires)
    assert (await client.get(f"/users/{user.id}", headers=bearer(token))).status_code == 200
    assert _verified_claims.cache_info().currsize > 0  # remembered: the next use skips the signature check

    time_machine.move_to(expires - timedelta(seconds=1), tick=False)
    assert (await client.get(f"/users/{user.id}", headers=bearer(token))).status_code == 200
    time_machine.move_to(expires, tick=False)
    error(await client.get(f"/users/{user.id}", headers=bearer(token)), 401, "invalid or expired jwt")


async def test_a_rejected_token_is_not_remembered(client: AsyncTestClient, factory: Factory) -> None:
    user = await factory.user()
    forged = factory.forged_token(user.id, secret="not-the-secret-" + "y" * 32)
    for _ in range(2):
        error(await client.get(f"/users/{user.id}", headers=bearer(forged)), 401, "invalid or expired jwt")
