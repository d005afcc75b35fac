"""What the wire schemas make of stored values."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from api.schemas import utc


@pytest.mark.parametrize(
    "stored",
    [datetime(2024, 2, 29, 23, 59, 58, 999_999), datetime(1970, 1, 1), datetime(9999, 12, 31, 23, 59, 59)],
)
def test_a_stored_time_is_the_same_instant_marked_utc(stored: datetime) -> None:
    marked = utc(stored)
    assert marked.tzinfo is UTC
    assert marked.replace(tzinfo=None) == stored
    assert marked == stored.replace(tzinfo=UTC)


def test_on_the_wire_a_stored_time_ends_in_z() -> None:
    assert msgspec.json.encode(utc(datetime(2024, 1, 2, 3, 4, 5, 6))) == b'"2024-01-02T03:04:05.000006Z"'
    assert msgspec.json.encode(utc(datetime(2024, 1, 2, 3, 4, 5))) == b'"2024-01-02T03:04:05Z"'
