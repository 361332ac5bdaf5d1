"""Run dates: the slice of event dates one run processes, parsed from the CLI flags.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from imbalance_spark.errors import ConfigError


@dataclass(frozen=True)
class RunDates:
    """The slice of event dates one run processes (inclusive); a single day for --run-date."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def __str__(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start}..{self.end}"


def _parse_date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag}: {value!r} is not a date (expected YYYY-MM-DD)") from None


def parse_run_dates(run_date: str | None, start_date: str | None, end_date: str | None) -> RunDates | None:
    """The run's date slice from --run-date or --start-date/--end-date, or None for the whole table."""
    if run_date is not None and (start_date is not None or end_date is not None):
        raise ConfigError("--run-date: use either --run-date or --start-date/--end-date, not both")
    if run_date is not None:
        day = _parse_date(run_date, "--run-date")
        return RunDates(day, day)
    if (start_date is None) != (end_date is None):
        raise ConfigError("--start-date/--end-date: a backfill needs both")
    if start_date is None:
        return None
    start, end = _parse_date(start_date, "--start-date"), _parse_date(end_date, "--end-date")
    if end < start:
        raise ConfigError(f"--end-date: {end} is before --start-date {start}")
    return RunDates(start, end)


def date_kind(dtype) -> str:
    """How a date column of Spark type ``dtype`` compares to a day: ``timestamp``, ``date`` or ``text``.

    Timestamps compare to the day's midnight cast to their type, dates to the day, and anything
    else (a YYYY-MM-DD string) as ISO text.
    """
    from pyspark.sql import types as T

    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return "timestamp"
    if isinstance(dtype, T.DateType):
        return "date"
    return "text"
