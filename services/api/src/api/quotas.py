"""Per-user quotas on background work: jobs at once, upload bytes per day, repeated exports.

Any account could fill the disk and keep the worker busy: a 100 MB upload of random
bytes was a 202 in 0.4 s, and twenty export requests in a row wrote twenty copies of a
table. So, per user:

* **Jobs at once** (``QUOTA_ACTIVE_IMPORTS``, ``QUOTA_ACTIVE_EXPORTS``): imports, and
  exports, queued or running at the same time. One more is a 429 with ``Retry-After``.
  The count is taken in the transaction that writes the job, after locking the user's
  row, so concurrent requests of one user are counted one after the other and cannot
  all slip under the limit. An import is also counted before its upload is read, so a
  refused one costs no upload.
* **Upload bytes per day** (``QUOTA_UPLOAD_BYTES_PER_DAY``, per UTC day): every byte an
  upload sends counts as it arrives, in a Redis counter shared by all API processes,
  whether the import is then accepted or not (receiving is the cost). Past the quota the
  upload is cut off with a 429 whose ``Retry-After`` is the next UTC midnight. The
  counter is updated every ``_METER_STEP`` bytes, so an upload may overrun by at most
  that much before it is cut. Without Redis this quota fails open (a warning is logged),
  as login throttling does; the jobs-at-once quota, kept in the database, still holds.
* **Repeated exports** (``EXPORT_REUSE_SECONDS``): an export of the same resource as one
  of the user's that is queued, running, or succeeded within that many seconds is
  answered with that job (202, its id and state) instead of a new one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import and_, bindparam, func, or_, select, update

from api.errors import ApiError, error_response
from shared.db import Database, Query, Runner
from shared.jobs import ACTIVE, JobKind, JobStatus, encode_json
from shared.models import Job, User, utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)

# A hint only: when one of the user's jobs ends is not known in advance.
ACTIVE_RETRY_AFTER_SECONDS: Final = 10
_METER_STEP: Final = 1024 * 1024


def too_many_active(limit: int, what: str) -> str:
    return f"you have {limit} {what} queued or running; wait for one to finish"


def daily_upload_used_up(limit: int) -> str:
    return f"the daily upload quota of {limit} bytes is used up; try again tomorrow (UTC)"


# Examples with the default limits (QUOTA_ACTIVE_IMPORTS, QUOTA_UPLOAD_BYTES_PER_DAY...); a deployment may set others.
_DEFAULTS = Settings.model_fields
QUOTA_EXCEEDED: Final = error_response(
    429,
    "a per-user quota is used up (jobs at once, upload bytes per day)",
    too_many_active(_DEFAULTS["quota_active_imports"].default, "imports"),
    too_many_active(_DEFAULTS["quota_active_exports"].default, "exports"),
    daily_upload_used_up(_DEFAULTS["quota_upload_bytes_per_day"].default),
)[429]

_ACTIVE = or_(*(Job.status == s.value for s in ACTIVE))  # no IN list: compiled once, binds not expanded
_MINE = Job.requested_by == bindparam("user_id")
# Serialises one user's job requests: the user's row on MySQL; on SQLite, which has no
# FOR UPDATE, a write that changes nothing takes the database's write lock before any read.
LOCK_USER = Query(select(User.id).where(User.id == bindparam("user_id")).with_for_update())
LOCK_USER_SQLITE = Query(update(User).where(User.id == bindparam("user_id")).values(updated_at=User.updated_at))
COUNT_ACTIVE = Query(select(func.count()).select_from(Job).where(_MINE, Job.kind == bindparam("kind"), _ACTIVE))
SAME_EXPORT = Query(
    select(Job.id)
    .where(
        _MINE,
        Job.kind == JobKind.EXPORT.value,
        Job.params == bindparam("params"),
        or_(_ACTIVE, and_(Job.status == JobStatus.SUCCEEDED.value, Job.finished_at >= bindparam("since"))),
    )
    .order_by(Job.created_at.desc())
    .limit(1)
)


def seconds_to_midnight(now: datetime) -> int:
    """Whole seconds until the next UTC day begins (at least 1)."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds() + 0.999))


