"""The SQL behind the console (`gateway.console.store.ConsoleStore`): one transaction each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import defer

from gateway.console.store import AuditQuery, Figures, SurveyQuery
from gateway.http.store import AuditRecord, CallbackQuery, RecordingTarget, UnitIds
from gateway.masking import mask_phone, mask_phones_in_text
from storage.api_store import SqlApiStore
from storage.case_rows import UnitTable
from storage.models import AuditEntry, CallbackTask, ServiceEvent, Survey, Unit

SATISFIED = ("satisfied", "basically_satisfied")
OPEN_CALLBACKS = ("pending", "in_progress", "manual")


class SqlConsoleStore:
    def __init__(self, db: Any) -> None:  # storage.db.Database or any object with run()
        self._db = db
        self._api = SqlApiStore(db)

    def subtrees(self, codes: Sequence[str]) -> defer.Deferred[dict[str, UnitIds]]:
        return self._api.subtrees(codes)

    def unit_tree(self) -> defer.Deferred[UnitTable]:
        return self._db.run(UnitTable)

    def units(self, unit_ids: UnitIds) -> defer.Deferred[list[tuple[str, str]]]:
        return self._db.run(_units, unit_ids)

    def figures(
        self, unit_ids: UnitIds, periods: Sequence[tuple[datetime, datetime]]
    ) -> defer.Deferred[list[Figures]]:
        return self._db.run(_figures, unit_ids, list(periods))

    def unit_figures(
        self, periods: Sequence[tuple[datetime, datetime]]
    ) -> defer.Deferred[list[dict[int, Figures]]]:
        return self._db.run(_unit_figures, list(periods))

    def surveys(self, query: SurveyQuery) -> defer.Deferred[list[dict[str, Any]]]:
        return self._db.run(_surveys, query)

    def callbacks(self, query: CallbackQuery) -> defer.Deferred[list[dict[str, Any]]]:
        return self._api.callbacks(query)

    def recording(self, recording_id: int) -> defer.Deferred[RecordingTarget | None]:
        return self._api.recording(recording_id)

    def audit(self, record: AuditRecord) -> defer.Deferred[None]:
        return self._api.audit(record)

    def audit_rows(self, query: AuditQuery) -> defer.Deferred[list[dict[str, Any]]]:
        return self._db.run(_audit_rows, query)


def _in_scope(column: Any, unit_ids: UnitIds) -> Any:
    return sa.true() if unit_ids is None else column.in_(sorted(unit_ids))


def _units(session: Session, unit_ids: UnitIds) -> list[tuple[str, str]]:
    rows = session.execute(
        sa.select(Unit.code, Unit.name).where(_in_scope(Unit.id, unit_ids)).order_by(Unit.code)
    )
    return [(code, name) for code, name in rows]


def _figures(
    session: Session, unit_ids: UnitIds, periods: list[tuple[datetime, datetime]]
) -> list[Figures]:
    """Sums per period over one range scan of the report index ``surveys (occurred_at,
    unit_id, rating) INCLUDE (sent_at, ...)`` (when the service happened, as the reports
    count); callbacks by their creation."""
    if not periods:
        return []
    low = min(start for start, _ in periods)
    high = max(end for _, end in periods)

    def within(column: Any, start: datetime, end: datetime, *more: Any) -> Any:
        return sa.func.coalesce(
            sa.func.sum(sa.case(((column >= start) & (column < end) & sa.and_(*more), 1)), else_=0),
            0,
        )

    at = Survey.occurred_at
    columns = []
    for start, end in periods:
        columns += [
            within(at, start, end, Survey.sent_at.is_not(None)),
            within(at, start, end, Survey.rating.is_not(None)),
            within(at, start, end, Survey.rating.in_(SATISFIED)),
            within(at, start, end, Survey.rating == "unsatisfied"),
        ]
    row = session.execute(
        sa.select(*columns).where(_in_scope(Survey.unit_id, unit_ids), at >= low, at < high)
    ).one()
    callbacks = []
    for start, end in periods:
        callbacks += [
            within(CallbackTask.created_at, start, end, CallbackTask.status.in_(OPEN_CALLBACKS)),
            within(CallbackTask.created_at, start, end, CallbackTask.overdue.is_(True)),
        ]
    due = session.execute(
        sa.select(*callbacks).where(
            _in_scope(CallbackTask.unit_id, unit_ids),
            CallbackTask.created_at >= low,
            CallbackTask.created_at < high,
        )
    ).one()
    out = []
    for i in range(len(periods)):
        sent_n, replied, satisfied, unsatisfied = (int(v or 0) for v in row[4 * i : 4 * i + 4])
        out.append(
            Figures(
                sent=sent_n,
                replied=replied,
                satisfied=satisfied,
                unsatisfied=unsatisfied,
                callbacks_due=int(due[2 * i] or 0),
                callbacks_overdue=int(due[2 * i + 1] or 0),
            )
        )
    return out


def _unit_figures(
    session: Session, periods: list[tuple[datetime, datetime]]
) -> list[dict[int, Figures]]:
    """:func:`_figures` for every unit at once (one scan grouped by unit): per period,
    unit id -> figures (units without any row left out)."""
    if not periods:
        return []
    low = min(start for start, _ in periods)
    high = max(end for _, end in periods)

    def within(column: Any, start: datetime, end: datetime, *more: Any) -> Any:
        return sa.func.sum(sa.case(((column >= start) & (column < end) & sa.and_(*more), 1)))

    at = Survey.occurred_at
    columns = []
    for start, end in periods:
        columns += [
            within(at, start, end, Survey.sent_at.is_not(None)),
            within(at, start, end, Survey.rating.is_not(None)),
            within(at, start, end, Survey.rating.in_(SATISFIED)),
            within(at, start, end, Survey.rating == "unsatisfied"),
        ]
    out: list[dict[int, Figures]] = [{} for _ in periods]
    rows = session.execute(
        sa.select(Survey.unit_id, *columns).where(at >= low, at < high).group_by(Survey.unit_id)
    )
    for unit_id, *sums in rows:
        for i in range(len(periods)):
            sent_n, replied, satisfied, unsatisfied = (int(v or 0) for v in sums[4 * i : 4 * i + 4])
            out[i][unit_id] = Figures(sent_n, replied, satisfied, unsatisfied)
    created = CallbackTask.created_at
    callbacks = []
    for start, end in periods:
        callbacks += [
            within(created, start, end, CallbackTask.status.in_(OPEN_CALLBACKS)),
            within(created, start, end, CallbackTask.overdue.is_(True)),
        ]
    rows = session.execute(
        sa.select(CallbackTask.unit_id, *callbacks)
        .where(created >= low, created < high)
        .group_by(CallbackTask.unit_id)
    )
    for unit_id, *sums in rows:
        for i in range(len(periods)):
            figs = out[i].setdefault(unit_id, Figures())
            figs.callbacks_due = int(sums[2 * i] or 0)
            figs.callbacks_overdue = int(sums[2 * i + 1] or 0)
    return out


def _surveys(session: Session, query: SurveyQuery) -> list[dict[str, Any]]:
    select = (
        sa.select(
            Survey.id,
            Survey.occurred_at,
            Survey.category,
            Survey.status,
            Survey.rating,
            Survey.comment,
            Survey.phone,
            ServiceEvent.event_id,
            ServiceEvent.business,
            Unit.code,
            Unit.name,
        )
        .join(ServiceEvent, ServiceEvent.id == Survey.event_id)
        .join(Unit, Unit.id == Survey.unit_id)
        .where(Survey.id > query.after, _in_scope(Survey.unit_id, query.unit_ids))
        .order_by(Survey.id)
        .limit(query.limit)
    )
    if query.start is not None:
        select = select.where(Survey.occurred_at >= query.start)
    if query.end is not None:
        select = select.where(Survey.occurred_at < query.end)
    if query.status:
        select = select.where(Survey.status == query.status)
    if query.rating:
        select = select.where(Survey.rating == query.rating)
    return [
        {
            "survey_id": row[0],
            "created_at": row[1],
            "category": row[2],
            "status": row[3],
            "rating": row[4],
            "comment": mask_phones_in_text(row[5]) if row[5] else row[5],
            "phone": mask_phone(row[6]),
            "event_id": row[7],
            "business": row[8],
            "unit_code": row[9],
            "unit_name": row[10],
        }
        for row in session.execute(select)
    ]


def _audit_rows(session: Session, query: AuditQuery) -> list[dict[str, Any]]:
    select = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(query.limit)
    if query.before is not None:
        select = select.where(AuditEntry.id < query.before)
    if query.actor:
        select = select.where(AuditEntry.actor == query.actor)
    if query.action:
        select = select.where(AuditEntry.action == query.action)
    return [
        {
            "id": e.id,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "detail": e.detail,
        }
        for e in session.scalars(select)
    ]
