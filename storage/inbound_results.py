"""The evaluation line's SQL: which open surveys a caller can rate, and storing what a call did.

A rating keyed on the line goes through the survey lifecycle like an SMS reply
(``ReplyRead(via="phone")``): the first rating counts whichever way it came, a later one is kept
on the call's row (``phone_calls.counted`` false) and never counted. An unsatisfied rating with a
reason is the callback already done: its task is written completed, with an attempt holding the
answers and the voice message (the same rows a callback leaves, so exports and the recordings
API show it). A complaint from a caller without a survey is kept for the inspectorate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.surveys import lifecycle as lc
from gateway.surveys.classifier import Reading
from gateway.surveys.codes import well_formed
from gateway.surveys.settings import SurveySettings
from ivr.inbound_flow import InboundResult
from storage import models as m
from storage.db import make_engine, make_session_factory, transaction
from storage.survey_rows import COLUMNS, load_records, record_of, write_records

#: Statuses a survey may be rated in by phone (the window is checked with ``lc.answerable``).
_RATEABLE = ("sent", "delivered", "undeliverable", "replied")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class SqlSurveyDirectory:
    """``ivr.inbound_flow.SurveyDirectory`` over one session, at one moment."""

    def __init__(self, session: Session, settings: SurveySettings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now

    def _open(self, condition: Any) -> list[int]:
        s = m.Survey
        rows = self.session.execute(
            sa.select(*COLUMNS)
            .where(condition, s.status.in_(_RATEABLE), s.expires_at > self.now)
            .order_by(s.sent_at, s.id)
        )
        return [
            record.id for record in map(record_of, rows) if lc.answerable(record, False, self.now)
        ]

    def by_phone(self, phone: str) -> list[int]:
        return self._open(m.Survey.phone == phone)

    def by_code(self, code: str) -> int | None:
        if not well_formed(code, self.settings.code_digits):
            return None
        found = self._open(m.Survey.code == code)
        return found[-1] if found else None


def write_inbound(
    session: Session, result: InboundResult, settings: SurveySettings, now: datetime
) -> m.PhoneCall | None:
    """Store one call; None when a call with this channel id was stored already."""
    channel_id = result.channel_id or f"line-{now.timestamp():.6f}"
    exists = session.scalar(sa.select(m.PhoneCall.id).where(m.PhoneCall.channel_id == channel_id))
    if exists is not None:
        return None
    started = _parse_time(result.started_at) or now
    ended = _parse_time(result.ended_at) or now
    call = m.PhoneCall(
        channel_id=channel_id,
        caller=result.caller,
        survey_id=result.survey_id,
        found_by=result.found_by,
        rating=result.rating,
        counted=False,
        reason_key=result.reason_key,
        consent=result.consent,
        ended_how=result.ended_how,
        busy=result.busy,
        started_at=started,
        ended_at=ended,
    )
    session.add(call)
    session.flush()
    if result.survey_id is not None and result.rating is not None:
        _rate(session, call, result, settings, ended)
    if result.complaint_key is not None:
        _complain(session, call, result)
    session.add(
        m.AuditEntry(
            actor="ivr",
            action="line_call",
            object_type="phone_call",
            object_id=str(call.id),
            detail={
                "ended_how": result.ended_how,
                "steps": result.steps,
                "wrong_keys": result.wrong_keys,
                "missed_keys": result.missed_keys,
                "error": result.error,
                "channel_id": channel_id,
            },
        )
    )
    session.flush()
    return call


def _rate(
    session: Session,
    call: m.PhoneCall,
    result: InboundResult,
    settings: SurveySettings,
    at: datetime,
) -> None:
    assert result.survey_id is not None and result.rating is not None
    before = load_records(session, [result.survey_id])
    record = before.get(result.survey_id)
    if record is None:
        return
    key = {"satisfied": "1", "basically_satisfied": "2", "unsatisfied": "3"}[result.rating]
    reading = Reading(text=key, rating=result.rating, comment=None)
    step = lc.advance(record, lc.ReplyRead(call.id, at, reading, via="phone"), settings)
    write_records(session, before, {record.id: step.record}, at)
    for output in step.outputs:
        match output:
            case lc.ReplyMarked(match_status=status):
                call.counted = status == "matched"
            case lc.CallbackTaskDue() as due if not _has_task(session, due.survey_id):
                session.add(
                    m.CallbackTask(
                        survey_id=due.survey_id,
                        unit_id=due.unit_id,
                        phone=due.phone,
                        trigger=due.trigger,
                        status="pending",
                        attempts=0,
                        overdue=False,
                        created_at=at,
                        updated_at=at,
                    )
                )
                session.flush()
            case _:  # the cases output (h14) lands here: opened in this transaction
                pass
    if result.reason_key is not None:
        _callback_done(session, call, result, at)


def _has_task(session: Session, survey_id: int) -> bool:
    query = sa.select(m.CallbackTask.id).where(m.CallbackTask.survey_id == survey_id)
    return session.scalar(query) is not None


def _callback_done(
    session: Session, call: m.PhoneCall, result: InboundResult, at: datetime
) -> None:
    """The caller gave the reason on the line: the survey's pending callback is done."""
    task = session.scalars(
        sa.select(m.CallbackTask).where(m.CallbackTask.survey_id == result.survey_id)
    ).one_or_none()
    if task is None or task.status not in ("pending", "manual"):
        return
    number = (
        session.scalar(
            sa.select(sa.func.max(m.CallAttempt.attempt_number)).where(
                m.CallAttempt.callback_id == task.id
            )
        )
        or 0
    ) + 1
    attempt = m.CallAttempt(
        callback_id=task.id,
        attempt_number=number,
        channel_id=call.channel_id,
        dial_string="inbound",
        started_at=call.started_at,
        ended_at=at,
        outcome="answered",
        confirmed=True,
        rating=result.rating,
        reason_key=result.reason_key,
        consent=result.consent,
        ended_how=result.ended_how,
        result_at=at,
    )
    session.add(attempt)
    session.flush()
    rec = result.recording
    if rec is not None:
        session.add(
            m.Recording(
                call_attempt_id=attempt.id,
                path=rec.path,
                duration_seconds=rec.seconds,
                size_bytes=rec.bytes,
                sha256=rec.sha256,
                partial=rec.partial,
            )
        )
    task.status = "completed"
    task.attempts = number
    task.reason_key = result.reason_key
    task.consent = result.consent
    task.completed_at = at
    task.updated_at = at
    call.call_attempt_id = attempt.id


