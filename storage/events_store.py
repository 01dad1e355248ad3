"""The SQL of event intake: store validated events and their survey decisions atomically.

Called inside a transaction (``Database.run``) with a session. Events are handled in batches
(the AMQP consumer and the file import hand over many at once): the facts every decision needs
are read with one query per kind for the whole batch, the decisions are taken in order in
memory (so two events of one batch see each other: the second report of a contact is a
duplicate, the second event for a phone is recently surveyed), and the rows are written with
one statement per table: on PostgreSQL COPY, after taking the batch's ids from the sequences,
and each key list is sent as one parameter (``storage.sql``); elsewhere multi-row INSERTs. An
event is either fully recorded (event, officers, survey decision and, when selected, the
queued evaluation SMS) or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.events.duplicates import EventContent, duplicate
from gateway.events.results import ACCEPTED, REJECTED, IngestResult
from gateway.events.schema import ServiceEvent
from gateway.surveys.codes import survey_code
from gateway.surveys.selection import Decision, PhoneHistory, decide
from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import render_survey
from storage import models as m
from storage.sql import insert_many, is_postgresql, one_of, reserve_ids
from storage.units import subtree_codes


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # aggregates may bypass UtcDateTime
        return value.replace(tzinfo=UTC)
    return value


def event_exists(session: Session, event_id: str) -> bool:
    query = sa.select(m.ServiceEvent.id).where(m.ServiceEvent.event_id == event_id)
    return session.execute(query).first() is not None


DupKey = tuple[str, int, str, str | None]


@dataclass
class _Facts:
    """What the database knows that bears on a batch's decisions, updated as it is decided."""

    known_ids: set[str] = field(default_factory=set)
    #: what the first event under each known id said, to tell a resend from a different event
    first: dict[str, EventContent] = field(default_factory=dict)
    units: dict[str, tuple[int, str]] = field(default_factory=dict)  # code → (id, name)
    officers: dict[str, int] = field(default_factory=dict)  # police number → id
    opted_out: set[str] = field(default_factory=set)
    last_surveyed: dict[str, datetime] = field(default_factory=dict)
    contacts: dict[DupKey, list[tuple[datetime, str]]] = field(default_factory=dict)

    def history(self, event: ServiceEvent, unit_id: int, settings: SurveySettings) -> PhoneHistory:
        phone = event.phone.mobile
        if phone is None:
            return PhoneHistory()
        window = settings.duplicate_window
        duplicate = None
        for occurred, event_id in self.contacts.get(
            (phone, unit_id, event.category, event.business), ()
        ):
            if abs(occurred - event.occurred_at) <= window:
                duplicate = event_id
                break
        return PhoneHistory(
            opted_out=phone in self.opted_out,
            last_surveyed_at=self.last_surveyed.get(phone),
            duplicate_of=duplicate,
        )

    def remember(self, event: ServiceEvent, unit_id: int, decision: Decision) -> None:
        self.known_ids.add(event.event_id)
        self.first[event.event_id] = EventContent.of(event)
        phone = event.phone.mobile
        if phone is None:
            return
        key = (phone, unit_id, event.category, event.business)
        self.contacts.setdefault(key, []).append((event.occurred_at, event.event_id))
        if decision.selected and decision.scheduled_at is not None:
            previous = self.last_surveyed.get(phone)
            if previous is None or decision.scheduled_at > previous:
                self.last_surveyed[phone] = decision.scheduled_at


