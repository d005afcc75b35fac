"""/jobs: following and cancelling one's own jobs (no worker runs here: jobs stay queued)."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind
from shared.settings import Settings
from tests.factories import AUser, Factory, blog_body
from tests.processes import eventually, workers


async def new_blog_job(client: AsyncTestClient[Litestar], user: AUser) -> str:
    created = await client.post("/blogs", json=blog_body(), headers=user.auth)
    assert created.status_code == 201, created.text
    listing = await client.get("/jobs", params={"kind": JobKind.COMPUTE_BLOG_STATS, "limit": 1}, headers=user.auth)
    job_id: str = listing.json()["data"][0]["id"]
    assert listing.json()["data"][0]["params"] == {"blog_id": created.json()["data"]["id"]}
    return job_id


async def test_the_requester_sees_their_job(client: AsyncTestClient[Litestar], factory: Factory) -> None:
    user = await factory.user()
    job_id = await new_blog_job(client, user)
    response = await client.get(f"/jobs/{job_id}", headers=user.auth)
    assert response.status_code == 200
    job = response.json()["data"]
    assert response.json()["message"] == "success getting job"
    assert (job["id"], job["kind"], job["status"], job["attempts"]) == (job_id, JobKind.COMPUTE_BLOG_STATS, "queued", 0)
    assert job["result"] is None and job["error"] is None and job["started_at"] is None
    assert job["created_at"].endswith("Z")


async def test_another_users_job_is_not_found(client: AsyncTestClient[Litestar], factory: Factory) -> None:
    owner, other = await factory.user(), await factory.user()
    job_id = await new_blog_job(client, owner)
    assert (await client.get(f"/jobs/{job_id}", headers=other.auth)).status_code == 404
    assert (await client.post(f"/jobs/{job_id}/cancel", headers=other.auth)).status_code == 404
    assert (await client.get(f"/jobs/{job_id}", headers=owner.auth)).json()["data"]["status"] == "queued"


async def test_job_ids_are_checked_and_tokens_required(client: AsyncTestClient[Litestar], factory: Factory) -> None:
    user = await factory.user()
    assert (await client.get("/jobs/not-a-uuid", headers=user.auth)).status_code == 400
    unknown = await client.get("/jobs/01890000-0000-7000-8000-000000000000", headers=user.auth)
    assert unknown.status_code == 404 and unknown.json()["message"] == "record not found"
    assert (await client.get("/jobs")).status_code == 401


async def test_the_list_is_the_requesters_filtered_and_paged(
    client: AsyncTestClient[Litestar], factory: Factory
) -> None:
    user, other = await factory.user(), await factory.user()
    ids = [await new_blog_job(client, user) for _ in range(3)]
    await new_blog_job(client, other)
    await client.post(f"/jobs/{ids[0]}/cancel", headers=user.auth)

    everything = (await client.get("/jobs", headers=user.auth)).json()
    assert everything["meta"] == {"total": 3, "limit": 20, "offset": 0}
    assert [j["id"] for j in everything["data"]] == ids[::-1]  # newest first

    page = (await client.get("/jobs", params={"limit": 1, "offset": 1}, headers=user.auth)).json()
    assert [j["id"] for j in page["data"]] == [ids[1]] and page["meta"]["total"] == 3

    queued = (await client.get("/jobs", params={"status": "queued"}, headers=user.auth)).json()
    assert {j["id"] for j in queued["data"]} == set(ids[1:]) and queued["meta"]["total"] == 2
    none = (await client.get("/jobs", params={"kind": "export"}, headers=user.auth)).json()
    assert none["data"] == [] and none["meta"]["total"] == 0

    bad = await client.get("/jobs", params={"status": "done"}, headers=user.auth)
    assert bad.status_code == 400


async def test_a_queued_job_can_be_cancelled_once(client: AsyncTestClient[Litestar], factory: Factory) -> None:
    user = await factory.user()
    job_id = await new_blog_job(client, user)
    cancelled = await client.post(f"/jobs/{job_id}/cancel", headers=user.auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert cancelled.json()["data"]["finished_at"] is not None
    again = await client.post(f"/jobs/{job_id}/cancel", headers=user.auth)
    assert again.status_code == 409 and "cancelled" in again.json()["message"]


@pytest.mark.process
async def test_a_cancelled_job_never_runs(
    client: AsyncTestClient[Litestar], factory: Factory, settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    job_id = await new_blog_job(client, user)
    await client.post(f"/jobs/{job_id}/cancel", headers=user.auth)
    redis = redis_client(settings)

    async def left_the_queue() -> bool:
        return await redis.zscore(settings.queue_name, job_id) is None

    with workers(worker_env, tmp_path):
        await eventually(left_the_queue, what="the worker to drop the cancelled job")
    job = (await client.get(f"/jobs/{job_id}", headers=user.auth)).json()["data"]
    assert (job["status"], job["attempts"], job["started_at"]) == ("cancelled", 0, None)
    await redis.aclose()


@pytest.mark.process
async def test_a_failing_job_shows_its_error_to_the_requester(
    client: AsyncTestClient[Litestar],
    factory: Factory,
    db: Database,
    settings: Settings,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    user, other = await factory.user(), await factory.user()
    queue = JobQueue(redis_client(settings), db)
    async with db.transaction() as tx:  # parameters no handler accepts: bad data, not retried
        job = await queue.request(tx, JobKind.COMPUTE_BLOG_STATS, {"blog": 7}, requested_by=user.id)
    queue.dispatch(job)

    async def failed() -> dict[str, object] | None:
        data: dict[str, object] = (await client.get(f"/jobs/{job.id}", headers=user.auth)).json()["data"]
        return data if data["status"] == "failed" else None

    with workers(worker_env, tmp_path):
        shown = await eventually(failed, what="the job to fail")
    assert shown["attempts"] == 1
    assert "unexpected keyword argument 'blog'" in str(shown["error"])
    assert (await client.get(f"/jobs/{job.id}", headers=other.auth)).status_code == 404
    await queue.drain()
    await queue.redis.aclose()
