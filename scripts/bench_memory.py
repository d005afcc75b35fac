"""``make bench-memory``: resident memory of the API under load and of a worker draining a backlog.

    uv run --frozen python scripts/bench_memory.py [--jobs 100000] [--seconds 20] [--parts api,worker]

* **api**: ``python -m api`` (one process, as ``make serve``) on a database of 10,000
  users and books (``scripts/bench_api.py``'s), driven by wrk with 32 connections for
  ``--seconds`` per scenario (GET /users/{id}, GET /books page, POST /books).
* **worker**: ``--jobs`` ``compute_blog_stats`` jobs on 1,000 blogs, each requested
  through the outbox (``JobQueue.request`` in its own transaction, then
  ``JobQueue.dispatch``), all enqueued before ``python -m worker`` starts with its
  production settings (metrics on); the worker drains the backlog.

RSS is read from ``/proc/PID/status`` (``VmRSS``) every 0.1 s, for the process and any
children. The worker's is paired with the count of finished job rows, so it is known
after the first and the last 10,000 jobs: a leak shows as growth between the two, a
high but flat figure does not. RSS does not depend on a quiet machine. The targets
(docs/performance.md): under 150 MB for both, and no growth over the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOGS = 1000
CHECKPOINT = 10_000  # jobs: the first and the last this many are compared
SAMPLE_SECONDS = 0.1
WORKER = ("-m", "worker")  # what the worker process runs: python -m worker, as deployed
LIMIT_MB = 150.0


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (uvicorn's worker processes), in MB; 0 once gone."""
    total_kb = 0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        return 0.0
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


