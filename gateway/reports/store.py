"""What reports need stored, as an interface, and an in-memory version for tests.

``storage.reports.SqlReportStore`` implements it with set-based SQL. The in-memory store counts
plain :class:`SurveyFact` records with :func:`count_facts`, which is also the reference the SQL
figures are tested against (and what a recount of ``pingjing export`` rows uses).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from gateway.cases import states as cs
from gateway.reports.consequences import InterviewProposal
from gateway.reports.figures import Figures
from gateway.reports.reasons import classify_comment, inferred

Tx = Any

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


@dataclass(frozen=True, slots=True)
class UnitNode:
    code: str
    name: str
    parent: str | None
    kind: str = ""


@dataclass(frozen=True, slots=True)
class SurveyFact:
    """One service event as the figures see it (one row of ``pingjing export surveys``,
    joined with its callback task)."""

    unit_code: str
    occurred_at: datetime
    sent: bool = False
    delivered: bool = False
    replied: bool = False
    rating: str | None = None
    comment: str | None = None
    officers: tuple[tuple[str, str], ...] = ()  # (police_number, name)
    callback_status: str | None = None  # None: no callback task
    callback_overdue: bool = False
    callback_completed: bool = False
    reason_key: str | None = None  # reason identifier (attitude...) given on the IVR
    category: str = "other"
    business: str | None = None
    case_state: str | None = None  # None: no case opened from this survey
    case_substantiated: bool = False
    case_returns: int = 0
    case_overdue: bool = False


def count_facts(facts: Iterable[SurveyFact]) -> Figures:
    """The figures of these facts; the one definition both stores follow.

    Callbacks: ``reached_ivr`` = task completed by the IVR (``completed``, ``wrong_person``
    is not a reach); ``reached_by_hand`` = task in ``manual`` that a supervisor closed
    (``completed_at`` set); ``unreachable`` = ``manual`` still open or ``no_input``.
    Reasons: the IVR key when given, else the comment of an unsatisfied SMS reply, inferred.
    """
    f = Figures()
    reasons: Counter[str] = Counter()
    for fact in facts:
        f.events += 1
        f.surveyed += fact.sent
        f.delivered += fact.delivered
        f.replies += fact.replied
        if fact.rating in RATINGS:
            setattr(f, fact.rating, getattr(f, fact.rating) + 1)
        status = fact.callback_status
        if status is not None:
            f.callbacks_due += 1
            f.callbacks_overdue += fact.callback_overdue
            if status == "completed":
                f.reached_ivr += 1
            elif status == "manual" and fact.callback_completed:
                f.reached_by_hand += 1
            elif status in ("manual", "no_input"):
                f.unreachable += 1
        if fact.case_state is not None:
            f.cases_substantiated += fact.case_substantiated
            f.cases_unsubstantiated += fact.case_state == cs.UNSUBSTANTIATED
            f.cases_rectified += fact.case_substantiated and fact.case_state == cs.CLOSED
            f.cases_returned += fact.case_returns > 0
            f.cases_overdue += fact.case_overdue
        if fact.reason_key:
            reasons[fact.reason_key] += 1
        elif fact.rating == "unsatisfied":
            reason = classify_comment(fact.comment)
            if reason is not None:
                reasons[inferred(reason)] += 1
    f.reasons = reasons
    return f


@dataclass(frozen=True, slots=True)
class Interview:
    """A 约谈 record: proposed from a ranking, confirmed (or dismissed) by a supervisor."""

    id: int
    unit_code: str
    month: str
    kind: str
    interviewees: tuple[str, ...]
    deduction: float
    status: str  # proposed | confirmed | dismissed
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ArchivedReport:
    id: int
    kind: str  # day | week | month | quarter | year | period
    period_key: str
    unit_code: str  # "" for the whole city
    fmt: str  # text | json | csv | xlsx | svg | png
    path: str
    size_bytes: int
    sha256: str
    created_at: datetime
    delivered_to: tuple[str, ...] = ()


class ReportStore(Protocol):
    def units(self, tx: Tx) -> list[UnitNode]: ...

    def figures(
        self, tx: Tx, start: datetime, end: datetime, unit_codes: list[str]
    ) -> dict[str, Figures]:
        """Figures of each listed unit's subtree over events that occurred in [start, end)."""
        ...

    def officer_figures(
        self, tx: Tx, start: datetime, end: datetime, unit_code: str | None
    ) -> list[tuple[str, str, Figures]]:
        """(police_number, name, figures) of the officers of the events of a subtree."""
        ...

    def breakdown(
        self, tx: Tx, start: datetime, end: datetime, unit_code: str | None, dimension: str
    ) -> list[tuple[str, Figures]]:
        """Figures (surveys, ratings, reasons) by ``category`` or ``business``, most events
        first."""
        ...

    def overdue_now(self, tx: Tx, now: datetime) -> tuple[int, int]:
        """(callback tasks still open and overdue, cases open past their due time) at ``now``,
        whenever their events occurred: what the daily notice must chase."""
        ...

    def save_proposals(
        self, tx: Tx, proposals: list[InterviewProposal], now: datetime
    ) -> list[Interview]:
        """Record proposals not recorded before (same unit, month and kind); returns all of
        that month's."""
        ...

    def interviews(self, tx: Tx, month: str | None = None) -> list[Interview]: ...

    def decide_interview(
        self, tx: Tx, interview_id: int, status: str, actor: str, now: datetime
    ) -> Interview | None: ...

    def adjustments(self, tx: Tx, year: int) -> dict[str, float]:
        """unit code -> assessment points added (+) or deducted (-) in ``year``; a confirmed
        interview with a deduction adds its negative."""
        ...

    def archive(self, tx: Tx, report: ArchivedReport) -> ArchivedReport: ...

    def archived(self, tx: Tx, kind: str | None = None) -> list[ArchivedReport]: ...

    def archived_one(self, tx: Tx, report_id: int) -> ArchivedReport | None: ...


