"""/metrics from ``python -m api`` as production runs it: several processes, and a port of its own."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from shared.embedded import free_port
from tests.api.test_metrics import promtool_check
from tests.servers import serving

pytestmark = pytest.mark.process

REQUESTS = 200
READYZ = re.compile(r'^wadah_http_requests_total\{method="GET",route="/readyz",status="(\d+)"\} (\S+)$', re.MULTILINE)
HEALTHZ = re.compile(r'^wadah_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', re.MULTILINE)


def test_with_two_processes_a_scrape_counts_the_requests_both_served(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    shared_dir = tmp_path / "multiproc"
    shared_dir.mkdir()
    (shared_dir / "counter_1.db").write_bytes(b"left by an earlier run")  # emptied at start
    env = {**worker_env, "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(shared_dir)}
    with serving(env, tmp_path / "api.log") as api:
        for _ in range(REQUESTS):
            # A new connection each time, so both processes take some.
            with httpx.Client(base_url=api.url) as client:
                assert client.get("/readyz").status_code == 200
        exposition = httpx.get(f"{api.url}/metrics").text
        counters = {p.name for p in shared_dir.glob("counter_*.db")}
    assert READYZ.findall(exposition) == [("200", f"{REQUESTS}.0")]
    assert len(counters) == 2, f"one process served everything: {counters}"
    promtool_check(exposition)


def test_metrics_port_serves_every_process_there_and_not_on_the_api_port(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {**worker_env, "WEB_CONCURRENCY": "2", "METRICS_PORT": str(port)}
    with serving(env, tmp_path / "api.log") as api:
        for _ in range(20):
            with httpx.Client(base_url=api.url) as client:
                client.get("/healthz")
        assert httpx.get(f"{api.url}/metrics").status_code == 404
        exposition = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert float(HEALTHZ.search(exposition).group(1)) >= 20  # type: ignore[union-attr]
    promtool_check(exposition)
