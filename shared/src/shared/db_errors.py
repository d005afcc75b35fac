"""What a database error means, decided in one place for the API and the worker alike.

Callers never look at a driver's error codes: :func:`classify` turns whatever asyncmy,
aiosqlite or SQLAlchemy raised into one of the exceptions below, or leaves it as it is
(bad SQL, a bug: worth a trace, not a retry). The API answers the first two with 503,
``DuplicateKey`` with 409 and ``ForeignKeyViolation`` per route; the worker retries a
job after the first two and fails it after anything else.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError

# MySQL client and server error codes, by what they mean to a caller.
_CONNECTION_LOST = {2003, 2006, 2013, 2055, 1927}  # can't connect, gone away, lost, killed
_CONTENTION = {1205, 1213}  # lock wait timeout, deadlock: the transaction was rolled back
_DUPLICATE_KEY = 1062
_FOREIGN_KEY = {1216, 1217, 1451, 1452}
# SQLite (the embedded default): another connection held the write lock past busy_timeout.
_SQLITE_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED


class DatabaseUnavailable(Exception):
    """The database could not be reached: answer 503, or try the job again later."""


class DatabaseContention(Exception):
    """A deadlock or lock wait timeout rolled the transaction back: running it again may succeed."""


class DuplicateKey(Exception):
    """A unique index refused the write (for example an email a live user has)."""


class ForeignKeyViolation(Exception):
    """The write names a row that does not exist."""


RETRYABLE = (DatabaseUnavailable, DatabaseContention)
"""The classified errors after which the same work, tried again, may succeed."""


def _mysql_code(exc: BaseException | None) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def classify(exc: BaseException) -> BaseException:
    """The exception above that ``exc`` means, or ``exc`` itself when it is none of them."""
    if isinstance(exc, DatabaseUnavailable | DatabaseContention | DuplicateKey | ForeignKeyViolation):
        return exc
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    code = _mysql_code(original)
    if isinstance(exc, IntegrityError) or type(original).__name__ == "IntegrityError":
        text = str(original).lower()
        if code in _FOREIGN_KEY or "foreign key" in text:
            return ForeignKeyViolation(str(original))
        if code == _DUPLICATE_KEY or "unique" in text:
            return DuplicateKey(str(original))
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable(str(original))
    if code in _CONNECTION_LOST or isinstance(original, OSError):
        return DatabaseUnavailable(str(original))
    if code in _CONTENTION or getattr(original, "sqlite_errorcode", None) in _SQLITE_BUSY:
        return DatabaseContention(str(original))
    return exc


def is_retryable(exc: BaseException) -> bool:
    """Whether the work that raised ``exc`` is worth running again (connection lost, deadlock)."""
    return isinstance(classify(exc), RETRYABLE)
