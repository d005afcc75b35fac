"""Job contracts: what may be asked of the worker, and how it travels.

The API and the worker agree here, and only here, on each job's kind and status and on
the wire format. Payloads are msgpack (msgspec), never arq's default pickle: a Redis
that someone else can write to must not be a way to run code in the worker. The arq
message carries nothing but the kind, under the job row's id: parameters are read from
the row, so the database is the one source of truth.

Who does what with a job:

* :mod:`shared.job_records` holds every statement that writes the ``jobs`` table;
* :mod:`shared.job_queue` requests jobs (the transactional outbox) and hands them to Redis;
* the worker (``worker.lifecycle``) runs them.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import msgspec

from shared.settings import Settings


class JobKind(StrEnum):
    """What a job does: the arq function's name and the ``kind`` column."""

    COMPUTE_BLOG_STATS = "compute_blog_stats"
    WELCOME_EMAIL = "welcome_email"
    IMPORT_BOOKS = "import_books"
    EXPORT = "export"
    CLEANUP = "cleanup"


class JobStatus(StrEnum):
    """Where a job is in its life; ``queued`` and ``running`` are active, the rest finished."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE: Final = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED: Final = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
RETRYABLE: Final = (JobStatus.FAILED, JobStatus.CANCELLED)


class RetryRefused(Exception):
    """The job cannot be run again: it is not failed or cancelled, or it has been retried already."""


def liveness_key(settings: Settings, worker_id: str) -> str:
    """The Redis key a live worker keeps refreshing (``worker.dispatcher``); the console counts them."""
    return f"{settings.redis_namespace}:worker:{worker_id}"


# The durable backlog: every job some worker has yet to finish. Plain SQL because an
# autoscaler runs it (KEDA's mysql scaler in deploy/k8s), not wadah; a range on an index
# that starts with status (covering), so its cost follows the backlog, not the table.
BACKLOG_SQL: Final = "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"

_json_encoder = msgspec.json.Encoder()


def _encode_other(obj: Any) -> Any:
    """arq stores a failed job's exception as its result: as text here (msgpack has no exceptions)."""
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_msgpack_encoder = msgspec.msgpack.Encoder(enc_hook=_encode_other)
_msgpack_decoder = msgspec.msgpack.Decoder()


def encode_json(value: Any) -> str:
    return _json_encoder.encode(value).decode()


def decode_json(text: str | None) -> Any:
    return None if text is None else msgspec.json.decode(text)


def serialize(obj: Any) -> bytes:
    return _msgpack_encoder.encode(obj)


def deserialize(data: bytes) -> Any:
    return _msgpack_decoder.decode(data)


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so new rows land at the end of the primary key."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


_CRON_NAMESPACE = uuid.UUID("6f1d2b1e-6a51-4c1b-9a55-7761646168ff")


def cron_job_id(arq_job_id: str) -> str:
    """The row id of one scheduled run: the same for every worker that enqueues that run."""
    return str(uuid.uuid5(_CRON_NAMESPACE, arq_job_id))


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job row just written in the caller's transaction."""

    id: str
    kind: str
    params: dict[str, Any]
    requested_by: int | None
    request_id: str | None
    created_at: datetime
    # The W3C trace context of the span that asked (shared.tracing); None with tracing off.
    traceparent: str | None = None
    retry_of: str | None = None  # the job this one runs again (POST /jobs/{id}/retry)
