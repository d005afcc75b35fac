"""The process's database: one engine, one session factory, one statement runner.

Two ways in, one per kind of caller, both built here from the same settings:

* ``Database.sessions`` is SQLAlchemy's ``async_sessionmaker`` over the async engine
  (``pool_pre_ping``, ``pool_recycle``): the ORM, for the worker, migrations and tests.
* ``Database.fetch_one`` / ``fetch_all`` / ``execute`` / ``transaction`` run SQLAlchemy
  Core statements for the API's request paths. On MySQL they compile each statement once
  and run it straight on asyncmy's own pool, because the async engine's per-call connect
  and execute cost several times what the driver needs, which is most of a request's
  budget (docs/performance.md has the figures). On the embedded SQLite they go through
  the engine, whose type processing SQLite needs (it hands datetimes back as text).

Both pools get the same size and recycle settings. Driver errors are translated by
:func:`shared.db_errors.classify`, so that callers never import a driver.

asyncmy's pool hands a freed connection to whoever asks next, not to who has waited
longest: under more concurrent requests than connections, a few unlucky requests wait
many turns, which showed as a long latency tail. So checkouts pass a FIFO gate
(:class:`shared.fifo_gate.FifoGate`, as wide as the pool, fair in order of arrival)
first, and the pool always has a connection free for whoever gets through.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from sqlalchemy import event, literal_column, select
from sqlalchemy.engine import Compiled, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Delete, Insert, Select, Update

from shared.db_errors import DatabaseUnavailable, classify
from shared.fifo_gate import FifoGate
from shared.settings import Settings

Statement = Select[*tuple[Any, ...]] | Insert | Update | Delete

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    rowcount: int
    lastrowid: int


def _python_defaults(compiled: Compiled) -> dict[str, Callable[[], Any]]:
    """The column defaults SQLAlchemy computes in Python (``default=``/``onupdate=utcnow``).

    The engine fills them in before it executes; a statement run straight on the driver
    must do the same, or an ``UPDATE`` that does not name ``updated_at`` writes it NULL.
    """
    made: dict[str, Callable[[], Any]] = {}
    for columns, attr in (
        (getattr(compiled, "insert_prefetch", ()), "default"),
        (getattr(compiled, "update_prefetch", ()), "onupdate"),
    ):
        for column in columns:
            default = getattr(column, attr)
            if default is not None and default.is_callable:  # SQLAlchemy wraps it to take a context
                made[column.key] = functools.partial(default.arg, None)
    return made


class Query:
    """A Core statement with named bind parameters, compiled once per dialect.

    Values written into the statement itself (``name == "books"``) are kept as defaults,
    so callers pass only the named parameters; Python-side column defaults are computed
    per run, as the engine would.
    """

    __slots__ = ("_compiled", "stmt")

    def __init__(self, stmt: Statement) -> None:
        self.stmt = stmt
        self._compiled: tuple[str, tuple[str, ...], dict[str, Any], dict[str, Callable[[], Any]]] | None = None

    def driver_args(self, engine: AsyncEngine, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL text for ``engine``'s driver and its positional arguments."""
        if self._compiled is None:
            compiled = self.stmt.compile(dialect=engine.dialect)
            names = tuple(compiled.positiontup or ())
            generated = {k: make for k, make in _python_defaults(compiled).items() if k in names}
            self._compiled = (compiled.string, names, dict(compiled.params), generated)
        sql, names, defaults, generated = self._compiled
        if generated:
            params = {**{k: make() for k, make in generated.items() if k not in params}, **params}
        return sql, tuple(params[n] if n in params else defaults[n] for n in names)


class Runner(Protocol):
    async def fetch_one(self, query: Query, /, **params: Any) -> Sequence[Any] | None: ...
    async def fetch_all(self, query: Query, /, **params: Any) -> list[Sequence[Any]]: ...
    async def execute(self, query: Query, /, **params: Any) -> Outcome: ...


class _DriverConnection:
    """One asyncmy connection, with statements compiled for it."""

    __slots__ = ("_conn", "_engine")

    def __init__(self, conn: Any, engine: AsyncEngine) -> None:
        self._conn = conn
        self._engine = engine

    async def _run(self, query: Query, params: Mapping[str, Any], fetch: bool) -> Any:
        sql, args = query.driver_args(self._engine, params)
        async with self._conn.cursor() as cur:
            await cur.execute(sql, args)
            if fetch:
                return await cur.fetchall()
            return Outcome(cur.rowcount, cur.lastrowid)

    async def fetch_one(self, query: Query, /, **params: Any) -> Sequence[Any] | None:
        rows = await self._run(query, params, True)
        return rows[0] if rows else None

    async def fetch_all(self, query: Query, /, **params: Any) -> list[Sequence[Any]]:
        return list(await self._run(query, params, True))

    async def execute(self, query: Query, /, **params: Any) -> Outcome:
        outcome: Outcome = await self._run(query, params, False)
        return outcome


