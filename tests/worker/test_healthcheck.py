"""The worker's health check (`python -m worker.healthcheck`) against real worker processes on real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from shared.embedded import free_port
from shared.settings import Settings
from tests.processes import WorkerProcess

pytestmark = pytest.mark.process

WORKER_START_LIMIT_SECONDS = 60
MAX_AGE_SECONDS = 20


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.healthcheck"], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def until_healthy(env: dict[str, str], worker: WorkerProcess) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + WORKER_START_LIMIT_SECONDS
    result = healthcheck(env)
    while result.returncode != 0 and time.monotonic() < deadline and worker.proc.poll() is None:
        time.sleep(0.2)
        result = healthcheck(env)
    assert result.returncode == 0, f"{result.stdout}\n{worker.output()[-4000:]}"
    return result


@pytest.fixture
def queue_env(worker_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A queue and a heartbeat file of its own, so no other test's worker can answer for this one."""
    return {
        **worker_env,
        "REDIS_NAMESPACE": worker_env["REDIS_NAMESPACE"] + "-healthcheck-" + tmp_path.name[-8:],
        "WORKER_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
        "WORKER_HEARTBEAT_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS),
    }


def test_unhealthy_before_any_worker_has_run(queue_env: dict[str, str]) -> None:
    result = healthcheck(queue_env)
    assert result.returncode == 1
    assert "no heartbeat" in result.stdout


def test_healthy_while_a_worker_runs_and_unhealthy_after_it_stops(queue_env: dict[str, str], tmp_path: Path) -> None:
    worker = WorkerProcess(queue_env, tmp_path / "worker.log")
    try:
        assert until_healthy(queue_env, worker).stdout.startswith("healthy: heartbeat ")
    finally:
        assert worker.stop() == 0
    # A clean stop removes the stamp: a stopped worker is not reported alive.
    result = healthcheck(queue_env)
    assert result.returncode == 1
    assert "no heartbeat" in result.stdout


def test_a_killed_worker_is_unhealthy_once_its_stamp_is_too_old_though_arqs_key_lives_on(
    queue_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    worker = WorkerProcess(queue_env, tmp_path / "worker.log")
    try:
        until_healthy(queue_env, worker)
    finally:
        worker.kill()
    # SIGKILL leaves arq's queue-wide key in place (and another replica would keep it fresh),
    # which is why the check does not read it.
    arq_key = f"{queue_env['REDIS_NAMESPACE']}:queue:health-check"
    client = redis.Redis.from_url(settings.redis_url)
    try:
        assert client.exists(arq_key)
    finally:
        client.delete(arq_key)
        client.close()
    # Nothing writes the stamp any more; move it back past the limit instead of waiting.
    stamp = Path(queue_env["WORKER_HEARTBEAT_FILE"])
    old = time.time() - MAX_AGE_SECONDS - 1
    os.utime(stamp, (old, old))
    result = healthcheck(queue_env)
    assert result.returncode == 1
    assert "stuck or dead" in result.stdout


def test_a_worker_waiting_for_redis_stays_alive_and_stops_cleanly(queue_env: dict[str, str], tmp_path: Path) -> None:
    """Restarting a worker cannot bring Redis back, so the reconnect loop stamps between attempts.

    SIGTERM in its backoff stops it at once with status 0 and takes the stamp away.
    """
    env = {**queue_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        until_healthy(env, worker)
        deadline = time.monotonic() + WORKER_START_LIMIT_SECONDS
        while "starting again in 2s" not in worker.output():  # the second, longer backoff
            assert time.monotonic() < deadline, worker.output()[-4000:]
            time.sleep(0.05)
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=30) == 0, worker.output()[-4000:]
        assert "worker stopped while waiting for Redis" in worker.output()
        assert not Path(env["WORKER_HEARTBEAT_FILE"]).exists()
    finally:
        worker.stop()
