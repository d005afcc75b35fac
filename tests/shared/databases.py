"""Fresh databases for migration tests, what is in them, and the migration run as a process.

Migration tests need databases of their own (empty, or holding the original service's
tables), not the run's shared one. SQLite files are always available; MySQL ones only
when ``TEST_DATABASE_URL`` names a MySQL server, as it does in CI.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.models import Base
from tests.mysql import execute, throwaway_database

LEGACY_SQL = Path(__file__).parent / "data" / "gorm_schema.sql"
"""A copy of the database the original Go service leaves behind (``../shared/legacy/``)."""

Snapshot = dict[str, Any]


def mysql_server() -> str:
    """The run's MySQL server URL, or a skip when this run has none (the embedded SQLite run)."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url or make_url(url).get_backend_name() != "mysql":
        pytest.skip("needs a MySQL server: set TEST_DATABASE_URL (CI does); this run uses the embedded SQLite")
    return url


@contextmanager
def fresh_mysql_database(label: str) -> Iterator[str]:
    """An empty MySQL database that exists for the duration of the block."""
    with throwaway_database(mysql_server(), label) as url:
        yield url


def run_sql(url: str, *statements: str) -> None:
    """Run statements one after another on one MySQL connection (session settings carry over)."""
    execute(url, *statements)


def legacy_statements() -> list[str]:
    """The legacy dump's statements: ``;`` at a line's end ends one (the blogs' text has ``;``)."""
    lines = [line for line in LEGACY_SQL.read_text().splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";")]


def load_legacy(url: str, *extra: str) -> None:
    run_sql(url, *legacy_statements(), *extra)


def migrate(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m shared.migrate`` as its own process, as ``make migrate`` runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "shared.migrate"],
        env=env,
        cwd=cwd,  # away from any .env in the checkout
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _snapshot(conn: Connection) -> Snapshot:
    if conn.dialect.name == "sqlite":
        schema = conn.execute(
            text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        ).all()
        tables = [row.name for row in schema if row.type == "table"]
    else:
        tables = [row[0] for row in conn.execute(text("SHOW FULL TABLES")).all()]
        schema = [conn.execute(text(f"SHOW CREATE TABLE `{t}`")).one() for t in sorted(tables)]
        schema += conn.execute(text("SHOW TRIGGERS")).all()
    snapshot: Snapshot = {"schema": [tuple(row) for row in schema]}
    for table in sorted(tables):
        snapshot[table] = [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()]
    return snapshot


async def _on_connection(url: str, work: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def snapshot(url: str) -> Snapshot:
    """Every table's definition (and the triggers) and every row, to compare before and after."""
    result: Snapshot = asyncio.run(_on_connection(url, _snapshot))
    return result


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def schema_differences(url: str) -> list[Any]:
    """What alembic's autogenerate would change to make the database match the models."""
    result: list[Any] = asyncio.run(_on_connection(url, _differences))
    return result


def run_in_transaction(url: str, *statements: str) -> None:
    """Plain SQL in one committed transaction, on SQLite and MySQL alike, as any writer might send it."""

    def work(conn: Connection) -> None:
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()

    asyncio.run(_on_connection(url, work))


async def query_rows(url: str, sql: str) -> list[dict[str, Any]]:
    """The rows of one query, as dicts (for async tests; the helpers above are for sync ones)."""

    def work(conn: Connection) -> list[dict[str, Any]]:
        return [dict(row._mapping) for row in conn.execute(text(sql))]

    result: list[dict[str, Any]] = await _on_connection(url, work)
    return result
