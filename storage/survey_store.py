"""The SQL of the survey lifecycle: the outbox, submit outcomes, receipts, replies, expiry.

Each function runs inside one transaction (``Database.run``). The rules live in
``gateway.surveys``; these functions only read the rows the rules need and write what they
decided, so that e.g. an unsatisfied rating and its callback task are committed together.

Survey states: pending → sent → delivered | undeliverable → replied | expired, or failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
from storage.sql import (
    insert_many,
    insert_returning_ids,
    is_postgresql,
    one_of,
    update_by_id,
)

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
    destinations = {row.destination for row in rows}
    opted = (
        set(
            session.scalars(
                sa.select(m.OptOut.phone).where(
                    one_of(session, m.OptOut.phone, sorted(destinations))
                )
            )
        )
        if destinations
        else set()
    )
    items: list[OutboxItem] = []
    failed: list[int] = []
    failed_surveys: list[int] = []
    waiting: list[int] = []
    for row in rows:
        if row.kind != "opt_out_confirm" and row.destination in opted:
            failed.append(row.id)
            if row.survey_id is not None and row.kind == "survey":
                failed_surveys.append(row.survey_id)
            continue
        if row.kind == "survey" and not in_window(now, settings):
            waiting.append(row.id)
            continue
        items.append(OutboxItem(*row))
    if failed:
        session.execute(
            sa.update(o).where(o.id.in_(failed)).values(status="failed", error="opted_out")
        )
    if failed_surveys:
        session.execute(
            sa.update(m.Survey)
            .where(m.Survey.id.in_(failed_surveys), m.Survey.status == "pending")
            .values(status="failed", failure_reason="opted_out")
        )
    if waiting:
        session.execute(
            sa.update(o)
            .where(o.id.in_(waiting))
            .values(next_attempt_at=next_send_time(now, settings))
        )
    if items:
        session.execute(
            sa.update(o)
            .where(one_of(session, o.id, [item.outbound_id for item in items]))
            .values(status="submitting", attempts=o.attempts + 1, updated_at=now)
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


def record_outcome(
    session: Session, outcome: SubmitOutcome, now: datetime, settings: SurveySettings
) -> None:
    """Move the survey on after its SMS was submitted (or not)."""
    record_outcomes(session, [outcome], now, settings)


def recover_interrupted(session: Session, now: datetime, settings: SurveySettings) -> int:
    """Settle what a crash interrupted; returns how many SMS were left ``submitting``.

    An SMS left ``submitting`` may have gone out: it is marked unknown, never resent. A survey
    still ``pending`` although its SMS has an outcome (the process stopped between the SMPP
    store's commit and the survey's) is moved on from that outcome now.
    """
    rows = session.scalars(
        sa.select(m.OutboundMessage).where(m.OutboundMessage.status == "submitting")
    ).all()
    for row in rows:
        row.status = "unknown"
        row.error = "interrupted: the gateway stopped during submit"
    session.flush()
    o = m.OutboundMessage
    settled = session.execute(
        sa.select(o.id, o.status, o.parts_count, o.error)
        .join(m.Survey, m.Survey.id == o.survey_id)
        .where(
            m.Survey.status == "pending",
            o.kind == "survey",
            o.status.in_(("submitted", "delivered", "undeliverable", "unknown", "failed")),
        )
        .order_by(o.id)
    ).all()
    outcomes = [
        SubmitOutcome(
            oid,
            status if status in ("failed", "unknown") else "submitted",
            (),
            parts or 0,
            error if status in ("failed", "unknown") else None,
        )
        for oid, status, parts, error in settled
    ]
    record_outcomes(session, outcomes, now, settings)
    return len(rows)


def settle_with_sms(
    session: Session,
    outcomes: list[SubmitOutcome],
    updates: list[ReceiptUpdate],
    now: datetime,
    settings: SurveySettings,
) -> None:
    """Move surveys on in the SMPP store's own batch transaction (``SqlSmsStore`` batch hook):
    the outcomes of the batch's SMS, then the receipts it matched to SMS of earlier batches.

    The same rules as ``record_outcomes`` and ``apply_receipts``, which the pipeline runs in
    transactions of their own when the SMPP store has no hook: here an SMS's state and its
    survey's commit together, so neither the crash between the two commits nor a receipt
    overtaking its outcome's commit can happen, and no second and third transaction lock the
    same surveys. The batches of the SMPP store run one at a time, so a receipt of a later
    batch always finds its outcome's survey committed.
    """
    if outcomes:
        record_outcomes(session, outcomes, now, settings)
    settled = {outcome.outbound_id for outcome in outcomes}
    later = [
        u
        for u in updates
        if u.outbound_id is not None and u.final_status is not None and u.outbound_id not in settled
    ]
    if later:
        apply_receipts(session, later, now)


def _locked_surveys(session: Session, ids: Iterable[int], *columns: Any) -> dict[int, list[object]]:
    """``columns`` of the surveys ``ids`` by id, locked on PostgreSQL in id order: the order
    every batch that changes surveys (outcomes, receipts, replies) locks them in, so that
    concurrent batches wait for each other instead of deadlocking."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = (
        sa.select(m.Survey.id, *columns)
        .where(one_of(session, m.Survey.id, wanted))
        .order_by(m.Survey.id)
    )
    if is_postgresql(session):
        query = query.with_for_update(of=m.Survey)
    return {row[0]: list(row[1:]) for row in session.execute(query)}


