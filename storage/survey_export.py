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
    "rated_via",
    "later_ratings",
)

#: What a later SMS reply to a rated survey was marked (a rating kept, never counted).
_LATER_SMS = ("comment", "duplicate")
_RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


def _later_ratings() -> sa.Subquery:
    """Per survey, the ratings that arrived after the one that counts, each as ``via:rating``
    in arrival order, joined by commas: SMS replies kept as comments or duplicates, and calls
    to the evaluation line whose rating was not counted."""
    i, c = m.InboundMessage, m.PhoneCall
    sms = sa.select(
        i.survey_id.label("survey_id"),
        i.received_at.label("at"),
        i.id.label("seq"),
        ("sms:" + i.rating).label("label"),
    ).where(i.match_status.in_(_LATER_SMS), i.rating.in_(_RATINGS), i.survey_id.is_not(None))
    phone = sa.select(
        c.survey_id.label("survey_id"),
        c.started_at.label("at"),
        c.id.label("seq"),
        ("phone:" + c.rating).label("label"),
    ).where(c.counted.is_(False), c.rating.is_not(None), c.survey_id.is_not(None))
    later = sa.union_all(sms, phone).subquery("later")
    ordered = sa.select(later).order_by(later.c.survey_id, later.c.at, later.c.seq).subquery()
    return (
        sa.select(
            ordered.c.survey_id,
            sa.func.aggregate_strings(ordered.c.label, ",").label("labels"),
        )
        .group_by(ordered.c.survey_id)
        .subquery("later_ratings")
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
    ``rating`` is the rating that counts (the first, by SMS or on the evaluation line);
    ``voice_rating`` the one a citizen who did not rate gave on a non-response callback
    (``callback_tasks.rating``), else None; ``rated_via`` how the counted rating arrived (sms,
    phone, callback); ``later_ratings`` the ratings kept but not counted (``sms:unsatisfied,
    phone:satisfied``), else None.
    """
    later = _later_ratings()
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
            m.Survey.rated_via,
            later.c.labels,
        )
        .join(m.Survey, m.Survey.event_id == m.ServiceEvent.id)
        .join(m.Unit, m.Unit.id == m.ServiceEvent.unit_id)
        .outerjoin(
            m.CallbackTask,
            (m.CallbackTask.survey_id == m.Survey.id) & (m.CallbackTask.trigger == "non_response"),
        )
        .outerjoin(later, later.c.survey_id == m.Survey.id)
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
            "rated_via": row[13] or ("callback" if row[10] is None and row[12] else None),
            "later_ratings": row[14],
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
