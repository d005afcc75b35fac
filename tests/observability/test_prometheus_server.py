"""A real Prometheus server (Debian's ``prometheus``) scrapes a running API and worker, and the series come back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.embedded import free_port
from tests.factories import blog_body, user_body
from tests.processes import workers
from tests.servers import serving

pytestmark = pytest.mark.process

PROMETHEUS = "/usr/bin/prometheus"
LIMIT_SECONDS = 90  # a deadline for a hung test, not an assertion about speed


@contextmanager
def prometheus(directory: Path, targets: dict[str, str]) -> Iterator[str]:
    """Prometheus on loopback scraping ``targets`` (job name -> host:port) every second; its URL."""
    port = free_port()
    jobs = "\n".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']" for job, target in targets.items()
    )
    config = directory / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}\n")
    log = (directory / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LIMIT_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((directory / "prometheus.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def query_until(url: str, promql: str) -> list[dict[str, Any]]:
    """Prometheus's instant-query API until ``promql`` has a result."""
    deadline = time.monotonic() + LIMIT_SECONDS
    while True:
        body = httpx.get(f"{url}/api/v1/query", params={"query": promql}).json()
        assert body["status"] == "success", body
        if body["data"]["result"]:
            return list(body["data"]["result"])
        if time.monotonic() > deadline:
            raise AssertionError(f"no series for {promql}")
        time.sleep(0.25)


def test_prometheus_scrapes_the_api_and_the_worker_and_answers_queries(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    assert Path(PROMETHEUS).exists(), "Prometheus is part of the test tools: apt-get install prometheus"
    worker_port = free_port()
    env = {**worker_env, "WORKER_METRICS_PORT": str(worker_port), "QUEUE_METRICS_INTERVAL_SECONDS": "1"}
    with (
        serving(env, tmp_path / "api.log") as api,
        workers(env, tmp_path),
        prometheus(tmp_path, {"api": f"127.0.0.1:{api.port}", "worker": f"127.0.0.1:{worker_port}"}) as url,
    ):
        body = user_body()
        assert httpx.post(f"{api.url}/users", json=body).status_code == 201
        login = httpx.post(f"{api.url}/login", json={"email": body["email"], "password": body["password"]})
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        assert httpx.post(f"{api.url}/blogs", json=blog_body(), headers=auth).status_code == 201

        [up_api] = query_until(url, 'up{job="api"} == 1')
        [up_worker] = query_until(url, 'up{job="worker"} == 1')
        [blogs] = query_until(url, 'wadah_http_requests_total{route="/blogs",method="POST",status="201"}')
        [stats] = query_until(
            url, 'wadah_jobs_finished_total{kind="compute_blog_stats",outcome="succeeded",job="worker"}'
        )
        latency = query_until(
            url, "histogram_quantile(0.99, sum by (le) (rate(wadah_http_request_duration_seconds_bucket[1m])))"
        )
        queued = query_until(url, 'wadah_queue_jobs{status="queued"}')
    assert up_api["value"][1] == up_worker["value"][1] == "1"
    assert float(blogs["value"][1]) == 1
    assert float(stats["value"][1]) >= 1
    assert latency and queued