def apply_receipt(session: Session, update: ReceiptUpdate, now: datetime) -> str | None:
    """A final delivery receipt moves a sent survey to delivered or undeliverable."""
    return apply_receipts(session, [update], now)[0]


def apply_receipts(
    session: Session, updates: list[ReceiptUpdate], now: datetime
) -> list[str | None]:
    """Apply a batch of receipt updates; each result is its survey's status afterwards (None
    when the receipt is not for a survey SMS).

    The surveys are read and locked once, in id order, as the reply and outcome batches lock
    them, so that concurrent batches wait for each other instead of deadlocking; a survey
    that is not ``sent`` (a reply committed meanwhile, or its outcome not yet committed) is
    left as it is (``record_outcomes`` folds in a receipt that overtook it).
    """
    o = m.OutboundMessage
    wanted = sorted({u.outbound_id for u in updates if u.outbound_id is not None})
    survey_of: dict[int, int] = {}
    if wanted:
        survey_of = {
            oid: sid
            for oid, sid in session.execute(
                sa.select(o.id, o.survey_id).where(
                    one_of(session, o.id, wanted), o.kind == "survey", o.survey_id.is_not(None)
                )
            )
        }
    states = _locked_surveys(
        session, survey_of.values(), m.Survey.status, m.Survey.delivered_at, m.Survey.failure_reason
    )
    changed: dict[int, dict[str, object]] = {}
    results: list[str | None] = []
    for update in updates:
        sid = survey_of.get(update.outbound_id) if update.outbound_id is not None else None
        state = states.get(sid) if sid is not None else None
        if state is None or update.final_status is None:
            results.append(None)
            continue
        if state[0] == "sent" and update.final_status == "delivered":
            state[0], state[1] = "delivered", state[1] or now
            changed[sid] = {"status": "delivered", "delivered_at": state[1]}
        elif state[0] == "sent" and update.final_status == "undeliverable":
            state[0], state[2] = "undeliverable", f"receipt {update.state}"[:128]
            changed[sid] = {"status": "undeliverable", "failure_reason": state[2]}
        results.append(state[0])  # type: ignore[arg-type]
    by_fields: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for sid in sorted(changed):
        change = changed[sid]
        by_fields.setdefault(tuple(change), []).append({"id": sid, **change, "updated_at": now})
    for rows in by_fields.values():
        update_by_id(session, m.Survey, rows)
    return results


def expire_surveys(session: Session, now: datetime) -> int:
    """Sent surveys whose reply window closed without a rating become ``expired``."""
    result = session.execute(
        sa.update(m.Survey)
        .where(m.Survey.status.in_(("sent", "delivered")), m.Survey.expires_at <= now)
        .values(status="expired", updated_at=now)
    )
    return result.rowcount or 0


# --- replies -------------------------------------------------------------------------------


@dataclass
class _SurveyState:
    """A candidate survey as the batch sees it: read once, changed in memory, written once."""

    id: int
    phone: str
    unit_id: int
    status: str
    reply_address: str | None
    sent_at: datetime | None
    expires_at: datetime | None
    in_flight: bool
    rating: str | None
    comment: str | None
    replied_at: datetime | None
    clarification_sent: bool
    failure_reason: str | None
    changed: set[str] = field(default_factory=set)

    def set(self, **values: object) -> None:
        """Change fields; only changed fields are written, so that a concurrent receipt's
        ``delivered`` is not overwritten with the ``sent`` this batch read."""
        for name, value in values.items():
            setattr(self, name, value)
        self.changed.update(values)

    def answerable(self, received_at: datetime) -> bool:
        """Sent and inside the reply window, or handed to the SMSC and not yet acknowledged (a
        receipt, and even a reply, can overtake the submit_sm_resp and its commit)."""
        if self.status in ANSWERABLE:
            return self.expires_at is not None and self.expires_at > received_at
        return self.status == "pending" and self.in_flight


