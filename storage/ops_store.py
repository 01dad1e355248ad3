"""The database's side of ``/metrics``: queue depths and ages, read in one short transaction.

Counts only: no phone number, text or id leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage import models as m
from storage.callback_store import calls_in_progress


@dataclass(frozen=True)
class Depths:
    outbox: dict[str, int] = field(default_factory=dict)  # outbound_messages by status
    oldest_due_seconds: float = 0.0  # age of the oldest queued SMS already due
    callbacks: dict[str, int] = field(default_factory=dict)  # callback tasks by status
    calls_in_progress: int = 0  # across every process
    replies_unprocessed: int = 0  # stored replies still ``new``
    surveys: dict[str, int] = field(default_factory=dict)


def _by_status(session: Session, column: sa.Column, statuses: tuple[str, ...] = ()) -> dict:
    query = sa.select(column, sa.func.count()).group_by(column)
    if statuses:
        query = query.where(column.in_(statuses))
    return {str(status): int(n) for status, n in session.execute(query)}


def read_depths(session: Session, now: datetime) -> Depths:
    o = m.OutboundMessage
    oldest = session.scalar(
        sa.select(sa.func.min(o.next_attempt_at)).where(
            o.status == "queued", o.next_attempt_at <= now
        )
    )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return Depths(
        outbox=_by_status(session, o.status, ("queued", "submitting")),
        oldest_due_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        callbacks=_by_status(session, m.CallbackTask.status),
        calls_in_progress=calls_in_progress(session, now),
        replies_unprocessed=int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(m.InboundMessage)
                .where(m.InboundMessage.match_status == "new")
            )
            or 0
        ),
        surveys=_by_status(session, m.Survey.status),
    )
