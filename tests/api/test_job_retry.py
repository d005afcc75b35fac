"""POST /jobs/{id}/retry: a failed or cancelled job runs again as a new row; history stays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind, encode_json
from shared.settings import Settings
from tests.api.expect import error, ok
from tests.factories import Factory
from tests.processes import eventually, fresh_database, isolated_settings, workers

Client = AsyncTestClient[Litestar]


async def test_a_failed_job_is_retried_as_a_new_job_that_names_it(client: Client, factory: Factory) -> None:
    user = await factory.user()
    failed = await factory.job(user, "failed", attempts=5)
    response = await client.post(f"/jobs/{failed.id}/retry", headers=user.auth)
    retry = ok(response, 202, "success retrying job")
    assert response.headers["location"] == f"/jobs/{retry['id']}"
    assert retry["id"] != failed.id and retry["retry_of"] == failed.id
    assert (retry["status"], retry["attempts"], retry["kind"]) == ("queued", 0, JobKind.COMPUTE_BLOG_STATS)
    assert retry["params"] == {"blog_id": 1}
    earlier = ok(await client.get(f"/jobs/{failed.id}", headers=user.auth), 200, "success getting job")
    assert (earlier["status"], earlier["attempts"], earlier["error"]) == ("failed", 5, "ValueError: no such blog")
    mine = (await client.get("/jobs", headers=user.auth)).json()["data"]
    assert [j["id"] for j in mine] == [retry["id"], failed.id]


async def test_a_cancelled_job_can_be_retried_too(client: Client, factory: Factory) -> None:
    user = await factory.user()
    cancelled = await factory.job(user, "cancelled")
    ok(await client.post(f"/jobs/{cancelled.id}/retry", headers=user.auth), 202, "success retrying job")


async def test_only_failed_or_cancelled_jobs_can_be_retried(client: Client, factory: Factory) -> None:
    user = await factory.user()
    for status in ("queued", "running", "succeeded"):
        job = await factory.job(user, status)
        body = error(await client.post(f"/jobs/{job.id}/retry", headers=user.auth), 409)
        assert body["message"] == f"only a failed or cancelled job can be retried; this one is {status}"


@pytest.mark.parametrize("status", ["failed", "cancelled"])
async def test_an_import_is_not_retried_since_its_file_went_with_its_end(
    client: Client, factory: Factory, status: str
) -> None:
    user = await factory.user()
    ended = await factory.job(
        user, status, kind=JobKind.IMPORT_BOOKS.value, params=encode_json({"format": "csv", "lines": 2})
    )
    body = error(await client.post(f"/jobs/{ended.id}/retry", headers=user.auth), 409)
    assert body["message"] == "an import's file is removed when it fails or is cancelled; upload the file again"


async def test_a_job_is_retried_once_and_its_retry_may_be_retried(client: Client, factory: Factory) -> None:
    user = await factory.user()
    failed = await factory.job(user, "failed")
    first = ok(await client.post(f"/jobs/{failed.id}/retry", headers=user.auth), 202, "success retrying job")
    again = await client.post(f"/jobs/{failed.id}/retry", headers=user.auth)
    error(again, 409, "the job has already been retried")
    await client.post(f"/jobs/{first['id']}/cancel", headers=user.auth)
    second = ok(await client.post(f"/jobs/{first['id']}/retry", headers=user.auth), 202, "success retrying job")
    assert second["retry_of"] == first["id"]


async def test_two_retries_sent_at_once_start_one_run(client: Client, factory: Factory, db: Database) -> None:
    user = await factory.user()
    failed = await factory.job(user, "failed")
    answers = await asyncio.gather(
        *(client.post(f"/jobs/{failed.id}/retry", headers=user.auth) for _ in range(6)),
    )
    assert sorted(a.status_code for a in answers) == [202] + [409] * 5
    runs = (await client.get("/jobs", params={"status": "queued"}, headers=user.auth)).json()["data"]
    assert [j["retry_of"] for j in runs] == [failed.id]


async def test_retry_ids_are_checked_and_others_jobs_are_not_found(client: Client, factory: Factory) -> None:
    owner, other = await factory.user(), await factory.user()
    failed = await factory.job(owner, "failed")
    error(await client.post("/jobs/nope/retry", headers=owner.auth), 400, "provided id was invalid")
    error(await client.post(f"/jobs/{failed.id}/retry", headers=other.auth), 404, "record not found")
    error(await client.post(f"/jobs/{failed.id}/retry"), 401)
    unknown = "01890000-0000-7000-8000-000000000000"
    error(await client.post(f"/jobs/{unknown}/retry", headers=owner.auth), 404, "record not found")


@pytest.fixture
def isolated(
    settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A database and a Redis namespace of this test's own, and a worker environment on them.

    The test starts a worker: on the run's shared ones it would first run every job that
    earlier tests left queued, and their writes would compete with the retry's.
    """
    with fresh_database(tmp_path) as url:
        yield isolated_settings(settings, worker_env, url, namespace_suffix="-retry")


@pytest.fixture
async def own(
    isolated: tuple[Settings, dict[str, str]],
) -> AsyncIterator[tuple[Settings, dict[str, str], Client, Database]]:
    """The isolated settings and worker environment, with an app and a database handle on them."""
    settings, env = isolated
    database = Database(settings)
    await database.connect()
    async with AsyncTestClient(app=create_app(settings)) as isolated_client:
        yield settings, env, isolated_client, database
    await database.close()


@pytest.mark.process
async def test_retry_runs_a_failed_job_again_on_a_real_worker(
    own: tuple[Settings, dict[str, str], Client, Database], tmp_path: Path
) -> None:
    """The retry is dispatched and run: it fails again here (same bad parameters), with its own attempts."""
    settings, env, client, db = own
    user = await Factory(db, settings).user()
    queue = JobQueue(redis_client(settings), db)
    async with db.transaction() as tx:  # parameters no handler accepts: fails at once, not retried
        job = await queue.request(tx, JobKind.COMPUTE_BLOG_STATS, {"blog": 7}, requested_by=user.id)
    queue.dispatch(job)

    async def in_status(job_id: str, status: str) -> dict[str, object] | None:
        data: dict[str, object] = (await client.get(f"/jobs/{job_id}", headers=user.auth)).json()["data"]
        return data if data["status"] == status else None

    with workers(env, tmp_path):
        await eventually(lambda: in_status(job.id, "failed"), what="the job to fail")
        retry = ok(await client.post(f"/jobs/{job.id}/retry", headers=user.auth), 202, "success retrying job")
        ran = await eventually(lambda: in_status(retry["id"], "failed"), what="the retry to run")
    assert ran["attempts"] == 1 and ran["started_at"] is not None and "blog" in str(ran["error"])
    await queue.drain()
    await queue.redis.aclose()