def subtree(units: Iterable[UnitNode], code: str) -> set[str]:
    children: dict[str | None, list[str]] = {}
    for unit in units:
        children.setdefault(unit.parent, []).append(unit.code)
    out, todo = set(), [code]
    while todo:
        current = todo.pop()
        if current not in out:
            out.add(current)
            todo.extend(children.get(current, ()))
    return out


@dataclass
class InMemoryReportStore:
    """Figures counted from plain facts; interviews and the archive kept in lists."""

    unit_nodes: list[UnitNode] = field(default_factory=list)
    facts: list[SurveyFact] = field(default_factory=list)
    _interviews: list[Interview] = field(default_factory=list)
    _archive: list[ArchivedReport] = field(default_factory=list)
    _adjustments: list[tuple[str, int, float]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def units(self, tx: Tx) -> list[UnitNode]:
        return list(self.unit_nodes)

    def _in(self, start: datetime, end: datetime, codes: set[str]) -> list[SurveyFact]:
        return [f for f in self.facts if start <= f.occurred_at < end and f.unit_code in codes]

    def figures(
        self, tx: Tx, start: datetime, end: datetime, unit_codes: list[str]
    ) -> dict[str, Figures]:
        return {
            code: count_facts(self._in(start, end, subtree(self.unit_nodes, code)))
            for code in unit_codes
        }

    def officer_figures(
        self, tx: Tx, start: datetime, end: datetime, unit_code: str | None
    ) -> list[tuple[str, str, Figures]]:
        codes = (
            subtree(self.unit_nodes, unit_code) if unit_code else {u.code for u in self.unit_nodes}
        )
        by_officer: dict[tuple[str, str], list[SurveyFact]] = {}
        for fact in self._in(start, end, codes):
            for officer in fact.officers:
                by_officer.setdefault(officer, []).append(fact)
        return [(num, name, count_facts(fs)) for (num, name), fs in sorted(by_officer.items())]

    def breakdown(
        self, tx: Tx, start: datetime, end: datetime, unit_code: str | None, dimension: str
    ) -> list[tuple[str, Figures]]:
        if dimension not in ("category", "business"):
            raise ValueError(f"unknown dimension {dimension!r}: expected category or business")
        codes = (
            subtree(self.unit_nodes, unit_code) if unit_code else {u.code for u in self.unit_nodes}
        )
        groups: dict[str, list[SurveyFact]] = {}
        for fact in self._in(start, end, codes):
            groups.setdefault(getattr(fact, dimension) or "", []).append(fact)
        rows = [(key, count_facts(fs)) for key, fs in groups.items()]
        rows.sort(key=lambda row: (-row[1].events, row[0]))
        return rows

    def overdue_now(self, tx: Tx, now: datetime) -> tuple[int, int]:
        callbacks = sum(
            1
            for f in self.facts
            if f.callback_overdue
            and f.callback_status in ("pending", "in_progress", "manual")
            and not f.callback_completed
        )
        return callbacks, sum(1 for f in self.facts if f.case_overdue)

    def save_proposals(
        self, tx: Tx, proposals: list[InterviewProposal], now: datetime
    ) -> list[Interview]:
        known = {(i.unit_code, i.month, i.kind) for i in self._interviews}
        for p in proposals:
            if (p.unit_code, p.month, p.kind) not in known:
                self._interviews.append(
                    Interview(
                        next(self._ids),
                        p.unit_code,
                        p.month,
                        p.kind,
                        p.interviewees,
                        p.deduction,
                        "proposed",
                        now,
                    )
                )
        months = {p.month for p in proposals}
        return [i for i in self._interviews if i.month in months]

    def interviews(self, tx: Tx, month: str | None = None) -> list[Interview]:
        return [i for i in self._interviews if month is None or i.month == month]

    def decide_interview(
        self, tx: Tx, interview_id: int, status: str, actor: str, now: datetime
    ) -> Interview | None:
        for n, record in enumerate(self._interviews):
            if record.id == interview_id:
                if record.status != "proposed":
                    return record
                record = replace(record, status=status, decided_by=actor, decided_at=now)
                self._interviews[n] = record
                if status == "confirmed" and record.deduction:
                    year = int(record.month[:4])
                    self._adjustments.append((record.unit_code, year, -record.deduction))
                return record
        return None

    def adjustments(self, tx: Tx, year: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for code, y, points in self._adjustments:
            if y == year:
                out[code] = out.get(code, 0.0) + points
        return out

    def archive(self, tx: Tx, report: ArchivedReport) -> ArchivedReport:
        stored = replace(report, id=next(self._ids))
        self._archive.append(stored)
        return stored

    def archived(self, tx: Tx, kind: str | None = None) -> list[ArchivedReport]:
        return [r for r in self._archive if kind is None or r.kind == kind]

    def archived_one(self, tx: Tx, report_id: int) -> ArchivedReport | None:
        return next((r for r in self._archive if r.id == report_id), None)
