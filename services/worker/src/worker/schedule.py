"""``CLEANUP_SCHEDULE``: a crontab line, turned into arq's ``cron(...)`` arguments.

Five fields ``minute hour day month weekday`` as in crontab (weekday 0 or 7 is Sunday),
or six with a leading ``second`` field. Each field is ``*``, a number, a range ``a-b``,
a step ``*/n`` or ``a-b/n``, or a comma-separated list of those. Times are UTC.
"""

from __future__ import annotations

from typing import Any

# (name, lowest, highest) per field, seconds first.
_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))


class ScheduleError(ValueError):
    pass


def _values(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = end = int(span)
        if step < 1 or not low <= start <= end <= high:
            raise ScheduleError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def parse_schedule(line: str) -> dict[str, Any]:
    """arq ``cron`` keyword arguments for ``line`` (None for a field that is ``*``)."""
    fields = line.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ScheduleError(f"expected 5 or 6 fields, got {len(fields)}: {line!r}")
    kwargs: dict[str, Any] = {}
    for (name, low, high), text in zip(_FIELDS, fields, strict=True):
        try:
            values = _values(text, low, high)
        except ValueError as exc:
            raise ScheduleError(f"{name} field {text!r}: {exc}") from exc
        if name == "weekday":  # crontab: 0 and 7 are Sunday; arq (Python): Monday is 0
            values = {(v - 1) % 7 for v in values}
            kwargs[name] = None if values == set(range(7)) else values
        else:
            kwargs[name] = None if text == "*" else values
    if kwargs["second"] is None:
        kwargs["second"] = set(range(60))
    return kwargs
