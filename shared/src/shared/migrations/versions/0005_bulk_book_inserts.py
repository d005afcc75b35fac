"""books: a bulk writer may keep the row count itself (MySQL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

The insert trigger of 0002 runs one UPDATE of ``row_counts`` per inserted row, which
costs more than the insert itself when the book import writes thousands of rows per
statement. On MySQL the trigger now skips its UPDATE while the session variable
``@wadah_bulk_insert`` is set; the import sets it for its batch, adds the batch's count
in the same transaction, and clears it (``worker.jobs.book_import``), so the count stays
exact for every writer. Anyone else never sets the variable and sees no change. SQLite
keeps the plain trigger (it has no session variables; nothing there needs the speed).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PLAIN = "UPDATE row_counts SET n = n + (NEW.deleted_at IS NULL) WHERE name = 'books'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    op.execute("DROP TRIGGER IF EXISTS books_count_insert")
    op.execute(
        "CREATE TRIGGER books_count_insert AFTER INSERT ON books FOR EACH ROW "
        f"BEGIN IF @wadah_bulk_insert IS NULL THEN {PLAIN}; END IF; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    op.execute("DROP TRIGGER IF EXISTS books_count_insert")
    op.execute(f"CREATE TRIGGER books_count_insert AFTER INSERT ON books FOR EACH ROW {PLAIN}")
