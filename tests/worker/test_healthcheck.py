"""The worker image's health check (`python -m worker.healthcheck`) against a real worker process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from shared.embedded import free_port

pytestmark = pytest.mark.process

WORKER_START_LIMIT_SECONDS = 60


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.healthcheck"], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def queue_env(worker_env: dict[str, str]) -> dict[str, str]:
    """A queue of its own, so no other test's worker can answer for this one."""
    return {**worker_env, "REDIS_NAMESPACE": worker_env["REDIS_NAMESPACE"] + "-healthcheck"}


def test_unhealthy_while_no_worker_serves_the_queue(queue_env: dict[str, str]) -> None:
    result = healthcheck(queue_env)
    assert result.returncode == 1
    assert "no worker has refreshed" in result.stdout


def test_unhealthy_when_redis_cannot_be_reached(queue_env: dict[str, str]) -> None:
    result = healthcheck({**queue_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert result.returncode == 1
    assert "cannot read" in result.stdout


def test_healthy_while_a_worker_runs_and_unhealthy_after_it_stops(queue_env: dict[str, str]) -> None:
    worker = subprocess.Popen([sys.executable, "-m", "worker"], env=queue_env)
    try:
        deadline = time.monotonic() + WORKER_START_LIMIT_SECONDS
        result = healthcheck(queue_env)
        while result.returncode != 0 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.5)
            result = healthcheck(queue_env)
        assert result.returncode == 0, result.stdout
        assert result.stdout.startswith("healthy: ")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    # arq deletes its health key on a clean shutdown: a stopped worker is not reported alive.
    assert healthcheck(queue_env).returncode == 1
