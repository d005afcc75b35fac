"""row_counts in slots: concurrent writers no longer queue on one counter row.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-03

Until now each counted table had one ``row_counts`` row, and every insert's trigger
updated it: the row stays locked until the writer commits, so every insert into a
table waited for the one before it to commit (docs/performance.md, "The counter row").
Each table now has ``ROW_COUNT_SLOTS`` rows, and a trigger updates the slot of the row
it counts (``id % ROW_COUNT_SLOTS``); rows inserted at the same time have consecutive
ids and so land in different slots. A table's count is the sum of its slots, read in
one statement; a single slot means nothing on its own (the migration starts every
table's count in slot 0, and a bulk import adds its batch there).

The table is made anew (SQLite cannot change a primary key in place) with the counts
carried over, and the triggers of 0002 and 0005 are made again for the slots, the
bulk-import switch of 0005 included (MySQL only, as before).

On MySQL each of those statements commits on its own, and the API of the release
before keeps writing while a release migrates (compose's ``migrate`` service, the
Kubernetes Job): a row written between dropping the old triggers and creating the new
ones would go uncounted. So the last step counts every table again, with a locking read
that waits for writers in flight and holds new ones back until the counts are set. On
SQLite the whole migration is one transaction and there is one writer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import COUNTED_TABLES, ROW_COUNT_SLOTS

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

LIVE_NEW = "(NEW.deleted_at IS NULL)"
LIVE_OLD = "(OLD.deleted_at IS NULL)"


def _triggers(table: str, slotted: bool) -> dict[str, tuple[str, str]]:
    """trigger name -> (event, UPDATE statement run for each affected row)."""

    def bump(change: str, row: str) -> str:
        slot = f" AND slot = {row}.id % {ROW_COUNT_SLOTS}" if slotted else ""
        return f"UPDATE row_counts SET n = n + {change} WHERE name = '{table}'{slot}"

    return {
        f"{table}_count_insert": ("AFTER INSERT", bump(LIVE_NEW, "NEW")),
        f"{table}_count_update": (
            "AFTER UPDATE",
            bump(f"{LIVE_NEW} - {LIVE_OLD}", "NEW") + f" AND {LIVE_NEW} <> {LIVE_OLD}",
        ),
        f"{table}_count_delete": ("AFTER DELETE", bump(f"-{LIVE_OLD}", "OLD")),
    }


def _create_triggers(slotted: bool) -> None:
    mysql = op.get_bind().dialect.name == "mysql"
    for table in COUNTED_TABLES:
        for name, (event, statement) in _triggers(table, slotted).items():
            if mysql and name == "books_count_insert":  # migration 0005's switch for bulk imports
                body = f"BEGIN IF @wadah_bulk_insert IS NULL THEN {statement}; END IF; END"
            else:
                body = statement if mysql else f"BEGIN {statement}; END"
            op.execute(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW {body}")


def _drop_triggers() -> None:
    for table in COUNTED_TABLES:
        for name in _triggers(table, slotted=False):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def _new_row_counts(slotted: bool) -> None:
    """``row_counts`` made again beside the old one, filled with its totals, then put in its place."""
    columns: list[sa.Column[object]] = [sa.Column("name", sa.String(64), primary_key=True)]
    if slotted:
        columns.append(sa.Column("slot", sa.SmallInteger, primary_key=True, autoincrement=False))
    op.create_table(
        "row_counts_new",
        *columns,
        sa.Column("n", sa.BigInteger, nullable=False),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    if slotted:
        op.execute("INSERT INTO row_counts_new (name, slot, n) SELECT name, 0, n FROM row_counts")
        for slot in range(1, ROW_COUNT_SLOTS):
            op.execute(f"INSERT INTO row_counts_new (name, slot, n) SELECT name, {slot}, 0 FROM row_counts")
    else:
        op.execute("INSERT INTO row_counts_new (name, n) SELECT name, SUM(n) FROM row_counts GROUP BY name")
    op.drop_table("row_counts")
    op.rename_table("row_counts_new", "row_counts")


def _recount(slotted: bool) -> None:
    """Every count set from its table, in the migration's last transaction (MySQL; see above)."""
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return
    into = "n = CASE WHEN slot = 0 THEN :n ELSE 0 END" if slotted else "n = :n"
    for table in COUNTED_TABLES:
        # LOCK IN SHARE MODE waits for uncommitted inserts and deletes, and its next-key
        # locks keep new live rows out until the migration commits.
        live = bind.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL LOCK IN SHARE MODE")
        ).scalar_one()
        bind.execute(sa.text(f"UPDATE row_counts SET {into} WHERE name = :name"), {"n": live, "name": table})


def upgrade() -> None:
    _drop_triggers()
    _new_row_counts(slotted=True)
    _create_triggers(slotted=True)
    _recount(slotted=True)


def downgrade() -> None:
    _drop_triggers()
    _new_row_counts(slotted=False)
    _create_triggers(slotted=False)
    _recount(slotted=False)
