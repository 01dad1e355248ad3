"""Tables of supervision: cases, their timeline, officers and evidence; ladder decisions;
manual callback calls. Kept beside ``storage.models`` (which imports this module)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, Unit, created_column, utcnow

CASE_ORIGINS = ("sms_unsatisfied", "ivr_unsatisfied", "complaint", "follow_up")

case_officers = sa.Table(
    "case_officers",
    Base.metadata,
    sa.Column("case_id", sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("officer_id", sa.ForeignKey("officers.id"), primary_key=True, index=True),
)


class Case(Base):
    """One unsatisfied evaluation (or complaint) as the inspectorate works it."""

    __tablename__ = "cases"
    __table_args__ = (
        # the inbox: a scope's units, a state, by deadline; and the overdue sweep
        sa.Index(None, "unit_id", "state", "due_at"),
        sa.Index(None, "state", "due_at"),
        sa.Index(None, "opened_at"),
        # the ladder's cases of a period; a case opens unsubstantiated, so its row enters
        # this index only once verified (no index entry to write on every opening)
        sa.Index(
            None,
            "substantiated_at",
            postgresql_where=sa.text("substantiated_at IS NOT NULL"),
            sqlite_where=sa.text("substantiated_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id"), unique=True)
    # No index on event_id or event_unit_id: no query looks cases up by them, and events and
    # units are never deleted; every reply batch would write both (migration 0012).
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_events.id"))
    origin: Mapped[str] = mapped_column(sa.String(16))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))  # handling unit
    event_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    state: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[int] = mapped_column(default=1)
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    substantiated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    consent: Mapped[bool | None]
    reason_key: Mapped[str | None] = mapped_column(sa.String(4))
    recording_id: Mapped[int | None] = mapped_column(sa.ForeignKey("recordings.id"))
    complaint: Mapped[str | None] = mapped_column(sa.Text)
    finding: Mapped[str | None] = mapped_column(sa.Text)
    unsubstantiated_reason: Mapped[str | None] = mapped_column(sa.Text)
    measures: Mapped[list[Any]] = mapped_column(default=list)
    returns: Mapped[int] = mapped_column(default=0)
    outcome_sms_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outbound_messages.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    event_unit: Mapped[Unit] = relationship(foreign_keys=[event_unit_id])


class CaseEvent(Base):
    """One line of a case's timeline: who, when, what, why, from which state to which."""

    __tablename__ = "case_events"
    __table_args__ = (sa.Index(None, "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(24))
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseEvidence(Base):
    """An evidence file of a case, stored by content hash under the data directory."""

    __tablename__ = "case_evidence"
    __table_args__ = (sa.UniqueConstraint("case_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int]
    uploaded_by: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = created_column()


class LadderDecision(Base):
    """An inspector's decision on a ladder proposal (问责): as proposed, changed, dismissed.

    A proposal is about one person and the substantiated case that triggered it:
    ``subject`` ``officer`` (the officer's own step on the ladder) or ``principal`` /
    ``deputy`` (the unit's leaders held to account for it; ``about_officer_id`` the officer).
    One decision per (person, subject, case)."""

    __tablename__ = "ladder_decisions"
    __table_args__ = (sa.UniqueConstraint("officer_id", "subject", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(sa.ForeignKey("officers.id"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(16))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    about_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    period: Mapped[str] = mapped_column(sa.String(24))
    step: Mapped[int]
    proposed: Mapped[str] = mapped_column(sa.String(24))
    decision: Mapped[str] = mapped_column(sa.String(16))
    measure: Mapped[str | None] = mapped_column(sa.String(24))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    case_ids: Mapped[list[Any]] = mapped_column(default=list)
    decided_by: Mapped[str] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime] = created_column()


class ManualCall(Base):
    """A callback made by hand: who called, whether the citizen was reached, what they said."""

    __tablename__ = "manual_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(sa.ForeignKey("callback_tasks.id"), index=True)
    at: Mapped[datetime]
    caller: Mapped[str] = mapped_column(sa.String(64))
    reached: Mapped[bool]
    reason_key: Mapped[str | None] = mapped_column(sa.String(4))
    rating: Mapped[str | None] = mapped_column(sa.String(24))
    consent: Mapped[bool | None]
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = created_column()
