"""Per-user quotas (api.quotas): jobs at once, upload bytes per day, the same export asked again.

An API with small quotas and no worker, so that jobs stay queued for as long as a test
needs them to; one test runs a real worker to see an export succeed and be reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.quotas import Quotas, seconds_to_midnight
from shared.db import Database
from shared.embedded import free_port
from shared.job_queue import redis_client
from shared.settings import Settings
from tests.api.expect import error
from tests.factories import AUser, Factory
from tests.processes import eventually, workers

CSV = {"Content-Type": "text/csv"}
MiB = 1024 * 1024
DAILY = 3 * MiB


def csv_of(size: int) -> bytes:
    """A CSV upload of about ``size`` bytes (the worker would reject its rows; no worker runs here)."""
    line = b"A title,An author,Novel,2005\n"
    return b"title,author,genre,year\n" + line * (size // len(line))


@pytest.fixture
async def limited(settings: Settings, tmp_path: Path) -> AsyncIterator[AsyncTestClient[Litestar]]:
    small = settings.model_copy(
        update={
            "quota_active_imports": 2,
            "quota_active_exports": 1,
            "quota_upload_bytes_per_day": DAILY,
            "import_dir": tmp_path / "imports",
        }
    )
    async with AsyncTestClient(app=create_app(small)) as client:
        yield client


def uploads_kept(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "imports").glob("*")) if (tmp_path / "imports").exists() else []


async def import_(client: AsyncTestClient[Litestar], user: AUser, body: bytes) -> Any:
    return await client.post("/books/import", content=body, headers={**user.auth, **CSV})


async def test_an_import_beyond_those_queued_or_running_is_429_and_keeps_no_file(
    limited: AsyncTestClient[Litestar], factory: Factory, tmp_path: Path
) -> None:
    user, other = await factory.user(), await factory.user()
    first, second = [await import_(limited, user, csv_of(100)) for _ in range(2)]
    assert first.status_code == second.status_code == 202
    refused = await import_(limited, user, csv_of(100))
    error(refused, 429, "you have 2 imports queued or running; wait for one to finish")
    assert int(refused.headers["retry-after"]) > 0
    assert len(uploads_kept(tmp_path)) == 2
    assert (await import_(limited, other, csv_of(100))).status_code == 202  # per user

    # At once, not in all: once one has ended, another may start.
    cancelled = await limited.post(f"/jobs/{first.json()['data']['id']}/cancel", headers=user.auth)
    assert cancelled.status_code == 200
    assert (await import_(limited, user, csv_of(100))).status_code == 202


async def test_concurrent_imports_of_one_user_cannot_slip_past_the_limit(
    limited: AsyncTestClient[Litestar], factory: Factory
) -> None:
    user = await factory.user()
    answers = await asyncio.gather(*(import_(limited, user, csv_of(100)) for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [202, 202, 429, 429, 429, 429]


async def test_uploads_past_the_daily_bytes_are_cut_off_with_429_until_midnight(
    limited: AsyncTestClient[Litestar], factory: Factory, tmp_path: Path
) -> None:
    user, other = await factory.user(), await factory.user()
    assert (await import_(limited, user, csv_of(2 * MiB))).status_code == 202
    before = uploads_kept(tmp_path)

    over = await import_(limited, user, csv_of(2 * MiB))  # 4 MiB today: cut off while it streams
    error(over, 429, f"the daily upload quota of {DAILY} bytes is used up; try again tomorrow (UTC)")
    assert 0 < int(over.headers["retry-after"]) <= seconds_to_midnight(datetime.now(UTC))
    assert uploads_kept(tmp_path) == before  # nothing of it kept

    error(await import_(limited, user, csv_of(100)), 429)  # refused before it is read
    assert (await import_(limited, other, csv_of(2 * MiB))).status_code == 202  # each user has their own


def test_retry_after_for_the_daily_quota_is_the_next_utc_midnight() -> None:
    assert seconds_to_midnight(datetime(2026, 1, 1, 23, 59, 30, tzinfo=UTC)) == 30
    assert seconds_to_midnight(datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)) == 86400
    assert seconds_to_midnight(datetime(2026, 1, 1, 23, 59, 59, 999_000, tzinfo=UTC)) == 1


async def test_the_same_export_while_one_is_queued_is_that_job_and_another_is_429(
    limited: AsyncTestClient[Litestar], factory: Factory
) -> None:
    user, other = await factory.user(), await factory.user()
    first = await limited.post("/exports", json={"resource": "books"}, headers=user.auth)
    assert first.status_code == 202
    job_id = first.json()["data"]["id"]

    again = await limited.post("/exports", json={"resource": "books"}, headers=user.auth)
    assert again.status_code == 202
    assert again.json()["data"]["id"] == job_id and again.headers["location"] == f"/jobs/{job_id}"
    assert (await limited.post("/exports", json={"resource": "books"}, headers=other.auth)).json()["data"][
        "id"
    ] != job_id  # never another user's job

    refused = await limited.post("/exports", json={"resource": "blogs"}, headers=user.auth)
    error(refused, 429, "you have 1 exports queued or running; wait for one to finish")
    assert int(refused.headers["retry-after"]) > 0

    # A cancelled export is not reused: asking again makes a new one.
    await limited.post(f"/jobs/{job_id}/cancel", headers=user.auth)
    fresh = await limited.post("/exports", json={"resource": "books"}, headers=user.auth)
    assert fresh.status_code == 202 and fresh.json()["data"]["id"] != job_id


async def test_twenty_identical_exports_at_once_make_one_job(
    limited: AsyncTestClient[Litestar], factory: Factory
) -> None:
    user = await factory.user()
    answers = await asyncio.gather(
        *(limited.post("/exports", json={"resource": "blogs"}, headers=user.auth) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["data"]["id"] for a in answers}) == 1


async def test_a_succeeded_export_is_reused_within_the_window_only(
    settings: Settings, factory: Factory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    exports = tmp_path / "exports"
    window = settings.model_copy(update={"export_reuse_seconds": 3600, "export_dir": exports})
    no_window = settings.model_copy(update={"export_reuse_seconds": 0, "export_dir": exports})
    async with (
        AsyncTestClient(app=create_app(window)) as reuse,
        AsyncTestClient(app=create_app(no_window)) as no_reuse,
    ):
        job_id = (await reuse.post("/exports", json={"resource": "books"}, headers=user.auth)).json()["data"]["id"]

        async def succeeded() -> bool:
            job = (await reuse.get(f"/jobs/{job_id}", headers=user.auth)).json()["data"]
            return bool(job["status"] == "succeeded")

        with workers({**worker_env, "EXPORT_DIR": str(exports)}, tmp_path):
            await eventually(succeeded, what="the export to succeed")
        again = await reuse.post("/exports", json={"resource": "books"}, headers=user.auth)
        assert again.json()["data"]["id"] == job_id and again.json()["data"]["status"] == "succeeded"
        assert (await reuse.get(f"/exports/{job_id}/download", headers=user.auth)).status_code == 200

        later = await no_reuse.post("/exports", json={"resource": "books"}, headers=user.auth)
        assert later.status_code == 202 and later.json()["data"]["id"] != job_id


async def test_without_redis_the_upload_quota_fails_open(
    settings: Settings, db: Database, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """Uploads go on, uncounted and with a warning, as login throttling does without Redis."""
    user = await factory.user()
    down = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "quota_upload_bytes_per_day": 1}
    )
    redis = redis_client(down)
    quotas = Quotas(redis, down)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * MiB

    try:
        await quotas.admit_upload(db, user.id)
        passed = [chunk async for chunk in quotas.metered(user.id, chunks())]
    finally:
        await redis.aclose()
    assert sum(map(len, passed)) == 3 * MiB
    assert "upload quota unavailable, not counting" in caplog.text
