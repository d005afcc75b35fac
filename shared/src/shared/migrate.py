"""``python -m shared.migrate``: bring any database (empty, wadah's, or the original's) to head.

A legacy database that cannot be adopted is refused untouched: the conflicting rows go
to stderr and the exit status is 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
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
