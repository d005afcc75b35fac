"""users, books and blogs: created fresh, or adopted from the original Go service's database.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.legacy import adopt, is_legacy
from shared.models import Id, LongText, Timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("deleted_at", Timestamp, nullable=True),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if is_legacy(bind):
        adopt(bind)
        return
    op.create_table(
        "users",
        *_common(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("password", sa.String(255), nullable=False),
        sa.Column(
            "is_live",
            sa.SmallInteger,
            sa.Computed("CASE WHEN deleted_at IS NULL THEN 1 END", persisted=False),
        ),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("idx_users_deleted_at", "users", ["deleted_at"])
    op.create_index("uq_users_email_live", "users", ["email", "is_live"], unique=True)
    op.create_table(
        "books",
        *_common(),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("genre", sa.String(255), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("idx_books_deleted_at", "books", ["deleted_at"])
    op.create_table(
        "blogs",
        *_common(),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", name="fk_users_blogs"), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("content", LongText, nullable=False),
        sa.Column("word_count", sa.Integer, nullable=True),
        sa.Column("reading_minutes", sa.Integer, nullable=True),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("idx_blogs_deleted_at", "blogs", ["deleted_at"])


def downgrade() -> None:
    op.drop_table("blogs")
    op.drop_table("books")
    op.drop_table("users")
