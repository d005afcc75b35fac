"""Job throughput and latency of wadah's worker, on the peers' workload (../shared/bench/jobs/).

    uv run --frozen python scripts/bench_jobs.py [--n 2000] [--rounds 3] [--count]

The job is the peers' one: ``UPDATE counters SET hits = hits + 1, updated_at = NOW(6)
WHERE id = ?`` on MariaDB (1,000 counter rows), here as a wadah job with everything
wadah adds: each job is a row in ``jobs`` written through the outbox
(``JobQueue.request`` in a transaction, then the enqueue), claimed and finished by the
worker's wrapper (durable status, attempts, result), run by ``python -m worker``'s own
worker class and settings (poll 10 ms at most, woken by enqueues, 50 jobs in flight, no
arq results, uvloop) plus this one job kind.

Per round, as jobs_bench.py does:
  drain    enqueue N jobs, then start the worker; jobs/s = N / (last job row finished - worker ready)
  latency  worker idle; 200 jobs one at a time at 50/s; enqueue call -> job start (ms), p50/p99
  check    SUM(hits) == N + 200 and every job row ``succeeded`` with attempts == 1
  where    worker CPU per drained job (also over the drain's last three quarters, without
           the ramp-up), Redis commands per drained job as jobs_bench.py counts them
           (INFO total_commands_processed: only meaningful when nothing else uses Redis);
           with --count, the worker's own count of Redis commands by name and SQL
           statements by verb per drained job, which other load does not disturb
Medians over rounds. LOG_LEVEL=WARNING in the worker, like the tuned arq peer (wadah's
one INFO line per job costs about 5%). The database ``bench_wadah_jobs`` and the Redis
keys are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
LAT_JOBS, LAT_RATE = 200, 50.0
KIND = "bench_bump"


# --- the worker side: `python scripts/bench_jobs.py --worker` ------------------------------


class Counts:
    """What the worker sends its servers, counted in-process: Redis commands by name (every
    command redis-py packs, pipelines included) and SQL statements by their first word.

    wadah's job machinery runs its statements on asyncmy directly (``shared.db``), not
    through the engine, so SQLAlchemy's cursor events would miss them; the driver path is
    counted at ``_DriverConnection._run`` (and a transaction's BEGIN and COMMIT), the engine
    path by its events.
    """

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def add(self, key: str) -> None:
        self.seen[key] = self.seen.get(key, 0) + 1

    def snapshot(self) -> dict[str, float]:
        return {**self.seen, "cpu": time.process_time(), "wall": time.time()}

    def install(self, db: Any) -> None:
        from redis.asyncio.connection import AbstractConnection
        from sqlalchemy import event

        from shared import db as shared_db

        pack = AbstractConnection.pack_command

        def counted_pack(conn: Any, *args: Any) -> Any:
            name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            self.add("redis " + name.split()[0].upper())
            return pack(conn, *args)

        AbstractConnection.pack_command = counted_pack  # type: ignore[method-assign,assignment]

        run = shared_db._DriverConnection._run

        verbs: dict[Any, str] = {}  # str(stmt) compiles the statement: once per query, not per run

        async def counted_run(conn: Any, query: Any, params: Any, fetch: bool) -> Any:
            verb = verbs.get(query)
            if verb is None:
                verb = verbs[query] = "sql " + str(query.stmt).split(None, 1)[0].upper()
            self.add(verb)
            return await run(conn, query, params, fetch)

        shared_db._DriverConnection._run = counted_run  # type: ignore[method-assign,assignment]
        connection = shared_db.Database._connection

        @contextlib.asynccontextmanager
        async def counted_connection(database: Any, *, transaction: bool) -> Any:
            if transaction:
                self.add("sql BEGIN")
            async with connection(database, transaction=transaction) as conn:
                yield conn
            if transaction:
                self.add("sql COMMIT")

        shared_db.Database._connection = counted_connection  # type: ignore[method-assign,assignment]

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _engine_statement(*args: Any) -> None:
            self.add("sql(engine) " + args[2].split(None, 1)[0].upper())


def run_bench_worker() -> None:
    import atexit

    from sqlalchemy import Column, DateTime, Integer, MetaData, Table, bindparam, func, update

    from shared.db import Query
    from worker.context import RunningJob, WorkerContext
    from worker.registry import job_function
    from worker.settings import WorkerSettings, startup

    counters = Table(
        "counters",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("hits", Integer),
        Column("updated_at", DateTime),
    )
    bump = Query(
        update(counters)
        .where(counters.c.id == bindparam("counter_id"))
        .values(hits=counters.c.hits + 1, updated_at=func.now(6))
    )
    ready: list[float] = [0.0, 0.0]
    records: list[tuple[int, float, float, float]] = []
    counts = Counts() if os.environ.get("BENCH_COUNT") else None
    snapshots: dict[str, dict[str, float]] = {}

    @atexit.register
    def _dump() -> None:
        with open(os.environ["BENCH_OUT"], "w") as f:
            json.dump({"ready": ready, "records": records, "counts": snapshots}, f)

    async def bench_startup(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        context = WorkerContext.of(ctx)
        await context.db.connect()
        if counts is not None:
            counts.install(context.db)
            snapshots["ready"] = counts.snapshot()
            # The driver signals once every drained row is recorded finished.
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGUSR1, lambda: snapshots.__setitem__("drained", counts.snapshot())
            )
        ready[:] = time.time(), time.process_time()

    async def bench_bump(job: RunningJob, counter_id: int) -> None:
        started = time.time()
        await job.db.execute(bump, counter_id=counter_id)
        records.append((counter_id, started, time.time(), time.process_time()))

    # arq reads a settings class's own __dict__ only, so the bench's settings are a dict:
    # wadah's worker settings, one more job kind, and a start-up that notes when it is ready.
    settings = {k: v for k, v in vars(WorkerSettings).items() if not k.startswith("__")}
    settings["functions"] = [*WorkerSettings.functions, job_function(KIND, bench_bump, timeout_s=60)]
    settings["on_startup"] = bench_startup

    import uvloop
    from arq.worker import get_kwargs

    from worker.heartbeat import Heartbeat
    from worker.heartbeat_worker import HeartbeatWorker

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())
    # The worker class `python -m worker` runs, with its bounded Redis pool; its heartbeat in
    # the driver's temporary directory.
    from shared.job_queue import redis_client
    from shared.settings import get_settings

    worker = HeartbeatWorker(
        **get_kwargs(settings),
        redis_pool=redis_client(get_settings(), get_settings().worker_redis_connections),
        heartbeat=Heartbeat(Path(os.environ["BENCH_HEARTBEAT"])),
    )
    if os.environ.get("BENCH_PROFILE"):  # python -m pstats the file it names
        import cProfile

        cProfile.runctx("worker.run()", globals(), locals(), os.environ["BENCH_PROFILE"])
    else:
        worker.run()


# --- the driver ----------------------------------------------------------------------------


async def wait_until(probe: Any, target: int, deadline: float) -> int:
    """Poll ``probe()`` until it reaches ``target`` or the deadline passes; its last value."""
    while True:
        value: int = await probe()
        if value >= target or time.time() > deadline:
            return value
        await asyncio.sleep(0.02)


def read_records(path: str) -> dict[str, Any]:
    with open(path) as f:
        data: dict[str, Any] = json.load(f)
    os.unlink(path)
    return data


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


async def run_round(n: int, url: str, redis_url: str, namespace: str, count: bool) -> dict[str, Any]:
    from sqlalchemy import delete, func, select, text

    from shared.db import Database
    from shared.job_queue import JobQueue, redis_client
    from shared.models import Job
    from shared.settings import Settings

    settings = Settings(database_url=url, redis_url=redis_url, redis_namespace=namespace, _env_file=None)  # type: ignore[call-arg]
    db = Database(settings)
    await db.connect()
    queue = JobQueue(redis_client(settings), db)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE counters SET hits = 0, updated_at = NULL"))
        await conn.execute(delete(Job))
    keys = [k async for k in queue.redis.scan_iter(match=f"{namespace}*")]
    if keys:
        await queue.redis.delete(*keys)

    async def enqueue(counter_id: int) -> None:
        async with db.transaction() as tx:
            job = await queue.request(tx, KIND, {"counter_id": counter_id}, requested_by=None)
        queue.dispatch(job)

    async def total() -> int:
        async with db.engine.connect() as conn:
            return int((await conn.execute(text("SELECT COALESCE(SUM(hits), 0) FROM counters"))).scalar_one())

    t0 = time.time()
    for i in range(n):
        await enqueue(i % 1000 + 1)
    await queue.drain()
    enqueue_rate = n / (time.time() - t0)

    fd, out = tempfile.mkstemp(prefix="wadah-jobs-bench-", suffix=".json")
    os.close(fd)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "BENCH_OUT": out,
        "BENCH_HEARTBEAT": out + ".heartbeat",
        **({"BENCH_COUNT": "1"} if count else {}),
    }
    log = open(f"/tmp/bench_jobs-wadah-{namespace}.log", "w")  # noqa: ASYNC230, SIM115 - a log file for the worker
    commands0 = (await queue.redis.info("stats"))["total_commands_processed"]
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--worker", env=env, cwd=ROOT, stdout=log, stderr=log
    )
    t_enq: dict[int, float] = {}
    try:
        deadline = time.time() + 30 + n / 50

        async def finished_rows() -> int:
            async with db.engine.connect() as conn:
                return int((await conn.execute(select(func.count()).where(Job.status == "succeeded"))).scalar_one())

        await wait_until(total, n, deadline)
        await wait_until(finished_rows, n, deadline)
        # As jobs_bench.py counts: every command Redis served during the drain (the driver sends none).
        commands = (await queue.redis.info("stats"))["total_commands_processed"] - commands0 - 1
        if count:
            worker.send_signal(signal.SIGUSR1)
        async with db.engine.connect() as conn:
            last_finished = (await conn.execute(select(func.max(Job.finished_at)))).scalar_one()
        after_drain = await total()
        await asyncio.sleep(0.5)  # worker idle
        t_lat = time.time()
        for k in range(LAT_JOBS):
            await asyncio.sleep(max(0.0, t_lat + k / LAT_RATE - time.time()))
            t_enq[k + 1] = time.time()
            await enqueue(k + 1)
        deadline = time.time() + 30
        await wait_until(total, n + LAT_JOBS, deadline)
        await wait_until(finished_rows, n + LAT_JOBS, deadline)
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
        log.close()
    final = await total()
    async with db.engine.connect() as conn:
        statuses = dict((await conn.execute(select(Job.status, func.count()).group_by(Job.status))).all())
        attempts = set((await conn.execute(select(Job.attempts).distinct())).scalars().all())
    data = read_records(out)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out + ".heartbeat")
    await queue.redis.aclose()
    await db.close()

    ready, _cpu0 = data["ready"]
    records = data["records"]
    ok = after_drain == n and final == n + LAT_JOBS and statuses == {"succeeded": n + LAT_JOBS} and attempts == {1}
    if not ok:
        print(f"  CHECK FAILED: sums {after_drain}/{final}, statuses {statuses}, attempts {attempts}", file=sys.stderr)
    drained = records[:n]
    finished_at = last_finished.replace(tzinfo=UTC).timestamp() if last_finished else float("nan")
    lat = [r for r in records[n:] if r[0] in t_enq]
    start_ms = [(r[1] - t_enq[r[0]]) * 1000 for r in lat] or [float("nan")]
    done_ms = [(r[2] - t_enq[r[0]]) * 1000 for r in lat] or [float("nan")]
    per_job: dict[str, float] = {}
    if count and "drained" in data["counts"]:
        before, after = data["counts"]["ready"], data["counts"]["drained"]
        per_job = {k: (after[k] - before.get(k, 0)) / n for k in sorted(after) if k not in ("wall",)}
        per_job["cpu"] *= 1e6  # us per job, to the moment every row was recorded finished
    return {
        "ok": ok,
        "cmds": commands / n,
        "counts": per_job,
        "enq": enqueue_rate,
        "drain": n / (finished_at - ready),
        "drain_effect": n / (max(r[2] for r in drained) - ready) if len(drained) == n else float("nan"),
        "cpu": (max(r[3] for r in drained) - data["ready"][1]) / n * 1e6 if len(drained) == n else float("nan"),
        # The same, over the last three quarters of the drain only: the worker's ramp-up left out.
        "cpu_steady": (drained[-1][3] - drained[n // 4][3]) / (n - 1 - n // 4) * 1e6
        if len(drained) == n
        else float("nan"),
        "s50": pct(start_ms, 50),
        "s99": pct(start_ms, 99),
        "d50": pct(done_ms, 50),
        "d99": pct(done_ms, 99),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/x")
    )
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument(
        "--count",
        action="store_true",
        help="also count, in the worker, Redis commands by name, SQL statements and CPU per drained job",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text
    from tests.mysql import create_database, drop_database, with_database

    from shared.db import Database
    from shared.migrate import upgrade
    from shared.settings import Settings

    url = with_database(args.server, "bench_wadah_jobs")
    await create_database(url)
    await asyncio.to_thread(upgrade, url)
    db = Database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE counters (id BIGINT PRIMARY KEY, hits BIGINT NOT NULL, updated_at DATETIME(6)) ENGINE=InnoDB"
            )
        )
        await conn.execute(text("INSERT INTO counters (id, hits) SELECT seq, 0 FROM seq_1_to_1000"))
    await db.close()
    namespace = f"bench-jobs-{secrets.token_hex(3)}"
    results = []
    try:
        for rnd in range(args.rounds):
            res = await run_round(args.n, url, args.redis, namespace, args.count)
            results.append(res)
            print(
                f"round {rnd + 1} wadah     drain {res['drain']:7.0f}/s  start p50 {res['s50']:6.1f} ms  "
                f"done p50 {res['d50']:6.1f} ms  {'ok' if res['ok'] else 'FAILED'}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        await drop_database(url)
    keys = ("enq", "drain", "drain_effect", "s50", "s99", "d50", "d99", "cpu", "cpu_steady", "cmds")
    med = {k: statistics.median(r[k] for r in results) for k in keys}
    ok = all(r["ok"] for r in results)
    print(
        f"\nN={args.n}, {args.rounds} rounds (medians); latency: {LAT_JOBS} jobs at {LAT_RATE:.0f}/s, ms from enqueue call"
    )
    print(
        f"{'peer':<10} {'enqueue/s':>9} {'drain/s':>8} {'(effect)':>8} {'start p50':>9} {'p99':>7} "
        f"{'done p50':>9} {'p99':>7} {'cpu us/job':>10} {'redis cmd/job':>13} {'check':>5}"
    )
    print(
        f"{'wadah':<10} {med['enq']:9.0f} {med['drain']:8.0f} {med['drain_effect']:8.0f} {med['s50']:9.1f} "
        f"{med['s99']:7.1f} {med['d50']:9.1f} {med['d99']:7.1f} {med['cpu']:10.0f} {med['cmds']:13.1f} "
        f"{'ok' if ok else 'FAIL':>5}"
    )
    print("drain/s: until the last job row was recorded finished; (effect): until the last UPDATE ran, as the peers")
    print(f"cpu us/job over the drain's last three quarters (no ramp-up): {med['cpu_steady']:.0f}")
    if args.count:
        names = sorted({k for r in results for k in r["counts"]})
        print("\nper drained job, counted in the worker (medians over rounds; cpu in us):")
        for name in names:
            print(f"  {name:<28} {statistics.median(r['counts'].get(name, 0.0) for r in results):9.3f}")
        for prefix in ("redis", "sql"):
            total = statistics.median(sum(v for k, v in r["counts"].items() if k.startswith(prefix)) for r in results)
            print(f"  {prefix + ' total':<28} {total:9.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        run_bench_worker()
    else:
        sys.exit(asyncio.run(main()))
