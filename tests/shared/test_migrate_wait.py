"""``python -m shared.migrate --wait``: new pods start only once the database is at this image's head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.migrate import heads, wait_for_head
from tests.shared.databases import migrate

pytestmark = pytest.mark.process  # migrations and the wait run as processes


class Clock:
    """time.monotonic and time.sleep for the wait loop: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1


def test_waiting_on_an_unmigrated_database_gives_up_at_the_deadline(empty_database: str) -> None:
    clock = Clock()
    assert not wait_for_head(30, empty_database, clock=clock, sleep=clock.sleep)
    assert clock.now >= 30
    assert clock.sleeps >= 2


def test_a_database_at_head_needs_no_wait(empty_database: str, tmp_path: Path) -> None:
    assert migrate(empty_database, tmp_path).returncode == 0
    clock = Clock()
    assert wait_for_head(30, empty_database, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == 0


def test_the_wait_ends_when_the_migration_lands(empty_database: str, tmp_path: Path) -> None:
    clock = Clock()

    def migrate_meanwhile(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.sleeps == 2:  # the migration Job finishes while the init container waits
            assert migrate(empty_database, tmp_path).returncode == 0

    assert wait_for_head(600, empty_database, clock=clock, sleep=migrate_meanwhile)
    assert clock.sleeps == 2


def test_the_command_exits_1_with_the_reason_and_0_once_migrated(empty_database: str, tmp_path: Path) -> None:
    def wait() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.migrate", "--wait", "0"],
            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": empty_database},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = wait()
    assert refused.returncode == 1
    assert "has the migration Job succeeded?" in refused.stderr
    assert migrate(empty_database, tmp_path).returncode == 0
    done = wait()
    assert done.returncode == 0, done.stderr
    assert f"database is at {', '.join(sorted(heads()))}" in done.stderr
