"""job_file_chunks: import uploads and export files stored in the database, in parts of at most 1 MiB.

Revision ID: 0006
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import Blob, JobId, Timestamp

revision = "0006"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_file_chunks",
        sa.Column("job_id", JobId, primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", Blob, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_job_file_chunks_created", "job_file_chunks", ["created_at"])


def downgrade() -> None:
    op.drop_table("job_file_chunks")
