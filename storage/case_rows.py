"""Case rows in and out: opening cases (inside whichever transaction rated the survey), loading
a case as the lifecycle's record, and writing back what :func:`gateway.cases.lifecycle.advance`
returned with its timeline lines. No rule is decided here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.cases import lifecycle as lc
from gateway.cases.assignment import Units
from gateway.cases.opening import CaseOpening, deadlines, plan
from gateway.cases.settings import CaseSettings
from storage import models as m
from storage.case_models import Case, CaseEvent, CaseEvidence, case_officers
from storage.sql import insert_many, insert_returning_ids, is_postgresql, one_of


class UnitTable:
    """The unit tree as the case rules want it, read once per transaction."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(sa.select(m.Unit.id, m.Unit.code, m.Unit.parent_id, m.Unit.kind))
        rows = list(rows)
        self.code_of = {uid: code for uid, code, _, _ in rows}
        self.id_of = {code: uid for uid, code, _, _ in rows}
        self.units: Units = {
            code: (self.code_of.get(parent) if parent else None, kind)
            for _, code, parent, kind in rows
        }

    def parent(self, code: str) -> str | None:
        """``gateway.accounts.permissions.UnitTree``."""
        return self.units[code][0]

    def __contains__(self, code: object) -> bool:
        return code in self.units


def openings_for_surveys(
    session: Session, survey_ids: Iterable[int], origin: str, at: datetime
) -> list[CaseOpening]:
    """What opens a case for each survey: its event, unit, phone (none when the number opted
    out: no outcome SMS) and the event's officers."""
    ids = sorted(set(survey_ids))
    if not ids:
        return []
    s, e, u = m.Survey, m.ServiceEvent, m.Unit
    rows = session.execute(
        sa.select(s.id, s.event_id, u.code, s.phone, m.OptOut.phone)
        .join(e, e.id == s.event_id)
        .join(u, u.id == e.unit_id)
        .outerjoin(m.OptOut, m.OptOut.phone == s.phone)
        .where(one_of(session, s.id, ids))
        .order_by(s.id)
    ).all()
    officers: dict[int, list[str]] = {}
    # Sorted here, not by the query: ordered by police number, PostgreSQL walks an officer's
    # links (every event of a busy officer) and filters them by event, where it should look
    # the batch's events up by key.
    for event_id, number in session.execute(
        sa.select(m.event_officers.c.event_id, m.Officer.police_number)
        .join(m.Officer, m.Officer.id == m.event_officers.c.officer_id)
        .where(one_of(session, m.event_officers.c.event_id, sorted({r[1] for r in rows})))
    ):
        officers.setdefault(event_id, []).append(number)
    for numbers in officers.values():
        numbers.sort()
    return [
        CaseOpening(
            event_unit_code=unit_code,
            origin=origin,
            at=at,
            survey_id=survey_id,
            event_id=event_id,
            phone=None if opted else phone,
            officers=tuple(officers.get(event_id, ())),
        )
        for survey_id, event_id, unit_code, phone, opted in rows
    ]


