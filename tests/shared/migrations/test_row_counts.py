"""row_counts stays exactly the number of live rows, whatever a writer does (migrations 0002, 0010).

Every step writes plain SQL, as any writer might, and then compares the kept count with
a real ``COUNT(*)`` of live rows and with the change the step should have made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from shared.migrate import upgrade
from shared.models import COUNTED_TABLES, ROW_COUNT_SLOTS, Base, Blog, Book, RowCount, User, utcnow
from tests.shared.databases import query_rows

_seq = count(1)


@pytest.fixture(scope="module")
def counted_database(module_database: str) -> Iterator[str]:
    upgrade(module_database)
    yield module_database


@pytest.fixture
async def conn(counted_database: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(counted_database)
    async with engine.connect() as connection:
        yield connection
    await engine.dispose()


def _values(table: Table, **overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    columns: dict[str, dict[str, Any]] = {
        "users": {"name": f"User {n}", "email": f"user-{n}@example.com", "password": "x"},
        "books": {"title": f"Book {n}", "author": "Andrea Hirata", "genre": "Novel", "year": 2005},
        "blogs": {"title": f"Blog {n}", "content": "some words"},
    }
    return {**columns[table.name], **overrides}


async def kept(conn: AsyncConnection, table: Table) -> int:
    n = await conn.scalar(select(func.sum(RowCount.n)).where(RowCount.name == table.name))
    assert n is not None
    return int(n)


async def live(conn: AsyncConnection, table: Table) -> int:
    n = await conn.scalar(select(func.count()).select_from(table).where(table.c.deleted_at.is_(None)))
    return int(n or 0)


async def step(conn: AsyncConnection, table: Table, statement: Any, expected_change: int) -> None:
    before = await kept(conn, table)
    await conn.execute(statement)
    await conn.commit()
    after = await kept(conn, table)
    assert after == await live(conn, table)
    assert after - before == expected_change


def test_every_counted_table_has_a_counter() -> None:
    assert set(COUNTED_TABLES) == {User.__tablename__, Book.__tablename__, Blog.__tablename__}


@pytest.mark.parametrize("name", COUNTED_TABLES)
async def test_the_count_follows_inserts_soft_deletes_restores_and_hard_deletes(
    conn: AsyncConnection, name: str
) -> None:
    table = Base.metadata.tables[name]
    assert await kept(conn, table) == await live(conn, table)
    then = utcnow() - timedelta(days=1)
    extra: dict[str, Any] = {}
    if table.name == "blogs":
        users = Base.metadata.tables["users"]
        author = await conn.execute(insert(users).values(_values(users)))
        assert author.inserted_primary_key is not None
        extra["user_id"] = author.inserted_primary_key[0]
    ids = []
    for _ in range(4):
        before = await kept(conn, table)
        result = await conn.execute(insert(table).values(_values(table, **extra)))
        await conn.commit()
        assert result.inserted_primary_key is not None
        ids.append(result.inserted_primary_key[0])
        assert await kept(conn, table) == before + 1 == await live(conn, table)
    a, b, c, d = ids
    by_id = table.c.id.in_

    # inserting a row that is already deleted does not count it
    await step(conn, table, insert(table).values(_values(table, deleted_at=then, **extra)), 0)
    # soft-deleting several rows in one statement
    await step(conn, table, update(table).where(by_id([a, b])).values(deleted_at=utcnow()), -2)
    # changing other columns, of live and deleted rows alike, changes nothing
    await step(conn, table, update(table).where(by_id([b, c])).values(updated_at=utcnow()), 0)
    # deleting again (a new deleted_at on a deleted row) changes nothing
    await step(conn, table, update(table).where(by_id([a])).values(deleted_at=utcnow()), 0)
    # restoring: deleted_at back to NULL
    await step(conn, table, update(table).where(by_id([a])).values(deleted_at=None), +1)
    # hard deletes: a live row counts down, a soft-deleted one does not
    await step(conn, table, delete(table).where(by_id([c])), -1)
    await step(conn, table, delete(table).where(by_id([b])), 0)
    # hard-deleting a mix in one statement
    await step(conn, table, delete(table).where(by_id([a, d])), -2)


def test_every_counted_table_has_its_slots(counted_database: str) -> None:
    slots = asyncio.run(query_rows(counted_database, "SELECT name, slot FROM row_counts ORDER BY name, slot"))
    assert [(r["name"], r["slot"]) for r in slots] == [
        (name, slot) for name in sorted(COUNTED_TABLES) for slot in range(ROW_COUNT_SLOTS)
    ]


async def test_two_writers_insert_at_once_without_waiting_for_each_other(counted_database: str) -> None:
    """One counter row per table made every insert wait for the previous writer's commit."""
    if not counted_database.startswith("mysql"):
        pytest.skip("SQLite has one writer at a time whatever the counters do")
    books = Base.metadata.tables["books"]
    engine = create_async_engine(counted_database)
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(insert(books).values(_values(books)))  # its transaction stays open
            await second.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            await second.execute(insert(books).values(_values(books)))
            await second.commit()
            await first.commit()
            assert await kept(first, books) == await live(first, books)
    finally:
        await engine.dispose()
