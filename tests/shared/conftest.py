"""Databases of their own for the migration tests, on every backend this run can reach.

SQLite always; MySQL when ``TEST_DATABASE_URL`` names a server (CI), skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shared.databases import fresh_mysql_database

BACKENDS = ["sqlite", "mysql"]


def _empty_database(backend: str, directory: Path, label: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'wadah.db'}"
        return
    with fresh_mysql_database(label) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables at all), dropped after the test."""
    yield from _empty_database(request.param, tmp_path, "empty")


@pytest.fixture(scope="module", params=BACKENDS)
def module_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database shared by one module's tests, dropped after them."""
    yield from _empty_database(request.param, tmp_path_factory.mktemp("db"), "module")