def _load_candidates(
    session: Session, phones: set[str], earliest: datetime
) -> dict[str, list[_SurveyState]]:
    """Every survey to these phones a reply of this batch could answer, in one query.

    On PostgreSQL the rows are locked (in id order, so two batches cannot deadlock on them):
    two reply transactions run at once, and a survey's first rating must win.
    """
    in_flight = (
        sa.select(m.OutboundMessage.id)
        .where(
            m.OutboundMessage.survey_id == m.Survey.id,
            m.OutboundMessage.kind == "survey",
            m.OutboundMessage.status.in_(("submitting", "submitted", "delivered", "unknown")),
        )
        .exists()
    )
    query = (
        sa.select(
            m.Survey.id,
            m.Survey.phone,
            m.Survey.unit_id,
            m.Survey.status,
            m.Survey.reply_address,
            m.Survey.sent_at,
            m.Survey.expires_at,
            sa.case((m.Survey.status == "pending", in_flight), else_=sa.false()),
            m.Survey.rating,
            m.Survey.comment,
            m.Survey.replied_at,
            m.Survey.clarification_sent,
            m.Survey.failure_reason,
        )
        .where(one_of(session, m.Survey.phone, sorted(phones)))
        .where(
            sa.or_(
                sa.and_(m.Survey.status.in_(ANSWERABLE), m.Survey.expires_at > earliest),
                sa.and_(m.Survey.status == "pending", in_flight),
            )
        )
        .order_by(m.Survey.id)
    )
    if is_postgresql(session):
        query = query.with_for_update(of=m.Survey)
    by_phone: dict[str, list[_SurveyState]] = {}
    for row in session.execute(query):
        state = _SurveyState(*row[:7], bool(row[7]), *row[8:])
        by_phone.setdefault(state.phone, []).append(state)
    return by_phone


