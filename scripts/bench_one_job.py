"""What the one-job benchmarks (bench_import.py, bench_export.py) share.

Each round makes a fresh migrated database and Redis namespace (``fresh``), writes one
job as the API does, and lets a real ``python -m worker`` run it (``run_worker``); the
figure is the job row's own time, ``finished_at - started_at``. ``main`` is their
command line: ``--rows``, ``--rounds``, ``--server``, ``--redis`` and a median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.migrate import upgrade
from shared.models import Job
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.mysql import create_database, drop_database, with_database  # noqa: E402


@dataclass(frozen=True)
class Round:
    url: str
    redis_url: str
    namespace: str
    db: Database
    queue: JobQueue


@asynccontextmanager
async def fresh(server: str, redis_url: str, name: str) -> AsyncIterator[Round]:
    """A migrated database ``bench_wadah_<name>`` and a Redis namespace, both removed afterwards."""
    url = with_database(server, f"bench_wadah_{name}")
    await create_database(url)
    await asyncio.to_thread(upgrade, url)
    namespace = f"bench-{name}-{secrets.token_hex(3)}"
    settings = Settings(database_url=url, redis_url=redis_url, redis_namespace=namespace, _env_file=None)  # type: ignore[call-arg]
    db = Database(settings)
    queue = JobQueue(redis_client(settings), db)
    try:
        yield Round(url, redis_url, namespace, db, queue)
    finally:
        keys = [k async for k in queue.redis.scan_iter(match=f"{namespace}*")]
        if keys:
            await queue.redis.delete(*keys)
        await queue.redis.aclose()
        await db.close()
        await drop_database(url)


async def run_worker(bench: Round, job_id: str) -> float:
    """Start a worker, wait for the job to succeed, stop the worker; the job's own seconds."""
    env = {
        **os.environ,
        "DATABASE_URL": bench.url,
        "REDIS_URL": bench.redis_url,
        "REDIS_NAMESPACE": bench.namespace,
        "LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "worker", env=env, cwd=ROOT)
    try:
        while True:
            async with bench.db.sessions() as session:
                row = await session.get(Job, job_id, populate_existing=True)
            if row is not None and row.status not in ("queued", "running"):
                break
            await asyncio.sleep(0.2)  # polling a job that takes seconds; not a timing of the job
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
    assert row.status == "succeeded", (row.status, row.error)
    assert row.started_at is not None and row.finished_at is not None
    return (row.finished_at - row.started_at).total_seconds()


def main(doc: str, what: str, one_round: Callable[[str, str, int], Awaitable[float]]) -> int:
    """The command line: ``one_round(server, redis_url, rows)`` gives a round's seconds."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/x")
    )
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()

    async def rounds() -> list[float]:
        rates = []
        for n in range(args.rounds):
            started = time.monotonic()
            seconds = await one_round(args.server, args.redis, args.rows)
            rates.append(args.rows / seconds)
            print(
                f"round {n + 1}: {args.rows} rows in {seconds:.2f}s of worker time = {rates[-1]:,.0f} rows/s "
                f"({time.monotonic() - started:.0f}s with set-up)",
                flush=True,
            )
        return rates

    rates = asyncio.run(rounds())
    print(f"{what}: {args.rows} rows, median {statistics.median(rates):,.0f} rows/s over {args.rounds} round(s)")
    return 0
