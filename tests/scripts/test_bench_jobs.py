"""``scripts/bench_jobs.py --count`` counts what the worker sends without adding to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared import db as shared_db
from tests.scripts.loading import load_script

counters = Table("counters", MetaData(), Column("id", Integer, primary_key=True), Column("hits", Integer))


@pytest.fixture(scope="module")
def bench_jobs() -> ModuleType:
    module: ModuleType = load_script("bench_jobs")
    return module


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    made = create_async_engine("sqlite+aiosqlite://")
    yield made
    await made.dispose()


@pytest.fixture
def driver_runs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The driver's ``_run`` replaced by a recorder; every class ``install`` patches is put back."""
    runs: list[Any] = []

    async def recorded_run(conn: Any, query: Any, params: Any, fetch: bool) -> str:
        runs.append(query)
        return "ran"

    monkeypatch.setattr(shared_db._DriverConnection, "_run", recorded_run)
    monkeypatch.setattr(shared_db.Database, "_connection", shared_db.Database._connection)
    monkeypatch.setattr(AbstractConnection, "pack_command", AbstractConnection.pack_command)
    return runs


async def test_each_statement_is_compiled_once_however_often_it_runs(
    bench_jobs: ModuleType, engine: AsyncEngine, driver_runs: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compiling a statement per job to read its verb once doubled the worker's CPU per job.
    stmt = update(counters).where(counters.c.id == bindparam("counter_id")).values(hits=counters.c.hits + 1)
    compiles: list[object] = []
    compile_ = stmt.compile

    def counted_compile(*args: Any, **kwargs: Any) -> Any:
        compiles.append(stmt)
        return compile_(*args, **kwargs)

    monkeypatch.setattr(stmt, "compile", counted_compile)
    query = shared_db.Query(stmt)
    counts = bench_jobs.Counts()
    counts.install(SimpleNamespace(engine=engine))

    for counter_id in (1, 2, 3):
        assert await shared_db._DriverConnection._run(None, query, {"counter_id": counter_id}, False) == "ran"

    assert counts.seen == {"sql UPDATE": 3}
    assert driver_runs == [query, query, query]
    assert len(compiles) == 1


async def test_statements_are_counted_by_their_own_verb(
    bench_jobs: ModuleType, engine: AsyncEngine, driver_runs: list[Any]
) -> None:
    bump = shared_db.Query(update(counters).values(hits=counters.c.hits + 1))
    read = shared_db.Query(counters.select())
    counts = bench_jobs.Counts()
    counts.install(SimpleNamespace(engine=engine))

    for query in (bump, read, read):
        await shared_db._DriverConnection._run(None, query, {}, True)

    assert counts.seen == {"sql UPDATE": 1, "sql SELECT": 2}
