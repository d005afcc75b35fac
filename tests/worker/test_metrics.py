"""The worker's /metrics: job counters from a real worker, and the queue's health read from the rows."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry, generate_latest

from shared.db import Database
from shared.embedded import free_port
from shared.models import Job, utcnow
from shared.settings import Settings
from tests.api.test_metrics import promtool_check
from tests.factories import Factory, blog_body
from tests.processes import eventually, fresh_database, workers
from worker.metrics import QueueHealth

pytestmark = pytest.mark.process


@pytest.fixture
async def isolated_db(settings: Settings, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of this test's own: the queue's figures must be exactly what the test wrote."""
    made = fresh_database(tmp_path)  # it runs its own event loop: off this one
    url = await asyncio.to_thread(made.__enter__)
    database = Database(settings.model_copy(update={"database_url": url}))
    await database.connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(made.__exit__, None, None, None)


async def add_jobs(db: Database, *rows: tuple[str, int, bool]) -> None:
    """Rows of (status, age in seconds, dispatched)."""
    now = utcnow()
    async with db.sessions() as session, session.begin():
        for i, (status, age, dispatched) in enumerate(rows):
            created = now - timedelta(seconds=age)
            session.add(
                Job(
                    id=f"00000000-0000-7000-8000-{i:012d}",
                    kind="export",
                    params="{}",
                    status=status,
                    created_at=created,
                    dispatched_at=created if dispatched else None,
                )
            )


async def scrape(health: QueueHealth) -> str:
    """Collect as prometheus_client's server does: from another thread, while this loop runs."""
    registry = CollectorRegistry()
    registry.register(health)
    return (await asyncio.to_thread(generate_latest, registry)).decode()


def value(exposition: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", exposition, re.MULTILINE)
    assert match, f"{series} not in\n{exposition}"
    return float(match.group(1))


async def test_queue_health_counts_rows_by_status_the_oldest_queued_and_the_outbox(isolated_db: Database) -> None:
    await add_jobs(
        isolated_db,
        ("queued", 600, False),
        ("queued", 30, True),
        ("queued", 5, False),
        ("running", 20, True),
        ("failed", 9000, True),
        ("succeeded", 9000, True),
        ("cancelled", 100, True),
    )
    health = QueueHealth(interval_seconds=0)
    health.attach(isolated_db, asyncio.get_running_loop())
    text = await scrape(health)
    assert value(text, 'wadah_queue_jobs{status="queued"}') == 3
    assert value(text, 'wadah_queue_jobs{status="running"}') == 1
    assert value(text, 'wadah_queue_jobs{status="failed"}') == 1
    assert value(text, 'wadah_queue_jobs{status="cancelled"}') == 1
    assert 'status="succeeded"' not in text  # the counters' job, not the table's
    assert value(text, "wadah_queue_undispatched_jobs") == 2
    assert 600 <= value(text, "wadah_queue_oldest_queued_age_seconds") < 660
    assert value(text, "wadah_queue_read_up") == 1
    promtool_check(text)


async def test_the_rows_are_read_at_most_once_per_interval(isolated_db: Database) -> None:
    health = QueueHealth(interval_seconds=3600)
    health.attach(isolated_db, asyncio.get_running_loop())
    first = await scrape(health)
    await add_jobs(isolated_db, ("queued", 60, False))
    assert value(await scrape(health), 'wadah_queue_jobs{status="queued"}') == value(
        first, 'wadah_queue_jobs{status="queued"}'
    )
    health.interval = 0
    assert value(await scrape(health), 'wadah_queue_jobs{status="queued"}') == 1


async def test_an_unreadable_table_is_reported_not_raised(settings: Settings) -> None:
    gone = Database(settings.model_copy(update={"database_url": "mysql+asyncmy://root@127.0.0.1:1/none"}))
    health = QueueHealth(interval_seconds=0)
    health.attach(gone, asyncio.get_running_loop())
    text = await scrape(health)
    assert value(text, "wadah_queue_read_up") == 0
    await gone.close()


async def test_a_real_worker_counts_its_jobs_on_worker_metrics_port(
    client: AsyncTestClient[Litestar], factory: Factory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    author = await factory.user()
    created = await client.post("/blogs", json=blog_body(), headers=author.auth)
    assert created.status_code == 201, created.text
    env = {**worker_env, "WORKER_METRICS_PORT": str(port), "QUEUE_METRICS_INTERVAL_SECONDS": "0"}
    succeeded = 'wadah_jobs_finished_total{kind="compute_blog_stats",outcome="succeeded"}'

    finished = (succeeded, 'wadah_job_duration_seconds_count{kind="compute_blog_stats"}')

    async def counted() -> str | None:
        # The outcome is counted before the end is recorded and the duration after it: a
        # scrape in between sees one without the other, so wait for the job's every figure.
        async with httpx.AsyncClient() as scraper:
            text = (await scraper.get(f"http://127.0.0.1:{port}/metrics")).text
        return text if all(series in text for series in finished) else None

    with workers(env, tmp_path):
        text = await eventually(counted, what="the job to be counted")
        async with httpx.AsyncClient() as scraper:
            openmetrics = await scraper.get(
                f"http://127.0.0.1:{port}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
            )
    assert value(text, succeeded) >= 1
    assert value(text, 'wadah_jobs_started_total{kind="compute_blog_stats"}') >= 1
    assert value(text, 'wadah_job_duration_seconds_count{kind="compute_blog_stats"}') >= 1
    assert value(text, 'wadah_jobs_running{kind="compute_blog_stats"}') == 0
    assert value(text, "wadah_queue_read_up") == 1
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    promtool_check(text)


def test_a_taken_metrics_port_costs_the_metrics_not_the_worker(worker_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104 - the worker binds all interfaces too
        taken.listen()
        port = taken.getsockname()[1]
        with workers({**worker_env, "WORKER_METRICS_PORT": str(port)}, tmp_path) as [worker]:
            log = worker.output()
    assert f"metrics not served: cannot listen on WORKER_METRICS_PORT {port}" in log


async def test_a_real_worker_runs_a_full_collection_every_interval(worker_env: dict[str, str], tmp_path: Path) -> None:
    # prometheus_client counts the process's collections by generation; 2 is a full one,
    # which CPython's own schedule almost never reaches in a tuned worker (shared.runtime).
    port = free_port()
    env = {**worker_env, "WORKER_METRICS_PORT": str(port), "WORKER_GC_INTERVAL_SECONDS": "0.05"}
    full = 'python_gc_collections_total{generation="2"}'

    async def full_collections() -> float:
        async with httpx.AsyncClient() as scraper:
            return value((await scraper.get(f"http://127.0.0.1:{port}/metrics")).text, full)

    with workers(env, tmp_path):
        first = await full_collections()

        async def three_more() -> bool:
            return await full_collections() >= first + 3

        await eventually(three_more, what="three more full collections")
