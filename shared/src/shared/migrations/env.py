"""Alembic environment: runs migrations over the same async engine settings as the app."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from shared.db import create_engine
from shared.legacy import check_adoptable, is_legacy
from shared.models import Base
from shared.settings import get_settings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    # Alembic creates its version table before the first migration runs, and on MySQL that
    # CREATE commits at once: a legacy database that cannot be adopted is refused here,
    # before anything is written, so that the refusal leaves it exactly as it was.
    if context.get_context().get_current_revision() is None and is_legacy(connection):
        check_adoptable(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url, get_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(url))


run()
