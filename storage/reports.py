"""Aggregate figures over surveys, SMS and callbacks: the numbers supervisors are shown.

Every figure here can be recomputed from ``pingjing export surveys`` / ``export callbacks``:
they count the same rows. The satisfaction rate follows the seed system's definition: satisfied
plus basically satisfied, over every rated reply.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.models import (
    CallbackTask,
    InboundMessage,
    OutboundMessage,
    ServiceEvent,
    Survey,
    Unit,
)

SATISFIED = ("satisfied", "basically_satisfied")


@dataclass
class Rates:
    rated: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0

    @property
    def satisfaction(self) -> float | None:
        if not self.rated:
            return None
        return (self.satisfied + self.basically_satisfied) / self.rated


@dataclass
class Overview:
    events: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    survey_status: Counter[str] = field(default_factory=Counter)
    sms_by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    surveys_sent: int = 0
    surveys_delivered: int = 0
    replies: int = 0
    ratings: Counter[str] = field(default_factory=Counter)
    inbound: int = 0
    inbound_unmatched: int = 0
    opt_outs_by_reply: int = 0
    callbacks: Counter[str] = field(default_factory=Counter)

    @property
    def reply_rate(self) -> float | None:
        return self.replies / self.surveys_sent if self.surveys_sent else None


def _window(column: sa.ColumnElement, start: datetime | None, end: datetime | None) -> list:
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


def overview(
    session: Session, start: datetime | None = None, end: datetime | None = None
) -> Overview:
    """Counts over the events that occurred in [start, end)."""
    out = Overview()
    in_range = _window(ServiceEvent.occurred_at, start, end)
    surveys = sa.select(Survey).join(ServiceEvent, Survey.event_id == ServiceEvent.id)
    surveys = surveys.where(*in_range).subquery()
    out.events = (
        session.scalar(sa.select(sa.func.count()).select_from(ServiceEvent).where(*in_range)) or 0
    )
    for decision, n in session.execute(
        sa.select(surveys.c.decision, sa.func.count()).group_by(surveys.c.decision)
    ):
        out.decisions[decision] = n
    for status, n in session.execute(
        sa.select(surveys.c.status, sa.func.count()).group_by(surveys.c.status)
    ):
        out.survey_status[status] = n
    out.surveys_sent = (
        session.scalar(
            sa.select(sa.func.count()).select_from(surveys).where(surveys.c.sent_at.is_not(None))
        )
        or 0
    )
    out.surveys_delivered = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(surveys)
            .where(surveys.c.delivered_at.is_not(None))
        )
        or 0
    )
    out.replies = (
        session.scalar(
            sa.select(sa.func.count()).select_from(surveys).where(surveys.c.replied_at.is_not(None))
        )
        or 0
    )
    for rating, n in session.execute(
        sa.select(surveys.c.rating, sa.func.count())
        .where(surveys.c.rating.is_not(None))
        .group_by(surveys.c.rating)
    ):
        out.ratings[rating] = n
    for kind, status, n in session.execute(
        sa.select(OutboundMessage.kind, OutboundMessage.status, sa.func.count()).group_by(
            OutboundMessage.kind, OutboundMessage.status
        )
    ):
        out.sms_by_kind.setdefault(kind, Counter())[status] = n
    out.inbound = session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) or 0
    out.inbound_unmatched = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.match_status == "unmatched")
        )
        or 0
    )
    out.opt_outs_by_reply = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.rating == "opt_out")
        )
        or 0
    )
    for status, n in session.execute(
        sa.select(CallbackTask.status, sa.func.count()).group_by(CallbackTask.status)
    ):
        out.callbacks[status] = n
    return out


def satisfaction_by(
    session: Session,
    dimension: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[tuple[str, str, Rates]]:
    """Rated replies grouped by ``category`` or ``unit``: (key, label, rates), best first."""
    if dimension == "category":
        key, label = Survey.category, Survey.category
        query = sa.select(key, label, Survey.rating, sa.func.count())
    elif dimension == "unit":
        key, label = Unit.code, Unit.name
        query = sa.select(key, label, Survey.rating, sa.func.count()).join(
            Unit, Survey.unit_id == Unit.id
        )
    else:
        raise ValueError(f"unknown dimension {dimension!r}: expected category or unit")
    query = (
        query.join(ServiceEvent, Survey.event_id == ServiceEvent.id)
        .where(Survey.rating.is_not(None), *_window(ServiceEvent.occurred_at, start, end))
        .group_by(key, label, Survey.rating)
    )
    table: dict[tuple[str, str], Rates] = {}
    for k, name, rating, n in session.execute(query):
        rates = table.setdefault((k, name), Rates())
        rates.rated += n
        if rating in ("satisfied", "basically_satisfied", "unsatisfied"):
            setattr(rates, rating, getattr(rates, rating) + n)
    rows = [(k, name, rates) for (k, name), rates in table.items()]
    rows.sort(key=lambda row: (-(row[2].satisfaction or 0.0), -row[2].rated, row[0]))
    return rows
