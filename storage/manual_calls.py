"""The manual callback list and recording a call made by hand, in one transaction each.

A reached call completes the task like an IVR result (reason, consent and rating onto the
task) and hands the result to the survey's case (``storage.case_rows.attach_callback``: an
unsatisfied rating of a non-responder opens one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.accounts import permissions as perm
from gateway.callbacks.manual import (
    MANUAL_STATUSES,
    ManualCallError,
    ManualCallRecord,
    check_call,
    is_unreachable_now,
    status_after,
)
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseForbidden, CaseNotFound, CaseRefused
from gateway.masking import mask_phone
from storage import models as m
from storage.case_models import Case, ManualCall
from storage.case_rows import UnitTable, attach_callback
from storage.units import subtree_ids

LISTED = (*MANUAL_STATUSES, "unreachable")


def manual_list(
    session: Session,
    person: Any,
    *,
    unit: str | None = None,
    include_unreachable: bool = False,
    after: int = 0,
    limit: int = 100,
    reveal_phone: bool = False,
) -> list[dict[str, Any]]:
    """One page (by task id) of the callbacks to make by hand, within ``person``'s units."""
    units = UnitTable(session)
    if not perm.may(person, perm.MANUAL_CALLBACK_READ):
        raise CaseForbidden(perm.may(person, perm.MANUAL_CALLBACK_READ).reason)
    if unit is not None:
        if unit not in units:
            raise CaseRefused(f"unit {unit!r} does not exist")
        decision = perm.check(person, perm.MANUAL_CALLBACK_READ, unit, units)
        if not decision:
            raise CaseForbidden(decision.reason)
    scope = perm.scope_units(person, units)
    t = m.CallbackTask
    statuses = LISTED if include_unreachable else MANUAL_STATUSES
    reached = (
        sa.select(ManualCall.id)
        .where(ManualCall.callback_id == t.id, ManualCall.reached.is_(True))
        .exists()
    )
    query = (
        sa.select(t, m.Unit.code, m.Unit.name, Case.id)
        .join(m.Unit, m.Unit.id == t.unit_id)
        .outerjoin(Case, Case.survey_id == t.survey_id)
        .where(t.status.in_(statuses), t.id > after, ~reached)
        # a ``manual`` task with completed_at took a late IVR result: nothing left to do
        .where(sa.or_(t.status != "manual", t.completed_at.is_(None)))
    )
    for code in (scope, unit):
        if code:
            query = query.where(t.unit_id.in_(subtree_ids(session, code)))
    rows = session.execute(query.order_by(t.id).limit(limit)).all()
    calls: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for c in session.scalars(
            sa.select(ManualCall)
            .where(ManualCall.callback_id.in_([r[0].id for r in rows]))
            .order_by(ManualCall.id)
        ):
            calls.setdefault(c.callback_id, []).append(
                {"at": c.at, "caller": c.caller, "reached": c.reached, "notes": c.notes}
            )
    if reveal_phone and rows:
        session.add(
            m.AuditEntry(
                actor=person.name[:64],
                action="manual_phones_shown",
                object_type="callback_task",
                object_id=None,
                detail={"callback_ids": [r[0].id for r in rows]},
            )
        )
    return [
        {
            "callback_id": task.id,
            "status": task.status,
            "trigger": task.trigger,
            "phone": task.phone if reveal_phone else mask_phone(task.phone),
            "unit": code,
            "unit_name": name,
            "case_id": case_id,
            "ivr_attempts": task.attempts,
            "created_at": task.created_at,
            "manual_calls": calls.get(task.id, []),
        }
        for task, code, name, case_id in rows
    ]


def record_call(
    session: Session,
    person: Any,
    callback_id: int,
    call: ManualCallRecord,
    now: datetime,
    settings: CaseSettings,
) -> dict[str, Any]:
    """Record a call made by hand; the task's new status and its case (if any) answered."""
    units = UnitTable(session)
    task = session.get(m.CallbackTask, callback_id)
    if task is None:
        raise CaseNotFound(f"no callback {callback_id}")
    decision = perm.check(person, perm.MANUAL_CALLBACK_RECORD, units.code_of[task.unit_id], units)
    if not decision:
        raise CaseForbidden(decision.reason)
    try:
        check_call(call)
        first, reached_before = session.execute(
            sa.select(
                sa.func.min(ManualCall.at),
                sa.func.count().filter(ManualCall.reached.is_(True)),
            ).where(ManualCall.callback_id == task.id)
        ).one()
        new_status = status_after(
            task.status,
            call,
            first,
            now,
            settings.unreachable_after_days,
            reached_before=bool(reached_before),
        )
    except ManualCallError as exc:
        raise CaseRefused(str(exc)) from None
    session.add(
        ManualCall(
            callback_id=task.id,
            at=now,
            caller=person.name[:64],
            reached=call.reached,
            reason_key=call.reason_key,
            rating=call.rating,
            consent=call.consent,
            notes=call.notes,
        )
    )
    task.status = new_status
    task.updated_at = now
    case_id = None
    if call.reached:
        task.reason_key = call.reason_key
        task.consent = call.consent
        if call.rating is not None:
            task.rating = call.rating
        task.completed_at = now
        task.next_attempt_at = None
        case_id = attach_callback(
            session,
            task.survey_id,
            consent=call.consent,
            reason_key=call.reason_key,
            rating=call.rating,
            recording_id=None,
            actor=person.name,
            now=now,
            settings=settings,
        )
    else:
        case_id = session.scalar(sa.select(Case.id).where(Case.survey_id == task.survey_id))
    session.flush()
    return {
        "callback_id": task.id,
        "status": new_status,
        "reached": call.reached,
        "case_id": case_id,
    }


def sweep_unreachable(session: Session, now: datetime, settings: CaseSettings) -> list[int]:
    """Mark listed tasks whose first unanswered manual call is old enough ``unreachable``."""
    rows = session.execute(
        sa.select(m.CallbackTask, sa.func.min(ManualCall.at))
        .join(ManualCall, ManualCall.callback_id == m.CallbackTask.id)
        .where(m.CallbackTask.status.in_(MANUAL_STATUSES))
        .group_by(m.CallbackTask.id)
    ).all()
    marked = []
    for task, first in rows:
        if is_unreachable_now(task.status, first, now, settings.unreachable_after_days):
            task.status = "unreachable"
            task.updated_at = now
            marked.append(task.id)
    return marked


class SqlManualCallbacks:
    def __init__(self, db: Any, settings: CaseSettings | None = None) -> None:
        self._db = db
        self.settings = settings or CaseSettings()

    def manual_list(self, person: Any, **filters: Any) -> Any:
        return self._db.run(manual_list, person, **filters)

    def record_call(self, person: Any, callback_id: int, call: ManualCallRecord, now: datetime):
        return self._db.run(record_call, person, callback_id, call, now, self.settings)