def open_cases(
    session: Session,
    openings: Sequence[CaseOpening],
    settings: CaseSettings,
    units: UnitTable | None = None,
) -> list[int]:
    """Store a case for each opening (one per survey: a survey that has one already is
    skipped); returns the new ids in order."""
    if not openings:
        return []
    units = units or UnitTable(session)
    surveys = [o.survey_id for o in openings if o.survey_id is not None]
    taken = set(
        session.scalars(
            sa.select(Case.survey_id).where(one_of(session, Case.survey_id, sorted(set(surveys))))
        )
        if surveys
        else ()
    )
    d = deadlines(settings)
    officer_ids = _officer_ids(session, {n for o in openings for n in o.officers})
    steps: list[tuple[CaseOpening, lc.Step]] = []
    for opening in openings:
        if opening.survey_id is not None:
            if opening.survey_id in taken:
                continue
            taken.add(opening.survey_id)
        steps.append((opening, plan(opening, units.units, settings, d)))
    if not steps:
        return []
    # Written set-based: a reply batch opens hundreds of cases, and an ORM flush per case cost
    # more than the rest of the batch (docs/benchmarks.md, fifth round). On PostgreSQL the ids
    # come from the sequence and the rows go by COPY, JSON as text (as events_store does).
    postgres = is_postgresql(session)
    now = m.utcnow()
    created = insert_returning_ids(
        session,
        Case,
        _CASE_COLUMNS,
        [
            (
                opening.survey_id,
                opening.event_id,
                opening.origin,
                units.id_of[step.record.unit_code],
                units.id_of[step.record.event_unit_code],
                step.record.state,
                step.record.version,
                step.record.opened_at,
                step.record.due_at,
                step.record.phone,
                step.record.consent,
                opening.reason_key,
                opening.complaint,
                "[]" if postgres else [],
                0,
                now,
            )
            for opening, step in steps
        ],
    )
    links = [
        (case_id, oid)
        for case_id, (_, step) in zip(created, steps, strict=True)
        for oid in dict.fromkeys(officer_ids[n] for n in step.record.officers if n in officer_ids)
    ]
    insert_many(session, case_officers, ("case_id", "officer_id"), links)
    lines = [
        (*line[:-1], json.dumps(line[-1], ensure_ascii=False) if postgres else line[-1])
        for case_id, (_, step) in zip(created, steps, strict=True)
        for line in _timeline_rows(case_id, step.outputs)
    ]
    insert_many(session, CaseEvent, _EVENT_COLUMNS, lines)
    return created


def _officer_ids(session: Session, numbers: set[str]) -> dict[str, int]:
    if not numbers:
        return {}
    return dict(
        session.execute(
            sa.select(m.Officer.police_number, m.Officer.id).where(
                one_of(session, m.Officer.police_number, sorted(numbers))
            )
        ).all()
    )


def _set_officers(session: Session, case_id: int, officer_ids: list[int]) -> None:
    session.execute(sa.delete(case_officers).where(case_officers.c.case_id == case_id))
    if officer_ids:
        session.execute(
            sa.insert(case_officers),
            [{"case_id": case_id, "officer_id": oid} for oid in dict.fromkeys(officer_ids)],
        )


_CASE_COLUMNS = (
    "survey_id",
    "event_id",
    "origin",
    "unit_id",
    "event_unit_id",
    "state",
    "version",
    "opened_at",
    "due_at",
    "phone",
    "consent",
    "reason_key",
    "complaint",
    "measures",
    "returns",
    "updated_at",
)
_EVENT_COLUMNS = ("case_id", "at", "actor", "action", "from_state", "to_state", "reason", "detail")


def _timeline(session: Session, case_id: int, outputs: Iterable[lc.Output]) -> None:
    for row in _timeline_rows(case_id, outputs):
        session.add(CaseEvent(**dict(zip(_EVENT_COLUMNS, row, strict=True))))


def _timeline_rows(case_id: int, outputs: Iterable[lc.Output]) -> list[tuple[object, ...]]:
    """A case's timeline lines, as tuples in ``_EVENT_COLUMNS`` order."""
    return [
        (
            case_id,
            out.at,
            out.actor[:64],
            out.action[:24],
            out.from_state,
            out.to_state,
            out.reason,
            dict(out.detail),
        )
        for out in outputs
        if isinstance(out, lc.Transition)
    ]


def load(
    session: Session, case_id: int, units: UnitTable, *, lock: bool = True
) -> tuple[Case, lc.CaseRecord] | None:
    """The case row (locked for update on PostgreSQL) and its record."""
    query = sa.select(Case).where(Case.id == case_id)
    if lock and is_postgresql(session):
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        return None
    return row, record_of(session, row, units)


