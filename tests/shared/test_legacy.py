"""Adopting the original Go service's database in place (``shared.legacy``, migration 0001).

The database is ``data/gorm_schema.sql``, a copy of what the original leaves behind:
GORM's column types, ``genres``, no unique email, bcrypt hashes, one plain-text password
and soft-deleted rows. It is a MySQL database, so these tests need a MySQL server
(``TEST_DATABASE_URL``) and are skipped on the embedded SQLite run.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth import issue_token
from shared.settings import Settings
from tests.conftest import TEST_SECRET
from tests.factories import user_body
from tests.shared.databases import (
    fresh_mysql_database,
    load_legacy,
    migrate,
    query_rows,
    schema_differences,
    snapshot,
)

pytestmark = pytest.mark.process

TABLES = ("users", "books", "blogs")
PASSWORDS = {1: "rahasia123", 2: "wira-pass-2023", 3: "deleted-user", 4: "plain-text-pw"}
LIVE_USERS, LIVE_BOOKS, BLOGS = [1, 2, 4], [1, 2, 4], [1, 2, 3]


def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
    return {t: asyncio.run(query_rows(url, f"SELECT * FROM {t} ORDER BY id")) for t in TABLES}


@dataclass
class Adopted:
    url: str
    before: dict[str, list[dict[str, Any]]]  # the legacy rows
    after: dict[str, list[dict[str, Any]]]  # the same rows right after `make migrate`
    migration: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adopted]:
    with fresh_mysql_database("legacy") as url:
        load_legacy(url)
        before = _rows(url)
        result = migrate(url, tmp_path_factory.mktemp("migrate"))
        assert result.returncode == 0, result.stderr
        yield Adopted(url, before, _rows(url), result)


@pytest.fixture(scope="module")
def legacy_settings(adopted: Adopted, settings: Settings) -> Settings:
    return Settings(
        database_url=adopted.url,
        redis_url=settings.redis_url,
        redis_namespace=f"{settings.redis_namespace}-legacy",
        jwt_secret=TEST_SECRET,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="module")
async def legacy_client(legacy_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(legacy_settings)) as client:
        yield client


def _auth(settings: Settings, user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user_id)}"}


async def _stored_password(adopted: Adopted, user_id: int) -> str:
    rows = await query_rows(adopted.url, f"SELECT password FROM users WHERE id = {user_id}")
    return str(rows[0]["password"])


def _project(rows: list[dict[str, Any]], columns: dict[str, str]) -> list[dict[str, Any]]:
    return [{new: row[old] for old, new in columns.items()} for row in rows]


def test_every_row_is_still_there_with_its_id_times_and_text(adopted: Adopted) -> None:
    times = {"id": "id", "created_at": "created_at", "updated_at": "updated_at", "deleted_at": "deleted_at"}
    users = {**times, "name": "name", "email": "email"}
    books = {**times, "title": "title", "author": "author", "year": "year"}
    blogs = {**times, "user_id": "user_id", "title": "title", "content": "content"}

    assert _project(adopted.after["users"], users) == _project(adopted.before["users"], users)
    assert _project(adopted.after["books"], {**books, "genre": "genre"}) == _project(
        adopted.before["books"], {**books, "genres": "genre"}
    )
    assert _project(adopted.after["blogs"], blogs) == _project(adopted.before["blogs"], blogs)
    assert [len(adopted.after[t]) for t in TABLES] == [4, 4, 3]
    assert adopted.after["books"][1]["genre"] == "Historical fiction"


def test_the_adopted_schema_is_exactly_the_models(adopted: Adopted) -> None:
    assert schema_differences(adopted.url) == []


def test_row_counts_start_at_the_live_rows(adopted: Adopted) -> None:
    counts = asyncio.run(query_rows(adopted.url, "SELECT name, SUM(n) AS n FROM row_counts GROUP BY name"))
    assert {r["name"]: int(r["n"]) for r in counts} == {"blogs": 3, "books": 3, "users": 3}


async def test_the_api_serves_the_adopted_rows(
    legacy_client: AsyncTestClient[Litestar], legacy_settings: Settings
) -> None:
    books = (await legacy_client.get("/books")).json()
    assert [b["id"] for b in books["data"]] == LIVE_BOOKS
    assert books["meta"]["total"] == len(LIVE_BOOKS)
    laskar = (await legacy_client.get("/books/1")).json()["data"]
    assert laskar == {
        "id": 1,
        "title": "Laskar Pelangi",
        "author": "Andrea Hirata",
        "genre": "Novel",
        "year": 2005,
        "created_at": "2023-04-10T09:00:00Z",
        "updated_at": "2023-04-10T09:00:00Z",
    }

    blogs = (await legacy_client.get("/blogs")).json()
    assert [b["id"] for b in blogs["data"]] == BLOGS
    assert blogs["meta"]["total"] == len(BLOGS)
    assert (await legacy_client.get("/blogs/2")).json()["data"]["title"] == "ORM dan MVC"

    wira = await legacy_client.get("/users/2", headers=_auth(legacy_settings, 2))  # own record: with the email
    assert wira.status_code == 200
    assert {k: wira.json()["data"][k] for k in ("id", "name", "email")} == {
        "id": 2,
        "name": "Made Wira",
        "email": "wira@example.com",
    }


async def test_soft_deleted_rows_stay_hidden(
    legacy_client: AsyncTestClient[Litestar], legacy_settings: Settings, adopted: Adopted
) -> None:
    auth = _auth(legacy_settings, 1)
    assert (await legacy_client.get("/users/3", headers=auth)).status_code == 404
    assert (await legacy_client.get("/books/3")).status_code == 404

    users = (await legacy_client.get("/users", headers=auth, params={"limit": 100})).json()
    books = (await legacy_client.get("/books", params={"limit": 100})).json()
    assert 3 not in [u["id"] for u in users["data"]]
    assert 3 not in [b["id"] for b in books["data"]]
    live = await query_rows(adopted.url, "SELECT COUNT(*) AS n FROM users WHERE deleted_at IS NULL")
    assert users["meta"]["total"] == live[0]["n"] == len(users["data"])
    assert books["meta"]["total"] == len(LIVE_BOOKS)

    refused = await legacy_client.post("/login", json={"email": "gone@example.com", "password": PASSWORDS[3]})
    assert refused.status_code == 401


@pytest.mark.parametrize("user_id", [1, 2])
async def test_bcrypt_users_log_in_with_their_old_password_which_becomes_argon2id(
    legacy_client: AsyncTestClient[Litestar], adopted: Adopted, user_id: int
) -> None:
    email = adopted.before["users"][user_id - 1]["email"]
    legacy_hash = adopted.before["users"][user_id - 1]["password"]
    assert legacy_hash.startswith("$2a$10$")
    assert adopted.after["users"][user_id - 1]["password"] == legacy_hash  # kept until the owner returns

    wrong = await legacy_client.post("/login", json={"email": email, "password": "not-" + PASSWORDS[user_id]})
    assert wrong.status_code == 401
    assert await _stored_password(adopted, user_id) == legacy_hash

    first = await legacy_client.post("/login", json={"email": email, "password": PASSWORDS[user_id]})
    assert first.status_code == 200, first.text
    assert first.json()["token"]
    assert (await _stored_password(adopted, user_id)).startswith("$argon2id$")

    again = await legacy_client.post("/login", json={"email": email, "password": PASSWORDS[user_id]})
    assert again.status_code == 200


async def test_the_plain_text_password_is_hashed_by_the_migration_and_still_works(
    legacy_client: AsyncTestClient[Litestar], adopted: Adopted
) -> None:
    assert adopted.before["users"][3]["password"] == PASSWORDS[4]
    assert adopted.after["users"][3]["password"].startswith("$argon2id$")
    assert PASSWORDS[4] not in [u["password"] for u in adopted.after["users"]]

    login = await legacy_client.post("/login", json={"email": "ketut@example.com", "password": PASSWORDS[4]})
    assert login.status_code == 200, login.text


async def test_a_live_users_email_is_taken_and_a_deleted_users_is_free(
    legacy_client: AsyncTestClient[Litestar],
) -> None:
    taken = await legacy_client.post("/users", json=user_body(email="ayu@example.com"))
    assert taken.status_code == 409, taken.text
    also_taken = await legacy_client.post("/users", json=user_body(email="Ayu@Example.com"))
    assert also_taken.status_code == 409

    freed = await legacy_client.post("/users", json=user_body(email="gone@example.com"))
    assert freed.status_code == 201, freed.text
    assert freed.json()["data"]["id"] > 4  # new rows continue after the legacy ids


def test_a_deleted_user_may_share_a_live_users_email(tmp_path: Path) -> None:
    """Only live users must have distinct emails, as in the API; the adoption accepts this."""
    with fresh_mysql_database("legacy_ok") as url:
        load_legacy(
            url,
            "INSERT INTO users (id, created_at, updated_at, deleted_at, name, email, password) VALUES "
            "(5, NOW(3), NOW(3), NULL, 'Nyoman Again', 'Gone@Example.com', 'x')",
        )
        result = migrate(url, tmp_path)
        assert result.returncode == 0, result.stderr
        emails = asyncio.run(query_rows(url, "SELECT id, email FROM users WHERE id IN (3, 5) ORDER BY id"))
        assert emails == [{"id": 3, "email": "gone@example.com"}, {"id": 5, "email": "gone@example.com"}]


CONFLICTS: dict[str, tuple[list[str], list[str]]] = {
    "two live users with one email in different case": (
        [
            "INSERT INTO users (id, created_at, updated_at, name, email, password) VALUES "
            "(5, NOW(3), NOW(3), 'Ayu Lagi', 'AYU@Example.com', 'x')"
        ],
        ["live users sharing an email", "'1,5'"],
    ),
    "a blog whose user does not exist": (
        [
            "SET FOREIGN_KEY_CHECKS = 0",
            "INSERT INTO blogs (id, created_at, updated_at, user_id, title, content) VALUES "
            "(9, NOW(3), NOW(3), 77, 'Yatim', 'Penulisnya tidak ada.')",
        ],
        ["blogs whose user does not exist", "(9, 77)"],
    ),
    "a title longer than 255 characters": (
        [
            "INSERT INTO books (id, created_at, updated_at, title, author, genres, year) VALUES "
            "(9, NOW(3), NOW(3), REPEAT('x', 256), 'A', 'B', 2001)"
        ],
        ["books.title longer than 255", "(9, 256)"],
    ),
    "a year beyond a 32-bit integer": (
        ["UPDATE books SET year = 3000000000 WHERE id = 2"],
        ["books.year outside a 32-bit integer", "(2, 3000000000)"],
    ),
}


@pytest.mark.parametrize("variant", list(CONFLICTS))
def test_conflicting_legacy_data_is_refused_with_nothing_changed(variant: str, tmp_path: Path) -> None:
    statements, reported = CONFLICTS[variant]
    with fresh_mysql_database("conflict") as url:
        load_legacy(url, *statements)
        before = snapshot(url)

        result = migrate(url, tmp_path)

        assert result.returncode != 0
        assert "nothing was changed" in result.stderr
        for text in reported:
            assert text in result.stderr, result.stderr
        after = snapshot(url)
        assert "alembic_version" not in after
        assert after == before