_QUEUED_COLUMNS = (
    "survey_id",
    "kind",
    "destination",
    "source_addr",
    "text",
    "status",
    "error",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
_TASK_COLUMNS = (
    "survey_id",
    "unit_id",
    "phone",
    "trigger",
    "status",
    "attempts",
    "overdue",
    "created_at",
    "updated_at",
)


class _ReplyBatch:
    """The decisions of one batch of replies, made in memory in arrival order, then written
    with a handful of bulk statements. Each reply sees what the earlier ones did, exactly as if
    they had been applied one by one."""

    def __init__(
        self,
        session: Session,
        replies: list[tuple[InboundSms, Reading]],
        settings: SurveySettings,
        now: datetime,
    ) -> None:
        self.session, self.replies, self.settings, self.now = session, replies, settings, now
        self.phones = [normalise_mobile(inbound.source_addr).mobile for inbound, _ in replies]
        ids = {inbound.inbound_id for inbound, _ in replies}
        query = (
            sa.select(
                m.InboundMessage.id,
                m.InboundMessage.match_status,
                m.InboundMessage.survey_id,
                m.InboundMessage.rating,
            )
            .where(one_of(session, m.InboundMessage.id, sorted(ids)))
            .order_by(m.InboundMessage.id)
        )
        if is_postgresql(session):
            # The same reply may be in two batches at once (the start-up sweep and a live
            # delivery): the second waits here and reads the first one's verdict. Inbound rows
            # first, then surveys, each in id order: every batch locks in the same order.
            query = query.with_for_update()
        self.inbound = {
            row[0]: [row[1], row[2], row[3]]  # match_status, survey_id, rating
            for row in session.execute(query)
        }
        wanted = {
            phone
            for phone, (inbound, _) in zip(self.phones, replies, strict=True)
            if phone and self.inbound.get(inbound.inbound_id, ["new"])[0] == "new"
        }
        self.candidates: dict[str, list[_SurveyState]] = {}
        self.opted: set[str] = set()
        if wanted:
            earliest = min(inbound.received_at for inbound, _ in replies)
            self.candidates = _load_candidates(session, wanted, earliest)
            self.opted = set(
                session.scalars(
                    sa.select(m.OptOut.phone).where(one_of(session, m.OptOut.phone, sorted(wanted)))
                )
            )
        self.new_opt_outs: list[dict[str, object]] = []
        self.outbound: list[dict[str, object]] = []
        self.tasks: list[tuple[dict[str, object], ReplyOutcome]] = []
        self.inbound_updates: dict[int, dict[str, object]] = {}

    def queue(
        self, kind: str, template: str, phone: str, survey_id: int | None, source: str | None
    ) -> None:
        self.outbound.append(
            {
                "survey_id": survey_id,
                "kind": kind,
                "destination": phone,
                "source_addr": source,
                "text": render_reply(self.settings, template).text,
                "status": "queued",
                "error": None,
                "attempts": 0,
                "next_attempt_at": self.now,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )

    def apply(self, inbound: InboundSms, reading: Reading, phone: str | None) -> ReplyOutcome:
        seen = self.inbound.get(inbound.inbound_id)
        if seen is not None and seen[0] != "new":
            return ReplyOutcome(inbound.inbound_id, "duplicate", seen[1], seen[2])
        candidates = (
            [s for s in self.candidates.get(phone, []) if s.answerable(inbound.received_at)]
            if phone
            else []
        )
        by_id = {s.id: s for s in candidates}
        survey_id = choose_survey(
            [ReplyCandidate(s.id, s.reply_address, s.sent_at) for s in candidates],
            inbound.destination_addr,
            self.settings,
        )
        survey = by_id.get(survey_id) if survey_id is not None else None
        outcome = ReplyOutcome(inbound.inbound_id, "unmatched", survey_id, reading.rating)
        reply_from = (survey.reply_address if survey else None) or self.settings.source_addr or None
        if reading.opt_out and phone:
            outcome.match_status = "opt_out"
            if self.opt_out(phone, inbound.inbound_id, reply_from):
                outcome.queued.append("opt_out_confirm")
        elif survey is not None and phone:
            self.answer(survey, inbound, reading, phone, reply_from, outcome)
        if seen is not None:
            seen[:] = [outcome.match_status, survey.id if survey else None, reading.rating]
            self.inbound_updates[inbound.inbound_id] = {
                "id": inbound.inbound_id,
                "survey_id": survey.id if survey is not None else None,
                "match_status": outcome.match_status,
                "rating": reading.rating,
                "comment": reading.comment,
            }
        return outcome

    def answer(
        self,
        survey: _SurveyState,
        inbound: InboundSms,
        reading: Reading,
        phone: str,
        reply_from: str | None,
        outcome: ReplyOutcome,
    ) -> None:
        if survey.rating is not None:
            outcome.match_status = "comment"
            survey.set(comment="\n".join(filter(None, [survey.comment, inbound.text.strip()])))
        elif reading.is_rating:
            outcome.match_status = "matched"
            survey.set(
                rating=reading.rating,
                comment=reading.comment,
                replied_at=inbound.received_at,
                status="replied",
            )
            self.queue("thank_you", reading.rating, phone, survey.id, reply_from)
            outcome.queued.append("thank_you")
            if reading.rating == "unsatisfied":
                task = {
                    "survey_id": survey.id,
                    "unit_id": survey.unit_id,
                    "phone": phone,
                    "trigger": "unsatisfied",
                    "status": "pending",
                    "attempts": 0,
                    "overdue": False,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
                self.tasks.append((task, outcome))
        else:
            outcome.match_status = "matched"
            if not survey.clarification_sent:
                survey.set(clarification_sent=True)
                self.queue("clarify", "clarify", phone, survey.id, reply_from)
                outcome.queued.append("clarify")

    def opt_out(self, phone: str, inbound_id: int, reply_from: str | None) -> bool:
        """Record the opt-out and stop everything pending for the number; True if it is new.

        What this batch already queued or created for the number stops here, in memory; what
        was stored before stops with the bulk UPDATEs in ``write``."""
        if phone in self.opted:
            return False
        self.opted.add(phone)
        self.new_opt_outs.append(
            {"phone": phone, "source": "sms", "inbound_id": inbound_id, "created_at": self.now}
        )
        for row in self.outbound:
            if (
                row["destination"] == phone
                and row["status"] == "queued"
                and row["kind"] != "opt_out_confirm"
            ):
                row["status"], row["error"] = "failed", "opted_out"
        for state in self.candidates.get(phone, []):
            if state.status == "pending":
                state.set(status="failed", failure_reason="opted_out")
        for task, _ in self.tasks:
            if task["phone"] == phone and task["status"] == "pending":
                task["status"] = "opted_out"
        self.queue("opt_out_confirm", "opt_out_confirm", phone, None, reply_from)
        return True

    def write(self) -> None:
        session, now = self.session, self.now
        if self.new_opt_outs:
            phones = [row["phone"] for row in self.new_opt_outs]
            # Before the batch's own rows are written, which carry their decided state already.
            session.execute(sa.insert(m.OptOut), self.new_opt_outs)
            session.execute(
                sa.update(m.OutboundMessage)
                .where(
                    m.OutboundMessage.destination.in_(phones),
                    m.OutboundMessage.status == "queued",
                    m.OutboundMessage.kind != "opt_out_confirm",
                )
                .values(status="failed", error="opted_out", updated_at=now)
            )
            session.execute(
                sa.update(m.Survey)
                .where(m.Survey.phone.in_(phones), m.Survey.status == "pending")
                .values(status="failed", failure_reason="opted_out", updated_at=now)
            )
            session.execute(
                sa.update(m.CallbackTask)
                .where(m.CallbackTask.phone.in_(phones), m.CallbackTask.status == "pending")
                .values(status="opted_out", updated_at=now)
            )
        by_fields: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for states in self.candidates.values():
            for state in states:
                if state.changed:
                    names = tuple(sorted(state.changed))
                    values = {name: getattr(state, name) for name in names}
                    by_fields.setdefault(names, []).append(
                        {"id": state.id, **values, "updated_at": now}
                    )
        for rows in by_fields.values():
            update_by_id(session, m.Survey, rows)
        if self.outbound:
            insert_many(
                session,
                m.OutboundMessage,
                _QUEUED_COLUMNS,
                [tuple(row[name] for name in _QUEUED_COLUMNS) for row in self.outbound],
            )
        if self.tasks:
            ids = insert_returning_ids(
                session,
                m.CallbackTask,
                _TASK_COLUMNS,
                [tuple(task[name] for name in _TASK_COLUMNS) for task, _ in self.tasks],
            )
            for (_, outcome), task_id in zip(self.tasks, ids, strict=True):
                outcome.callback_task_id = task_id
        if self.inbound_updates:
            update_by_id(session, m.InboundMessage, list(self.inbound_updates.values()))


def unprocessed_replies(session: Session, after_id: int, limit: int) -> list[InboundSms]:
    """Stored replies never acted on (``new``): the pipeline stopped or its batch failed
    between the reply's commit and its processing. Oldest first, after ``after_id``."""
    i = m.InboundMessage
    rows = session.execute(
        sa.select(i.id, i.source_addr, i.destination_addr, i.text, i.incomplete, i.received_at)
        .where(i.match_status == "new", i.id > after_id)
        .order_by(i.id)
        .limit(limit)
    )
    return [InboundSms(*row) for row in rows]


def apply_replies(
    session: Session,
    replies: list[tuple[InboundSms, Reading]],
    settings: SurveySettings,
    now: datetime,
) -> list[ReplyOutcome]:
    """Match a batch of stored replies to their surveys and act on them, in this one transaction.

    Replies are decided in arrival order, so a later one sees what an earlier one did (first
    rating wins, one clarification, one opt-out confirmation); the rows are read with a few
    set-based queries and written with bulk statements, not one round trip per reply.
    """
    if not replies:
        return []
    batch = _ReplyBatch(session, replies, settings, now)
    outcomes = [
        batch.apply(inbound, reading, phone)
        for (inbound, reading), phone in zip(replies, batch.phones, strict=True)
    ]
    batch.write()
    return outcomes


def apply_reply(
    session: Session,
    inbound: InboundSms,
    reading: Reading,
    settings: SurveySettings,
    now: datetime,
) -> ReplyOutcome:
    """Match a stored reply to its survey and act on it, all in this one transaction."""
    return apply_replies(session, [(inbound, reading)], settings, now)[0]


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
    "voice_rating",
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
    ``rating`` is the citizen's SMS rating; ``voice_rating`` the one a citizen who did not
    answer the SMS gave on a non-response callback (``callback_tasks.rating``), else None.
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
            m.CallbackTask.rating,
        )
        .join(m.Survey, m.Survey.event_id == m.ServiceEvent.id)
        .join(m.Unit, m.Unit.id == m.ServiceEvent.unit_id)
        .outerjoin(
            m.CallbackTask,
            (m.CallbackTask.survey_id == m.Survey.id) & (m.CallbackTask.trigger == "non_response"),
        )
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
            "voice_rating": row[12],
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
    """Move each survey on after its SMS was submitted (or not), in order.

    The rows are read once (surveys locked on PostgreSQL, in id order as the reply batch
    locks them, so that a reply that overtook its outcome and committed ``replied`` is read,
    not overwritten with ``sent``); the changes are decided in memory and written with one
    UPDATE per distinct set of values, which under load is one or two statements a batch.
    """
    if not outcomes:
        return []
    o = m.OutboundMessage
    ids = sorted({outcome.outbound_id for outcome in outcomes})
    survey_ids = session.scalars(
        sa.select(o.survey_id).where(one_of(session, o.id, ids), o.survey_id.is_not(None))
    )
    surveys = _locked_surveys(
        session, survey_ids, m.Survey.status, m.Survey.sent_at, m.Survey.failure_reason
    )
    # The SMS's status is read only now, with its survey locked: a receipt batch that found
    # the survey still pending committed before this lock was granted, and the SMPP store
    # committed the receipt before that, so a "delivered" is seen here and folded in below.
    # Read before the lock, it could be "submitted" and the survey stayed "sent" for good.
    rows = {
        row.id: [row.status, row.kind, row.survey_id, row.parts_count, row.error]
        for row in session.execute(
            sa.select(o.id, o.status, o.kind, o.survey_id, o.parts_count, o.error).where(
                one_of(session, o.id, ids)
            )
        )
    }
    outbound_changes: dict[int, tuple[object, ...]] = {}
    survey_changes: dict[int, dict[str, object]] = {}
    expires = now + settings.reply_window
    for outcome in outcomes:
        row = rows.get(outcome.outbound_id)
        if row is None:
            continue
        if row[0] == "submitting":  # the SMPP store normally wrote this already
            row[0] = outcome.status
            row[3] = outcome.parts or row[3]
            row[4] = (outcome.error or None) and outcome.error[:128]
            outbound_changes[outcome.outbound_id] = (row[0], row[3], row[4])
        if row[1] != "survey" or row[2] is None or row[2] not in surveys:
            continue
        survey = surveys[row[2]]
        if survey[0] == "replied" and survey[1] is None:
            # The citizen's reply was stored before this outcome: the SMS certainly went out.
            survey[1] = now
            survey_changes.setdefault(row[2], {}).update(sent_at=now, expires_at=expires)
            continue
        if survey[0] != "pending":
            continue
        change = survey_changes.setdefault(row[2], {})
        if outcome.status == "failed":
            survey[0], survey[2] = "failed", (outcome.error or "submit failed")[:128]
            change.update(status=survey[0], failure_reason=survey[2])
            continue
        survey[0], survey[1] = "sent", now
        change.update(status="sent", sent_at=now, expires_at=expires)
        if row[0] == "delivered":  # its receipt overtook this outcome's commit
            survey[0] = "delivered"
            change.update(status="delivered", delivered_at=now)
        elif row[0] == "undeliverable":
            survey[0], survey[2] = "undeliverable", "receipt: undeliverable"
            change.update(status=survey[0], failure_reason=survey[2])
        if outcome.status == "unknown":
            survey[2] = f"submit outcome unknown: {outcome.error or '-'}"[:128]
            change.update(failure_reason=survey[2])
    by_values: dict[tuple[object, ...], list[int]] = {}
    for outbound_id, values in outbound_changes.items():
        by_values.setdefault(values, []).append(outbound_id)
    for (status, parts, error), outbound_ids in by_values.items():
        session.execute(
            sa.update(o)
            .where(one_of(session, o.id, outbound_ids))
            .values(status=status, parts_count=parts, error=error, updated_at=now)
        )
    by_change: dict[tuple[tuple[str, object], ...], list[int]] = {}
    for survey_id, change in survey_changes.items():
        if change:
            by_change.setdefault(tuple(sorted(change.items())), []).append(survey_id)
    for change_items, ids_ in by_change.items():
        session.execute(
            sa.update(m.Survey)
            .where(one_of(session, m.Survey.id, ids_))
            .values(**dict(change_items), updated_at=now)
        )
    return [None] * len(outcomes)
