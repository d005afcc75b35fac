"""How a job's failure is judged: worth another try after a backoff, or final.

Handlers raise :class:`PermanentError` for bad data or a refusal and
:class:`TransientError` for something outside the job that was away; anything else is
judged by :func:`is_transient`, which leaves database errors to the one classification
in :mod:`shared.db_errors`.
"""

from __future__ import annotations

import random

from redis.exceptions import RedisError

from shared.db_errors import is_retryable
from shared.settings import Settings


class PermanentError(Exception):
    """Bad data or a refusal that retrying cannot fix: the job fails at once with this reason."""


class TransientError(Exception):
    """Something outside the job was away; worth another try after a backoff."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError | RedisError | ConnectionError | TimeoutError):
        return True
    return is_retryable(exc)


def describe(exc: BaseException) -> str:
    """The error as the job row shows it: our own errors' text alone, others with their type."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PermanentError | TransientError) else f"{type(exc).__name__}: {text}"


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Exponential with full jitter, so retries of many jobs after one outage spread out."""
    ceiling = min(settings.job_retry_base_seconds * 2 ** (attempt - 1), settings.job_retry_max_seconds)
    return random.uniform(ceiling / 2, ceiling)
