"""The SQL of the survey lifecycle: the outbox, submit outcomes, receipts, replies, expiry.

Each function runs inside one transaction (``Database.run``). The rules live in
``gateway.surveys``; these functions only read the rows the rules need and write what they
decided, so that e.g. an unsatisfied rating and its callback task are committed together.

Survey states: pending → sent → delivered | undeliverable → replied | expired, or failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.events.phones import normalise_mobile
from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.surveys.classifier import Reading
from gateway.surveys.matching import ReplyCandidate, choose_survey
from gateway.surveys.schedule import in_window, next_send_time
from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import render_reply
from storage import models as m

ANSWERABLE = ("sent", "delivered", "undeliverable", "replied")


@dataclass(frozen=True)
class OutboxItem:
    """One claimed outbound SMS, ready for ``submit``."""

    outbound_id: int
    destination: str
    text: str
    source_addr: str | None
    kind: str
    survey_id: int | None


@dataclass
class ReplyOutcome:
    """What a reply did: how it matched and which follow-up SMS it queued."""

    inbound_id: int
    match_status: str  # matched | comment | unmatched | opt_out | duplicate
    survey_id: int | None = None
    rating: str | None = None
    queued: list[str] = field(default_factory=list)
    callback_task_id: int | None = None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


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


# --- the outbox ----------------------------------------------------------------------------


def claim_due(
    session: Session, now: datetime, limit: int, settings: SurveySettings
) -> list[OutboxItem]:
    """Claim up to ``limit`` due queued SMS (``submitting``); surveys wait for sending hours.

    An SMS to a number that opted out meanwhile is failed instead (only the opt-out
    confirmation itself still goes), and so is its survey: opting out takes effect at once.
    """
    if limit <= 0:
        return []
    query = (
        sa.select(m.OutboundMessage)
        .where(m.OutboundMessage.status == "queued")
        .where(
            sa.or_(
                m.OutboundMessage.next_attempt_at.is_(None),
                m.OutboundMessage.next_attempt_at <= now,
            )
        )
        .order_by(m.OutboundMessage.next_attempt_at, m.OutboundMessage.id)
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    destinations = {row.destination for row in rows}
    opted = (
        set(session.scalars(sa.select(m.OptOut.phone).where(m.OptOut.phone.in_(destinations))))
        if destinations
        else set()
    )
    items = []
    for row in rows:
        if row.kind != "opt_out_confirm" and row.destination in opted:
            row.status, row.error = "failed", "opted_out"
            if row.survey_id is not None and row.kind == "survey":
                _fail_survey(session, row.survey_id, "opted_out")
            continue
        if row.kind == "survey" and not in_window(now, settings):
            row.next_attempt_at = next_send_time(now, settings)
            continue
        row.status = "submitting"
        row.attempts += 1
        row.updated_at = now
        items.append(
            OutboxItem(row.id, row.destination, row.text, row.source_addr, row.kind, row.survey_id)
        )
    return items


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


def _fail_survey(session: Session, survey_id: int, reason: str) -> None:
    survey = session.get(m.Survey, survey_id)
    if survey is not None and survey.status == "pending":
        survey.status, survey.failure_reason = "failed", reason[:128]


def record_outcome(
    session: Session, outcome: SubmitOutcome, now: datetime, settings: SurveySettings
) -> None:
    """Move the survey on after its SMS was submitted (or not)."""
    row = session.get(m.OutboundMessage, outcome.outbound_id)
    if row is None:
        return
    if row.status == "submitting":  # the SMPP store normally wrote this already
        row.status = outcome.status
        row.parts_count = outcome.parts or row.parts_count
        row.error = (outcome.error or None) and outcome.error[:128]
    if row.kind != "survey" or row.survey_id is None:
        return
    survey = session.get(m.Survey, row.survey_id)
    if survey is not None and survey.status == "replied" and survey.sent_at is None:
        # The citizen's reply was stored before this outcome: the SMS certainly went out.
        survey.sent_at = now
        survey.expires_at = now + settings.reply_window
        return
    if survey is None or survey.status != "pending":
        return
    if outcome.status == "failed":
        survey.status = "failed"
        survey.failure_reason = (outcome.error or "submit failed")[:128]
        return
    survey.status = "sent"
    survey.sent_at = now
    survey.expires_at = now + settings.reply_window
    if outcome.status == "unknown":
        survey.failure_reason = f"submit outcome unknown: {outcome.error or '-'}"[:128]


def recover_interrupted(session: Session, now: datetime, settings: SurveySettings) -> int:
    """SMS left ``submitting`` by a crash may have gone out: mark them unknown, never resend."""
    rows = session.scalars(
        sa.select(m.OutboundMessage).where(m.OutboundMessage.status == "submitting")
    ).all()
    for row in rows:
        outcome = SubmitOutcome(row.id, "unknown", (), row.parts_count or 0, "interrupted")
        row.status = "unknown"
        row.error = "interrupted: the gateway stopped during submit"
        record_outcome(session, outcome, now, settings)
    return len(rows)


def apply_receipt(session: Session, update: ReceiptUpdate, now: datetime) -> str | None:
    """A final delivery receipt moves a sent survey to delivered or undeliverable."""
    if update.outbound_id is None or update.final_status is None:
        return None
    row = session.get(m.OutboundMessage, update.outbound_id)
    if row is None or row.kind != "survey" or row.survey_id is None:
        return None
    survey = session.get(m.Survey, row.survey_id)
    if survey is None:
        return None
    if update.final_status == "delivered":
        if survey.delivered_at is None:
            survey.delivered_at = now
        if survey.status == "sent":
            survey.status = "delivered"
    elif update.final_status == "undeliverable" and survey.status == "sent":
        survey.status = "undeliverable"
        survey.failure_reason = f"receipt {update.state}"[:128]
    return survey.status


def expire_surveys(session: Session, now: datetime) -> int:
    """Sent surveys whose reply window closed without a rating become ``expired``."""
    result = session.execute(
        sa.update(m.Survey)
        .where(m.Survey.status.in_(("sent", "delivered")), m.Survey.expires_at <= now)
        .values(status="expired", updated_at=now)
    )
    return result.rowcount or 0


# --- replies -------------------------------------------------------------------------------


def _candidates(session: Session, phone: str, received_at: datetime) -> list[ReplyCandidate]:
    """Surveys to ``phone`` a reply can answer: sent and inside the reply window, or handed to
    the SMSC and not yet acknowledged (a receipt, and even a reply, can overtake the
    submit_sm_resp and its commit)."""
    in_flight = (
        sa.select(m.OutboundMessage.id)
        .where(
            m.OutboundMessage.survey_id == m.Survey.id,
            m.OutboundMessage.kind == "survey",
            m.OutboundMessage.status.in_(("submitting", "submitted", "delivered", "unknown")),
        )
        .exists()
    )
    rows = session.execute(
        sa.select(m.Survey.id, m.Survey.reply_address, m.Survey.sent_at, m.Survey.expires_at)
        .where(m.Survey.phone == phone)
        .where(
            sa.or_(
                sa.and_(m.Survey.status.in_(ANSWERABLE), m.Survey.expires_at > received_at),
                sa.and_(m.Survey.status == "pending", in_flight),
            )
        )
        .order_by(m.Survey.sent_at.desc(), m.Survey.id.desc())
        .limit(50)
    ).all()
    return [ReplyCandidate(r[0], r[1], r[2]) for r in rows]


def _opt_out(
    session: Session,
    phone: str,
    inbound_id: int,
    now: datetime,
    settings: SurveySettings,
    source_addr: str | None,
) -> bool:
    """Record the opt-out and stop everything pending for the number; True if it is new."""
    if session.get(m.OptOut, phone) is not None:
        return False
    session.add(m.OptOut(phone=phone, source="sms", inbound_id=inbound_id, created_at=now))
    session.execute(
        sa.update(m.OutboundMessage)
        .where(
            m.OutboundMessage.destination == phone,
            m.OutboundMessage.status == "queued",
            m.OutboundMessage.kind != "opt_out_confirm",
        )
        .values(status="failed", error="opted_out", updated_at=now)
    )
    session.execute(
        sa.update(m.Survey)
        .where(m.Survey.phone == phone, m.Survey.status == "pending")
        .values(status="failed", failure_reason="opted_out", updated_at=now)
    )
    session.execute(
        sa.update(m.CallbackTask)
        .where(m.CallbackTask.phone == phone, m.CallbackTask.status == "pending")
        .values(status="opted_out", updated_at=now)
    )
    queue_sms(
        session,
        kind="opt_out_confirm",
        destination=phone,
        text=render_reply(settings, "opt_out_confirm").text,
        now=now,
        source_addr=source_addr,
    )
    return True


def apply_reply(
    session: Session,
    inbound: InboundSms,
    reading: Reading,
    settings: SurveySettings,
    now: datetime,
) -> ReplyOutcome:
    """Match a stored reply to its survey and act on it, all in this one transaction."""
    row = session.get(m.InboundMessage, inbound.inbound_id)
    if row is not None and row.match_status != "new":
        return ReplyOutcome(inbound.inbound_id, "duplicate", row.survey_id, row.rating)
    phone = normalise_mobile(inbound.source_addr).mobile
    candidates = _candidates(session, phone, inbound.received_at) if phone else []
    survey_id = choose_survey(candidates, inbound.destination_addr, settings)
    survey = session.get(m.Survey, survey_id) if survey_id is not None else None
    outcome = ReplyOutcome(inbound.inbound_id, "unmatched", survey_id, reading.rating)
    reply_from = (survey.reply_address if survey else None) or settings.source_addr or None
    if reading.opt_out and phone:
        outcome.match_status = "opt_out"
        if _opt_out(session, phone, inbound.inbound_id, now, settings, reply_from):
            outcome.queued.append("opt_out_confirm")
    elif survey is not None and phone:
        if survey.rating is not None:
            outcome.match_status = "comment"
            survey.comment = "\n".join(filter(None, [survey.comment, inbound.text.strip()]))
        elif reading.is_rating:
            outcome.match_status = "matched"
            survey.rating = reading.rating
            survey.comment = reading.comment
            survey.replied_at = inbound.received_at
            survey.status = "replied"
            queue_sms(
                session,
                kind="thank_you",
                destination=phone,
                text=render_reply(settings, reading.rating).text,
                now=now,
                survey_id=survey.id,
                source_addr=reply_from,
            )
            outcome.queued.append("thank_you")
            if reading.rating == "unsatisfied":
                task = m.CallbackTask(
                    survey_id=survey.id,
                    unit_id=survey.unit_id,
                    phone=phone,
                    trigger="unsatisfied",
                    status="pending",
                    created_at=now,
                )
                session.add(task)
                session.flush()
                outcome.callback_task_id = task.id
        else:
            outcome.match_status = "matched"
            if not survey.clarification_sent:
                survey.clarification_sent = True
                queue_sms(
                    session,
                    kind="clarify",
                    destination=phone,
                    text=render_reply(settings, "clarify").text,
                    now=now,
                    survey_id=survey.id,
                    source_addr=reply_from,
                )
                outcome.queued.append("clarify")
    if row is not None:
        row.survey_id = survey.id if survey is not None else None
        row.match_status = outcome.match_status
        row.rating = reading.rating
        row.comment = reading.comment
    return outcome


# --- export --------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "event_id",
    "category",
    "unit_code",
    "phone",
    "decision",
    "status",
    "sent_at",
    "delivered_at",
    "replied_at",
    "rating",
    "comment",
)


def survey_records(
    session: Session,
    start: datetime | None = None,
    end: datetime | None = None,
    unit_ids: list[int] | None = None,
    *,
    batch: int = 1000,
) -> Iterator[dict[str, object]]:
    """One record per event (``pingjing export surveys``), by when the event occurred.

    ``end`` is exclusive; the phone is masked here so no export can leak a whole number.
    """
    from gateway.masking import mask_phone

    query = (
        sa.select(
            m.ServiceEvent.event_id,
            m.ServiceEvent.category,
            m.Unit.code,
            m.ServiceEvent.citizen_phone,
            m.ServiceEvent.citizen_phone_raw,
            m.Survey.decision,
            m.Survey.status,
            m.Survey.sent_at,
            m.Survey.delivered_at,
            m.Survey.replied_at,
            m.Survey.rating,
            m.Survey.comment,
        )
        .join(m.Survey, m.Survey.event_id == m.ServiceEvent.id)
        .join(m.Unit, m.Unit.id == m.ServiceEvent.unit_id)
        .order_by(m.ServiceEvent.occurred_at, m.ServiceEvent.id)
    )
    if start is not None:
        query = query.where(m.ServiceEvent.occurred_at >= start)
    if end is not None:
        query = query.where(m.ServiceEvent.occurred_at < end)
    if unit_ids is not None:
        query = query.where(m.ServiceEvent.unit_id.in_(unit_ids))
    for row in session.execute(query.execution_options(yield_per=batch)):
        yield {
            "event_id": row[0],
            "category": row[1],
            "unit_code": row[2],
            "phone": mask_phone(row[3] or row[4]),
            "decision": row[5],
            "status": row[6],
            "sent_at": row[7],
            "delivered_at": row[8],
            "replied_at": row[9],
            "rating": row[10],
            "comment": row[11],
        }


DEFAULT_LONGEST_BUSINESS = "户籍业务办理咨询"


def longest_names(session: Session) -> tuple[str, str]:
    """The longest active unit name and the longest business seen, for the part-count check."""
    unit = session.scalar(
        sa.select(m.Unit.name)
        .where(m.Unit.active.is_(True))
        .order_by(sa.func.length(m.Unit.name).desc())
        .limit(1)
    )
    business = session.scalar(
        sa.select(m.ServiceEvent.business)
        .where(m.ServiceEvent.business.is_not(None))
        .order_by(sa.func.length(m.ServiceEvent.business).desc())
        .limit(1)
    )
    return unit or "某某市公安局某某分局某某派出所", max(
        business or "", DEFAULT_LONGEST_BUSINESS, key=len
    )


# --- batch forms, for group commit -----------------------------------------------------------


def record_outcomes(
    session: Session, outcomes: list[SubmitOutcome], now: datetime, settings: SurveySettings
) -> list[None]:
    # Load every row once: record_outcome's lookups then hit the identity map, not the database.
    ids = [o.outbound_id for o in outcomes]
    rows = session.scalars(sa.select(m.OutboundMessage).where(m.OutboundMessage.id.in_(ids))).all()
    survey_ids = [r.survey_id for r in rows if r.survey_id is not None]
    surveys = (  # held here: the identity map only keeps weak references
        session.scalars(sa.select(m.Survey).where(m.Survey.id.in_(survey_ids))).all()
        if survey_ids
        else []
    )
    for outcome in outcomes:
        record_outcome(session, outcome, now, settings)
    del rows, surveys
    return [None] * len(outcomes)


def apply_receipts(
    session: Session, updates: list[ReceiptUpdate], now: datetime
) -> list[str | None]:
    return [apply_receipt(session, update, now) for update in updates]


def apply_replies(
    session: Session,
    replies: list[tuple[InboundSms, Reading]],
    settings: SurveySettings,
    now: datetime,
) -> list[ReplyOutcome]:
    """Replies in arrival order: a later one sees what an earlier one did (first rating wins)."""
    return [apply_reply(session, inbound, reading, settings, now) for inbound, reading in replies]
