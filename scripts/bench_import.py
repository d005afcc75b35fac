"""Book import speed: a real worker imports an N-row CSV into MariaDB; prints rows/s.

    uv run --frozen python scripts/bench_import.py [--rows 1000000] [--rounds 1]

Each round: a fresh database ``bench_wadah_import`` (migrated), a CSV of N books (1% with
a year that is not one, so the rejection path is measured too) in a temporary
IMPORT_DIR, one import job written and enqueued as the API does, and ``python -m worker``
started against it. rows/s = N / (finished_at - started_at) of the job row: the
worker's own time, parsing, validating, inserting in batches and checkpointing, with
triggers keeping the row count. The database and the Redis keys are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind, new_job_id
from shared.migrate import upgrade
from shared.models import Book, Job
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.mysql import create_database, drop_database, with_database  # noqa: E402


def write_csv(path: Path, rows: int) -> int:
    bad = 0
    with path.open("w") as f:
        f.write("title,author,genre,year\n")
        for n in range(rows):
            if n % 100 == 99:
                f.write(f"Book {n},Author {n % 977},Genre {n % 13},MMV\n")
                bad += 1
            else:
                f.write(f"Book {n},Author {n % 977},Genre {n % 13},{1900 + n % 120}\n")
    return bad


async def one_round(server: str, redis_url: str, rows: int, work: Path) -> tuple[float, float]:
    url = with_database(server, "bench_wadah_import")
    await create_database(url)
    await asyncio.to_thread(upgrade, url)
    namespace = f"bench-import-{secrets.token_hex(3)}"
    settings = Settings(
        database_url=url, redis_url=redis_url, redis_namespace=namespace, import_dir=work, _env_file=None
    )  # type: ignore[call-arg]
    db = Database(settings)
    queue = JobQueue(redis_client(settings), db)
    job_id = new_job_id()
    bad = write_csv(work / f"{job_id}.csv", rows)
    async with db.transaction() as tx:
        job = await queue.request(
            tx, JobKind.IMPORT_BOOKS, {"file": f"{job_id}.csv", "format": "csv"}, requested_by=None, job_id=job_id
        )
    await queue.send([(job.id, job.kind)])
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "IMPORT_DIR": str(work),
        "LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "worker", env=env, cwd=ROOT)
    try:
        while True:
            async with db.sessions() as session:
                row = await session.get(Job, job_id, populate_existing=True)
            if row is not None and row.status not in ("queued", "running"):
                break
            await asyncio.sleep(0.2)
        assert row.status == "succeeded", (row.status, row.error)
        assert row.started_at is not None and row.finished_at is not None
        async with db.sessions() as session:
            inserted = await session.scalar(select(func.count()).select_from(Book))
        assert inserted == rows - bad, (inserted, rows - bad)
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
    with tempfile.TemporaryDirectory(prefix="wadah-import-") as work:
        for n in range(args.rounds):
            started = time.monotonic()
            rate, seconds = await one_round(args.server, args.redis, args.rows, Path(work))
            rates.append(rate)
            print(
                f"round {n + 1}: {args.rows} rows in {seconds:.1f}s of worker time = {rate:,.0f} rows/s "
                f"({time.monotonic() - started:.0f}s with set-up)",
                flush=True,
            )
    print(f"import: {args.rows} rows, median {statistics.median(rates):,.0f} rows/s over {args.rounds} round(s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
