"""``python -m shared.migrate``: bring any database (empty, wadah's, or the original's) to head.

A legacy database that cannot be adopted is refused untouched: the conflicting rows go
to stderr and the exit status is 2.

``python -m shared.migrate --wait SECONDS`` changes nothing: it waits until the database
is at the head of the migrations this image carries, and exits 1 if it is not by then.
Kubernetes runs it as an init container of the API and the worker (deploy/k8s), so a
new version's pods start only after its migration Job has succeeded, while the old
version's pods keep serving; a failed migration leaves the new pods waiting.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.db import create_engine
from shared.legacy import LegacyConflict
from shared.settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", (url or get_settings().resolved_database_url).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


WAIT_POLL_SECONDS = 2.0


def heads() -> set[str]:
    """The head revision(s) of the migrations in this installation."""
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def _applied(url: str) -> set[str]:
    engine = create_engine(url, get_settings())
    try:
        async with engine.connect() as conn:
            return {row[0] for row in await conn.execute(text("SELECT version_num FROM alembic_version"))}
    finally:
        await engine.dispose()


def applied(url: str | None = None) -> set[str]:
    """The revision(s) the database is at; empty before the first migration."""
    try:
        return asyncio.run(_applied(url or get_settings().resolved_database_url))
    except SQLAlchemyError as exc:
        # No alembic_version table yet, or no server yet: not at head, and worth saying why.
        print(f"cannot read the schema version: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return set()


def wait_for_head(
    timeout: float,
    url: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Whether the database reached this installation's head within ``timeout`` seconds."""
    target = heads()
    deadline = clock() + timeout
    while True:
        current = applied(url)
        if current == target:
            print(f"database is at {', '.join(sorted(target))}", file=sys.stderr)
            return True
        if clock() >= deadline:
            print(
                f"database is at {', '.join(sorted(current)) or 'no revision'}, not {', '.join(sorted(target))}, "
                f"after {timeout:.0f}s: has the migration Job succeeded?",
                file=sys.stderr,
            )
            return False
        sleep(WAIT_POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--wait"]:
        return 0 if wait_for_head(float(args[1]) if len(args) > 1 else 600.0) else 1
    revision = args[0] if args else "head"
    settings = get_settings()
    print(
        f"migrating {'embedded SQLite' if settings.database_is_embedded else 'MySQL'} to {revision}",
        file=sys.stderr,
    )
    try:
        upgrade(revision=revision)
    except LegacyConflict as exc:
        print(exc, file=sys.stderr)
        return 2
    print("database is at", revision, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
