"""The SQL that moves surveys on from their SMS's fate: submit outcomes, receipts, the reply
window's end, and what a crash left half done. Each function loads the surveys concerned,
applies :func:`gateway.surveys.lifecycle.advance` and writes what changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.smpp.api import ReceiptUpdate, SubmitOutcome
from gateway.surveys import lifecycle as lc
from gateway.surveys.outbox import INTERRUPTED, Recovered, recovered_outcome
from gateway.surveys.settings import SurveySettings
from gateway.surveys.sms_events import outcome_event, receipt_event
from storage import models as m
from storage.sql import one_of, write_lock
from storage.survey_rows import COLUMNS, load_records, locked, record_of, write_records


def _sms_surveys(
    session: Session, outbound_ids: list[int]
) -> tuple[dict[int, int], dict[int, lc.SurveyRecord]]:
    """outbound id → survey id for the survey SMS among ``outbound_ids``, and those surveys'
    records, read and locked (in id order, as ``load_records``) by one statement."""
    write_lock(session)
    ids = sorted(set(outbound_ids))
    if not ids:
        return {}, {}
    o, s = m.OutboundMessage, m.Survey.__table__
    query = (
        sa.select(o.id, *COLUMNS)
        .join(s, s.c.id == o.survey_id)
        .where(one_of(session, o.id, ids), o.kind == "survey")
        .order_by(s.c.id)
    )
    survey_of: dict[int, int] = {}
    records: dict[int, lc.SurveyRecord] = {}
    for outbound_id, *row in session.execute(locked(query, session)):
        survey_of[outbound_id] = row[0]
        records[row[0]] = record_of(row)
    return survey_of, records


def _apply(
    session: Session,
    events: list[tuple[int, lc.Event]],
    now: datetime,
    settings: SurveySettings,
    before: dict[int, lc.SurveyRecord] | None = None,
) -> dict[int, lc.SurveyRecord]:
    """Apply ``(survey id, event)`` pairs in order; write; return the records after.
    ``before``: the surveys' records, already read and locked (else read here)."""
    if before is None:
        write_lock(session)
        before = load_records(session, (sid for sid, _ in events))
    after = dict(before)
    for sid, event in events:
        record = after.get(sid)
        if record is not None:
            after[sid] = lc.advance(record, event, settings).record
    write_records(session, before, after, now)
    return after


def record_outcomes(
    session: Session, outcomes: list[SubmitOutcome], now: datetime, settings: SurveySettings
) -> list[None]:
    """Move each survey on after its SMS was submitted (or not).

    The SMPP store normally wrote the SMS's own status; an SMS still ``submitting`` (the
    pipeline records the outcome itself) gets it here.
    """
    if not outcomes:
        return []
    o = m.OutboundMessage
    ids = sorted({outcome.outbound_id for outcome in outcomes})
    submitting = set(
        session.scalars(sa.select(o.id).where(one_of(session, o.id, ids), o.status == "submitting"))
    )
    by_values: dict[tuple[object, ...], list[int]] = {}
    for outcome in outcomes:
        if outcome.outbound_id in submitting:
            error = (outcome.error or None) and outcome.error[:128]
            by_values.setdefault((outcome.status, outcome.parts or None, error), []).append(
                outcome.outbound_id
            )
    for (status, parts, error), outbound_ids in by_values.items():
        values: dict[str, object] = {"status": status, "error": error, "updated_at": now}
        if parts:
            values["parts_count"] = parts
        session.execute(sa.update(o).where(one_of(session, o.id, outbound_ids)).values(**values))
    survey_of, before = _sms_surveys(session, ids)
    events = [
        (survey_of[outcome.outbound_id], outcome_event(outcome, now))
        for outcome in outcomes
        if outcome.outbound_id in survey_of
    ]
    _apply(session, events, now, settings, before)
    return [None] * len(outcomes)


def apply_receipts(
    session: Session, updates: list[ReceiptUpdate], now: datetime, settings: SurveySettings
) -> list[str | None]:
    """Apply a batch of receipt updates; each result is its survey's status afterwards (None
    when the receipt is not for a survey SMS or settles nothing yet)."""
    survey_of, before = _sms_surveys(
        session, [u.outbound_id for u in updates if u.outbound_id is not None]
    )
    events: list[tuple[int, lc.Event]] = []
    for update in updates:
        sid = survey_of.get(update.outbound_id) if update.outbound_id is not None else None
        event = receipt_event(update, now)
        if sid is not None and event is not None:
            events.append((sid, event))
    after = _apply(session, events, now, settings, before)
    results: list[str | None] = []
    for update in updates:
        sid = survey_of.get(update.outbound_id) if update.outbound_id is not None else None
        ok = sid is not None and update.final_status is not None and sid in after
        results.append(after[sid].status if ok else None)  # type: ignore[index]
    return results


