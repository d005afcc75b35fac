"""``make side-by-side`` (scripts/side_by_side.py) says how much CPU the hypervisor took during each run."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts.loading import load_script

# /proc/stat of a 2-CPU guest: user nice system idle iowait irq softirq steal guest guest_nice.
STAT = """\
cpu  383427 214 80867 352037 7187 0 27659 42128 1000 0
cpu0 191000 100 40000 176000 3500 0 13800 21000 500 0
cpu1 192427 114 40867 176037 3687 0 13859 21128 500 0
intr 1 2 3
"""


@pytest.fixture(scope="module")
def side_by_side() -> ModuleType:
    module: ModuleType = load_script("side_by_side")
    return module


def test_steal_and_total_come_from_the_all_cpus_line(side_by_side: ModuleType) -> None:
    # The guest column is already counted in user, so it is not added to the total again.
    assert side_by_side.cpu_times(STAT) == (42128, 383427 + 214 + 80867 + 352037 + 7187 + 0 + 27659 + 42128)


def test_a_kernel_without_a_steal_column_reports_none_stolen(side_by_side: ModuleType) -> None:
    assert side_by_side.cpu_times("cpu  10 0 5 85\n") == (0, 100)


def test_no_cpu_line_means_nothing_known(side_by_side: ModuleType) -> None:
    assert side_by_side.cpu_times("intr 1 2 3\n") == (0, 0)


def test_this_machine_is_read(side_by_side: ModuleType) -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat here")
    steal, total = side_by_side.cpu_times()
    assert total > 0
    assert 0 <= steal <= total


def test_the_share_is_the_stolen_part_of_the_time_between_readings(side_by_side: ModuleType) -> None:
    assert side_by_side.steal_share((100, 1000), (130, 1200)) == pytest.approx(0.15)


def test_no_time_between_readings_gives_no_share(side_by_side: ModuleType) -> None:
    assert side_by_side.steal_share((0, 0), (0, 0)) is None
    assert side_by_side.steal_share((5, 100), (5, 100)) is None


def test_a_run_shows_steal_and_only_errors_that_happened(side_by_side: ModuleType) -> None:
    quiet = {"rps": 3118.4, "p99": 19.42, "errors": 0, "steal": 0.031}
    stalled = {"rps": 1476.6, "p99": 21.39, "errors": 32, "steal": 0.40}
    unknown = {"rps": 3907.0, "p99": 14.8, "errors": 0, "steal": None}
    assert side_by_side.run_cells("wadah", quiet) == "wadah    3118/s p99   19.4 ms st  3%"
    assert side_by_side.run_cells("wadah", stalled) == "wadah    1477/s p99   21.4 ms st 40% err 32"
    assert side_by_side.run_cells("raw", unknown) == "raw    3907/s p99   14.8 ms"