def _complain(session: Session, call: m.PhoneCall, result: InboundResult) -> None:
    rec = result.recording
    session.add(
        m.Complaint(
            phone_call_id=call.id,
            caller=result.caller,
            category_key=result.complaint_key,
            category=result.complaint or "other",
            recording_path=rec.path if rec else None,
            recording_seconds=rec.seconds if rec else None,
            recording_bytes=rec.bytes if rec else None,
            recording_sha256=rec.sha256 if rec else None,
            recording_partial=bool(rec and rec.partial),
            status="open",
        )
    )


def session_directory(
    session_factory: Any, settings: SurveySettings, now: Callable[[], datetime]
) -> Any:
    """A directory answering each question in its own short read transaction."""

    class _Directory:
        def by_phone(self, phone: str) -> list[int]:
            with transaction(session_factory) as session:
                return SqlSurveyDirectory(session, settings, now()).by_phone(phone)

        def by_code(self, code: str) -> int | None:
            with transaction(session_factory) as session:
                return SqlSurveyDirectory(session, settings, now()).by_code(code)

    return _Directory()


class LineStore:
    """The AGI process's one connection for a call: the directory while it runs, the writer
    after (a database that does not answer fails within 5 s)."""

    def __init__(self, url: str, settings: SurveySettings) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine = make_engine(url, **kwargs)
        self.sessions = make_session_factory(self.engine)
        self.settings = settings
        self.code_length = settings.code_digits + 1
        self.directory = session_directory(self.sessions, settings, lambda: datetime.now(UTC))

    def write(self, result: InboundResult) -> bool:
        with transaction(self.sessions) as session:
            return write_inbound(session, result, self.settings, datetime.now(UTC)) is not None

    def close(self) -> None:
        self.engine.dispose()


def session_inbound_writer(
    session_factory: Any, settings: SurveySettings
) -> Callable[[InboundResult], bool]:
    """Each call in its own transaction of ``session_factory`` (the daemon's spool ingest)."""

    def write(result: InboundResult) -> bool:
        with transaction(session_factory) as session:
            return write_inbound(session, result, settings, datetime.now(UTC)) is not None

    return write
