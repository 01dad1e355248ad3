"""The SQL of a batch of replies: read what :func:`gateway.surveys.replies.decide_replies`
needs in a few set-based queries, write its decisions with a few bulk statements."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.cases.settings import CaseSettings
from gateway.smpp.api import InboundSms
from gateway.surveys.classifier import Reading
from gateway.surveys.outbox import OPTED_OUT_ERROR
from gateway.surveys.replies import (
    Candidate,
    ReplyContext,
    ReplyDecisions,
    ReplyOutcome,
    Seen,
    decide_replies,
    phone_of,
)
from gateway.surveys.settings import SurveySettings
from storage import models as m
from storage.case_rows import open_cases, openings_for_surveys
from storage.sql import (
    insert_many,
    insert_returning_ids,
    is_postgresql,
    one_of,
    update_by_id,
    write_lock,
)
from storage.survey_rows import COLUMNS, locked, record_of, write_records

# An SMS in one of these states is with the SMSC or was: a reply may answer its survey
# before the survey has its outcome.
_IN_FLIGHT = ("submitting", "submitted", "delivered", "unknown")
_QUEUED_COLUMNS = (
    "survey_id",
    "kind",
    "destination",
    "source_addr",
    "text",
    "status",
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


def _load_seen(session: Session, replies: list[tuple[InboundSms, Reading]]) -> dict[int, Seen]:
    """The inbound rows' verdicts. On PostgreSQL the rows are locked: the same reply may be in
    two batches at once (the start-up sweep and a live delivery); the second waits here and
    reads the first one's verdict. Inbound rows first, then surveys, each in id order: every
    batch locks in the same order."""
    i = m.InboundMessage
    ids = sorted({inbound.inbound_id for inbound, _ in replies})
    query = (
        sa.select(i.id, i.match_status, i.survey_id, i.rating)
        .where(one_of(session, i.id, ids))
        .order_by(i.id)
    )
    if is_postgresql(session):
        query = query.with_for_update()
    return {row[0]: Seen(row[1], row[2], row[3]) for row in session.execute(query)}


def _load_candidates(
    session: Session, phones: set[str], earliest: datetime
) -> dict[str, list[Candidate]]:
    """Every survey to these phones the batch could change, in one query: those a reply could
    answer (window open at ``earliest``, or the SMS with the SMSC and no outcome recorded) and
    those not sent yet (an opt-out stops them)."""
    s = m.Survey
    in_flight = (
        sa.select(m.OutboundMessage.id)
        .where(
            m.OutboundMessage.survey_id == s.id,
            m.OutboundMessage.kind == "survey",
            m.OutboundMessage.status.in_(_IN_FLIGHT),
        )
        .exists()
    )
    no_window = sa.and_(s.expires_at.is_(None), s.status != "not_selected")
    query = (
        sa.select(*COLUMNS, sa.case((no_window, in_flight), else_=sa.false()))
        .where(one_of(session, s.phone, sorted(phones)))
        .where(
            sa.or_(
                s.status == "pending",
                s.expires_at > earliest,
                sa.and_(no_window, in_flight),
            )
        )
        .order_by(s.id)
    )
    by_phone: dict[str, list[Candidate]] = {}
    for row in session.execute(locked(query, session)):
        record = record_of(row[:-1])
        by_phone.setdefault(record.phone or "", []).append(Candidate(record, bool(row[-1])))
    return by_phone


def apply_replies(
    session: Session,
    replies: list[tuple[InboundSms, Reading]],
    settings: SurveySettings,
    now: datetime,
    cases: CaseSettings | None = None,
) -> list[ReplyOutcome]:
    """Match a batch of stored replies to their surveys and act on them, in this one transaction
    (an unsatisfied rating's supervision case included, assigned and timed by ``cases``)."""
    if not replies:
        return []
    write_lock(session)
    if is_postgresql(session):
        # The candidates' query (an OR with a correlated EXISTS) is estimated above
        # jit_above_cost on tables without statistics yet (a fresh install, a burst), and
        # PostgreSQL then compiles it with LLVM on every batch: 60-120 ms of server CPU for a
        # query that runs in 6 ms (docs/benchmarks.md, fifth round). Not for this transaction.
        session.execute(sa.text("SET LOCAL jit = off"))
    seen = _load_seen(session, replies)
    wanted = {
        phone
        for inbound, _ in replies
        if (phone := phone_of(inbound))
        and seen.get(inbound.inbound_id, Seen("new", None, None)).match_status == "new"
    }
    candidates: dict[str, list[Candidate]] = {}
    opted: set[str] = set()
    if wanted:
        earliest = min(inbound.received_at for inbound, _ in replies)
        candidates = _load_candidates(session, wanted, earliest)
        opted = set(
            session.scalars(
                sa.select(m.OptOut.phone).where(one_of(session, m.OptOut.phone, sorted(wanted)))
            )
        )
    before = {c.record.id: c.record for cs in candidates.values() for c in cs}
    decisions = decide_replies(replies, ReplyContext(seen, candidates, opted), settings)
    cases = cases or CaseSettings()
    _write(session, decisions, before, now, cases)
    if cases.outcome_follow_up:
        # a rating that answered no survey may answer an outcome SMS's question
        leftovers = [
            (inbound, reading)
            for (inbound, reading), outcome in zip(replies, decisions.outcomes, strict=True)
            if outcome.match_status == "unmatched" and reading.is_rating
        ]
        if leftovers:
            from storage.case_follow_up import apply_follow_ups

            consumed = apply_follow_ups(session, leftovers, now, cases)
            for outcome in decisions.outcomes:
                if outcome.inbound_id in consumed:
                    outcome.match_status = "case_reply"
    return decisions.outcomes


def _write(
    session: Session,
    decisions: ReplyDecisions,
    before: dict[int, object],
    now: datetime,
    cases: CaseSettings,
) -> None:
    if decisions.opt_outs:
        phones = [o.phone for o in decisions.opt_outs]
        session.execute(
            sa.insert(m.OptOut),
            [
                {"phone": o.phone, "source": "sms", "inbound_id": o.inbound_id, "created_at": now}
                for o in decisions.opt_outs
            ],
        )
        # What was stored before this batch stops here; the batch's own rows were decided so.
        session.execute(
            sa.update(m.OutboundMessage)
            .where(
                one_of(session, m.OutboundMessage.destination, sorted(phones)),
                m.OutboundMessage.status == "queued",
                m.OutboundMessage.kind != "opt_out_confirm",
            )
            .values(status="failed", error=OPTED_OUT_ERROR, updated_at=now)
        )
        session.execute(
            sa.update(m.CallbackTask)
            .where(
                one_of(session, m.CallbackTask.phone, sorted(phones)),
                m.CallbackTask.status == "pending",
            )
            .values(status="opted_out", updated_at=now)
        )
    write_records(session, before, decisions.surveys, now)  # type: ignore[arg-type]
    if decisions.sms:
        insert_many(
            session,
            m.OutboundMessage,
            _QUEUED_COLUMNS,
            [
                (
                    s.survey_id,
                    s.kind,
                    s.destination,
                    s.source_addr,
                    s.text,
                    "queued",
                    0,
                    now,
                    now,
                    now,
                )
                for s in decisions.sms
            ],
        )
    if decisions.callbacks:
        ids = insert_returning_ids(
            session,
            m.CallbackTask,
            _TASK_COLUMNS,
            [
                (
                    t.task.survey_id,
                    t.task.unit_id,
                    t.task.phone,
                    t.task.trigger,
                    t.status,
                    0,
                    False,
                    now,
                    now,
                )
                for t in decisions.callbacks
            ],
        )
        for decision, task_id in zip(decisions.callbacks, ids, strict=True):
            decision.outcome.callback_task_id = task_id
    if decisions.cases:
        # after the opt-outs: a number that opted out in this batch gets no outcome SMS
        by_origin: dict[str, list[int]] = {}
        for case in decisions.cases:
            by_origin.setdefault(case.origin, []).append(case.survey_id)
        openings = [
            opening
            for origin, survey_ids in sorted(by_origin.items())
            for opening in openings_for_surveys(session, survey_ids, origin, now)
        ]
        open_cases(session, openings, cases)
    if decisions.inbound:
        update_by_id(
            session,
            m.InboundMessage,
            [
                {
                    "id": v.inbound_id,
                    "survey_id": v.survey_id,
                    "match_status": v.match_status,
                    "rating": v.rating,
                    "comment": v.comment,
                }
                for v in decisions.inbound
            ],
        )


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
