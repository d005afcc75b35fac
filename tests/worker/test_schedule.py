"""CLEANUP_SCHEDULE: crontab lines as arq cron arguments."""

from __future__ import annotations

import pytest

from worker.schedule import ScheduleError, parse_schedule


def test_the_default_is_nightly_at_three_utc() -> None:
    assert parse_schedule("0 3 * * *") == {
        "second": {0},
        "minute": {0},
        "hour": {3},
        "day": None,
        "month": None,
        "weekday": None,
    }


def test_six_fields_start_with_seconds_and_steps_ranges_lists_work() -> None:
    when = parse_schedule("*/20 5,35 1-3 * * *")
    assert (when["second"], when["minute"], when["hour"]) == ({0, 20, 40}, {5, 35}, {1, 2, 3})


def test_crontab_weekdays_become_pythons() -> None:
    assert parse_schedule("0 0 * * 1-5")["weekday"] == {0, 1, 2, 3, 4}  # Monday..Friday
    assert parse_schedule("0 0 * * 0")["weekday"] == parse_schedule("0 0 * * 7")["weekday"] == {6}


@pytest.mark.parametrize("line", ["0 3 * *", "61 * * * *", "0 25 * * *", "*/0 * * * *", "x * * * *"])
def test_a_bad_line_is_refused_with_the_field_named(line: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(line)