class Sampler:
    """Samples a process's RSS in a thread until stopped; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_mb(self.pid)
            if rss:
                self.samples.append((time.monotonic(), rss))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max((rss for _, rss in self.samples), default=0.0)

    @property
    def last(self) -> float:
        return self.samples[-1][1] if self.samples else 0.0


# --- the API -------------------------------------------------------------------------------


def measure_api(seconds: int, conns: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_api

    url = os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/wadah_bench_memory")
    port = 18120
    bench_api.prepare_database(url, 10_000)
    env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    log = open("/tmp/wadah-bench-memory-api.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    figures: dict[str, float] = {}
    try:
        bench_api.wait_up(port, server)
        figures["ready"] = rss_mb(server.pid)
        email = f"bench-{int(time.time() * 1000)}@example.com"
        bench_api.http(port, "POST", "/users", {"name": "Bench", "email": email, "password": bench_api.PASSWORD})
        token = str(bench_api.http(port, "POST", "/login", {"email": email, "password": bench_api.PASSWORD})["token"])
        with Sampler(server.pid) as sampler:
            for scenario in bench_api.SCENARIOS:
                result = bench_api.wrk(port, scenario, token, seconds, conns)
                figures[scenario] = sampler.last
                print(
                    f"  api  {scenario:<12} {result['rps']:7.0f} req/s  RSS after it {sampler.last:6.1f} MB",
                    file=sys.stderr,
                )
        figures["peak"] = sampler.peak
        figures["end"] = sampler.last
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()
    return figures


# --- the worker ----------------------------------------------------------------------------


async def enqueue(url: str, redis_url: str, namespace: str, n: int, concurrency: int = 16) -> float:
    """Request ``n`` jobs through the outbox, ``concurrency`` at a time; jobs/s."""
    from shared.db import Database
    from shared.job_queue import JobQueue, redis_client
    from shared.jobs import JobKind
    from shared.settings import Settings

    settings = Settings(database_url=url, redis_url=redis_url, redis_namespace=namespace, _env_file=None)  # type: ignore[call-arg]
    db = Database(settings)
    await db.connect()
    queue = JobQueue(redis_client(settings), db)
    todo = iter(range(n))

    async def requester() -> None:
        for i in todo:
            async with db.transaction() as tx:
                job = await queue.request(tx, JobKind.COMPUTE_BLOG_STATS, {"blog_id": i % BLOGS + 1}, requested_by=1)
            queue.dispatch(job)

    started = time.monotonic()
    await asyncio.gather(*(requester() for _ in range(concurrency)))
    await queue.drain()
    rate = n / (time.monotonic() - started)
    await queue.redis.aclose()
    await db.close()
    return rate


async def finished_jobs(url: str) -> int:
    import asyncmy
    from sqlalchemy.engine import make_url

    from shared.db import mysql_server_args

    conn = await asyncmy.connect(**mysql_server_args(url), db=make_url(url).database, autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled')")
            row = await cur.fetchone()
            return int(row[0])
    finally:
        conn.close()


async def forget_namespace(redis_url: str, namespace: str) -> None:
    """Remove the run's Redis keys (arq keeps none for finished jobs, but its queue may hold leftovers)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    keys = [key async for key in redis.scan_iter(match=f"{namespace}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def measure_worker(n: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from tests.mysql import create_database, drop_database, execute, with_database

    from shared.migrate import upgrade

    server = os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/x")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    url = with_database(server, "bench_wadah_memory")
    namespace = f"bench-memory-{secrets.token_hex(3)}"
    asyncio.run(create_database(url))
    figures: dict[str, float] = {}
    heartbeat = tempfile.mkdtemp(prefix="wadah-bench-memory-")
    try:
        upgrade(url)
        execute(
            url,
            "INSERT INTO users (name, email, password, created_at, updated_at) "
            "VALUES ('Bench', 'bench@example.com', REPEAT('x', 60), NOW(6), NOW(6))",
            "INSERT INTO blogs (user_id, title, content, created_at, updated_at) "  # noqa: S608 - a constant
            f"SELECT 1, CONCAT('Blog ', seq), REPEAT('word ', 300), NOW(6), NOW(6) FROM seq_1_to_{BLOGS}",
        )
        rate = asyncio.run(enqueue(url, redis_url, namespace, n))
        print(f"  worker: {n} jobs requested through the outbox ({rate:.0f}/s)", file=sys.stderr)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_NAMESPACE": namespace,
            "LOG_LEVEL": "WARNING",
            "WORKER_METRICS_PORT": "0",
            "WORKER_HEARTBEAT_FILE": str(Path(heartbeat) / "heartbeat"),
        }
        log = open("/tmp/wadah-bench-memory-worker.log", "w")  # noqa: SIM115 - lives as long as the worker
        worker = subprocess.Popen([sys.executable, *WORKER], cwd=ROOT, env=env, stdout=log, stderr=log)
        checkpoints: dict[int, float] = {}
        started = time.monotonic()
        try:
            with Sampler(worker.pid) as sampler:
                done = 0
                while done < n:
                    if worker.poll() is not None:
                        raise SystemExit(f"the worker exited with {worker.returncode}")
                    if time.monotonic() - started > 60 + n / 50:
                        raise SystemExit(f"only {done} of {n} jobs finished in time")
                    time.sleep(0.25)
                    done = asyncio.run(finished_jobs(url))
                    for mark in range(CHECKPOINT, done + 1, CHECKPOINT):
                        if mark not in checkpoints:
                            checkpoints[mark] = sampler.last
                            print(f"  worker {mark:7d} jobs done  RSS {sampler.last:6.1f} MB", file=sys.stderr)
            figures["peak"] = sampler.peak
            figures["drain_s"] = time.monotonic() - started
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            log.close()
        figures["first"] = checkpoints[CHECKPOINT]
        figures["before_last"] = checkpoints.get(n - CHECKPOINT, float("nan"))
        figures["last"] = checkpoints[max(checkpoints)]
    finally:
        asyncio.run(drop_database(url))
        asyncio.run(forget_namespace(redis_url, namespace))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20, help="wrk's run per API scenario")
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--parts", default="api,worker")
    args = parser.parse_args()
    if args.jobs < 2 * CHECKPOINT:
        parser.error(f"--jobs must be at least {2 * CHECKPOINT}: the first and the last {CHECKPOINT} are compared")
    parts = args.parts.split(",")
    ok = True
    if "api" in parts:
        api = measure_api(args.seconds, args.conns)
        print(
            f"api:    ready {api['ready']:.1f} MB; after the load run {api['end']:.1f} MB; "
            f"peak {api['peak']:.1f} MB (limit {LIMIT_MB:.0f})"
        )
        ok &= api["peak"] < LIMIT_MB
    if "worker" in parts:
        worker = measure_worker(args.jobs)
        growth = worker["last"] - worker["first"]
        print(
            f"worker: {args.jobs} jobs in {worker['drain_s']:.0f} s; RSS after the first {CHECKPOINT:,} "
            f"{worker['first']:.1f} MB, after {args.jobs - CHECKPOINT:,} {worker['before_last']:.1f} MB, "
            f"after all {worker['last']:.1f} MB ({growth:+.1f} MB); peak {worker['peak']:.1f} MB (limit {LIMIT_MB:.0f})"
        )
        ok &= worker["peak"] < LIMIT_MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
