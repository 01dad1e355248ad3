"""The SQL of event intake: store one validated event and its one survey decision atomically.

Called inside a transaction (``Database.run``) with a session; the event, its officers, its
survey (decided or not) and, when selected, the queued evaluation SMS are written together, so
an event is either fully recorded or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.events.results import ACCEPTED, DUPLICATE, REJECTED, IngestResult
from gateway.events.schema import ServiceEvent
from gateway.surveys.selection import PhoneHistory, decide
from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import render_survey
from storage import models as m


def event_exists(session: Session, event_id: str) -> bool:
    query = sa.select(m.ServiceEvent.id).where(m.ServiceEvent.event_id == event_id)
    return session.execute(query).first() is not None


def phone_history(
    session: Session, event: ServiceEvent, unit_id: int, settings: SurveySettings
) -> PhoneHistory:
    """The facts selection needs about this phone; empty for numbers that are not SMS-able."""
    phone = event.phone.mobile
    if phone is None:
        return PhoneHistory()
    opted_out = session.get(m.OptOut, phone) is not None
    last = session.execute(
        sa.select(sa.func.max(m.Survey.scheduled_at)).where(
            m.Survey.phone == phone, m.Survey.decision == "selected"
        )
    ).scalar()
    if last is not None and last.tzinfo is None:  # aggregates may bypass UtcDateTime on SQLite
        last = last.replace(tzinfo=UTC)
    window = settings.duplicate_window
    business = (
        m.ServiceEvent.business.is_(None)
        if event.business is None
        else m.ServiceEvent.business == event.business
    )
    duplicate = session.execute(
        sa.select(m.ServiceEvent.event_id)
        .where(
            m.ServiceEvent.citizen_phone == phone,
            m.ServiceEvent.unit_id == unit_id,
            m.ServiceEvent.category == event.category,
            business,
            m.ServiceEvent.occurred_at >= event.occurred_at - window,
            m.ServiceEvent.occurred_at <= event.occurred_at + window,
        )
        .limit(1)
    ).scalar()
    return PhoneHistory(opted_out=opted_out, last_surveyed_at=last, duplicate_of=duplicate)


def store_event(
    session: Session,
    event: ServiceEvent,
    *,
    source: str,
    settings: SurveySettings,
    now: datetime,
) -> IngestResult:
    """Record ``event`` and its decision; a known ``event_id`` changes nothing (duplicate)."""
    if event_exists(session, event.event_id):
        return IngestResult(event.event_id, DUPLICATE)
    unit = session.execute(sa.select(m.Unit).where(m.Unit.code == event.unit_code)).scalar()
    if unit is None:
        return IngestResult(
            event.event_id, REJECTED, reason=f"unit_code: {event.unit_code!r} is not a known unit"
        )
    officers = (
        session.execute(sa.select(m.Officer).where(m.Officer.police_number.in_(event.officer_ids)))
        .scalars()
        .all()
    )
    missing = sorted(set(event.officer_ids) - {o.police_number for o in officers})
    if missing:
        return IngestResult(
            event.event_id,
            REJECTED,
            reason=f"officer_ids: {', '.join(missing)} not known officers",
        )
    history = phone_history(session, event, unit.id, settings)
    decision = decide(event, history, settings, now)
    row = m.ServiceEvent(
        event_id=event.event_id,
        category=event.category,
        business=event.business,
        unit_id=unit.id,
        citizen_phone=event.phone.mobile,
        citizen_phone_raw=event.citizen_phone_raw,
        citizen_name=event.citizen_name,
        occurred_at=event.occurred_at,
        closed_at=event.closed_at,
        tags=sorted(event.tags),
        source=source,
        received_at=now,
    )
    row.officers = list(officers)
    session.add(row)
    session.flush()
    survey = m.Survey(
        event_id=row.id,
        unit_id=unit.id,
        category=event.category,
        phone=event.phone.mobile,
        decision=decision.decision,
        status="pending" if decision.selected else "not_selected",
        scheduled_at=decision.scheduled_at,
        created_at=now,
    )
    session.add(survey)
    session.flush()
    if decision.selected:
        assert event.phone.mobile is not None and decision.scheduled_at is not None
        survey.reply_address = settings.reply_address(survey.id)
        sms = render_survey(
            settings,
            event.category,
            ended_at=event.ended_at,
            unit_name=unit.name,
            business=event.business,
        )
        session.add(
            m.OutboundMessage(
                survey_id=survey.id,
                kind="survey",
                destination=event.phone.mobile,
                source_addr=survey.reply_address or settings.source_addr or None,
                text=sms.text,
                status="queued",
                parts_count=sms.parts,
                next_attempt_at=decision.scheduled_at,
                created_at=now,
            )
        )
    return IngestResult(event.event_id, ACCEPTED, decision=decision.decision, survey_id=survey.id)


def store_events(
    session: Session,
    events: Sequence[ServiceEvent],
    *,
    source: str,
    settings: SurveySettings,
    now: datetime,
    scope: str | None = None,
) -> list[IngestResult]:
    """Store several events in this transaction; ``scope`` limits them to a unit subtree."""
    allowed: frozenset[str] | None = None
    if scope is not None:
        from storage.units import subtree_ids

        ids = subtree_ids(session, scope)
        allowed = frozenset(
            session.scalars(sa.select(m.Unit.code).where(m.Unit.id.in_(ids))).all() if ids else ()
        )
    results = []
    for event in events:
        if allowed is not None and event.unit_code not in allowed:
            results.append(
                IngestResult(
                    event.event_id,
                    REJECTED,
                    reason=f"unit_code: {event.unit_code!r} is outside this token's units",
                )
            )
            continue
        results.append(store_event(session, event, source=source, settings=settings, now=now))
    return results
