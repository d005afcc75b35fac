"""The autoscaler's backlog query on a big jobs table: its plan and its time.

    uv run --frozen python scripts/bench_backlog.py [--rows 1000000] [--backlog 5000] [--runs 20]

A throwaway database ``bench_wadah_backlog`` is migrated and filled with N job rows
(all finished but ``--backlog`` of them: four queued to one running, as a busy queue
looks), then ``shared.jobs.BACKLOG_SQL`` (what KEDA's mysql scaler runs in
deploy/k8s) is EXPLAINed and timed, then timed again with every index that starts with
status ignored (a full scan), for comparison. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import asyncmy
from sqlalchemy.engine import make_url

from shared.db import mysql_server_args
from shared.jobs import BACKLOG_SQL
from shared.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.mysql import create_database, drop_database, with_database  # noqa: E402

# 10**6 numbers from six joins of ten digits: portable to MySQL 8 and MariaDB (no
# sequence engine, no recursion limits).
DIGITS = (
    "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 "
    "UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
)


def fill_sql(rows: int, backlog: int) -> str:
    numbers = " CROSS JOIN ".join(f"{DIGITS} d{i}" for i in range(6))
    n = " + ".join(f"d{i}.d * {10**i}" for i in range(6))
    status = (
        f"CASE WHEN n < {backlog // 5} THEN 'running' WHEN n < {backlog} THEN 'queued' "
        "WHEN n % 50 = 0 THEN 'failed' ELSE 'succeeded' END"
    )
    # Built from integers only, nothing from outside.
    return (
        "INSERT INTO jobs (id, kind, params, status, attempts, progress_done, created_at, dispatched_at,"  # noqa: S608
        " started_at, finished_at)"
        f" SELECT UUID(), 'compute_blog_stats', '{{}}', s, 1, 0, t, t, IF(s = 'queued', NULL, t),"
        " IF(s IN ('queued', 'running'), NULL, t)"
        f" FROM (SELECT {status} s, NOW(6) - INTERVAL n SECOND t, n FROM"
        f" (SELECT {n} n FROM {numbers}) numbers WHERE n < {rows}) generated"
    )


async def measure(url: str, rows: int, backlog: int, runs: int) -> None:
    conn = await asyncmy.connect(**mysql_server_args(url), db=make_url(url).database)
    try:
        async with conn.cursor() as cur:
            started = time.monotonic()
            await cur.execute(fill_sql(rows, backlog))
            await conn.commit()
            print(f"filled {rows:,} job rows ({backlog:,} queued or running) in {time.monotonic() - started:.0f}s")
            await cur.execute("ANALYZE TABLE jobs")
            await cur.fetchall()
            await cur.execute("SELECT VERSION()")
            print(f"server: {(await cur.fetchone())[0]}")
            await cur.execute(f"EXPLAIN {BACKLOG_SQL}")
            names = [c[0] for c in cur.description]
            print(f"EXPLAIN {BACKLOG_SQL}")
            for row in await cur.fetchall():
                print("  " + ", ".join(f"{k}={v}" for k, v in zip(names, row, strict=True)))
            # The same count made to scan the table instead, for comparison: every index
            # that starts with status is ignored.
            await cur.execute(
                "SELECT index_name FROM information_schema.statistics WHERE table_schema = DATABASE()"
                " AND table_name = 'jobs' AND seq_in_index = 1 AND column_name = 'status'"
            )
            status_indexes = ", ".join(row[0] for row in await cur.fetchall())
            no_index = BACKLOG_SQL.replace("FROM jobs", f"FROM jobs IGNORE INDEX ({status_indexes})")
            for label, sql in (("backlog query", BACKLOG_SQL), ("without the index", no_index)):
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    await cur.execute(sql)
                    (count,) = await cur.fetchone()
                    times.append((time.perf_counter() - started) * 1000)
                assert count == backlog, (count, backlog)
                print(
                    f"{label}: {count:,} rows counted; median {statistics.median(times):.2f} ms, "
                    f"max {max(times):.2f} ms over {runs} runs"
                )
    finally:
        conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/x")
    )
    args = parser.parse_args()
    if not 0 < args.backlog <= args.rows <= 1_000_000:
        parser.error("need 0 < --backlog <= --rows <= 1000000")
    url = with_database(args.server, "bench_wadah_backlog")
    await create_database(url)
    try:
        await asyncio.to_thread(upgrade, url)
        await measure(url, args.rows, args.backlog, args.runs)
    finally:
        await drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
