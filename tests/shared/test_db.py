"""shared.db.Database on the driver's pool: who gets a connection when there are too few."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import String, bindparam, column, select, table

from shared.db import Database, Query
from shared.settings import Settings

WHO = Query(select(bindparam("who", type_=String)))
MISSING_TABLE = Query(select(column("x")).select_from(table("no_such_table")))


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[Database]:
    """A Database whose pool holds a single connection, so every second caller waits."""
    db = Database(settings.model_copy(update={"db_pool_size": 1}))
    if not db.is_mysql:
        pytest.skip("the driver pool is MySQL's; the embedded SQLite runs through the engine")
    await db.connect()
    yield db
    await db.close()


async def test_callers_waiting_for_a_connection_are_served_in_order_of_arrival(one_connection: Database) -> None:
    served: list[str] = []

    async def ask(who: str) -> None:
        row = await one_connection.fetch_one(WHO, who=who)
        assert row is not None
        served.append(row[0])

    async with one_connection.transaction() as tx:  # holds the only connection
        await tx.fetch_one(WHO, who="holder")
        first = asyncio.create_task(ask("waited"))
        await asyncio.sleep(0.05)  # `first` is now queued for the connection
    # The connection has just been given back: a caller arriving now must queue behind
    # the one that waited, not take the connection from under it.
    late = asyncio.create_task(ask("arrived later"))
    await asyncio.gather(first, late)
    assert served == ["waited", "arrived later"]


async def test_a_failed_statement_gives_its_connection_back(one_connection: Database) -> None:
    with pytest.raises(Exception, match="doesn't exist"):
        await one_connection.fetch_one(MISSING_TABLE)
    row = await asyncio.wait_for(one_connection.fetch_one(WHO, who="next"), 10)
    assert row is not None and row[0] == "next"
