"""Migration 0007: every stored email in its one normal form, compared byte for byte; conflicts refused untouched.

Each test brings a fresh database to the revision before 0007, writes users as an older
wadah (or someone at a SQL prompt) could have, and runs ``python -m shared.migrate``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrate import alembic_config, upgrade
from tests.shared.databases import migrate, query_rows, snapshot

pytestmark = pytest.mark.process  # python -m shared.migrate

BEFORE = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("0007").down_revision
assert isinstance(BEFORE, str)


async def _insert_users(url: str, users: list[tuple[int, str, bool]]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for user_id, email, deleted in users:
                await conn.execute(
                    text(
                        "INSERT INTO users (id, name, email, password, created_at, updated_at, deleted_at) "
                        "VALUES (:id, 'n', :email, 'x', '2026-01-01', '2026-01-01', :deleted)"
                    ),
                    {"id": user_id, "email": email, "deleted": "2026-02-01" if deleted else None},
                )
    finally:
        await engine.dispose()


def users_before_0007(url: str, *users: tuple[int, str, bool]) -> None:
    """The database at the revision before 0007, holding ``(id, email, deleted)`` users."""
    upgrade(url, BEFORE)
    asyncio.run(_insert_users(url, list(users)))


def emails(url: str) -> dict[int, str]:
    return {row["id"]: row["email"] for row in asyncio.run(query_rows(url, "SELECT id, email FROM users"))}


def test_stored_emails_become_their_normal_form(empty_database: str, tmp_path: Path) -> None:
    users_before_0007(
        empty_database,
        (1, "Bob@Example.COM", False),
        (2, "\uff23\uff21\uff32\uff2c@example.com", False),  # fullwidth CARL
        (3, "dewi@xn--exmple-qta.com", False),
        (4, "already@example.com", False),
        (5, "BOB@example.com", True),  # deleted: may share a live user's address
        (6, "junk,list@example.com", True),  # deleted and invalid: left as it is
    )

    result = migrate(empty_database, tmp_path)

    assert result.returncode == 0, result.stderr
    assert emails(empty_database) == {
        1: "bob@example.com",
        2: "carl@example.com",
        3: "dewi@ex\u00e1mple.com",
        4: "already@example.com",
        5: "bob@example.com",
        6: "junk,list@example.com",
    }
    versions = asyncio.run(query_rows(empty_database, "SELECT DISTINCT token_version FROM users"))
    assert versions == [{"token_version": 0}]


def test_after_it_an_accented_address_is_another_address(empty_database: str, tmp_path: Path) -> None:
    """The column compares bytes: MySQL's accent-insensitive default would call these one (and refuse the second)."""
    users_before_0007(empty_database, (1, "alice@example.com", False))
    assert migrate(empty_database, tmp_path).returncode == 0

    asyncio.run(_insert_users(empty_database, [(2, "alice@ex\u00e1mple.com", False)]))

    found = asyncio.run(query_rows(empty_database, "SELECT id FROM users WHERE email = 'alice@ex\u00e1mple.com'"))
    assert found == [{"id": 2}]


@pytest.mark.parametrize(
    ("users", "reported"),
    [
        pytest.param(
            [(1, "alice@xn--exmple-qta.com", False), (2, "alice@ex\u00e1mple.com", False)],
            ["live users sharing an email once normalised", "'1,2'"],
            id="two live users, one address once normalised",
        ),
        pytest.param(
            [(1, "ok@example.com", False), (7, "a@b.co,postmaster", False)],
            ["live users whose email is not one valid address", "(7, 'a@b.co,postmaster'"],
            id="a live user whose email is two recipients",
        ),
    ],
)
def test_conflicts_are_listed_and_nothing_is_changed(
    empty_database: str, tmp_path: Path, users: list[tuple[int, str, bool]], reported: list[str]
) -> None:
    users_before_0007(empty_database, *users)
    before = snapshot(empty_database)

    result = migrate(empty_database, tmp_path)

    assert result.returncode == 2, result.stderr
    assert "nothing was changed" in result.stderr
    for text_ in reported:
        assert text_ in result.stderr, result.stderr
    assert snapshot(empty_database) == before
