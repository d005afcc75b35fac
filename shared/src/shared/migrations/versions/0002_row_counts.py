"""row_counts, kept exact by triggers, so a list page never counts its table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Each trigger adds or removes one when a row is inserted live, soft-deleted, restored or
hard-deleted, in the writer's own transaction: the count is exact for every writer and
under concurrency, and reading it is a primary-key lookup.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import COUNTED_TABLES

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE_NEW = "(NEW.deleted_at IS NULL)"
LIVE_OLD = "(OLD.deleted_at IS NULL)"


def _triggers(table: str) -> dict[str, tuple[str, str]]:
    """trigger name -> (event, UPDATE statement run for each affected row)."""
    bump = f"UPDATE row_counts SET n = n + %s WHERE name = '{table}'"
    return {
        f"{table}_count_insert": ("AFTER INSERT", bump % LIVE_NEW),
        f"{table}_count_update": (
            "AFTER UPDATE",
            bump % f"{LIVE_NEW} - {LIVE_OLD}" + f" AND {LIVE_NEW} <> {LIVE_OLD}",
        ),
        f"{table}_count_delete": ("AFTER DELETE", bump % f"-{LIVE_OLD}"),
    }


def upgrade() -> None:
    op.create_table(
        "row_counts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in COUNTED_TABLES:
        op.execute(f"INSERT INTO row_counts (name, n) SELECT '{table}', COUNT(*) FROM {table} WHERE deleted_at IS NULL")
        for name, (event, statement) in _triggers(table).items():
            body = f"BEGIN {statement}; END" if sqlite else statement
            op.execute(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW {body}")


def downgrade() -> None:
    for table in COUNTED_TABLES:
        for name in _triggers(table):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("row_counts")
