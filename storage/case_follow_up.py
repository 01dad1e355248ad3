"""Replies to the outcome SMS's question (对整改结果是否满意), read onto their cases.

Called by ``storage/survey_replies.py`` for the replies of a batch that answered no survey and
carry a rating, when ``[cases] outcome_follow_up`` is on: each is matched to the newest outcome
SMS sent to that phone within ``follow_up_days`` whose case has no answer yet (one answer per
case), recorded on the case's timeline, and an unsatisfied answer opens a new case about the
same event (origin ``follow_up``) for the inspectorate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.cases import lifecycle as lc
from gateway.cases.opening import CaseOpening, deadlines
from gateway.cases.settings import CaseSettings
from gateway.surveys.replies import phone_of
from storage import models as m
from storage.case_models import Case, CaseEvent
from storage.case_rows import UnitTable, load, open_cases, save

ANSWERED = "follow_up_answered"


def apply_follow_ups(
    session: Session, replies: list[tuple[Any, Any]], now: datetime, settings: CaseSettings
) -> dict[int, int]:
    """inbound id -> case id, for the replies read as answers to an outcome SMS."""
    by_phone: dict[str, list[tuple[Any, Any]]] = {}
    for inbound, reading in replies:
        phone = phone_of(inbound)
        if phone and reading.is_rating:
            by_phone.setdefault(phone, []).append((inbound, reading))
    if not by_phone:
        return {}
    o = m.OutboundMessage
    answered = sa.select(CaseEvent.id).where(
        CaseEvent.case_id == Case.id, CaseEvent.action == ANSWERED
    )
    rows = session.execute(
        sa.select(Case.id, o.destination, o.created_at)
        .join(o, o.id == Case.outcome_sms_id)
        .where(
            o.destination.in_(sorted(by_phone)),
            o.created_at >= now - timedelta(days=settings.follow_up_days),
            ~answered.exists(),
        )
        .order_by(o.created_at.desc(), Case.id.desc())
    ).all()
    waiting: dict[str, list[tuple[int, datetime]]] = {}
    for case_id, phone, sent_at in rows:
        waiting.setdefault(phone, []).append((case_id, sent_at))
    units = UnitTable(session)
    consumed: dict[int, int] = {}
    for phone, answers in by_phone.items():
        for inbound, reading in answers:
            open_ones = [(c, at) for c, at in waiting.get(phone, []) if at <= inbound.received_at]
            if not open_ones:
                continue
            case_id = open_ones[0][0]
            waiting[phone] = [(c, at) for c, at in waiting[phone] if c != case_id]
            found = load(session, case_id, units)
            assert found is not None
            row, record = found
            event = lc.FollowUpAnswered(
                "citizen", inbound.received_at, None, reading.rating, reading.text.strip()
            )
            step = lc.advance(record, event, deadlines(settings))
            if step.refused:
                continue
            save(session, row, record, step, units)
            consumed[inbound.inbound_id] = case_id
            for out in step.outputs:
                if isinstance(out, lc.FollowUpUnsatisfied):
                    opening = CaseOpening(
                        event_unit_code=record.event_unit_code,
                        origin="follow_up",
                        at=now,
                        event_id=row.event_id,
                        phone=record.phone,
                        officers=record.officers,
                        complaint=f"群众对案件{case_id}的处理结果不满意：{out.text or ''}".strip(
                            "："
                        ),
                        consent=True,
                    )
                    open_cases(session, [opening], settings, units)
    if consumed:
        session.execute(
            sa.update(m.InboundMessage)
            .where(m.InboundMessage.id.in_(sorted(consumed)))
            .values(match_status="case_reply")
        )
    return consumed
