"""Reporting periods (day, week, month, quarter, year) as local dates in the configured zone.

A period is a half-open range of local days ``[first, after)``; its UTC bounds are the local
midnights converted, so a month in Asia/Shanghai starts at 16:00 UTC the day before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KINDS = ("day", "week", "month", "quarter", "year", "period")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    first: date  # first local day, included
    after: date  # first local day after the period

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown period kind {self.kind!r}: expected one of {KINDS}")
        if self.after <= self.first:
            raise ValueError(f"empty period {self.first} .. {self.after}")

    @property
    def last(self) -> date:
        return self.after - timedelta(days=1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """``[start, end)`` in UTC: the local midnights that open and close the period."""
        start = datetime.combine(self.first, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(self.after, time(0), tzinfo=zone).astimezone(UTC)
        return start, end

    def previous(self) -> Period:
        if self.kind == "period":
            length = self.after - self.first
            return Period("period", self.first - length, self.first)
        return period_of(self.kind, self.first - timedelta(days=1))

    def next(self) -> Period:
        if self.kind == "period":
            return Period("period", self.after, self.after + (self.after - self.first))
        return period_of(self.kind, self.after)

    @property
    def key(self) -> str:
        """A stable name for the archive: ``2018-05``, ``2018-Q2``, ``2018-W19``, ``2018``."""
        if self.kind == "day":
            return self.first.isoformat()
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.first.year}-{self.first.month:02d}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.first.year)
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    @property
    def label(self) -> str:
        """The Chinese name used in report titles."""
        f = self.first
        if self.kind == "day":
            return f"{f.year}年{f.month}月{f.day}日"
        if self.kind == "week":
            return f"{f.year}年{f.month}月{f.day}日至{self.last.month}月{self.last.day}日"
        if self.kind == "month":
            return f"{f.year}年{f.month}月"
        if self.kind == "quarter":
            return f"{f.year}年第{(f.month - 1) // 3 + 1}季度"
        if self.kind == "year":
            return f"{f.year}年"
        last = self.last
        return f"{f.year}年{f.month}月{f.day}日至{last.year}年{last.month}月{last.day}日"


def period_of(kind: str, day: date) -> Period:
    """The period of ``kind`` that contains the local day ``day`` (weeks start on Monday)."""
    if kind == "day":
        return Period(kind, day, day + timedelta(days=1))
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return Period(kind, first, first + timedelta(days=7))
    if kind == "month":
        first = day.replace(day=1)
        return Period(kind, first, _add_months(first, 1))
    if kind == "quarter":
        first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, first, _add_months(first, 3))
    if kind == "year":
        return Period(kind, date(day.year, 1, 1), date(day.year + 1, 1, 1))
    raise ValueError(f"period_of needs day|week|month|quarter|year, not {kind!r}")


def local_day(at: datetime, zone: ZoneInfo) -> date:
    if at.tzinfo is None:
        raise ValueError(f"{at!r} is naive; pass an aware datetime")
    return at.astimezone(zone).date()


def last_complete(kind: str, now: datetime, zone: ZoneInfo) -> Period:
    """The latest period of ``kind`` that has ended by ``now`` (yesterday, last month...)."""
    return period_of(kind, local_day(now, zone)).previous()


def months_back(month: Period, count: int) -> list[Period]:
    """``count`` consecutive months ending with ``month``, oldest first."""
    if month.kind != "month":
        raise ValueError("months_back needs a month")
    out = [month]
    while len(out) < count:
        out.append(out[-1].previous())
    return out[::-1]
