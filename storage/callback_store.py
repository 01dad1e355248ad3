"""The SQL of callback scheduling: claims, attempts, outcomes, results, recovery, housekeeping.

Every function takes a :class:`~sqlalchemy.orm.Session` first so the scheduler can hand it to
``Database.run`` (one transaction, on a pool thread). The rules themselves (windows, retries,
endings) live in :mod:`gateway.callbacks.policy`; this module only reads and writes rows.

Claims are safe with several scheduler processes: on PostgreSQL the due tasks are selected
``FOR UPDATE SKIP LOCKED``, so two processes never claim the same row; on SQLite the database
lock serialises writers, and a claim that lost the race fails its transaction rather than
dialling twice. A claim carries the claimer's name and an expiry (``claimed_by``,
``claim_expires_at``): a task whose claim expired belongs to a crashed process and is recovered.

The trunk's capacity (``max_concurrent``) holds across processes: a claim counts the calls in
progress in the database (attempts not ended, of live claims), whoever placed them, and claims
only what is left; on PostgreSQL claims take a transaction-scoped advisory lock first, so two
processes never both see the same free line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.callbacks.policy import (
    CUT_SHORT,
    RESULT_STATUSES,
    Decision,
    after_answered,
    after_unanswered,
    first_attempt_due_by,
    is_overdue,
    sampled_for_callback,
)
from gateway.callbacks.settings import CallbackSettings
from gateway.callbacks.store import NOTHING_AT_ASTERISK, Change, Claim, LinesAtAsterisk
from gateway.cases.settings import CaseSettings
from storage.case_rows import attach_callback
from storage.models import CallAttempt, CallbackTask, OptOut, Survey
from storage.sql import is_postgresql

#: Placeholder channel id until the AMI client names the channel (unique, like the real ones).
PLACEHOLDER_PREFIX = "claim-"
#: The advisory lock that serialises callback claims across processes (PostgreSQL).
TRUNK_LOCK = 0x706A_7472  # "pjtr"


def attempts_in_progress(session: Session, now: datetime) -> set[int]:
    """Lines in use across every process: the current attempt of each live claim that has
    not ended (dialling, talking, or claimed and about to dial)."""
    return set(
        session.scalars(
            sa.select(CallAttempt.id)
            .join(CallbackTask, CallbackTask.id == CallAttempt.callback_id)
            .where(
                CallbackTask.status == "in_progress",
                CallAttempt.attempt_number == CallbackTask.attempts,
                CallAttempt.ended_at.is_(None),
                CallbackTask.claim_expires_at >= now,
            )
        )
    )


def calls_in_progress(session: Session, now: datetime) -> int:
    return len(attempts_in_progress(session, now))


def _opted_out(session: Session, phone: str) -> bool:
    return session.scalar(sa.select(sa.exists().where(OptOut.phone == phone))) or False


def _apply(task: CallbackTask, decision: Decision) -> Change:
    task.status = decision.status
    task.next_attempt_at = decision.next_attempt_at
    task.claimed_by = None
    task.claim_expires_at = None
    return Change(task.id, decision.status, decision.next_attempt_at, decision.why)


# --- claiming ----------------------------------------------------------------------------------


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    worker: str,
    settings: CallbackSettings,
    at_asterisk: LinesAtAsterisk = NOTHING_AT_ASTERISK,
) -> tuple[list[Claim], list[Change]]:
    """Claim up to ``limit`` due pending tasks and create one attempt row for each.

    At most ``max_concurrent`` calls run in total: the calls in progress in the database
    together with the callback channels Asterisk has up (``at_asterisk``, which includes calls
    a crashed process left up and the database no longer counts), each call counted once.

    A due task whose number opted out is closed as ``opted_out`` instead, never claimed, so the
    citizen is not called. Returns the claims and those closings.
    """
    if limit <= 0:
        return [], []
    if is_postgresql(session):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(TRUNK_LOCK)))
    in_use = len(attempts_in_progress(session, now) | at_asterisk.attempt_ids) + at_asterisk.untied
    limit = min(limit, settings.max_concurrent - in_use)
    if limit <= 0:
        return [], []
    query = (
        sa.select(CallbackTask)
        .where(CallbackTask.status == "pending")
        .where(sa.or_(CallbackTask.next_attempt_at.is_(None), CallbackTask.next_attempt_at <= now))
        .order_by(
            sa.func.coalesce(CallbackTask.next_attempt_at, CallbackTask.created_at),
            CallbackTask.id,
        )
        .limit(limit)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    claims: list[Claim] = []
    closed: list[Change] = []
    for task in session.scalars(query).all():
        if _opted_out(session, task.phone):
            closed.append(_apply(task, Decision("opted_out", None, "number opted out")))
            continue
        if task.due_by is None:
            task.due_by = first_attempt_due_by(task.created_at, settings)
        if task.attempts == 0 and is_overdue(task.due_by, now, now):
            task.overdue = True
        task.attempts += 1
        task.status = "in_progress"
        task.claimed_by = worker
        task.claim_expires_at = now + settings.claim_lease
        attempt = CallAttempt(
            callback_id=task.id,
            attempt_number=task.attempts,
            channel_id=PLACEHOLDER_PREFIX + uuid.uuid4().hex,
            started_at=now,
        )
        session.add(attempt)
        session.flush()
        claims.append(Claim(task.id, attempt.id, attempt.attempt_number, task.phone, task.trigger))
    return claims, closed


# --- what happened to a call -------------------------------------------------------------------


def _attempt_and_task(session: Session, attempt_id: int) -> tuple[CallAttempt, CallbackTask]:
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise LookupError(f"call attempt {attempt_id} does not exist")
    task = session.get(CallbackTask, attempt.callback_id)
    assert task is not None  # foreign key
    return attempt, task


def _owned(task: CallbackTask, attempt: CallAttempt) -> bool:
    """Whether this attempt may still decide the task (no recovery or result overtook it)."""
    return task.status == "in_progress" and task.attempts == attempt.attempt_number


def record_outcome(
    session: Session,
    attempt_id: int,
    *,
    channel_id: str | None,
    outcome: str,
    reason_code: int | None,
    hangup_cause: int | None,
    now: datetime,
    settings: CallbackSettings,
    cases: CaseSettings | None = None,
) -> Change | None:
    """Store how dialling went; an unanswered attempt is retried or sent to ``manual`` now.

    An answered attempt keeps its task ``in_progress`` until the call ends and the IVR result
    is read (:func:`record_call_ended`, :func:`settle_results`).
    """
    attempt, task = _attempt_and_task(session, attempt_id)
    if channel_id is not None:
        attempt.channel_id = channel_id
    attempt.outcome = outcome
    attempt.originate_reason = reason_code
    if hangup_cause is not None:
        attempt.hangup_cause = hangup_cause
    if outcome == "answered":
        return None
    attempt.ended_at = now
    if not _owned(task, attempt):
        return None
    return _apply(task, after_unanswered(outcome, task.attempts, now, settings))


def record_not_placed(
    session: Session, attempt_id: int, now: datetime, retry_at: datetime, why: str
) -> Change:
    """Undo an attempt that never left us (AMI link down): no call, so no attempt counted."""
    attempt, task = _attempt_and_task(session, attempt_id)
    if _owned(task, attempt):
        task.attempts -= 1
        session.delete(attempt)
        return _apply(task, Decision("pending", retry_at, why))
    return Change(task.id, task.status, task.next_attempt_at, "not placed; task moved on")


def record_refused(session: Session, attempt_id: int, now: datetime, why: str) -> Change:
    """A number the dialler refuses can never be called: supervisors handle it."""
    attempt, task = _attempt_and_task(session, attempt_id)
    attempt.outcome = "failed"
    attempt.ended_at = now
    attempt.ended_how = "error"
    if _owned(task, attempt):
        return _apply(task, Decision("manual", None, why))
    return Change(task.id, task.status, task.next_attempt_at, why)


def record_call_ended(
    session: Session,
    attempt_id: int,
    *,
    hangup_cause: int | None,
    now: datetime,
    settings: CallbackSettings,
    cases: CaseSettings | None = None,
) -> Change | None:
    """The answered call hung up: close the task from the IVR result if it is there already.

    Without a result yet (the script spooled it), the claim is shortened to ``result_grace``;
    :func:`settle_results` applies the result when the spool is ingested, and
    :func:`recover_claims` retries the task if nothing arrives in time.
    """
    attempt, task = _attempt_and_task(session, attempt_id)
    if attempt.ended_at is None:
        attempt.ended_at = now
    if hangup_cause is not None and attempt.hangup_cause is None:
        attempt.hangup_cause = hangup_cause
    if not _owned(task, attempt):
        return None
    if attempt.ended_how is not None:
        return _finish_from_result(session, task, attempt, now, settings, cases)
    task.claim_expires_at = now + settings.result_grace
    return None


def _finish_from_result(
    session: Session,
    task: CallbackTask,
    attempt: CallAttempt,
    now: datetime,
    settings: CallbackSettings,
    cases: CaseSettings | None,
) -> Change:
    decision = after_answered(
        attempt.ended_how, attempt.reason_key, attempt.attempt_number, now, settings
    )
    if decision.status in RESULT_STATUSES.values():
        task.reason_key = attempt.reason_key
        task.consent = attempt.consent
        if attempt.rating is not None:
            task.rating = attempt.rating
        task.completed_at = attempt.result_at or now
        # the result (reason, consent, voice message) goes onto the survey's case; an
        # unsatisfied rating given on the phone by a non-responder opens one
        attach_callback(
            session,
            task.survey_id,
            consent=attempt.consent,
            reason_key=attempt.reason_key,
            rating=attempt.rating,
            recording_id=attempt.recording.id if attempt.recording is not None else None,
            actor="ivr",
            now=now,
            settings=cases or CaseSettings(),
        )
    return _apply(task, decision)


def _is_final_result(attempt: CallAttempt) -> bool:
    return attempt.ended_how in RESULT_STATUSES or (
        attempt.ended_how in CUT_SHORT and attempt.reason_key is not None
    )


def settle_results(
    session: Session,
    now: datetime,
    settings: CallbackSettings,
    exclude: Iterable[int] = (),
    cases: CaseSettings | None = None,
) -> list[Change]:
    """Apply IVR results that arrived (directly or from the spool) to their tasks.

    An ``in_progress`` task takes its current attempt's result whatever it is (a usable result
    closes it, an unusable one retries it). A task already back to ``pending`` or in ``manual``
    (its result came late) is closed only by a usable result. Tasks in ``exclude`` (calls this
    process is still on) are left to :func:`record_call_ended`.
    """
    skip = set(exclude)
    rows = session.execute(
        sa.select(CallbackTask, CallAttempt)
        .join(CallAttempt, CallAttempt.callback_id == CallbackTask.id)
        .where(CallAttempt.ended_how.is_not(None))
        .where(
            sa.or_(
                CallbackTask.status == "in_progress",
                # Only usable results reopen a task, so settled tasks are not rescanned.
                sa.and_(
                    CallbackTask.status.in_(("pending", "manual")),
                    sa.or_(
                        CallAttempt.ended_how.in_(tuple(RESULT_STATUSES)),
                        sa.and_(
                            CallAttempt.ended_how.in_(tuple(CUT_SHORT)),
                            CallAttempt.reason_key.is_not(None),
                        ),
                    ),
                ),
            )
        )
        .order_by(CallbackTask.id, CallAttempt.attempt_number)
    ).all()
    changes: list[Change] = []
    done: set[int] = set()
    for task, attempt in rows:
        if task.id in skip or task.id in done:
            continue
        if task.status == "in_progress":
            if attempt.attempt_number != task.attempts:
                continue
        elif not _is_final_result(attempt):
            continue
        if attempt.ended_at is None:
            attempt.ended_at = now
        changes.append(_finish_from_result(session, task, attempt, now, settings, cases))
        done.add(task.id)
    return changes


# --- crashed processes -------------------------------------------------------------------------


def recover_claims(
    session: Session,
    now: datetime,
    settings: CallbackSettings,
    *,
    worker: str | None = None,
    exclude: Iterable[int] = (),
    cases: CaseSettings | None = None,
) -> list[Change]:
    """Give back tasks whose claimer is gone: claims that expired, and (at start-up) every
    claim of ``worker``, this process's own name from before a crash.

    The interrupted attempt counts (the phone may have rung: a citizen is never called more
    than ``max_attempts`` times) and is decided as usual: its IVR result if one exists,
    otherwise an unanswered try with outcome ``unknown``.
    """
    skip = set(exclude)
    stale = CallbackTask.claim_expires_at < now
    if worker is not None:
        stale = sa.or_(stale, CallbackTask.claimed_by == worker)
    query = (
        sa.select(CallbackTask)
        .where(CallbackTask.status == "in_progress")
        .where(stale)
        .order_by(CallbackTask.id)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    changes: list[Change] = []
    for task in session.scalars(query).all():
        if task.id in skip:
            continue
        attempt = session.scalar(
            sa.select(CallAttempt).where(
                CallAttempt.callback_id == task.id,
                CallAttempt.attempt_number == task.attempts,
            )
        )
        if attempt is None:
            changes.append(_apply(task, after_unanswered("unknown", task.attempts, now, settings)))
            continue
        if attempt.ended_at is None:
            attempt.ended_at = now
        if attempt.ended_how is not None or attempt.outcome == "answered":
            changes.append(_finish_from_result(session, task, attempt, now, settings, cases))
            continue
        if attempt.outcome is None:
            attempt.outcome = "unknown"
        changes.append(
            _apply(task, after_unanswered(attempt.outcome, task.attempts, now, settings))
        )
    return changes


# --- housekeeping ------------------------------------------------------------------------------


def sweep(session: Session, now: datetime, settings: CallbackSettings) -> list[Change]:
    """Close pending tasks whose number opted out, give every task its deadline, flag the late.

    The deadline counts from the citizen's reply when the survey has one, else from the task.
    """
    changes: list[Change] = []
    opted = session.scalars(
        sa.select(CallbackTask)
        .where(CallbackTask.status == "pending")
        .where(sa.exists().where(OptOut.phone == CallbackTask.phone))
    ).all()
    for task in opted:
        changes.append(_apply(task, Decision("opted_out", None, "number opted out")))
    undated = session.execute(
        sa.select(CallbackTask, Survey.replied_at)
        .join(Survey, Survey.id == CallbackTask.survey_id)
        .where(CallbackTask.due_by.is_(None))
    ).all()
    for task, replied_at in undated:
        task.due_by = first_attempt_due_by(replied_at or task.created_at, settings)
    late = session.scalars(
        sa.select(CallbackTask)
        .where(CallbackTask.overdue.is_(False))
        .where(CallbackTask.attempts == 0)
        .where(CallbackTask.status == "pending")
        .where(CallbackTask.due_by < now)
    ).all()
    for task in late:
        task.overdue = True
        changes.append(Change(task.id, task.status, task.next_attempt_at, "overdue"))
    return changes


def next_due_at(session: Session, now: datetime) -> datetime | None:
    """When the earliest pending task becomes due: ``now`` when one already is, ``None`` when
    nothing is pending."""
    pending = CallbackTask.status == "pending"
    if session.scalar(
        sa.select(sa.exists().where(pending, CallbackTask.next_attempt_at.is_(None)))
    ):
        return now
    earliest = session.scalar(sa.select(sa.func.min(CallbackTask.next_attempt_at)).where(pending))
    if earliest is None:
        return None
    if earliest.tzinfo is None:  # aggregates bypass UtcDateTime on SQLite
        earliest = earliest.replace(tzinfo=UTC)
    return max(earliest, now)


def create_non_response_tasks(
    session: Session, now: datetime, settings: CallbackSettings, *, limit: int = 5000
) -> list[int]:
    """Create callback tasks for a sample of surveys nobody replied to (``trigger`` =
    ``non_response``), to measure the bias the reply rate hides.

    Only surveys that expired within ``first_attempt_within`` are considered, so raising the
    share later does not phone citizens about old events. Surveys the sample skips stay
    candidates (nothing marks them), so the candidates are read in pages of ``limit`` by
    survey id until none are left: a fixed cap would let the skipped ones hide every newer
    survey until they age out of the window. Returns the new task ids.
    """
    if settings.non_response_share <= 0.0:
        return []
    since = now - settings.first_attempt_within
    limit = max(limit, 1)
    created: list[int] = []
    after_id = 0
    while True:
        candidates = session.execute(
            sa.select(Survey.id, Survey.unit_id, Survey.phone, Survey.expires_at)
            .outerjoin(CallbackTask, CallbackTask.survey_id == Survey.id)
            .where(CallbackTask.id.is_(None))
            .where(Survey.status == "expired")
            .where(Survey.phone.is_not(None))
            .where(Survey.replied_at.is_(None))
            .where(Survey.expires_at > since, Survey.expires_at <= now)
            .where(Survey.id > after_id)
            .order_by(Survey.id)
            .limit(limit)
        ).all()
        for survey_id, unit_id, phone, expires_at in candidates:
            if not sampled_for_callback(survey_id, settings.non_response_share):
                continue
            task = CallbackTask(
                survey_id=survey_id,
                unit_id=unit_id,
                phone=phone,
                trigger="non_response",
                status="opted_out" if _opted_out(session, phone) else "pending",
                due_by=first_attempt_due_by(expires_at, settings),
                created_at=now,
            )
            session.add(task)
            session.flush()
            created.append(task.id)
        if len(candidates) < limit:
            return created
        after_id = candidates[-1][0]


class SqlCallbackStore:
    """``gateway.callbacks.store.CallbackStore`` as these transaction functions; ``cases``
    (``[cases]``) times the cases a callback result opens."""

    def __init__(self, cases: CaseSettings | None = None) -> None:
        self.cases = cases

    def record_call_ended(self, session: Session, *args: Any, **kwargs: Any) -> Change | None:
        return record_call_ended(session, *args, cases=self.cases, **kwargs)

    def recover_claims(self, session: Session, *args: Any, **kwargs: Any) -> list[Change]:
        return recover_claims(session, *args, cases=self.cases, **kwargs)

    def settle_results(
        self,
        session: Session,
        now: datetime,
        settings: CallbackSettings,
        exclude: Iterable[int] = (),
    ) -> list[Change]:
        return settle_results(session, now, settings, exclude, self.cases)

    claim_due = staticmethod(claim_due)
    record_outcome = staticmethod(record_outcome)
    record_not_placed = staticmethod(record_not_placed)
    record_refused = staticmethod(record_refused)
    sweep = staticmethod(sweep)
    next_due_at = staticmethod(next_due_at)
    create_non_response_tasks = staticmethod(create_non_response_tasks)
