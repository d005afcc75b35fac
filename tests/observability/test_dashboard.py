"""The provisioned Grafana dashboard and the Prometheus configuration in deploy/ match what the services export."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from shared.db import Database
from tests.api.test_metrics import PROMTOOL
from worker.metrics import QueueHealth

pytestmark = pytest.mark.process

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wadah.json"
TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
METRIC = re.compile(r"\b(wadah_[a-z0-9_]+)")


def sample_names(exposition: str) -> set[str]:
    names = set()
    for family, kind in TYPE.findall(exposition):
        base = family.removesuffix("_total") if kind == "counter" else family
        names |= {base + suffix for suffix in SUFFIXES.get(kind, ("",))}
    return names


async def exported(client: AsyncTestClient[Litestar], db: Database) -> set[str]:
    """Every sample name the API's /metrics and the worker's registry (queue health included) write."""
    await client.get("/healthz")
    api = (await client.get("/metrics")).text
    health = QueueHealth(interval_seconds=0)
    health.attach(db, asyncio.get_running_loop())
    worker = CollectorRegistry()
    worker.register(health)
    worker_text = (await asyncio.to_thread(generate_latest, worker)).decode() + generate_latest(REGISTRY).decode()
    return sample_names(api) | sample_names(worker_text)


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


async def test_every_panel_query_names_a_metric_the_services_export(
    client: AsyncTestClient[Litestar], db: Database
) -> None:
    names = await exported(client, db)
    queries = panel_queries()
    assert len(queries) >= 12
    for title, expr in queries:
        used = set(METRIC.findall(expr))
        assert used, f"{title}: {expr} names no wadah metric"
        assert used <= names, f"{title}: {sorted(used - names)} not exported"


@pytest.mark.parametrize(
    "needed",
    [
        "wadah_http_requests_total",
        "wadah_http_request_duration_seconds_bucket",
        "wadah_jobs_finished_total",
        "wadah_queue_jobs",
        "wadah_queue_oldest_queued_age_seconds",
    ],
)
def test_the_dashboard_covers_requests_latency_jobs_and_the_backlog(needed: str) -> None:
    assert any(needed in expr for _, expr in panel_queries())


def test_the_prometheus_configuration_is_valid() -> None:
    checked = subprocess.run(
        [PROMTOOL, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_the_operations_page_suggests_are_valid_rules(tmp_path: Path) -> None:
    page = (DEPLOY.parent / "docs" / "operations.md").read_text()
    rules = tmp_path / "rules.yml"
    rules.write_text(page.split("```yaml\n", 1)[1].split("```", 1)[0])
    checked = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
