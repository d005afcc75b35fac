"""The worker's queue-health read (shared.queue_health.read_queue) on 1,000,000 job rows on MariaDB.

    uv run --frozen python scripts/bench_queue_metrics.py [--server mysql+asyncmy://root@127.0.0.1:3306] [--rows 1000000]

A throwaway database (``bench_wadah_queue_<hex>``, dropped at the end) migrated to head,
filled by MariaDB's own SEQUENCE engine with ``--rows`` rows spread over the statuses a
long-running deployment has (almost all ``succeeded``, kept 30 days), then with a large
backlog on top. For each scenario: ``EXPLAIN`` of the three statements, and the median
and p99 of ``read_queue`` (the three statements as the worker runs them, over its pool)
over ``--reads`` reads. Figures go to docs/performance.md ("Queue-health query").
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for src in ("shared/src", "services/worker/src"):
    sys.path.insert(0, str(ROOT / src))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.dialects import mysql  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from shared.db import Database  # noqa: E402
from shared.job_records import _COUNT_UNDISPATCHED  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.queue_health import BY_STATUS, OLDEST_QUEUED, read_queue  # noqa: E402
from shared.settings import Settings  # noqa: E402

# Per 1,000 rows: 1 queued (half not yet dispatched), 1 running, 2 failed, 1 cancelled, 995 succeeded.
FILL = """
INSERT INTO jobs (id, kind, params, status, attempts, progress_done, created_at, dispatched_at, finished_at)
SELECT UUID(), ELT(1 + seq % 4, 'compute_blog_stats', 'welcome_email', 'export', 'import_books'), '{{}}',
       CASE seq % 1000 WHEN 0 THEN 'queued' WHEN 1 THEN 'running' WHEN 2 THEN 'failed' WHEN 3 THEN 'failed'
                       WHEN 4 THEN 'cancelled' ELSE 'succeeded' END,
       1, 0,
       NOW(6) - INTERVAL ({rows} - seq) * 2.5 SECOND,
       IF(seq % 2000 = 0, NULL, NOW(6) - INTERVAL ({rows} - seq) * 2.5 SECOND),
       IF(seq % 1000 < 2, NULL, NOW(6) - INTERVAL ({rows} - seq) * 2.5 SECOND)
FROM seq_1_to_{rows}
"""
BACKLOG = """
INSERT INTO jobs (id, kind, params, status, attempts, progress_done, created_at, dispatched_at)
SELECT UUID(), 'export', '{{}}', 'queued', 0, 0, NOW(6) - INTERVAL seq SECOND,
       IF(seq % 10 = 0, NULL, NOW(6) - INTERVAL seq SECOND)
FROM seq_1_to_{n}
"""


def literal_sql(query: object) -> str:
    return str(query.stmt.compile(dialect=mysql.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


async def explain(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        for name, query in (
            ("by status", BY_STATUS),
            ("oldest queued", OLDEST_QUEUED),
            ("outbox", _COUNT_UNDISPATCHED),
        ):
            sql = literal_sql(query)
            print(f"\n-- {name}: {sql}")
            for row in (await conn.execute(text("EXPLAIN " + sql))).mappings():
                print(
                    "   type={type} key={key} key_len={key_len} rows={rows} Extra={Extra}".format(
                        **{k: row[k] for k in ("type", "key", "key_len", "rows", "Extra")}
                    )
                )
    await engine.dispose()


async def time_reads(url: str, reads: int) -> None:
    db = Database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    await db.connect()
    await read_queue(db)  # warm the pool and the buffer pool
    took = []
    for _ in range(reads):
        started = time.perf_counter()
        snapshot = await read_queue(db)
        took.append((time.perf_counter() - started) * 1000)
    await db.close()
    took.sort()
    print(f"\n   figures: {snapshot.by_status}, undispatched {snapshot.undispatched}")
    print(
        f"   read_queue over {reads} reads: median {statistics.median(took):.2f} ms, "
        f"p99 {took[int(len(took) * 0.99) - 1]:.2f} ms, max {took[-1]:.2f} ms"
    )


async def run_sql(url: str, sql: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="mysql+asyncmy://root@127.0.0.1:3306")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    name = f"bench_wadah_queue_{secrets.token_hex(4)}"
    url = f"{args.server.rstrip('/')}/{name}"
    admin = f"{args.server.rstrip('/')}/mysql"
    asyncio.run(run_sql(admin, f"CREATE DATABASE {name}"))
    try:
        upgrade(url)
        started = time.perf_counter()
        asyncio.run(run_sql(url, FILL.format(rows=args.rows)))
        asyncio.run(run_sql(url, "ANALYZE TABLE jobs"))
        print(f"== {args.rows:,} rows (filled in {time.perf_counter() - started:.0f} s): a steady deployment")
        asyncio.run(explain(url))
        asyncio.run(time_reads(url, args.reads))
        asyncio.run(run_sql(url, BACKLOG.format(n=args.backlog)))
        asyncio.run(run_sql(url, "ANALYZE TABLE jobs"))
        print(f"\n== plus a backlog of {args.backlog:,} queued jobs")
        asyncio.run(explain(url))
        asyncio.run(time_reads(url, args.reads))
    finally:
        asyncio.run(run_sql(admin, f"DROP DATABASE IF EXISTS {name}"))


if __name__ == "__main__":
    main()