class _EngineConnection:
    """The same interface over a SQLAlchemy connection (the embedded SQLite path)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def fetch_one(self, query: Query, /, **params: Any) -> Sequence[Any] | None:
        result = await self._conn.execute(query.stmt, params)
        row: Sequence[Any] | None = result.first()
        return row

    async def fetch_all(self, query: Query, /, **params: Any) -> list[Sequence[Any]]:
        result = await self._conn.execute(query.stmt, params)
        return list(result.all())

    async def execute(self, query: Query, /, **params: Any) -> Outcome:
        result = await self._conn.execute(query.stmt, params)
        return Outcome(result.rowcount, result.lastrowid or 0)


class Database:
    """Everything a process needs to talk to its database; create one per process."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.resolved_database_url
        self.is_mysql = make_url(self.url).get_backend_name() == "mysql"
        self._pool_size = settings.db_pool_size
        self._recycle = settings.db_pool_recycle_seconds
        self.engine = create_engine(self.url, settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._pool: Any = None
        self._gate: FifoGate | None = None  # in front of the pool (module docstring)

    async def connect(self) -> None:
        """Open the driver pool (MySQL only); safe to call more than once."""
        if not self.is_mysql or self._pool is not None:
            return
        import asyncmy

        try:
            self._pool = await asyncmy.create_pool(
                **mysql_server_args(self.url),
                db=make_url(self.url).database,
                minsize=1,
                maxsize=self._pool_size,
                pool_recycle=self._recycle,
                autocommit=True,
                charset="utf8mb4",
                init_command="SET time_zone = '+00:00'",
            )
        except Exception as exc:
            raise classify(exc) from exc
        self._gate = FifoGate(self._pool_size)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = self._gate = None
        await self.engine.dispose()

    @asynccontextmanager
    async def _connection(self, *, transaction: bool) -> AsyncIterator[Runner]:
        if not self.is_mysql:
            try:
                async with self.engine.begin() as conn:
                    yield _EngineConnection(conn)
            except (DBAPIError, OSError) as exc:
                raise classify(exc) from exc
            return
        if self._pool is None:
            await self.connect()
        assert self._gate is not None
        try:
            async with self._gate, self._pool.acquire() as conn:
                if transaction:
                    await conn.begin()
                    try:
                        yield _DriverConnection(conn, self.engine)
                    except BaseException:
                        await conn.rollback()
                        raise
                    await conn.commit()
                else:
                    yield _DriverConnection(conn, self.engine)
        except Exception as exc:
            translated = classify(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def _alone(self, query: Query, params: Mapping[str, Any], fetch: bool) -> Any:
        """One statement on a connection of its own, autocommitted.

        The request paths' common case, so on MySQL it goes straight to the pool, without
        the context-manager layers a transaction needs.
        """
        if self._pool is None or self._gate is None:
            async with self._connection(transaction=False) as conn:
                if fetch:
                    return await conn.fetch_all(query, **params)
                return await conn.execute(query, **params)
        try:
            async with self._gate, self._pool.acquire() as raw:
                return await _DriverConnection(raw, self.engine)._run(query, params, fetch)
        except Exception as exc:
            translated = classify(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def fetch_all(self, query: Query, /, **params: Any) -> list[Sequence[Any]]:
        try:
            rows = await self._alone(query, params, True)
        except DatabaseUnavailable:
            # A read is safe to repeat: a pooled connection the server dropped (a restart,
            # wait_timeout) fails once, and the retry takes a fresh one.
            rows = await self._alone(query, params, True)
        return list(rows)

    async def fetch_one(self, query: Query, /, **params: Any) -> Sequence[Any] | None:
        rows = await self.fetch_all(query, **params)
        return rows[0] if rows else None

    async def execute(self, query: Query, /, **params: Any) -> Outcome:
        """Run one write on its own (autocommitted); never retried, as it may have landed."""
        outcome: Outcome = await self._alone(query, params, False)
        return outcome

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Runner]:
        """Several statements on one connection, committed together or not at all."""
        async with self._connection(transaction=True) as conn:
            yield conn

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless a round trip to the server succeeds."""
        await self.fetch_one(_PING)


def mysql_server_args(url: str) -> dict[str, Any]:
    """asyncmy's ``host``, ``port``, ``user`` and ``password`` for a SQLAlchemy MySQL URL.

    The URL's user and password are percent-encoded (a ``@`` in a password is ``%40``);
    the driver wants them as they are.
    """
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": unquote(parsed.username or "root"),
        "password": unquote(parsed.password or ""),
    }


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    """The async engine, configured the same way for every process."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_pre_ping=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA busy_timeout = 5000")
            cur.close()

        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=settings.db_pool_recycle_seconds,
        pool_size=settings.db_pool_size,
        max_overflow=5,
        connect_args={"init_command": "SET time_zone = '+00:00'"} if backend == "mysql" else {},
    )


_PING = Query(select(literal_column("1")))
