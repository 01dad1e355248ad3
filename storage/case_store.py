"""The SQL behind :class:`gateway.cases.store.CaseStore`: the inbox, a case with its timeline,
actions, evidence and complaints recorded by hand. One transaction per call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import defer

from gateway.accounts import permissions as perm
from gateway.cases import lifecycle as lc
from gateway.cases import states as cs
from gateway.cases.opening import CaseOpening, deadlines
from gateway.cases.outcome import next_sending_time, outcome_text
from gateway.cases.settings import CaseSettings
from gateway.cases.store import (
    CaseConflict,
    CaseForbidden,
    CaseNotFound,
    CaseQuery,
    CaseRefused,
    EvidenceFile,
)
from gateway.masking import mask_phone
from storage import models as m
from storage.case_models import Case, CaseEvent, CaseEvidence, ManualCall
from storage.case_rows import StaleCaseError, UnitTable, load, open_cases, record_of, save
from storage.units import subtree_ids


class SqlCaseStore:
    def __init__(self, db: Any, settings: CaseSettings | None = None) -> None:
        self._db = db
        self.settings = settings or CaseSettings()

    def unit_tree(self) -> defer.Deferred[UnitTable]:
        return self._db.run(UnitTable)

    def may(self, person: Any, case_id: int, action: str) -> defer.Deferred[None]:
        return self._db.run(check_access, person, case_id, action)

    def cases(self, query: CaseQuery) -> defer.Deferred[list[dict[str, Any]]]:
        return self._db.run(list_cases, query)

    def case(self, person: Any, case_id: int, now: datetime) -> defer.Deferred[dict[str, Any]]:
        return self._db.run(case_detail, person, case_id, now)

    def act(self, person: Any, case_id: int, event: lc.Event) -> defer.Deferred[dict[str, Any]]:
        return self._db.run(act, person, case_id, event, self.settings)

    def add_evidence(
        self, person: Any, case_id: int, version: int | None, meta: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        return self._db.run(add_evidence, person, case_id, version, meta, self.settings)

    def evidence(self, person: Any, case_id: int, evidence_id: int) -> defer.Deferred[EvidenceFile]:
        return self._db.run(evidence_file, person, case_id, evidence_id)

    def open_complaint(self, person: Any, opening: CaseOpening) -> defer.Deferred[dict[str, Any]]:
        return self._db.run(open_complaint, person, opening, self.settings)


# --- the inbox ---------------------------------------------------------------------------------


def _scope_ids(session: Session, query: CaseQuery) -> list[int] | None:
    """Unit ids to search, ``None`` for all; an empty list finds nothing."""
    ids: set[int] | None = None
    for code in (query.scope, query.unit):
        if code:
            found = set(subtree_ids(session, code))
            ids = found if ids is None else ids & found
    return None if ids is None else sorted(ids)


def list_cases(session: Session, query: CaseQuery) -> list[dict[str, Any]]:
    """Up to ``query.limit`` cases, newest first, with ids below ``query.after`` (when set)."""
    c = Case
    handling = sa.orm.aliased(m.Unit)
    stmt = sa.select(
        c.id,
        c.state,
        c.origin,
        c.opened_at,
        c.due_at,
        c.closed_at,
        c.returns,
        c.version,
        c.survey_id,
        handling.code,
        handling.name,
        c.event_unit_id,
    ).join(handling, handling.id == c.unit_id)
    ids = _scope_ids(session, query)
    if ids is not None:
        stmt = stmt.where(c.unit_id.in_(ids))
    if query.states:
        stmt = stmt.where(c.state.in_(list(query.states)))
    now = query.now or m.utcnow()
    open_states = [s for s in cs.STATES if s not in cs.FINAL]
    if query.overdue is True:
        stmt = stmt.where(c.state.in_(open_states), c.due_at <= now)
    elif query.overdue is False:
        stmt = stmt.where(sa.or_(c.state.not_in(open_states), c.due_at.is_(None), c.due_at > now))
    if query.start is not None:
        stmt = stmt.where(c.opened_at >= query.start)
    if query.end is not None:
        stmt = stmt.where(c.opened_at < query.end)
    if query.after:
        stmt = stmt.where(c.id < query.after)
    rows = session.execute(stmt.order_by(c.id.desc()).limit(query.limit)).all()
    event_units = (
        dict(
            session.execute(
                sa.select(m.Unit.id, m.Unit.code).where(m.Unit.id.in_({r[-1] for r in rows}))
            ).all()
        )
        if rows
        else {}
    )
    return [
        {
            "id": r[0],
            "state": r[1],
            "origin": r[2],
            "opened_at": r[3],
            "due_at": r[4],
            "closed_at": r[5],
            "overdue": r[1] not in cs.FINAL and r[4] is not None and r[4] <= now,
            "returns": r[6],
            "version": r[7],
            "survey_id": r[8],
            "unit": r[9],
            "unit_name": r[10],
            "event_unit": event_units.get(r[11]),
        }
        for r in rows
    ]


# --- one case ----------------------------------------------------------------------------------


def _readable(session: Session, person: Any, case_id: int) -> tuple[Case, lc.CaseRecord, UnitTable]:
    units = UnitTable(session)
    found = load(session, case_id, units, lock=False)
    if found is None:
        raise CaseNotFound(f"no case {case_id}")
    row, record = found
    decision = perm.check(person, perm.CASE_READ, record.unit_code, units)
    if not decision:
        raise CaseForbidden(decision.reason)
    return row, record, units


def check_access(session: Session, person: Any, case_id: int, action: str) -> None:
    """Raise unless ``person`` may take ``action`` on the case (as it is now)."""
    _, record, units = _readable(session, person, case_id)
    decision = perm.check(person, action, record.unit_code, units)
    if not decision:
        raise CaseForbidden(decision.reason)


def case_detail(session: Session, person: Any, case_id: int, now: datetime) -> dict[str, Any]:
    row, record, units = _readable(session, person, case_id)
    return _detail(session, person, row, record, units, now)


def _detail(
    session: Session, person: Any, row: Case, record: lc.CaseRecord, units: UnitTable, now: datetime
) -> dict[str, Any]:
    names = (
        dict(
            session.execute(
                sa.select(m.Officer.police_number, m.Officer.name).where(
                    m.Officer.police_number.in_(record.officers)
                )
            ).all()
        )
        if record.officers
        else {}
    )
    timeline = [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "from": e.from_state or None,
            "to": e.to_state,
            "reason": e.reason,
            "detail": e.detail,
        }
        for e in session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == row.id).order_by(CaseEvent.id)
        )
    ]
    evidence = [
        {
            "id": e.id,
            "filename": e.filename,
            "content_type": e.content_type,
            "size_bytes": e.size_bytes,
            "sha256": e.sha256,
            "uploaded_by": e.uploaded_by,
            "uploaded_at": e.uploaded_at,
        }
        for e in session.scalars(
            sa.select(CaseEvidence).where(CaseEvidence.case_id == row.id).order_by(CaseEvidence.id)
        )
    ]
    event_id = (
        session.scalar(sa.select(m.ServiceEvent.event_id).where(m.ServiceEvent.id == row.event_id))
        if row.event_id
        else None
    )
    return {
        "id": row.id,
        "state": record.state,
        "version": record.version,
        "origin": row.origin,
        "unit": record.unit_code,
        "event_unit": record.event_unit_code,
        "survey_id": row.survey_id,
        "event_id": event_id,
        "phone": mask_phone(record.phone) if record.phone else None,
        "opened_at": record.opened_at,
        "due_at": record.due_at,
        "overdue": lc.is_overdue(record, now),
        "closed_at": record.closed_at,
        "officers": [{"police_number": n, "name": names.get(n)} for n in record.officers],
        "finding": record.finding,
        "unsubstantiated_reason": record.unsubstantiated_reason,
        "complaint": row.complaint,
        "measures": list(record.measures),
        "returns": record.returns,
        "consent": record.consent,
        "reason_key": row.reason_key,
        "recording_id": row.recording_id,
        "outcome_sms_id": row.outcome_sms_id,
        "callback": _callback(session, row.survey_id),
        "evidence": evidence,
        "timeline": timeline,
        "allowed_actions": sorted(perm.allowed_actions(person, record, units)),
    }


def _callback(session: Session, survey_id: int | None) -> dict[str, Any] | None:
    if survey_id is None:
        return None
    task = session.scalar(sa.select(m.CallbackTask).where(m.CallbackTask.survey_id == survey_id))
    if task is None:
        return None
    manual = [
        {
            "at": c.at,
            "caller": c.caller,
            "reached": c.reached,
            "reason_key": c.reason_key,
            "consent": c.consent,
            "notes": c.notes,
        }
        for c in session.scalars(
            sa.select(ManualCall).where(ManualCall.callback_id == task.id).order_by(ManualCall.id)
        )
    ]
    return {
        "callback_id": task.id,
        "status": task.status,
        "attempts": task.attempts,
        "reason_key": task.reason_key,
        "consent": task.consent,
        "rating": task.rating,
        "completed_at": task.completed_at,
        "manual_calls": manual,
    }


# --- acting --------------------------------------------------------------------------------------


def act(
    session: Session, person: Any, case_id: int, event: lc.Event, settings: CaseSettings
) -> dict[str, Any]:
    """Check, advance, write; the detail after. Raises and writes nothing when refused."""
    units = UnitTable(session)
    found = load(session, case_id, units)
    if found is None:
        raise CaseNotFound(f"no case {case_id}")
    row, record = found
    _authorise(person, event, record, units)
    if isinstance(event, lc.Assign):
        if event.unit_code not in units.units:
            raise CaseRefused(f"unit {event.unit_code!r} is not in the registry")
        decision = perm.check(person, cs.ASSIGN, event.unit_code, units)
        if not decision:
            raise CaseForbidden(decision.reason)
    if isinstance(event, lc.Substantiate | lc.EditOfficers):
        known = set(
            session.scalars(
                sa.select(m.Officer.police_number).where(
                    m.Officer.police_number.in_(event.officers)
                )
            )
        )
        missing = [n for n in event.officers if n not in known]
        if missing:
            raise CaseRefused(f"officers not in the registry: {', '.join(missing)}")
    step = lc.advance(record, event, deadlines(settings))
    if step.conflict:
        raise CaseConflict(step.refused)
    if step.refused:
        raise CaseRefused(step.refused)
    try:
        save(session, row, record, step, units)
    except StaleCaseError as exc:
        raise CaseConflict(str(exc)) from None
    for out in step.outputs:
        if isinstance(out, lc.OutcomeSmsDue):
            _queue_outcome(session, row, step.record, out, settings, event.at)
    session.flush()
    session.refresh(row)
    return _detail(session, person, row, step.record, units, event.at)


def _authorise(person: Any, event: lc.Event, record: lc.CaseRecord, units: UnitTable) -> None:
    action = lc.ACTION_OF.get(type(event))
    if action is None:
        raise CaseForbidden(f"{type(event).__name__} is the system's, not a person's")
    decision = perm.check(person, action, record.unit_code, units)
    if not decision:
        raise CaseForbidden(decision.reason)


def _queue_outcome(
    session: Session,
    row: Case,
    record: lc.CaseRecord,
    due: lc.OutcomeSmsDue,
    settings: CaseSettings,
    now: datetime,
) -> None:
    if not settings.outcome_sms or row.outcome_sms_id is not None:
        return
    if session.scalar(sa.select(sa.exists().where(m.OptOut.phone == due.phone))):
        return
    message = m.OutboundMessage(
        kind="case_outcome",
        destination=due.phone,
        text=outcome_text(settings, record.opened_at, due.substantiated),
        status="queued",
        attempts=0,
        next_attempt_at=next_sending_time(now, settings.outcome_window, settings.zone),
    )
    session.add(message)
    session.flush()
    session.execute(sa.update(Case).where(Case.id == row.id).values(outcome_sms_id=message.id))


# --- evidence ------------------------------------------------------------------------------------


def add_evidence(
    session: Session,
    person: Any,
    case_id: int,
    version: int | None,
    meta: dict[str, Any],
    settings: CaseSettings,
) -> dict[str, Any]:
    """Record an evidence file already stored under its hash, as a rectification step."""
    if session.get(Case, case_id) is None:
        raise CaseNotFound(f"no case {case_id}")
    existing = session.scalar(
        sa.select(CaseEvidence.id).where(
            CaseEvidence.case_id == case_id, CaseEvidence.sha256 == meta["sha256"]
        )
    )
    if existing is None:
        session.add(
            CaseEvidence(
                case_id=case_id,
                sha256=meta["sha256"],
                filename=meta["filename"][:255],
                content_type=meta["content_type"][:64],
                size_bytes=meta["size_bytes"],
                uploaded_by=person.name[:64],
                uploaded_at=meta["at"],
            )
        )
    event = lc.Rectify(person.name, meta["at"], version, None, (meta["sha256"],))
    return act(session, person, case_id, event, settings)


def evidence_file(session: Session, person: Any, case_id: int, evidence_id: int) -> EvidenceFile:
    _, record, units = _readable(session, person, case_id)
    decision = perm.check(person, perm.EVIDENCE_READ, record.unit_code, units)
    if not decision:
        raise CaseForbidden(decision.reason)
    e = session.get(CaseEvidence, evidence_id)
    if e is None or e.case_id != case_id:
        raise CaseNotFound(f"case {case_id} has no evidence {evidence_id}")
    session.add(
        m.AuditEntry(
            actor=person.name[:64],
            action="evidence_download",
            object_type="case_evidence",
            object_id=str(evidence_id),
            detail={"case_id": case_id, "sha256": e.sha256},
        )
    )
    return EvidenceFile(
        case_id, e.id, e.sha256, e.filename, e.content_type, e.size_bytes, record.unit_code
    )


# --- complaints recorded by hand -----------------------------------------------------------------


def open_complaint(
    session: Session, person: Any, opening: CaseOpening, settings: CaseSettings
) -> dict[str, Any]:
    units = UnitTable(session)
    if opening.event_unit_code not in units.units:
        raise CaseRefused(f"unit {opening.event_unit_code!r} is not in the registry")
    decision = perm.check(person, perm.CASE_OPEN, opening.event_unit_code, units)
    if not decision:
        raise CaseForbidden(decision.reason)
    if opening.survey_id is not None and session.scalar(
        sa.select(Case.id).where(Case.survey_id == opening.survey_id)
    ):
        raise CaseRefused(f"survey {opening.survey_id} has a case already")
    [case_id] = open_cases(session, [opening], settings, units)
    row = session.get(Case, case_id)
    assert row is not None
    return _detail(session, person, row, record_of(session, row, units), units, opening.at)


def overdue_cases(
    session: Session, now: datetime, scope: str | None = None
) -> list[dict[str, Any]]:
    return list_cases(session, CaseQuery(scope=scope, overdue=True, limit=10_000, now=now))
