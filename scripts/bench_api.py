"""``make bench``: wadah's own HTTP load test of its three hot endpoints.

It builds a database of its own (``BENCH_DATABASE_URL``, default the local MariaDB's
``wadah_bench``) with 10,000 users and 10,000 books, starts the API as production runs
it (``python -m api``: uvicorn, uvloop, httptools, ``WEB_CONCURRENCY`` processes), and
drives each scenario with wrk (32 connections by default) for several rounds:

* ``get_user``    GET /users/{random id}, bearer token
* ``list_books``  GET /books?limit=20&offset=<random page>
* ``create_book`` POST /books, bearer token

It prints medians (requests/s, p99 latency, errors), the API's resident memory after the
run, and writes everything to ``bench-results/api.json``. Throughput here is only
meaningful next to a peer measured in the same run on the same machine: for that, see
docs/performance.md and the side-by-side harness it describes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncmy
from sqlalchemy.engine import make_url

from shared.db import mysql_server_args

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "bench"
SCENARIOS = ("get_user", "list_books", "create_book")
PASSWORD = "bench-password-1"


async def _sql(url: str, statements: list[str], rows: Sequence[tuple[str, list[tuple[object, ...]]]] = ()) -> None:
    conn = await asyncmy.connect(**mysql_server_args(url), autocommit=True)
    try:
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
            for statement, values in rows:
                for i in range(0, len(values), 1000):
                    await cur.executemany(statement, values[i : i + 1000])
    finally:
        conn.close()


def prepare_database(url: str, n: int) -> None:
    name = make_url(url).database
    asyncio.run(_sql(url, [f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"]))
    subprocess.run(
        [sys.executable, "-m", "shared.migrate"], cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    users = [(f"user{i}", f"user{i}@example.com", "x" * 60, now, now) for i in range(1, n + 1)]
    books = [(f"Book {i}", f"Author {i % 97}", "fiction", 1900 + i % 125, now, now) for i in range(1, n + 1)]
    asyncio.run(
        _sql(
            url,
            [f"USE `{name}`"],
            [
                ("INSERT INTO users (name, email, password, created_at, updated_at) VALUES (%s,%s,%s,%s,%s)", users),
                (
                    "INSERT INTO books (title, author, genre, year, created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s)",
                    books,
                ),
            ],
        )
    )


def http(port: int, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def wait_up(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the API exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/books?limit=1", timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the API did not answer within {seconds} s")


def wrk(port: int, scenario: str, token: str, seconds: int, conns: int) -> dict[str, float]:
    script = LUA / f"{scenario}.lua"
    combined = Path(f"/tmp/wadah-bench-{scenario}.lua")
    combined.write_text(script.read_text() + "\n" + (LUA / "report.lua").read_text())
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(combined), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        env={**os.environ, "TOKEN": token},
        check=False,
    ).stdout
    m = re.search(r"RESULT rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+) non2xx=(\d+)", out)
    if not m:
        raise SystemExit("wrk printed no result:\n" + out)
    return {"rps": float(m[1]), "p50_ms": float(m[2]), "p99_ms": float(m[3]), "bad": int(m[4]) + int(m[5])}


def rss_mb(pid: int) -> float:
    """Resident memory of the API: the process and its uvicorn workers, in MB."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return sum(int(x) for x in out.stdout.split()) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--port", type=int, default=18110)
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "api.json"))
    args = ap.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/wadah_bench")
    if subprocess.run(["which", "wrk"], capture_output=True).returncode:
        raise SystemExit("wrk is needed: apt-get install wrk")

    prepare_database(url, args.rows)
    env = {**os.environ, "DATABASE_URL": url, "PORT": str(args.port), "WEB_CONCURRENCY": str(args.workers)}
    (ROOT / "bench-results").mkdir(exist_ok=True)
    log = open(ROOT / "bench-results" / "api-server.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    results: dict[str, list[dict[str, float]]] = {}
    try:
        wait_up(args.port, server)
        email = f"bench-{int(time.time() * 1000)}@example.com"
        http(args.port, "POST", "/users", {"name": "Bench", "email": email, "password": PASSWORD})
        token = str(http(args.port, "POST", "/login", {"email": email, "password": PASSWORD})["token"])
        for scenario in args.scenarios.split(","):
            wrk(args.port, scenario, token, 2, args.conns)  # warm-up
            results[scenario] = [wrk(args.port, scenario, token, args.seconds, args.conns) for _ in range(args.rounds)]
        memory = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    summary = {
        scenario: {
            "rps": statistics.median(r["rps"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "bad": sum(r["bad"] for r in runs),
            "rounds": runs,
        }
        for scenario, runs in results.items()
    }
    print(f"wadah, {args.workers} worker(s), {args.conns} connections, medians of {args.rounds} x {args.seconds} s")
    for scenario, s in summary.items():
        print(f"  {scenario:<12} {s['rps']:8.0f} req/s  p99 {s['p99_ms']:6.1f} ms  errors {s['bad']}")
    print(f"  API resident memory after the run: {memory:.0f} MB")
    Path(args.out).write_text(
        json.dumps({"workers": args.workers, "conns": args.conns, "rss_mb": memory, "scenarios": summary}, indent=1)
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
