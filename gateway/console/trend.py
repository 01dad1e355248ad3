"""The dashboard trend's earlier months for every scope at once: a per-unit rollup.

Closed months hardly change, yet summing them live costs one range scan over every survey of
eleven months (seconds at 10 million surveys), once per scope. The rollup reads them once for
all units (one scan, grouped by unit) off the request path, every half hour; a dashboard then
sums its scope's units from memory. Until the first rollup is in (or when it is over an hour
old) the dashboard reads live as before and asks for a refresh.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet import defer
from twisted.logger import Logger

from gateway.console.store import Figures
from gateway.http.store import UnitIds

log = Logger()
REFRESH_SECONDS = 1800
VALID_SECONDS = 3600

TREND_MONTHS = 12
Span = tuple[datetime, datetime]


def month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def trend_spans(today: date, zone: ZoneInfo) -> tuple[list[date], list[Span], Span]:
    """The trend's months (first days), their spans (this month last) and today's span."""

    def at(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone)

    months = [month_start(today, back) for back in range(TREND_MONTHS - 1, -1, -1)]
    bounds = [*months, month_start(today, -1)]
    spans = [(at(a), at(b)) for a, b in itertools.pairwise(bounds)]
    return months, spans, (at(today), at(today + timedelta(days=1)))


def refresh_trend(console: Any) -> defer.Deferred[None]:
    """Read the earlier months of the trend for every unit (``gateway.console.web.Console``);
    the daemon calls it every :data:`REFRESH_SECONDS`."""
    _, spans, _ = trend_spans(console.now().date(), console.zone)
    return console.trend_rollup.refresh(console.store, spans[:-1], console.clock.seconds())


def add(figures: Sequence[Figures]) -> Figures:
    total = Figures()
    for f in figures:
        for name in (x.name for x in fields(Figures)):
            setattr(total, name, getattr(total, name) + getattr(f, name))
    return total


@dataclass
class TrendRollup:
    spans: tuple[Span, ...] = ()
    by_unit: list[dict[int, Figures]] = field(default_factory=list)
    at: float | None = None
    running: defer.Deferred[None] | None = None

    def figures(self, units: UnitIds, spans: Sequence[Span], now: float) -> list[Figures] | None:
        """The months ``spans`` for the scope ``units`` (``None``: all), or ``None`` when the
        rollup does not hold them (not yet read, other months, or too old)."""
        if self.at is None or now - self.at >= VALID_SECONDS or tuple(spans) != self.spans:
            return None
        if units is None:
            return [add(list(month.values())) for month in self.by_unit]
        return [add([month[u] for u in units if u in month]) for month in self.by_unit]

    def refresh(self, store: Any, spans: Sequence[Span], now: float) -> defer.Deferred[None]:
        """Read ``spans`` for every unit (``store.unit_figures``); one read at a time."""
        if self.running is not None:
            return self.running

        def keep(by_unit: list[dict[int, Figures]]) -> None:
            self.spans, self.by_unit, self.at = tuple(spans), by_unit, now

        def done(result: Any) -> Any:
            self.running = None
            return result

        d = store.unit_figures(list(spans))
        d.addCallback(keep)
        d.addErrback(lambda f: log.failure("console: the trend rollup failed", f))
        d.addBoth(done)
        self.running = d
        return d
