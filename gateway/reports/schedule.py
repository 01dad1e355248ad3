"""When each scheduled report is produced, in the configured time zone: pure functions.

daily at ``daily_at`` (yesterday's report); weekly on Mondays at ``weekly_at`` (last week);
monthly on the 1st at ``monthly_at`` (last month); quarterly on 1 January, April, July and
October and annual on 1 January, both at ``monthly_at``. A run produces the last complete
period of its kind at the run's time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from gateway.reports.periods import Period, last_complete, period_of
from gateway.reports.settings import ReportSettings

SCHEDULED = ("day", "week", "month", "quarter", "year")


def _starts(kind: str, day: date) -> bool:
    """Whether a period of ``kind`` starts on the local day ``day``."""
    return period_of(kind, day).first == day


def next_run(kind: str, after: datetime, settings: ReportSettings) -> datetime:
    """The first run of ``kind`` strictly after ``after`` (UTC)."""
    if kind not in SCHEDULED:
        raise ValueError(f"not a scheduled report: {kind!r}")
    zone = settings.zone
    at = settings.at(kind)
    day = after.astimezone(zone).date()
    for _ in range(367):
        if _starts(kind, day):
            run = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            if run > after:
                return run
        day += timedelta(days=1)
    raise AssertionError("every kind has a run within a year")  # pragma: no cover


def last_run(kind: str, now: datetime, settings: ReportSettings) -> datetime:
    """The latest run of ``kind`` at or before ``now`` (to catch up after a restart)."""
    zone = settings.zone
    at = settings.at(kind)
    day = now.astimezone(zone).date()
    for _ in range(367):
        if _starts(kind, day):
            run = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            if run <= now:
                return run
        day -= timedelta(days=1)
    raise AssertionError("every kind has a run within a year")  # pragma: no cover


def period_for(kind: str, run_at: datetime, settings: ReportSettings) -> Period:
    return last_complete(kind, run_at, settings.zone)
