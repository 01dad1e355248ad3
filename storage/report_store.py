"""``gateway.reports.store.ReportStore`` in SQL: figures as a few grouped scans per period.

Each query groups the period's surveys by their own unit (``surveys.occurred_at``, copied from
the event at intake, indexed with the unit and the rating); the per-unit rows are then added
up into each requested unit's subtree in Python, over the unit tree (a few thousand rows at
most). So a ranking of twenty bureaus is one scan of the month, not twenty. Callbacks and
reasons are read for the same surveys (the callbacks of the period's events). The records
(约谈, adjustments, archive) are ``storage.report_records``'.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.cases import states as cs
from gateway.reports.figures import Figures
from gateway.reports.reasons import classify_comment, inferred
from gateway.reports.store import UnitNode
from ivr.flow import REASONS
from storage import report_records
from storage.case_models import Case
from storage.models import CallbackTask, Officer, ServiceEvent, Survey, Unit, event_officers

#: keypad key (``callback_tasks.reason_key``) -> reason identifier
REASON_NAMES = REASONS


def _n(value: object) -> int:
    return int(value or 0)  # SUM over no rows is NULL


def _survey_counts(where: list) -> sa.Select:
    s = Survey
    return sa.select(
        sa.func.count(),
        sa.func.count(s.sent_at),
        sa.func.count(s.delivered_at),
        sa.func.count(s.replied_at),
        sa.func.sum(sa.case((s.rating == "satisfied", 1), else_=0)),
        sa.func.sum(sa.case((s.rating == "basically_satisfied", 1), else_=0)),
        sa.func.sum(sa.case((s.rating == "unsatisfied", 1), else_=0)),
    ).where(*where)


def _callback_counts(where: list) -> sa.Select:
    c = CallbackTask
    return (
        sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((c.overdue.is_(True), 1), else_=0)),
            sa.func.sum(sa.case((c.status == "completed", 1), else_=0)),
            sa.func.sum(
                sa.case(((c.status == "manual") & c.completed_at.is_not(None), 1), else_=0)
            ),
            sa.func.sum(
                sa.case(
                    (
                        (c.status == "no_input")
                        | ((c.status == "manual") & c.completed_at.is_(None)),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .join(Survey, Survey.id == c.survey_id)
        .where(*where)
    )


def _counts(where: list) -> sa.Select:
    """Survey and callback counts in one statement: surveys LEFT JOIN their callback task."""
    s, c = Survey, CallbackTask
    return (
        sa.select(
            sa.func.count(),
            sa.func.count(s.sent_at),
            sa.func.count(s.delivered_at),
            sa.func.count(s.replied_at),
            sa.func.sum(sa.case((s.rating == "satisfied", 1), else_=0)),
            sa.func.sum(sa.case((s.rating == "basically_satisfied", 1), else_=0)),
            sa.func.sum(sa.case((s.rating == "unsatisfied", 1), else_=0)),
            sa.func.count(c.id),
            sa.func.sum(sa.case((c.overdue.is_(True), 1), else_=0)),
            sa.func.sum(sa.case((c.status == "completed", 1), else_=0)),
            sa.func.sum(
                sa.case(((c.status == "manual") & c.completed_at.is_not(None), 1), else_=0)
            ),
            sa.func.sum(
                sa.case(
                    (
                        (c.status == "no_input")
                        | ((c.status == "manual") & c.completed_at.is_(None)),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .select_from(s)
        .outerjoin(c, c.survey_id == s.id)
        .where(*where)
    )


def _reasons_by(tx: Session, where: list, key: Any, join_event: bool = False) -> dict:
    """key -> reason counts. Two small reads instead of one OR over the period: the SMS
    replies rated unsatisfied (their callback's key, else their comment sorted by the rules),
    and the non-response callbacks that collected a key (their survey has no SMS rating)."""
    sms = (
        sa.select(key, CallbackTask.reason_key, Survey.comment, sa.func.count())
        .select_from(Survey)
        .outerjoin(CallbackTask, CallbackTask.survey_id == Survey.id)
        .where(*where, Survey.rating == "unsatisfied")
        .group_by(key, CallbackTask.reason_key, Survey.comment)
    )
    voice = (
        sa.select(key, CallbackTask.reason_key, sa.null(), sa.func.count())
        .select_from(CallbackTask)
        .join(Survey, Survey.id == CallbackTask.survey_id)
        .where(
            *where,
            CallbackTask.trigger != "unsatisfied",
            CallbackTask.reason_key.is_not(None),
            Survey.rating.is_distinct_from("unsatisfied"),
        )
        .group_by(key, CallbackTask.reason_key)
    )
    if join_event:
        sms = sms.join(ServiceEvent, ServiceEvent.id == Survey.event_id)
        voice = voice.join(ServiceEvent, ServiceEvent.id == Survey.event_id)
    grouped: dict[Any, list[tuple]] = {}
    for query in (sms, voice):
        for k, reason_key, comment, n in tx.execute(query):
            grouped.setdefault(k, []).append((reason_key, comment, n))
    return {k: _reasons(rows) for k, rows in grouped.items()}


def _case_counts(where: list, start: datetime, now: datetime) -> sa.Select:
    """The cases opened from the period's surveys (a complaint without a survey is not an
    evaluation and is not counted). ``opened_at >= start`` is exact (a case opens after its
    event) and keeps the join to the cases of the period's time."""
    c = Case
    substantiated = c.substantiated_at.is_not(None)
    return (
        sa.select(
            sa.func.sum(sa.case((substantiated, 1), else_=0)),
            sa.func.sum(sa.case((c.state == cs.UNSUBSTANTIATED, 1), else_=0)),
            sa.func.sum(sa.case((substantiated & (c.state == cs.CLOSED), 1), else_=0)),
            sa.func.sum(sa.case((c.returns > 0, 1), else_=0)),
            sa.func.sum(
                sa.case((c.state.not_in(sorted(cs.FINAL)) & (c.due_at <= now), 1), else_=0)
            ),
        )
        .select_from(c)
        .join(Survey, Survey.id == c.survey_id)
        .where(*where, c.opened_at >= start)
    )


