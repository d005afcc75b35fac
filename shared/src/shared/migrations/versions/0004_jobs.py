"""jobs and import_rejections: durable background jobs and the transactional outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import Id, JobId, LongText, Timestamp

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", JobId, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", LongText, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("progress_done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("progress_total", sa.BigInteger, nullable=True),
        sa.Column("result", LongText, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("requested_by", Id, nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("dispatched_at", Timestamp, nullable=True),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_jobs_requester", "jobs", ["requested_by", "created_at"])
    op.create_index("ix_jobs_status_dispatched", "jobs", ["status", "dispatched_at"])
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"])
    op.create_table(
        "import_rejections",
        sa.Column(
            "job_id",
            JobId,
            sa.ForeignKey("jobs.id", name="fk_import_rejections_job", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("line", sa.BigInteger, primary_key=True),
        sa.Column("reason", sa.String(500), nullable=False),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("import_rejections")
    op.drop_table("jobs")
