"""The SQL of ``pingjing export surveys``, and the longest names the template check needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.masking import mask_phone
from gateway.surveys.lifecycle import shown_delivery
from storage import models as m

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
            "delivered_at": shown_delivery(row[7], row[8]),
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
