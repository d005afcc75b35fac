"""The tables wadah owns, as SQLAlchemy 2.0 declarative models.

Column names follow the original service's JSON fields, so existing clients and the
original's database (adopted by the migrations) line up one to one. Times are naive
UTC ``DATETIME(6)``; deletes are soft (``deleted_at``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# MySQL's ids are BIGINT UNSIGNED as in the original; SQLite only auto-increments INTEGER.
Id = BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql").with_variant(Integer(), "sqlite")
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql")
# Emails are stored normalised (shared.emails) and compared byte for byte: MySQL's default
# collation would call `exámple` and `example` one address, and the unique index, the
# login lookup and the login throttle must agree on what one address is. SQLite compares
# bytes already.
EmailText = String(255).with_variant(mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"), "mysql")

MAX_ID = 2**63 - 1  # what every driver and the API agree an id can be


def utcnow() -> datetime:
    """Naive UTC with microseconds, the form every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    # GORM's index names (idx_<table>_<column>), which an adopted database already has, so
    # the models, the migrations and an adopted database agree on every name.
    metadata = MetaData(naming_convention={"ix": "idx_%(table_name)s_%(column_0_name)s"})


class TimestampMixin:
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None, index=True)


class User(TimestampMixin, Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(EmailText)
    password: Mapped[str] = mapped_column(String(255))
    # Goes up with every password change; a token carries the value it was issued with, so
    # a change ends every token issued before it (api.auth.LiveUsers says how soon).
    token_version: Mapped[int] = mapped_column(Integer, server_default="0")
    # 1 while the row is live, NULL once soft-deleted: the unique index below then allows
    # one live user per email and any number of deleted ones (MySQL has no partial index).
    # 1 for an operator (sees and steers every user's jobs); set only by ``python -m shared.admin``.
    operator: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    is_live: Mapped[int | None] = mapped_column(
        SmallInteger, Computed("CASE WHEN deleted_at IS NULL THEN 1 END", persisted=False)
    )

    __table_args__ = (Index("uq_users_email_live", "email", "is_live", unique=True),)


class Book(TimestampMixin, Base):
    __tablename__ = "books"

    title: Mapped[str] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(255))
    genre: Mapped[str] = mapped_column(String(255))
    year: Mapped[int] = mapped_column(Integer)


class Blog(TimestampMixin, Base):
    __tablename__ = "blogs"

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_users_blogs"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(LongText)
    # Filled in by the worker's compute_blog_stats job; NULL until it has run.
    word_count: Mapped[int | None] = mapped_column(Integer, default=None)
    reading_minutes: Mapped[int | None] = mapped_column(Integer, default=None)


# A table's live rows are counted in this many slots, a row in slot ``id % ROW_COUNT_SLOTS``.
ROW_COUNT_SLOTS = 16


class RowCount(Base):
    """Live-row counts kept exact by database triggers (see the migrations).

    Lists return their total with every page; summing a table's slots here instead of
    counting the table on every request is what makes a page cheap, and triggers keep it
    right for every writer: the API, the worker, an import, or someone at a SQL prompt.
    Only a table's sum means anything. The slots are there so that writers inserting at
    the same time update different rows instead of queueing on one (migration 0010).
    """

    __tablename__ = "row_counts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


COUNTED_TABLES = ("users", "books", "blogs")


# Job ids are UUIDs as text: readable in logs, URLs and arq (whose job id they also are),
# and the same on every backend; ASCII on MySQL keeps the key 36 bytes, not 144.
JobId = String(36).with_variant(mysql.CHAR(36, charset="ascii", collation="ascii_bin"), "mysql")


class Job(Base):
    """One background job: the durable record behind an arq job of the same id.

    Written in the same transaction as the change that asks for it (the outbox); the
    worker moves it through ``queued -> running -> succeeded | failed``, or a client
    cancels it. ``params`` and ``result`` hold JSON text encoded by ``shared.jobs`` (not
    a JSON column type, so the API's driver path and the ORM store the same bytes).
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(JobId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(LongText)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    result: Mapped[str | None] = mapped_column(LongText, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The user who asked (NULL for cron jobs); no foreign key, so the cleanup can remove
    # users while their finished jobs wait for their own retention.
    requested_by: Mapped[int | None] = mapped_column(Id, default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The asking request's W3C trace context, when tracing is on (shared.tracing).
    traceparent: Mapped[str | None] = mapped_column(String(55), default=None)
    # The worker that claimed it last; a crashed worker's running jobs are taken over.
    worker: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    # The row this one runs again (POST /jobs/{id}/retry); unique: a row is retried once.
    retry_of: Mapped[str | None] = mapped_column(JobId, default=None)

    __table_args__ = (
        Index("ix_jobs_requester", "requested_by", "created_at"),
        Index("uq_jobs_retry_of", "retry_of", unique=True),
        Index("ix_jobs_created", "created_at"),
        # The outbox (queued, not yet dispatched) and the sweeps (running; queued long ago).
        Index("ix_jobs_status_dispatched", "status", "dispatched_at"),
        Index("ix_jobs_finished", "finished_at"),
        # The queue's health: the oldest queued job is the first entry of its range.
        Index("ix_jobs_status_created", "status", "created_at"),
    )


class ImportRejection(Base):
    """A row a book import refused: its line in the upload and why.

    Written in the same transaction as the batch it belongs to, so a retried import
    records each rejection once, as it inserts each good row once.
    """

    __tablename__ = "import_rejections"

    job_id: Mapped[str] = mapped_column(
        JobId, ForeignKey("jobs.id", name="fk_import_rejections_job", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))


# Up to 1 MiB per chunk (shared.job_files.CHUNK_BYTES): MEDIUMBLOB holds 16 MiB.
Blob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")


class JobFileChunk(Base):
    """One part of a job's file (an import's upload, an export's CSV), in order of ``part``.

    The file lives in the database because it is the one durable place every API and
    worker process reaches (no shared volume). No foreign key to ``jobs``: an upload's
    chunks are written before its job row, which is only inserted once the file is whole.
    ``shared.job_files`` is the only module that reads or writes this table.
    """

    __tablename__ = "job_file_chunks"

    job_id: Mapped[str] = mapped_column(JobId, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (Index("ix_job_file_chunks_created", "created_at"),)
