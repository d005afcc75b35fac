"""jobs: the asking request's trace context, and an index for the queue's health.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02

``traceparent`` holds the W3C trace context (``00-<trace>-<span>-<flags>``, 55
characters) of the request that wrote the row, in the same transaction, so the worker's
span for the job joins the request's trace (shared.tracing). NULL when tracing is off.

``ix_jobs_status_created`` lets the worker's metrics read the oldest queued job as the
first entry of an index range instead of scanning every queued row (docs/performance.md,
"Queue-health query").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(55), nullable=True))
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_created", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("traceparent")
