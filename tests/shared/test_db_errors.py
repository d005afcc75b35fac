"""shared.db_errors: what a driver's error means to a caller, from errors the drivers really raise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shared.db_errors import DatabaseContention, classify, is_retryable


def test_a_sqlite_database_locked_by_another_writer_is_contention_worth_retrying(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # the embedded worker's import, mid-transaction
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        writer.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        assert isinstance(classify(exc), DatabaseContention)
        assert is_retryable(exc)
    else:
        raise AssertionError("the second writer was not refused")
    finally:
        writer.close()
        holder.execute("ROLLBACK")
        holder.close()


def test_other_sqlite_errors_are_left_as_they_are(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "plain.db")
    try:
        conn.execute("SELECT * FROM no_such_table")
    except sqlite3.OperationalError as exc:
        assert classify(exc) is exc
        assert not is_retryable(exc)
    else:
        raise AssertionError("the statement did not fail")
    finally:
        conn.close()