def settle_with_sms(
    session: Session,
    outcomes: list[SubmitOutcome],
    updates: list[ReceiptUpdate],
    now: datetime,
    settings: SurveySettings,
) -> None:
    """Move surveys on in the SMPP store's own batch transaction (``SqlSmsStore`` batch hook):
    the outcomes of the batch's SMS and every receipt it settled, in one read and one write of
    the surveys. An SMS's state and its survey's then commit together."""
    ids = [o.outbound_id for o in outcomes] + [
        u.outbound_id for u in updates if u.outbound_id is not None and u.final_status is not None
    ]
    survey_of, before = _sms_surveys(session, ids)
    events: list[tuple[int, lc.Event]] = [
        (survey_of[o.outbound_id], outcome_event(o, now))
        for o in outcomes
        if o.outbound_id in survey_of
    ]
    for update in updates:
        sid = survey_of.get(update.outbound_id) if update.outbound_id is not None else None
        event = receipt_event(update, now)
        if sid is not None and event is not None:
            events.append((sid, event))
    _apply(session, events, now, settings, before)


def expire_surveys(session: Session, now: datetime, settings: SurveySettings) -> int:
    """Close the reply windows that ended; returns how many surveys changed."""
    write_lock(session)
    below = [s for s in lc.STATUS_ORDER if lc.RANK[s] < lc.RANK["expired"]]
    query = (
        sa.select(*COLUMNS)
        .where(m.Survey.status.in_(below), m.Survey.expires_at <= now)
        .order_by(m.Survey.id)
    )
    before = {row[0]: record_of(row) for row in session.execute(locked(query, session))}
    after = {
        sid: lc.advance(record, lc.WindowClosed(now), settings).record
        for sid, record in before.items()
    }
    return write_records(session, before, after, now)


def recover_interrupted(
    session: Session,
    now: datetime,
    settings: SurveySettings,
    instance: str = "",
    *,
    claimed_before: datetime | None = None,
    keep: Sequence[int] = (),
) -> Recovered:
    """Settle what a crash of this process (``instance``) interrupted.

    Its SMS left ``submitting`` (and those claimed before claims were named) are queued again
    when their first submit_sm was never written (no ``wire_at``), else marked unknown with a
    reason: they may have reached the SMSC. Other processes' claims are theirs to settle.
    A survey still ``pending`` although its SMS has an outcome (the process stopped between
    the SMPP store's commit and the survey's) is moved on from that outcome and its receipt.

    While the process runs (the pipeline's sweep), only SMS claimed before ``claimed_before``
    and not in ``keep`` (what it still has in flight): an outcome its store gave up writing.
    """
    o, p = m.OutboundMessage, m.SmsPart
    status, error = INTERRUPTED
    mine = (
        o.claimed_by.is_(None)
        if not instance
        else sa.or_(o.claimed_by == instance, o.claimed_by.is_(None))
    )
    if claimed_before is not None:
        mine = sa.and_(mine, o.updated_at < claimed_before)
    if keep:
        mine = sa.and_(mine, sa.not_(one_of(session, o.id, sorted(set(keep)))))
    requeued = session.execute(
        sa.update(o)
        .where(o.status == "submitting", mine, o.wire_at.is_(None))
        .values(
            status="queued",
            next_attempt_at=now,
            attempts=sa.case((o.attempts > 0, o.attempts - 1), else_=0),
            claimed_by=None,
        )
    ).rowcount
    interrupted = session.execute(
        sa.update(o)
        .where(o.status == "submitting", mine, o.wire_at.is_not(None))
        .values(status=status, error=error)
    ).rowcount
    parts = (
        sa.select(
            p.outbound_id,
            sa.func.max(p.responded_at).label("answered"),
            sa.func.max(p.final_at).label("done"),
        )
        .group_by(p.outbound_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(
            o.id,
            o.survey_id,
            o.status,
            o.parts_count,
            o.error,
            parts.c.answered,
            parts.c.done,
        )
        .join(m.Survey, m.Survey.id == o.survey_id)
        .outerjoin(parts, parts.c.outbound_id == o.id)
        .where(
            m.Survey.status == "pending",
            o.kind == "survey",
            o.status.in_(("submitted", "delivered", "undeliverable", "unknown", "failed")),
        )
        .order_by(o.id)
    ).all()
    events: list[tuple[int, lc.Event]] = []
    for oid, sid, sms_status, count, err, answered, done in rows:
        outcome = recovered_outcome(oid, sms_status, count, err, answered)
        events.append((sid, outcome_event(outcome, now)))
        if sms_status in ("delivered", "undeliverable"):
            update = ReceiptUpdate(oid, "", sms_status.upper(), sms_status, done, done or now)
            event = receipt_event(update, now)
            if event is not None:
                events.append((sid, event))
    _apply(session, events, now, settings)
    return Recovered(requeued or 0, interrupted or 0)