def record_of(session: Session, row: Case, units: UnitTable) -> lc.CaseRecord:
    officers = tuple(
        session.scalars(
            sa.select(m.Officer.police_number)
            .join(case_officers, case_officers.c.officer_id == m.Officer.id)
            .where(case_officers.c.case_id == row.id)
            .order_by(m.Officer.police_number)
        )
    )
    evidence = tuple(
        session.scalars(
            sa.select(CaseEvidence.sha256)
            .where(CaseEvidence.case_id == row.id)
            .order_by(CaseEvidence.id)
        )
    )
    return lc.CaseRecord(
        id=row.id,
        state=row.state,
        unit_code=units.code_of[row.unit_id],
        event_unit_code=units.code_of[row.event_unit_id],
        opened_at=row.opened_at,
        due_at=row.due_at,
        version=row.version,
        officers=officers,
        finding=row.finding,
        unsubstantiated_reason=row.unsubstantiated_reason,
        substantiated_at=row.substantiated_at,
        measures=tuple(row.measures or ()),
        evidence=evidence,
        returns=row.returns,
        closed_at=row.closed_at,
        consent=row.consent,
        phone=row.phone,
    )


class StaleCaseError(Exception):
    """Another transaction changed the case between its read and this write."""


def save(
    session: Session, row: Case, before: lc.CaseRecord, step: lc.Step, units: UnitTable
) -> None:
    """Write the step's record onto ``row`` (guarded by the version it was read at) and its
    timeline lines."""
    new = step.record
    values = {
        "state": new.state,
        "version": new.version,
        "unit_id": units.id_of[new.unit_code],
        "due_at": new.due_at,
        "finding": new.finding,
        "unsubstantiated_reason": new.unsubstantiated_reason,
        "substantiated_at": new.substantiated_at,
        "measures": list(new.measures),
        "returns": new.returns,
        "closed_at": new.closed_at,
        "consent": new.consent,
        "updated_at": m.utcnow(),
    }
    done = session.execute(
        sa.update(Case)
        .where(Case.id == row.id, Case.version == before.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise StaleCaseError(f"case {row.id} changed meanwhile; reload it and try again")
    session.expire(row)
    if new.officers != before.officers:
        ids = _officer_ids(session, set(new.officers))
        missing = [n for n in new.officers if n not in ids]
        if missing:
            raise ValueError(f"officers not in the registry: {', '.join(missing)}")
        _set_officers(session, row.id, [ids[n] for n in new.officers])
    _timeline(session, row.id, step.outputs)


def attach_callback(
    session: Session,
    survey_id: int,
    *,
    consent: bool | None,
    reason_key: str | None,
    rating: str | None,
    recording_id: int | None,
    actor: str,
    now: datetime,
    settings: CaseSettings,
) -> int | None:
    """A callback reached the citizen: its result goes onto the survey's case; a non-responder
    who rated unsatisfied on the phone gets a case now. Returns the case id (or ``None``)."""
    units = UnitTable(session)
    case_id = session.scalar(sa.select(Case.id).where(Case.survey_id == survey_id))
    if case_id is None:
        if rating != "unsatisfied":
            return None
        openings = [
            replace(o, consent=consent, reason_key=reason_key)
            for o in openings_for_surveys(session, [survey_id], "ivr_unsatisfied", now)
        ]
        ids = open_cases(session, openings, settings, units)
        case_id = ids[0] if ids else None
        if case_id is not None and recording_id is not None:
            session.execute(
                sa.update(Case).where(Case.id == case_id).values(recording_id=recording_id)
            )
        return case_id
    found = load(session, case_id, units)
    assert found is not None
    row, record = found
    step = lc.advance(
        record, lc.CallbackAttached(actor, now, None, consent, reason_key), deadlines(settings)
    )
    if step.outputs:
        save(session, row, record, step, units)
    values: dict[str, object] = {}
    if reason_key is not None:
        values["reason_key"] = reason_key
    if recording_id is not None:
        values["recording_id"] = recording_id
    if values:
        session.execute(sa.update(Case).where(Case.id == case_id).values(**values))
    return case_id
