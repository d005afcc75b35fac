"""Which requests need a token, and how a token is checked: once per process, yet expiring on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from time_machine import TimeMachineFixture

from api.auth import _verified_claims, authenticate
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


def test_every_route_runs_the_token_check_first(app: Litestar) -> None:
    """Litestar runs the closest layer's ``before_request`` only: a handler or router that set
    one of its own would silently skip authentication, so none may."""
    handlers = [h for route in app.routes if isinstance(route, HTTPRoute) for h in route.route_handlers]
    assert len(handlers) > 20
    assert all(h.resolve_before_request() is authenticate for h in handlers)


async def test_a_preflight_and_the_api_document_need_no_token(client: AsyncTestClient) -> None:
    assert (await client.get("/schema/openapi.json")).status_code == 200
    assert (await client.options("/users/1")).status_code == 204


async def test_the_scheme_is_case_insensitive_and_the_token_must_be_present(
    client: AsyncTestClient, factory: Factory
) -> None:
    user = await factory.user()
    token = factory.forged_token(user.id)
    assert (await client.get(f"/users/{user.id}", headers={"Authorization": f"bEaReR {token}"})).status_code == 200
    for header in ("Bearer", "Bearer   ", f"Basic {token}", token):
        error(await client.get(f"/users/{user.id}", headers={"Authorization": header}), 401, "missing or malformed jwt")
