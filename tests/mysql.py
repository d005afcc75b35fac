"""Throwaway MySQL databases: the one way tests (and the benchmarks) create a database of their own, fill it and drop it.

Every database a test makes on a MySQL server (the run's own, one per migration test,
the fault tests' own server) is named ``wadah_test_<label>_<random>``, so parallel runs
never meet and a leftover is recognisable, and is dropped when its block ends.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncmy
from sqlalchemy.engine import make_url

from shared.db import mysql_server_args
from shared.migrate import upgrade


def with_database(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _execute(url: str, statements: tuple[str, ...], *, database: bool) -> None:
    extra = {"db": make_url(url).database} if database else {}
    conn = await asyncmy.connect(**mysql_server_args(url), **extra, autocommit=True, charset="utf8mb4")
    try:
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
    finally:
        conn.close()


def execute(url: str, *statements: str) -> None:
    """Run statements one after another on one connection to the URL's database (session settings carry over)."""
    asyncio.run(_execute(url, statements, database=True))


async def create_database(url: str) -> None:
    """The URL's database, new and empty (a leftover of the same name is dropped first)."""
    name = make_url(url).database
    await _execute(
        url, (f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"), database=False
    )


async def drop_database(url: str) -> None:
    await _execute(url, (f"DROP DATABASE IF EXISTS `{make_url(url).database}`",), database=False)


@contextmanager
def throwaway_database(server_url: str, label: str, *, migrated: bool = False) -> Iterator[str]:
    """A database of its own on the server, migrated to head if asked, that exists for the block."""
    url = with_database(server_url, f"wadah_test_{label}_{secrets.token_hex(4)}")
    asyncio.run(create_database(url))
    try:
        if migrated:
            upgrade(url)
        yield url
    finally:
        asyncio.run(drop_database(url))
