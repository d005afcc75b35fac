"""GET /metrics on the API: the format, bounded labels, and the settings that move or remove it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from api import metrics
from api.app import create_app
from shared.settings import Settings
from tests.factories import Factory

PROMTOOL = "/usr/bin/promtool"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
SERIES = re.compile(r"^(wadah_http_[a-z_]+)\{([^}]*)\} ", re.MULTILINE)


def promtool_check(exposition: str) -> None:
    """``promtool check metrics``: a format error or a lint problem fails the test, with promtool's words."""
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


def series(exposition: str) -> set[str]:
    return {f"{name}{{{labels}}}" for name, labels in SERIES.findall(exposition)}


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.mark.process
async def test_metrics_are_prometheus_text_that_promtool_accepts(
    api: AsyncTestClient[Litestar], factory: Factory
) -> None:
    book = await factory.book()
    assert (await api.get(f"/books/{book.id}")).status_code == 200
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    labels = 'method="GET",route="/books/{book_id}",status="200"'
    assert re.search(rf"^wadah_http_requests_total\{{{labels}\}} [1-9]", response.text, re.MULTILINE)
    assert re.search(rf"^wadah_http_request_duration_seconds_count\{{{labels}\}} [1-9]", response.text, re.MULTILINE)
    assert re.search(r"^wadah_http_requests_in_progress \d", response.text, re.MULTILINE)
    promtool_check(response.text)


async def test_openmetrics_when_the_scraper_asks_for_it(api: AsyncTestClient[Litestar]) -> None:
    response = await api.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith(OPENMETRICS)
    assert response.text.endswith("# EOF\n")


async def test_the_number_of_series_does_not_grow_with_ids_unknown_paths_or_odd_methods(
    api: AsyncTestClient[Litestar], factory: Factory
) -> None:
    user = await factory.user()

    async def traffic(n: int) -> None:
        for i in range(n):
            await api.get(f"/users/{10**9 + i}", headers=user.auth)  # 404 from the handler
            await api.get(f"/no/such/path/{i}")  # no route
            await api.request(f"PURGE{i % 7}" if i % 2 else "PROPFIND", f"/books/{i}")
            await api.request("PATCH", f"/books/{i}")  # a known method the route lacks: 405

    await traffic(1)  # every kind of request once: its series exist from here on
    before = series((await api.get("/metrics")).text)
    await traffic(1000)
    after = series((await api.get("/metrics")).text)
    assert after == before
    assert any('route="unmatched"' in s and 'method="OTHER"' in s for s in after)
    assert not any("10000" in s or "/no/such" in s for s in after)


async def test_metrics_can_be_turned_off_or_moved_to_their_own_port(settings: Settings) -> None:
    for changed in ({"metrics_enabled": False}, {"metrics_port": 9100}):
        async with AsyncTestClient(app=create_app(settings.model_copy(update=changed))) as client:
            assert (await client.get("/metrics")).status_code == 404, changed


async def test_only_get_and_head_read_the_metrics(api: AsyncTestClient[Litestar]) -> None:
    response = await api.post("/metrics")
    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed"}
    assert (await api.head("/metrics")).status_code == 200


def test_one_process_exposes_what_prometheus_clients_own_metrics_would() -> None:
    """LocalFigures (lock-free, one process) against a Counter and a Histogram fed the same requests."""
    reference = CollectorRegistry()
    counter = Counter(metrics.REQUESTS_NAME, metrics.REQUESTS_HELP, metrics.LABELS, registry=reference)
    histogram = Histogram(
        metrics.LATENCY_NAME, metrics.LATENCY_HELP, metrics.LABELS, buckets=metrics.LATENCY_BUCKETS, registry=reference
    )
    local = metrics.LocalFigures()
    ours = CollectorRegistry()
    ours.register(local)
    keys = [("/books/{book_id}", "GET", 200), ("unmatched", "OTHER", 404), ("/books", "POST", 201)]
    # Every bound exactly, between bounds, below the first and above the last.
    seconds = [*metrics.LATENCY_BUCKETS, 0.0004, 0.003, 0.07, 0.3, 4.0, 11.0, 0.0]
    for i, elapsed in enumerate(seconds * 3):
        route, method, status = keys[i % len(keys)]
        counter.labels(route, method, str(status)).inc()
        histogram.labels(route, method, str(status)).observe(elapsed)
        local.observe((route, method, status), elapsed)

    def created_apart(exposition: bytes) -> str:
        return re.sub(r"(_created\S*) \S+$", r"\1 T", exposition.decode(), flags=re.MULTILINE)

    assert created_apart(generate_latest(ours)) == created_apart(generate_latest(reference))
    assert created_apart(openmetrics_latest(ours)) == created_apart(openmetrics_latest(reference))
