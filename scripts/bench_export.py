"""Export speed: a real worker exports N books from MariaDB into the database as CSV; prints rows/s.

    uv run --frozen python scripts/bench_export.py [--rows 1000000] [--rounds 1]

Each round: a fresh database ``bench_wadah_export`` (migrated) filled with N books, one
export job written and enqueued as the API does, and ``python -m worker`` started
against it. rows/s = N / (finished_at - started_at) of the job row: the worker's own
time, reading one snapshot page by page, writing CSV (formula cells neutralised) and
storing it in 1 MiB chunks (``shared.job_files``). The file is then read back and its
rows counted, so a short or broken file fails the round. The database and the Redis
keys are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import insert

from shared import job_files
from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind
from shared.migrate import upgrade
from shared.models import Book, Job, utcnow
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.mysql import create_database, drop_database, with_database  # noqa: E402


async def fill(db: Database, rows: int) -> None:
    now = utcnow()
    async with db.engine.begin() as conn:
        for start in range(0, rows, 10_000):
            batch = [
                {"title": f"Book {n}", "author": f"Author {n % 977}", "genre": f"Genre {n % 13}", "year": 1900 + n % 120,
                 "created_at": now, "updated_at": now}
                for n in range(start, min(start + 10_000, rows))
            ]  # fmt: skip
            await conn.execute(insert(Book), batch)


async def one_round(server: str, redis_url: str, rows: int) -> tuple[float, float]:
    url = with_database(server, "bench_wadah_export")
    await create_database(url)
    await asyncio.to_thread(upgrade, url)
    namespace = f"bench-export-{secrets.token_hex(3)}"
    settings = Settings(database_url=url, redis_url=redis_url, redis_namespace=namespace, _env_file=None)  # type: ignore[call-arg]
    db = Database(settings)
    queue = JobQueue(redis_client(settings), db)
    await fill(db, rows)
    async with db.transaction() as tx:
        job = await queue.request(tx, JobKind.EXPORT, {"resource": "books"}, requested_by=None)
    await queue.send([(job.id, job.kind)])
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "worker", env=env, cwd=ROOT)
    try:
        while True:
            async with db.sessions() as session:
                row = await session.get(Job, job.id, populate_existing=True)
            if row is not None and row.status not in ("queued", "running"):
                break
            await asyncio.sleep(0.2)
        assert row.status == "succeeded", (row.status, row.error)
        assert row.started_at is not None and row.finished_at is not None
        lines = 0
        async for chunk in job_files.chunks(db.engine, job.id):
            lines += chunk.count(b"\n")
        assert lines == rows + 1, (lines, rows + 1)
        seconds = (row.finished_at - row.started_at).total_seconds()
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
        keys = [k async for k in queue.redis.scan_iter(match=f"{namespace}*")]
        if keys:
            await queue.redis.delete(*keys)
        await queue.redis.aclose()
        await db.close()
        await drop_database(url)
    return rows / seconds, seconds


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/x")
    )
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    rates = []
    for n in range(args.rounds):
        started = time.monotonic()
        rate, seconds = await one_round(args.server, args.redis, args.rows)
        rates.append(rate)
        print(
            f"round {n + 1}: {args.rows} rows in {seconds:.2f}s of worker time = {rate:,.0f} rows/s "
            f"({time.monotonic() - started:.0f}s with set-up)",
            flush=True,
        )
    print(f"export: {args.rows} rows, median {statistics.median(rates):,.0f} rows/s over {args.rounds} round(s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