def _fill_cases(figs: Figures, row: tuple) -> None:
    substantiated, unsubstantiated, rectified, returned, overdue = row
    figs.cases_substantiated += _n(substantiated)
    figs.cases_unsubstantiated += _n(unsubstantiated)
    figs.cases_rectified += _n(rectified)
    figs.cases_returned += _n(returned)
    figs.cases_overdue += _n(overdue)


def _fill(figs: Figures, survey_row: tuple | None, callback_row: tuple | None) -> None:
    if survey_row is not None:
        n, sent, delivered, replied, sat, basic, unsat = survey_row
        figs.events += _n(n)
        figs.surveyed += _n(sent)
        figs.delivered += _n(delivered)
        figs.replies += _n(replied)
        figs.satisfied += _n(sat)
        figs.basically_satisfied += _n(basic)
        figs.unsatisfied += _n(unsat)
    if callback_row is not None:
        due, overdue, ivr, by_hand, unreachable = callback_row
        figs.callbacks_due += _n(due)
        figs.callbacks_overdue += _n(overdue)
        figs.reached_ivr += _n(ivr)
        figs.reached_by_hand += _n(by_hand)
        figs.unreachable += _n(unreachable)


def _reasons(rows: list[tuple]) -> Counter[str]:
    """IVR reason keys, else the unsatisfied reply's comment sorted by the rule set."""
    out: Counter[str] = Counter()
    for key, comment, n in rows:
        if key:
            out[REASON_NAMES.get(key, "other")] += n
            continue
        reason = classify_comment(comment)
        if reason is not None:
            out[inferred(reason)] += n
    return out


