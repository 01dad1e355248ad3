"""Figures, rankings and proposals for a period: the domain's rules applied to a store.

Each function takes a :class:`~gateway.reports.store.ReportStore` and the transaction the
caller opened, so the same code runs on the in-memory store (tests) and on SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.reports.consequences import (
    AnnualSheet,
    InterviewProposal,
    annual_sheet,
    proposals_for_month,
)
from gateway.reports.figures import Figures
from gateway.reports.periods import Period, period_of
from gateway.reports.ranking import RankRow, last_place, rank_units
from gateway.reports.settings import ReportSettings
from gateway.reports.store import ReportStore, Tx, UnitNode

#: How many months back a last-place run is followed (a run longer than this is rare and
#: would already have led to its discipline interviews).
MAX_RUN = 12


class UnknownUnitError(ValueError):
    pass


def ranking_group(units: list[UnitNode], group: str) -> list[UnitNode]:
    """The units ranked against each other: the direct children of ``group`` (a unit code),
    or of the root (the city bureau) when ``group`` is empty."""
    if group:
        if not any(u.code == group for u in units):
            raise UnknownUnitError(f"reports.ranking_group: unit {group!r} does not exist")
        parent = group
    else:
        roots = [u for u in units if u.parent is None]
        if not roots:
            return []
        parent = sorted(roots, key=lambda u: u.code)[0].code
    return sorted((u for u in units if u.parent == parent), key=lambda u: u.code)


def root_code(units: list[UnitNode]) -> str | None:
    roots = sorted(u.code for u in units if u.parent is None)
    return roots[0] if roots else None


def figures_of(
    store: ReportStore, tx: Tx, period: Period, unit_code: str | None, settings: ReportSettings
) -> Figures:
    """One unit's (or the whole city's, ``None``) figures over ``period``."""
    units = store.units(tx)
    code = unit_code or root_code(units)
    if code is None:
        return Figures()
    if not any(u.code == code for u in units):
        raise UnknownUnitError(f"unit {code!r} does not exist")
    start, end = period.bounds(settings.zone)
    return store.figures(tx, start, end, [code])[code]


def ranking(store: ReportStore, tx: Tx, period: Period, settings: ReportSettings) -> list[RankRow]:
    group = ranking_group(store.units(tx), settings.ranking_group)
    start, end = period.bounds(settings.zone)
    figs = store.figures(tx, start, end, [u.code for u in group])
    return rank_units(
        ((u.code, u.name, figs[u.code]) for u in group),
        formula=settings.satisfaction,
        min_sample=settings.min_sample,
        confidence=settings.confidence,
    )


@dataclass(frozen=True, slots=True)
class MonthOutcome:
    month: Period
    rows: list[RankRow]
    proposals: list[InterviewProposal]


def month_outcome(
    store: ReportStore, tx: Tx, month: Period, settings: ReportSettings
) -> MonthOutcome:
    """The month's ranking and the 约谈 proposals it leads to (following last-place runs back
    across year ends)."""
    if month.kind != "month":
        month = period_of("month", month.first)
    rows = ranking(store, tx, month, settings)
    history = [last_place(rows)]
    current = month
    while history[0] and len(history) < MAX_RUN:
        current = current.previous()
        earlier = last_place(ranking(store, tx, current, settings))
        if not set(earlier) & set(history[0]):
            break
        history.insert(0, earlier)
    proposals = proposals_for_month(
        month, history, streak=settings.last_place_streak, deduction=settings.streak_deduction
    )
    return MonthOutcome(month, rows, proposals)


def record_month(
    store: ReportStore, tx: Tx, month: Period, settings: ReportSettings, now: datetime
) -> MonthOutcome:
    outcome = month_outcome(store, tx, month, settings)
    store.save_proposals(tx, outcome.proposals, now)
    return outcome


def annual_sheets(
    store: ReportStore, tx: Tx, year: Period, settings: ReportSettings
) -> list[AnnualSheet]:
    """Each ranked unit's year: monthly ranks, confirmed deductions, callback bonus."""
    group = ranking_group(store.units(tx), settings.ranking_group)
    ranks: dict[str, dict[str, int | None]] = {u.code: {} for u in group}
    month = period_of("month", year.first)
    while month.first < year.after:
        for row in ranking(store, tx, month, settings):
            ranks[row.unit_code][month.key] = row.rank
        month = month.next()
    adjusted = store.adjustments(tx, year.first.year)
    deductions = {code: -points for code, points in adjusted.items()}
    start, end = year.bounds(settings.zone)
    figs = store.figures(tx, start, end, [u.code for u in group])
    return [
        annual_sheet(
            u.code,
            ranks[u.code],
            deductions.get(u.code, 0.0),
            figs[u.code].callbacks_due,
            figs[u.code].reached_ivr + figs[u.code].reached_by_hand,
            figs[u.code].cases_substantiated,
            figs[u.code].cases_rectified,
            settings.points,
        )
        for u in group
    ]
