"""Working days on the PRC calendar: weekends, public holidays and adjusted working days (调休).

The State Council publishes each year's holidays in the December before; the
``chinesecalendar`` package carries them (2004 through the last year it was released for).
For a year it does not cover yet, :class:`WorkCalendar` falls back to Monday-Friday and the
configured ``extra_holidays`` / ``extra_workdays`` (``[cases]`` in the configuration), which
also override the package for a correction; :meth:`WorkCalendar.covered` says which years the
package knows so that a start-up check can warn before the new year.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class WorkCalendar:
    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        *,
        use_package: bool = True,
    ) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        self._package = None
        if use_package:
            import chinese_calendar

            self._package = chinese_calendar
        # the package's answer for a day, remembered: chinese_calendar.is_workday takes the
        # max() of its whole holiday table on every call (~60 µs), three calls for each case a
        # reply batch opens
        self._official: dict[date, bool | None] = {}

    def covered(self, year: int) -> bool:
        """Whether the package knows ``year``'s official holidays."""
        if self._package is None:
            return False
        try:
            self._package.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        if self._package is not None:
            if day not in self._official:
                try:
                    self._official[day] = bool(self._package.is_workday(day))
                except NotImplementedError:
                    self._official[day] = None
            official = self._official[day]
            if official is not None:
                return official
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself never counts: a case
        opened on Friday with 3 days is due on Wednesday)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return day

    def due(self, opened: datetime, days: int, zone: ZoneInfo) -> datetime:
        """The end (local midnight after) of the ``days``-th working day after ``opened``'s
        local date, as an aware datetime."""
        local = opened.astimezone(zone).date()
        last = self.add_working_days(local, days)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when ``end <= start``)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_workday(day)
        return count


def coverage_warning(calendar: WorkCalendar, today: date, ahead_days: int = 45) -> str | None:
    """What to tell the operator when a deadline set from ``today`` may fall in a year whose
    official holidays the calendar does not know (the package not yet released for it) and
    the configuration names none of that year's holidays either: those deadlines then count
    plain Monday-Friday, and a new year's holidays would be counted as working days."""
    years = sorted({today.year, (today + timedelta(days=ahead_days)).year})
    unknown = [
        year
        for year in years
        if not calendar.covered(year) and not any(d.year == year for d in calendar.extra_holidays)
    ]
    if not unknown:
        return None
    named = ", ".join(str(y) for y in unknown)
    return (
        f"cases: the working-day calendar does not know the official holidays of {named}: "
        "case deadlines in it count Monday-Friday only. Upgrade the chinesecalendar package "
        "once it covers the year, or list the year's holidays and adjusted working days (调休) "
        "in [cases] extra_holidays / extra_workdays"
    )
