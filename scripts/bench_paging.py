"""What a GET /books page costs by depth: offset paging against cursor (keyset) paging.

    uv run --frozen python scripts/bench_paging.py [--rows 1000000] [--repeat 7]

A fresh MariaDB database ``bench_wadah_paging`` (migrated) gets N books in one
``INSERT ... SELECT`` from MariaDB's sequence engine; a real ``python -m api`` serves it.
For each depth (0, 100,000, 500,000 and N - 20 rows in) it times ``GET /books?limit=20``
by ``offset`` and by the ``cursor`` that starts at the same row, ``--repeat`` times each,
and prints the medians in ms and the cursor page's cost against the first page's.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from api.routes.common import encode_cursor
from shared.db import Database
from shared.migrate import upgrade
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.mysql import create_database, drop_database, with_database  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def fill(url: str, rows: int) -> None:
    db = Database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    async with db.engine.begin() as conn:
        await conn.execute(text("SET @wadah_bulk_insert = 1"))  # the count trigger stands aside (migration 0005)
        fill_books = (  # rows is an int
            "INSERT INTO books (id, title, author, genre, year, created_at, updated_at) "  # noqa: S608
            f"SELECT seq, CONCAT('Book ', seq), 'Author', 'Novel', 2000, NOW(6), NOW(6) FROM seq_1_to_{int(rows)}"
        )
        await conn.execute(text(fill_books))
        await conn.execute(text("SET @wadah_bulk_insert = NULL"))
        await conn.execute(text("UPDATE row_counts SET n = :n WHERE name = 'books' AND slot = 0"), {"n": rows})
    await db.close()


def timed(client: httpx.Client, params: dict[str, object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get("/books", params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        assert len(response.json()["data"]) == 20, response.text
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/x")
    )
    args = parser.parse_args()
    url = with_database(args.server, "bench_wadah_paging")
    asyncio.run(create_database(url))
    port = free_port()
    api = None
    try:
        upgrade(url)
        asyncio.run(fill(url, args.rows))
        env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "LOG_LEVEL": "WARNING"}
        api = subprocess.Popen([sys.executable, "-m", "api"], env=env, cwd=ROOT)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.time() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline:
                    raise SystemExit("the API did not start")
                time.sleep(0.2)
            timed(client, {"limit": 20}, 3)  # warm the pool and the buffer pool
            depths = [0, 100_000, 500_000, args.rows - 20]
            first = timed(client, {"limit": 20, "offset": 0}, args.repeat)
            print(f"{args.rows:,} books, GET /books?limit=20, medians of {args.repeat} (ms)")
            print(f"{'depth':>9} {'offset':>9} {'cursor':>9} {'cursor / first page':>20}")
            for depth in [d for d in depths if d < args.rows]:
                by_offset = timed(client, {"limit": 20, "offset": depth}, args.repeat)
                # Ids are 1..N, so the page at this depth starts after the id equal to the depth.
                by_cursor = timed(client, {"limit": 20, "cursor": encode_cursor(depth)}, args.repeat)
                print(f"{depth:>9,} {by_offset:9.1f} {by_cursor:9.1f} {by_cursor / first:19.2f}x")
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        asyncio.run(drop_database(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
