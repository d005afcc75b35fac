"""``python -m shared.migrate`` brings any empty database to head, once, matching the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from shared.migrate import alembic_config
from tests.shared.databases import migrate, query_rows, schema_differences, snapshot

pytestmark = pytest.mark.process

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _version(url: str) -> list[str]:
    return [r["version_num"] for r in asyncio.run(query_rows(url, "SELECT version_num FROM alembic_version"))]


def test_an_empty_database_is_brought_to_head(empty_database: str, tmp_path: Path) -> None:
    result = migrate(empty_database, tmp_path)

    assert result.returncode == 0, result.stderr
    assert _version(empty_database) == [HEAD]
    tables = {name for name in snapshot(empty_database) if name != "schema"}
    assert {"users", "books", "blogs", "row_counts", "alembic_version"} <= tables
    assert "database is at head" in result.stderr


def test_migrating_a_database_at_head_again_changes_nothing(empty_database: str, tmp_path: Path) -> None:
    assert migrate(empty_database, tmp_path).returncode == 0
    before = snapshot(empty_database)

    again = migrate(empty_database, tmp_path)

    assert again.returncode == 0, again.stderr
    assert snapshot(empty_database) == before


def test_the_migrated_schema_is_exactly_the_models(empty_database: str, tmp_path: Path) -> None:
    """Alembic's autogenerate finds nothing to add, drop or alter: columns, types, indexes, keys."""
    assert migrate(empty_database, tmp_path).returncode == 0

    assert schema_differences(empty_database) == []
