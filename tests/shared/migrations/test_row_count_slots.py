"""Migration 0010: the counts move into slots and back without losing a row.

Each test brings a fresh database to the revision before 0010, writes rows as an older
wadah could have, and migrates.
"""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from shared.migrate import alembic_config, upgrade
from shared.models import ROW_COUNT_SLOTS
from tests.shared.databases import query_rows, run_in_transaction

BEFORE = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("0010").down_revision
assert isinstance(BEFORE, str)

LIVE = {"users": 2, "books": 3, "blogs": 1}


def rows_before_0010(url: str) -> None:
    """Two live users and one deleted, three live books and one deleted, one live blog."""
    upgrade(url, BEFORE)
    stamp = "'2026-01-01 00:00:00'"
    run_in_transaction(
        url,
        *(
            "INSERT INTO users (id, name, email, password, created_at, updated_at, deleted_at) "
            f"VALUES ({i}, 'n', 'u{i}@example.com', 'x', {stamp}, {stamp}, {deleted})"
            for i, deleted in ((1, "NULL"), (2, "NULL"), (3, stamp))
        ),
        *(
            "INSERT INTO books (id, title, author, genre, year, created_at, updated_at, deleted_at) "
            f"VALUES ({i}, 't', 'a', 'g', 2000, {stamp}, {stamp}, {deleted})"
            for i, deleted in ((1, "NULL"), (2, "NULL"), (3, "NULL"), (4, stamp))
        ),
        f"INSERT INTO blogs (id, user_id, title, content, created_at, updated_at) VALUES (1, 1, 't', 'c', {stamp}, {stamp})",
    )


def counts(url: str) -> dict[str, tuple[int, int]]:
    """Each table's count (the sum of its rows) and how many rows hold it."""
    rows = asyncio.run(query_rows(url, "SELECT name, SUM(n) AS n, COUNT(*) AS slots FROM row_counts GROUP BY name"))
    return {r["name"]: (int(r["n"]), int(r["slots"])) for r in rows}


def test_the_counts_move_into_slots_and_keep_counting(empty_database: str) -> None:
    rows_before_0010(empty_database)
    upgrade(empty_database)
    assert counts(empty_database) == {name: (n, ROW_COUNT_SLOTS) for name, n in LIVE.items()}
    # the triggers now count into the slots: two more books in different slots, one deleted
    run_in_transaction(
        empty_database,
        "INSERT INTO books (id, title, author, genre, year, created_at, updated_at) "
        "VALUES (17, 't', 'a', 'g', 2000, '2026-01-01', '2026-01-01'), (18, 't', 'a', 'g', 2000, '2026-01-01', '2026-01-01')",
        "UPDATE books SET deleted_at = '2026-02-01' WHERE id = 1",
    )
    assert counts(empty_database)["books"] == (LIVE["books"] + 1, ROW_COUNT_SLOTS)


def test_a_downgrade_puts_each_count_back_in_one_row(empty_database: str) -> None:
    rows_before_0010(empty_database)
    upgrade(empty_database)
    run_in_transaction(empty_database, "DELETE FROM books WHERE id = 2")
    command.downgrade(alembic_config(empty_database), BEFORE)
    assert counts(empty_database) == {**{name: (n, 1) for name, n in LIVE.items()}, "books": (LIVE["books"] - 1, 1)}
    run_in_transaction(empty_database, "DELETE FROM books WHERE id = 3")
    assert counts(empty_database)["books"] == (LIVE["books"] - 2, 1)


def test_on_mysql_the_migration_counts_every_table_again_both_ways(empty_database: str) -> None:
    """Rows written while the triggers are being replaced would be missed; a recount at the end catches them."""
    if not empty_database.startswith("mysql"):
        pytest.skip("on SQLite the migration is one transaction: nothing is written in between")
    rows_before_0010(empty_database)
    run_in_transaction(empty_database, "UPDATE row_counts SET n = 999 WHERE name = 'books'")  # as if some were missed
    upgrade(empty_database)
    assert counts(empty_database) == {name: (n, ROW_COUNT_SLOTS) for name, n in LIVE.items()}
    run_in_transaction(empty_database, "UPDATE row_counts SET n = n + 5 WHERE name = 'users' AND slot = 3")
    command.downgrade(alembic_config(empty_database), BEFORE)
    assert counts(empty_database) == {name: (n, 1) for name, n in LIVE.items()}
