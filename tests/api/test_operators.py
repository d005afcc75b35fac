"""Who may see and steer which job: owners their own, operators every one, others none.

The table is the specification: each row is an actor, an action on a job of the
owner's, and the status that actor gets.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from shared.settings import Settings
from tests.api.expect import error, ok
from tests.factories import AUser, Factory

Client = AsyncTestClient[Litestar]

# (actor, action, status of the job before, expected HTTP status)
RULES = [
    ("owner", "get", "queued", 200),
    ("owner", "cancel", "queued", 200),
    ("owner", "retry", "failed", 202),
    ("other", "get", "queued", 404),
    ("other", "cancel", "queued", 404),
    ("other", "retry", "failed", 404),
    ("operator", "get", "queued", 200),
    ("operator", "cancel", "running", 200),
    ("operator", "retry", "failed", 202),
    ("operator", "retry", "cancelled", 202),
    ("operator", "retry", "succeeded", 409),
    ("operator", "cancel", "failed", 409),
]


async def act(client: Client, action: str, job_id: str, actor: AUser) -> Any:
    if action == "get":
        return await client.get(f"/jobs/{job_id}", headers=actor.auth)
    return await client.post(f"/jobs/{job_id}/{action}", headers=actor.auth)


@pytest.mark.parametrize(("actor", "action", "before", "expected"), RULES)
async def test_who_may_do_what_to_a_job(
    client: Client, factory: Factory, actor: str, action: str, before: str, expected: int
) -> None:
    people = {
        "owner": await factory.user(),
        "other": await factory.user(),
        "operator": await factory.user(operator=True),
    }
    job = await factory.job(people["owner"], before)
    response = await act(client, action, job.id, people[actor])
    assert response.status_code == expected, response.text
    after = (await client.get(f"/jobs/{job.id}", headers=people["owner"].auth)).json()["data"]["status"]
    assert after == ("cancelled" if (action, expected) == ("cancel", 200) else before)


async def test_an_operators_retry_stays_the_owners_job(client: Client, factory: Factory) -> None:
    owner, operator = await factory.user(), await factory.user(operator=True)
    failed = await factory.job(owner, "failed")
    retry = ok(await client.post(f"/jobs/{failed.id}/retry", headers=operator.auth), 202, "success retrying job")
    ok(await client.get(f"/jobs/{retry['id']}", headers=owner.auth), 200, "success getting job")


async def test_only_operators_list_every_users_jobs(client: Client, factory: Factory) -> None:
    owner, other, operator = await factory.user(), await factory.user(), await factory.user(operator=True)
    job = await factory.job(owner, "failed")
    error(
        await client.get("/jobs", params={"all": "true"}, headers=other.auth),
        403,
        "only operators may list every user's jobs",
    )
    everyone = (await client.get("/jobs", params={"all": "true", "limit": 100}, headers=operator.auth)).json()
    assert job.id in {j["id"] for j in everyone["data"]} and everyone["meta"]["total"] >= 1
    failed = (await client.get("/jobs", params={"all": "true", "status": "failed"}, headers=operator.auth)).json()
    assert all(j["status"] == "failed" for j in failed["data"]) and job.id in {j["id"] for j in failed["data"]}
    own = (await client.get("/jobs", headers=operator.auth)).json()
    assert own["data"] == [] and own["meta"]["total"] == 0  # without all=true: their own, like anyone


async def test_only_operators_see_the_queue_health(client: Client, factory: Factory) -> None:
    user, operator = await factory.user(), await factory.user(operator=True)
    await factory.job(user, "queued")
    error(await client.get("/queue/health", headers=user.auth), 403, "only operators may see the queue's health")
    error(await client.get("/queue/health"), 401)
    health = ok(await client.get("/queue/health", headers=operator.auth), 200, "success getting queue health")
    assert set(health["by_status"]) == {"queued", "running", "failed", "cancelled"}
    assert health["by_status"]["queued"] >= 1 and health["undispatched"] >= 1
    assert health["oldest_queued_seconds"] is not None and len(health["finished_per_minute"]) == 60


def admin(env: dict[str, str], *args: str) -> int:
    """``python -m shared.admin ARGS`` as an operator runs it; its exit status."""
    done = subprocess.run([sys.executable, "-m", "shared.admin", *args], env=env, capture_output=True, text=True)
    return done.returncode


@pytest.mark.process
async def test_the_role_changes_only_by_command(
    factory: Factory, settings: Settings, worker_env: dict[str, str]
) -> None:
    """``python -m shared.admin grant|revoke EMAIL``; an unknown email is exit 1, bad usage 2."""
    user = await factory.user()
    fresh = create_app(settings.model_copy(update={"auth_user_cache_seconds": 0}))
    async with AsyncTestClient(app=fresh) as client:
        error(await client.get("/queue/health", headers=user.auth), 403)
        assert await asyncio.to_thread(admin, worker_env, "grant", user.email.upper()) == 0
        ok(await client.get("/queue/health", headers=user.auth), 200, "success getting queue health")
        assert await asyncio.to_thread(admin, worker_env, "grant", user.email) == 0  # already one: still fine
        assert await asyncio.to_thread(admin, worker_env, "revoke", user.email) == 0
        error(await client.get("/queue/health", headers=user.auth), 403)
    assert await asyncio.to_thread(admin, worker_env, "grant", "nobody@example.com") == 1
    assert await asyncio.to_thread(admin, worker_env, "promote", user.email) == 2
    assert await asyncio.to_thread(admin, worker_env, "grant") == 2


def test_no_http_route_changes_the_role(app: Litestar) -> None:
    """The role is not a field of any request body: the user schemas do not name it."""
    from api import schemas

    assert all(
        "operator" not in getattr(t, "__struct_fields__", ()) for t in vars(schemas).values() if isinstance(t, type)
    )