class SqlReportStore:
    """The report store on a SQLAlchemy session (the ``tx`` every method takes)."""

    def units(self, tx: Session) -> list[UnitNode]:
        parent = sa.orm.aliased(Unit)
        rows = tx.execute(
            sa.select(Unit.code, Unit.name, parent.code, Unit.kind).outerjoin(
                parent, parent.id == Unit.parent_id
            )
        )
        return [UnitNode(code, name, parent_code, kind) for code, name, parent_code, kind in rows]

    def _owners(self, tx: Session, unit_codes: list[str]) -> dict[int, list[str]]:
        """unit id -> the requested codes whose subtree holds it."""
        pairs = tx.execute(sa.select(Unit.id, Unit.code, Unit.parent_id)).all()
        parent_of = {uid: parent for uid, _, parent in pairs}
        code_of = {uid: code for uid, code, _ in pairs}
        wanted = set(unit_codes)
        owners: dict[int, list[str]] = {}
        for uid in parent_of:
            current: int | None = uid
            while current is not None:
                if code_of[current] in wanted:
                    owners.setdefault(uid, []).append(code_of[current])
                current = parent_of[current]
        return owners

    def figures(
        self, tx: Session, start: datetime, end: datetime, unit_codes: list[str]
    ) -> dict[str, Figures]:
        out = {code: Figures() for code in unit_codes}
        owners = self._owners(tx, unit_codes)
        in_period = [Survey.occurred_at >= start, Survey.occurred_at < end]
        # one scan of the period (index-only on PostgreSQL), callbacks hash-joined to it
        for row in tx.execute(
            _counts(in_period).add_columns(Survey.unit_id).group_by(Survey.unit_id)
        ):
            for code in owners.get(row[-1], ()):
                _fill(out[code], tuple(row[:7]), tuple(row[7:12]))
        for uid, reasons in _reasons_by(tx, in_period, Survey.unit_id).items():
            for code in owners.get(uid, ()):
                out[code].reasons.update(reasons)
        cases = _case_counts(in_period, start, datetime.now(UTC))
        for row in tx.execute(cases.add_columns(Survey.unit_id).group_by(Survey.unit_id)):
            for code in owners.get(row[-1], ()):
                _fill_cases(out[code], tuple(row[:-1]))
        return out

    def officer_figures(
        self, tx: Session, start: datetime, end: datetime, unit_code: str | None
    ) -> list[tuple[str, str, Figures]]:
        where = [Survey.occurred_at >= start, Survey.occurred_at < end]
        if unit_code:
            owners = self._owners(tx, [unit_code])
            where.append(Survey.unit_id.in_(list(owners)))
        link = event_officers.c
        survey_q = (
            _survey_counts(where)
            .add_columns(Officer.police_number, Officer.name)
            .join(event_officers, link.event_id == Survey.event_id)
            .join(Officer, Officer.id == link.officer_id)
            .group_by(Officer.police_number, Officer.name)
        )
        callback_q = (
            _callback_counts(where)
            .add_columns(Officer.police_number)
            .join(event_officers, link.event_id == Survey.event_id)
            .join(Officer, Officer.id == link.officer_id)
            .group_by(Officer.police_number)
        )
        table: dict[str, tuple[str, Figures]] = {}
        for row in tx.execute(survey_q):
            figs = Figures()
            _fill(figs, tuple(row[:-2]), None)
            table[row[-2]] = (row[-1], figs)
        for row in tx.execute(callback_q):
            if row[-1] in table:
                _fill(table[row[-1]][1], None, tuple(row[:-1]))
        return [(number, name, figs) for number, (name, figs) in sorted(table.items())]

    def breakdown(
        self,
        tx: Session,
        start: datetime,
        end: datetime,
        unit_code: str | None,
        dimension: str,
    ) -> list[tuple[str, Figures]]:
        if dimension == "category":
            key = Survey.category
        elif dimension == "business":
            key = ServiceEvent.business
        else:
            raise ValueError(f"unknown dimension {dimension!r}: expected category or business")
        where = [Survey.occurred_at >= start, Survey.occurred_at < end]
        if unit_code:
            where.append(Survey.unit_id.in_(list(self._owners(tx, [unit_code]))))
        counts = _counts(where).add_columns(key).group_by(key)
        if dimension == "business":
            counts = counts.join(ServiceEvent, ServiceEvent.id == Survey.event_id)
        table: dict[str, Figures] = {}
        for row in tx.execute(counts):
            _fill(table.setdefault(row[-1] or "", Figures()), tuple(row[:7]), tuple(row[7:12]))
        cases = _case_counts(where, start, datetime.now(UTC)).add_columns(key).group_by(key)
        if dimension == "business":
            cases = cases.join(ServiceEvent, ServiceEvent.id == Survey.event_id)
        for row in tx.execute(cases):
            _fill_cases(table.setdefault(row[-1] or "", Figures()), tuple(row[:-1]))
        reasons = _reasons_by(tx, where, key, join_event=dimension == "business")
        for k, counted in reasons.items():
            table.setdefault(k or "", Figures()).reasons.update(counted)
        out = sorted(table.items(), key=lambda kv: (-kv[1].events, kv[0]))
        return out

    def overdue_now(self, tx: Session, now: datetime) -> tuple[int, int]:
        callbacks = tx.scalar(
            sa.select(sa.func.count())
            .select_from(CallbackTask)
            .where(
                CallbackTask.overdue.is_(True),
                CallbackTask.status.in_(("pending", "in_progress", "manual")),
                CallbackTask.completed_at.is_(None),
            )
        )
        cases = tx.scalar(
            sa.select(sa.func.count())
            .select_from(Case)
            .where(Case.state.not_in(sorted(cs.FINAL)), Case.due_at <= now)
        )
        return int(callbacks or 0), int(cases or 0)

    save_proposals = staticmethod(report_records.save_proposals)
    interviews = staticmethod(report_records.interviews)
    decide_interview = staticmethod(report_records.decide_interview)
    adjustments = staticmethod(report_records.adjustments)
    archive = staticmethod(report_records.archive)
    archived = staticmethod(report_records.archived)
    archived_one = staticmethod(report_records.archived_one)