def _load_facts(
    session: Session, events: Sequence[ServiceEvent], settings: SurveySettings
) -> _Facts:
    facts = _Facts()
    ids = {e.event_id for e in events}
    facts.known_ids = set(
        session.scalars(
            sa.select(m.ServiceEvent.event_id).where(
                one_of(session, m.ServiceEvent.event_id, list(ids))
            )
        ).all()
    )
    if facts.known_ids:
        facts.first = _stored_contents(session, facts.known_ids)
    codes = {e.unit_code for e in events}
    for uid, code, name in session.execute(
        sa.select(m.Unit.id, m.Unit.code, m.Unit.name).where(
            one_of(session, m.Unit.code, list(codes))
        )
    ):
        facts.units[code] = (uid, name)
    numbers = {n for e in events for n in e.officer_ids}
    for oid, number in session.execute(
        sa.select(m.Officer.id, m.Officer.police_number).where(
            one_of(session, m.Officer.police_number, list(numbers))
        )
    ):
        facts.officers[number] = oid
    phones = {e.phone.mobile for e in events if e.phone.mobile}
    if not phones:
        return facts
    facts.opted_out = set(
        session.scalars(
            sa.select(m.OptOut.phone).where(one_of(session, m.OptOut.phone, list(phones)))
        ).all()
    )
    for phone, last in session.execute(
        sa.select(m.Survey.phone, sa.func.max(m.Survey.scheduled_at))
        .where(one_of(session, m.Survey.phone, list(phones)), m.Survey.decision == "selected")
        .group_by(m.Survey.phone)
    ):
        facts.last_surveyed[phone] = _aware(last)
    window = settings.duplicate_window
    earliest = min(e.occurred_at for e in events) - window
    latest = max(e.occurred_at for e in events) + window
    for event_id, phone, unit_id, category, business, occurred in session.execute(
        sa.select(
            m.ServiceEvent.event_id,
            m.ServiceEvent.citizen_phone,
            m.ServiceEvent.unit_id,
            m.ServiceEvent.category,
            m.ServiceEvent.business,
            m.ServiceEvent.occurred_at,
        ).where(
            one_of(session, m.ServiceEvent.citizen_phone, list(phones)),
            m.ServiceEvent.occurred_at >= earliest,
            m.ServiceEvent.occurred_at <= latest,
        )
    ):
        key = (phone, unit_id, category, business)
        facts.contacts.setdefault(key, []).append((_aware(occurred), event_id))
    return facts


def _stored_contents(session: Session, event_ids: set[str]) -> dict[str, EventContent]:
    """What the stored events with these ids said (resends are compared with it)."""
    rows = session.execute(
        sa.select(m.ServiceEvent, m.Unit.code)
        .join(m.Unit, m.Unit.id == m.ServiceEvent.unit_id)
        .where(one_of(session, m.ServiceEvent.event_id, list(event_ids)))
    ).all()
    officers: dict[int, set[str]] = {}
    for event_pk, number in session.execute(
        sa.select(m.event_officers.c.event_id, m.Officer.police_number)
        .join(m.Officer, m.Officer.id == m.event_officers.c.officer_id)
        .where(one_of(session, m.event_officers.c.event_id, sorted({e.id for e, _ in rows})))
    ):
        officers.setdefault(event_pk, set()).add(number)
    return {
        e.event_id: EventContent(
            category=e.category,
            business=e.business,
            unit_code=code,
            officer_ids=frozenset(officers.get(e.id, ())),
            citizen_phone=e.citizen_phone_raw,
            occurred_at=_aware(e.occurred_at),  # type: ignore[arg-type]
            closed_at=_aware(e.closed_at),
            tags=frozenset(e.tags or ()),
            citizen_name=e.citizen_name,
        )
        for e, code in rows
    }


def store_events(
    session: Session,
    events: Sequence[ServiceEvent],
    *,
    source: str,
    settings: SurveySettings,
    now: datetime,
    scope: str | None = None,
) -> list[IngestResult]:
    """Record each event and its decision, in order; a known ``event_id`` is a duplicate.

    ``scope`` (a unit code) rejects events for units outside that unit's subtree.
    """
    if not events:
        return []
    allowed = subtree_codes(session, scope) if scope is not None else None
    facts = _load_facts(session, events, settings)
    results: list[IngestResult | None] = []
    accepted: list[tuple[int, ServiceEvent, int, str, list[int], Decision]] = []
    for event in events:
        if event.event_id in facts.known_ids:
            results.append(duplicate(event, facts.first.get(event.event_id)))
            continue
        if allowed is not None and event.unit_code not in allowed:
            results.append(
                IngestResult(
                    event.event_id,
                    REJECTED,
                    reason=f"unit_code: {event.unit_code!r} is outside this token's units",
                )
            )
            continue
        unit = facts.units.get(event.unit_code)
        if unit is None:
            reason = f"unit_code: {event.unit_code!r} is not a known unit"
            results.append(IngestResult(event.event_id, REJECTED, reason=reason))
            continue
        missing = [n for n in event.officer_ids if n not in facts.officers]
        if missing:
            reason = f"officer_ids: {', '.join(missing)} not known officers"
            results.append(IngestResult(event.event_id, REJECTED, reason=reason))
            continue
        unit_id, unit_name = unit
        decision = decide(event, facts.history(event, unit_id, settings), settings, now)
        facts.remember(event, unit_id, decision)
        officer_ids = [facts.officers[n] for n in event.officer_ids]
        accepted.append((len(results), event, unit_id, unit_name, officer_ids, decision))
        results.append(None)
    if accepted:
        _insert(session, accepted, results, source=source, settings=settings, now=now)
    return [r for r in results if r is not None]


