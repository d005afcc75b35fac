"""Creating and dropping the per-run MySQL database (asyncmy, no extra driver)."""

from __future__ import annotations

import asyncmy
from sqlalchemy.engine import make_url

from shared.db import mysql_server_args


def with_database(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncmy.connect(**mysql_server_args(url))
    try:
        async with conn.cursor() as cur:
            await cur.execute(statement)
    finally:
        conn.close()


async def create_database(url: str) -> None:
    name = make_url(url).database
    await _admin(url, f"DROP DATABASE IF EXISTS `{name}`")
    await _admin(url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")


async def drop_database(url: str) -> None:
    await _admin(url, f"DROP DATABASE IF EXISTS `{make_url(url).database}`")
