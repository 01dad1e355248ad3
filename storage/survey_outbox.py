"""The outbox's SQL: queue an SMS, claim the due ones, say when the next one is due."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.surveys import lifecycle as lc
from gateway.surveys.outbox import OPTED_OUT_ERROR, OutboxItem, sort_claimed, with_marks
from gateway.surveys.schedule import next_send_time
from gateway.surveys.settings import SurveySettings
from storage import models as m
from storage.sql import is_postgresql, one_of
from storage.survey_rows import load_records, write_records


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def queue_sms(
    session: Session,
    *,
    kind: str,
    destination: str,
    text: str,
    now: datetime,
    survey_id: int | None = None,
    source_addr: str | None = None,
) -> m.OutboundMessage:
    row = m.OutboundMessage(
        survey_id=survey_id,
        kind=kind,
        destination=destination,
        source_addr=source_addr,
        text=text,
        status="queued",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    settings: SurveySettings,
    instance: str = "",
    mark: int = 0,
) -> list[OutboxItem]:
    """Claim up to ``limit`` due queued SMS (``submitting``, ``claimed_by`` this process's
    ``instance``), as ``sort_claimed`` decides; the first ``mark`` to send are wire-marked
    (``wire_at``) in the same UPDATE, in slots the SMPP client reserved. Several processes
    claim at once safely: on PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``.

    The rows are read once and written with one UPDATE per kind of change, not one per row.
    """
    if limit <= 0:
        return []
    o = m.OutboundMessage
    columns = (o.id, o.destination, o.text, o.source_addr, o.kind, o.survey_id)
    # Two queries, not one with "next_attempt_at IS NULL OR ...": each is a plain range on
    # the (status, next_attempt_at, id) index, read in that order up to the limit.
    due = (
        sa.select(*columns)
        .where(o.status == "queued", o.next_attempt_at <= now)
        .order_by(o.next_attempt_at, o.id)
        .limit(limit)
    )
    if is_postgresql(session):
        # Before its first ANALYZE of a freshly filled outbox (a new install, a burst of
        # events in its first minute) PostgreSQL guesses a few dozen queued rows and plans
        # "fetch them all, then sort": 25-45 ms a claim at 30,000 queued instead of 0.1 ms.
        # The index already gives the order; say so for this one statement.
        session.execute(sa.text("SET LOCAL enable_sort = off"))
        rows = session.execute(due.with_for_update(skip_locked=True)).all()
        session.execute(sa.text("SET LOCAL enable_sort = on"))
    else:
        rows = session.execute(due).all()
    if len(rows) < limit:  # a row queued without a time is due at once (after the timed ones)
        undated = (
            sa.select(*columns)
            .where(o.status == "queued", o.next_attempt_at.is_(None))
            .order_by(o.id)
            .limit(limit - len(rows))
        )
        if is_postgresql(session):
            undated = undated.with_for_update(skip_locked=True)
        rows += session.execute(undated).all()
    destinations = sorted({row.destination for row in rows})
    opted = (
        set(
            session.scalars(
                sa.select(m.OptOut.phone).where(one_of(session, m.OptOut.phone, destinations))
            )
        )
        if destinations
        else set()
    )
    claim = sort_claimed([OutboxItem(*row) for row in rows], opted, now, settings)
    if claim.opted_out:
        session.execute(
            sa.update(o)
            .where(one_of(session, o.id, sorted(claim.opted_out)))
            .values(status="failed", error=OPTED_OUT_ERROR)
        )
    if claim.opted_out_surveys:
        before = load_records(session, claim.opted_out_surveys)
        after = {
            sid: lc.advance(record, lc.OptedOutElsewhere(now), settings).record
            for sid, record in before.items()
        }
        write_records(session, before, after, now)
    if claim.waiting:
        session.execute(
            sa.update(o)
            .where(one_of(session, o.id, sorted(claim.waiting)))
            .values(next_attempt_at=next_send_time(now, settings))
        )
    send = with_marks(claim.send, mark)
    if send:
        marked = [item.outbound_id for item in send if item.wired]
        wire_at: object = None
        if marked:
            wire_at = sa.case(
                (one_of(session, o.id, marked), sa.literal(now, o.wire_at.type)), else_=sa.null()
            )
        session.execute(
            sa.update(o)
            .where(one_of(session, o.id, [item.outbound_id for item in send]))
            .values(
                status="submitting",
                attempts=o.attempts + 1,
                updated_at=now,
                claimed_by=instance or None,
                wire_at=wire_at,
            )
        )
    return send


def next_due_at(session: Session, now: datetime) -> datetime | None:
    """When the earliest queued SMS is due (``now`` if overdue), None when nothing is queued."""
    earliest = _aware(
        session.scalar(
            sa.select(sa.func.min(m.OutboundMessage.next_attempt_at)).where(
                m.OutboundMessage.status == "queued"
            )
        )
    )
    if earliest is None:
        return None
    return max(earliest, now)


def release_unsent(session: Session, outbound_ids: list[int], now: datetime) -> int:
    """Give back this process's claims on SMS it never wrote to the SMSC (a graceful stop):
    queued again in their place (``next_attempt_at`` kept), no claimer, no wire mark (a mark
    committed ahead of a write that never came), the claim's attempt undone; for this process
    after its restart or any other to send, once. An SMS with a part record went out, at least
    in part, and is never released (its attempts would be counted again from one). Returns
    how many were released."""
    if not outbound_ids:
        return 0
    o, p = m.OutboundMessage, m.SmsPart
    written = sa.select(p.id).where(p.outbound_id == o.id).exists()
    return (
        session.execute(
            sa.update(o)
            .where(one_of(session, o.id, outbound_ids), o.status == "submitting", ~written)
            .values(
                status="queued",
                claimed_by=None,
                wire_at=None,
                attempts=sa.case((o.attempts > 0, o.attempts - 1), else_=0),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