_EVENT_COLUMNS = (
    "id",
    "event_id",
    "category",
    "business",
    "unit_id",
    "citizen_phone",
    "citizen_phone_raw",
    "citizen_name",
    "occurred_at",
    "closed_at",
    "tags",
    "source",
    "received_at",
)
_LINK_COLUMNS = ("event_id", "officer_id")
# every column with a Python-side default is named: COPY applies only the server's defaults
_SURVEY_COLUMNS = (
    "id",
    "event_id",
    "unit_id",
    "category",
    "phone",
    "decision",
    "status",
    "scheduled_at",
    "reply_address",
    "code",
    "clarification_sent",
    "created_at",
    "updated_at",
    "occurred_at",
)
_OUTBOX_COLUMNS = (
    "survey_id",
    "kind",
    "destination",
    "source_addr",
    "text",
    "status",
    "parts_count",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)


def _tags_json(tags: frozenset[str]) -> str:
    return json.dumps(sorted(tags)) if tags else "[]"


def _insert(
    session: Session,
    accepted: list[tuple[int, ServiceEvent, int, str, list[int], Decision]],
    results: list[IngestResult | None],
    *,
    source: str,
    settings: SurveySettings,
    now: datetime,
) -> None:
    """Write the accepted events on PostgreSQL: ids from the sequences first, then COPY.

    Knowing the ids before writing is what lets the survey carry its event's reply address and
    the links, surveys and SMS their parents' ids without RETURNING. A unique violation (the
    same ``event_id`` stored meanwhile by another door) aborts the COPY and with it the whole
    transaction; it is raised as SQLAlchemy's ``IntegrityError``, as the INSERT path raises
    it, so the callers' retry-one-by-one and race-to-duplicate handling applies unchanged.
    """
    if not is_postgresql(session):
        _insert_rows(session, accepted, results, source=source, settings=settings, now=now)
        return
    event_pks, survey_pks = reserve_ids(
        session, (m.ServiceEvent.__table__, m.Survey.__table__), len(accepted)
    )
    events: list[tuple[Any, ...]] = []
    links: list[tuple[int, int]] = []
    surveys: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    default_source = settings.source_addr or None
    for event_pk, survey_pk, (index, e, unit_id, unit_name, officer_ids, decision) in zip(
        event_pks, survey_pks, accepted, strict=True
    ):
        phone = e.phone.mobile
        events.append(
            (
                event_pk,
                e.event_id,
                e.category,
                e.business,
                unit_id,
                phone,
                e.citizen_phone_raw,
                e.citizen_name,
                e.occurred_at,
                e.closed_at,
                _tags_json(e.tags),
                source,
                now,
            )
        )
        links.extend((event_pk, oid) for oid in officer_ids)
        selected = decision.selected
        reply_address = settings.reply_address(event_pk) if selected else None
        code = survey_code(event_pk, settings.code_digits) if selected else None
        surveys.append(
            (
                survey_pk,
                event_pk,
                unit_id,
                e.category,
                phone,
                decision.decision,
                "pending" if selected else "not_selected",
                decision.scheduled_at,
                reply_address,
                code,
                False,
                now,
                now,
                e.occurred_at,
            )
        )
        results[index] = IngestResult(
            e.event_id, ACCEPTED, decision=decision.decision, survey_id=survey_pk
        )
        if not selected:
            continue
        sms = render_survey(
            settings,
            e.category,
            ended_at=e.ended_at,
            unit_name=unit_name,
            business=e.business,
            code=code or "",
        )
        outbox.append(
            (
                survey_pk,
                "survey",
                phone,
                reply_address or default_source,
                sms.text,
                "queued",
                sms.parts,
                0,
                decision.scheduled_at,
                now,
                now,
            )
        )
    from psycopg import errors

    try:
        insert_many(session, m.ServiceEvent, _EVENT_COLUMNS, events)
        insert_many(session, m.event_officers, _LINK_COLUMNS, links)
        insert_many(session, m.Survey, _SURVEY_COLUMNS, surveys)
        insert_many(session, m.OutboundMessage, _OUTBOX_COLUMNS, outbox)
    except errors.IntegrityError as exc:
        raise sa.exc.IntegrityError("COPY (event intake)", None, exc) from exc