class Quotas:
    """The quota checks the job routes call; one per process (``app.state.quotas``)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._prefix = f"{settings.redis_namespace}:upload-bytes"
        self._limits = {
            JobKind.IMPORT_BOOKS: settings.quota_active_imports,
            JobKind.EXPORT: settings.quota_active_exports,
        }
        self._bytes_per_day = settings.quota_upload_bytes_per_day
        self._reuse_seconds = settings.export_reuse_seconds
        self._lock = LOCK_USER_SQLITE if settings.database_is_embedded else LOCK_USER

    # -- jobs at once ----------------------------------------------------------------

    async def _lock_user(self, tx: Runner, user_id: int) -> None:
        if self._lock is LOCK_USER:
            await tx.fetch_one(LOCK_USER, user_id=user_id)
        else:
            await tx.execute(self._lock, user_id=user_id)

    async def _active(self, runner: Runner | Database, user_id: int, kind: JobKind) -> None:
        row = await runner.fetch_one(COUNT_ACTIVE, user_id=user_id, kind=kind.value)
        limit = self._limits[kind]
        if row is not None and row[0] >= limit:
            what = "imports" if kind == JobKind.IMPORT_BOOKS else "exports"
            raise ApiError(
                HTTP_429_TOO_MANY_REQUESTS,
                too_many_active(limit, what),
                headers={"Retry-After": str(ACTIVE_RETRY_AFTER_SECONDS)},
            )

    async def hold(self, tx: Runner, user_id: int, kind: JobKind) -> None:
        """In the transaction that writes a ``kind`` job: 429 if the user has as many active already.

        Locks the user's row until the commit, so that the user's requests are counted in turn.
        """
        await self._lock_user(tx, user_id)
        await self._active(tx, user_id, kind)

    async def same_export(self, tx: Runner, user_id: int, params: dict[str, Any]) -> str | None:
        """In the transaction that would write an export: the id of the same one to answer with.

        None when there is none and the user may start another (429 when not); the user's
        row stays locked until the commit, as in :meth:`hold`.
        """
        await self._lock_user(tx, user_id)
        since = utcnow() - timedelta(seconds=self._reuse_seconds)
        row = await tx.fetch_one(SAME_EXPORT, user_id=user_id, params=encode_json(params), since=since)
        if row is not None:
            return str(row[0])
        await self._active(tx, user_id, JobKind.EXPORT)
        return None

    # -- uploads ---------------------------------------------------------------------

    def _key(self, user_id: int, now: datetime) -> str:
        return f"{self._prefix}:{user_id}:{now:%Y%m%d}"

    def _used_up(self, now: datetime) -> ApiError:
        return ApiError(
            HTTP_429_TOO_MANY_REQUESTS,
            daily_upload_used_up(self._bytes_per_day),
            headers={"Retry-After": str(seconds_to_midnight(now))},
        )

    async def admit_upload(self, db: Database, user_id: int) -> None:
        """Before an import's upload is read: 429 if the user may start no import now."""
        await self._active(db, user_id, JobKind.IMPORT_BOOKS)
        now = datetime.now(UTC)
        try:
            used = await self._redis.get(self._key(user_id, now))
        except (RedisError, OSError) as exc:
            log.warning("upload quota unavailable, not counting: %s", exc)
            return
        if used is not None and int(used) >= self._bytes_per_day:
            raise self._used_up(now)

    async def metered(self, user_id: int, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` unchanged, counted against the user's daily upload quota; 429 past it."""
        pending = 0
        counting = True
        async for chunk in chunks:
            pending += len(chunk)
            if counting and pending >= _METER_STEP:
                counting = await self._count(user_id, pending)
                pending = 0
            yield chunk
        if counting and pending:
            await self._count(user_id, pending)

    async def _count(self, user_id: int, size: int) -> bool:
        """Add ``size`` to today's counter; 429 past the quota. False when Redis is unavailable."""
        now = datetime.now(UTC)
        key = self._key(user_id, now)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, size)
                pipe.expire(key, seconds_to_midnight(now) + 3600)
                total, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("upload quota unavailable, not counting: %s", exc)
            return False
        if int(total) > self._bytes_per_day:
            raise self._used_up(now)
        return True
