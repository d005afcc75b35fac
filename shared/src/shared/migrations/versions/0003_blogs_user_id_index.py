"""An index on blogs.user_id, as the model declares.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

MySQL had one already, made implicitly for the foreign key (and drops that one now that
an explicit index serves the key); SQLite had none, so checking a user's blogs scanned
the table. Both backends now carry the same named index.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_blogs_user_id", "blogs", ["user_id"])


def downgrade() -> None:
    # MySQL needs an index for the foreign key: put back the one it made implicitly.
    if op.get_bind().dialect.name == "mysql":
        op.create_index("fk_users_blogs", "blogs", ["user_id"])
    op.drop_index("idx_blogs_user_id", table_name="blogs")