def _insert_rows(
    session: Session,
    accepted: list[tuple[int, ServiceEvent, int, str, list[int], Decision]],
    results: list[IngestResult | None],
    *,
    source: str,
    settings: SurveySettings,
    now: datetime,
) -> None:
    """The portable write (SQLite): multi-row INSERTs, ids from RETURNING."""
    event_rows = [
        {
            "event_id": e.event_id,
            "category": e.category,
            "business": e.business,
            "unit_id": unit_id,
            "citizen_phone": e.phone.mobile,
            "citizen_phone_raw": e.citizen_phone_raw,
            "citizen_name": e.citizen_name,
            "occurred_at": e.occurred_at,
            "closed_at": e.closed_at,
            "tags": sorted(e.tags),
            "source": source,
            "received_at": now,
        }
        for _, e, unit_id, _, _, _ in accepted
    ]
    event_pks = session.scalars(
        sa.insert(m.ServiceEvent).returning(m.ServiceEvent.id, sort_by_parameter_order=True),
        event_rows,
    ).all()
    links = [
        {"event_id": pk, "officer_id": oid}
        for pk, (_, _, _, _, officer_ids, _) in zip(event_pks, accepted, strict=True)
        for oid in officer_ids
    ]
    session.execute(sa.insert(m.event_officers), links)
    survey_rows: list[dict[str, Any]] = []
    for pk, (_, e, unit_id, _, _, decision) in zip(event_pks, accepted, strict=True):
        selected = decision.selected
        survey_rows.append(
            {
                "event_id": pk,
                "unit_id": unit_id,
                "category": e.category,
                "phone": e.phone.mobile,
                "decision": decision.decision,
                "status": "pending" if selected else "not_selected",
                "scheduled_at": decision.scheduled_at,
                "reply_address": settings.reply_address(pk) if selected else None,
                "code": survey_code(pk, settings.code_digits) if selected else None,
                "created_at": now,
                "updated_at": now,
                "occurred_at": e.occurred_at,
            }
        )
    survey_pks = session.scalars(
        sa.insert(m.Survey).returning(m.Survey.id, sort_by_parameter_order=True), survey_rows
    ).all()
    outbox: list[dict[str, Any]] = []
    for survey_pk, row, (index, e, _, unit_name, _, decision) in zip(
        survey_pks, survey_rows, accepted, strict=True
    ):
        results[index] = IngestResult(
            e.event_id, ACCEPTED, decision=decision.decision, survey_id=survey_pk
        )
        if not decision.selected:
            continue
        sms = render_survey(
            settings,
            e.category,
            ended_at=e.ended_at,
            unit_name=unit_name,
            business=e.business,
            code=row["code"] or "",
        )
        outbox.append(
            {
                "survey_id": survey_pk,
                "kind": "survey",
                "destination": e.phone.mobile,
                "source_addr": row["reply_address"] or settings.source_addr or None,
                "text": sms.text,
                "status": "queued",
                "parts_count": sms.parts,
                "attempts": 0,
                "next_attempt_at": decision.scheduled_at,
                "created_at": now,
                "updated_at": now,
            }
        )
    if outbox:
        session.execute(sa.insert(m.OutboundMessage), outbox)


def store_event(
    session: Session,
    event: ServiceEvent,
    *,
    source: str,
    settings: SurveySettings,
    now: datetime,
) -> IngestResult:
    """One event: the batch path with a batch of one."""
    return store_events(session, [event], source=source, settings=settings, now=now)[0]


def phone_history(
    session: Session, event: ServiceEvent, unit_id: int, settings: SurveySettings
) -> PhoneHistory:
    """The facts selection needs about this phone (what ``store_events`` reads in bulk)."""
    return _load_facts(session, [event], settings).history(event, unit_id, settings)


class SqlEventStore:
    """``gateway.surveys.store.EventStore`` in SQL."""

    conflict_error = sa.exc.IntegrityError
    store_events = staticmethod(store_events)
    event_exists = staticmethod(event_exists)
