"""users.operator and jobs.retry_of: the operator role, and retries that keep history.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``users.operator`` (0 or 1) is set only by ``python -m shared.admin``. A retry is a new
job row whose ``retry_of`` names the row it runs again; the earlier row keeps its error
and attempts. The unique index lets a row be retried once, so two retries sent at once
start one run (the loser's insert is a duplicate key). ``ix_jobs_created`` serves the
operators' list of every user's jobs, newest first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import JobId

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch copy: on SQLite a copied table would lose its triggers.
    op.add_column("users", sa.Column("operator", sa.SmallInteger, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("retry_of", JobId, nullable=True))
    op.create_index("uq_jobs_retry_of", "jobs", ["retry_of"], unique=True)
    op.create_index("ix_jobs_created", "jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_created", "jobs")
    op.drop_index("uq_jobs_retry_of", "jobs")
    op.drop_column("jobs", "retry_of")
    op.drop_column("users", "operator")
