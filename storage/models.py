"""The whole domain as tables: the only module that says what is stored and how it is keyed.

Every timestamp is stored as UTC (``UtcDateTime`` refuses naive values and returns aware ones,
on SQLite as on PostgreSQL); business rules convert to the configured time zone when they read.
Enumerations are stored as short strings (not database enums) so that a new reason or state is a
code change, not a migration that rewrites a type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime; naive datetimes are a programming error and are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware datetimes (UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


def created_column() -> Mapped[datetime]:
    return mapped_column(UtcDateTime, default=utcnow, nullable=False)


# --- organisation ------------------------------------------------------------------------------

UNIT_KINDS = (
    "city_bureau",  # 市公安局
    "sub_bureau",  # 分局
    "county_bureau",  # 县(市)局
    "department",  # 市局部门 (支队、大队)
    "station",  # 派出所
    "window",  # 服务窗口
    "team",  # 中队、警务室 and other small units
)


class Unit(Base):
    """One node of the police organisation tree (city bureau → bureaus/departments → stations)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[str] = mapped_column(sa.String(24))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")
    officers: Mapped[list[Officer]] = relationship(back_populates="unit")


class Officer(Base):
    """A police officer (民警), identified by the police number (警号)."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(primary_key=True)
    police_number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="officers")


# --- intake ------------------------------------------------------------------------------------


class ServiceEvent(Base):
    """One contact between the police and a citizen, as reported by a business system."""

    __tablename__ = "service_events"
    __table_args__ = (
        sa.Index(None, "unit_id", "occurred_at"),
        # intake's duplicate-contact check: this batch's phones, around its times
        sa.Index(None, "citizen_phone", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    category: Mapped[str] = mapped_column(sa.String(16))  # incident | case | window | other
    business: Mapped[str | None] = mapped_column(sa.String(64))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    citizen_phone: Mapped[str | None] = mapped_column(
        sa.String(20)
    )  # normalised; None: not SMS-able
    citizen_phone_raw: Mapped[str | None] = mapped_column(sa.String(40))
    citizen_name: Mapped[str | None] = mapped_column(sa.String(64))
    occurred_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    tags: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(sa.String(16))  # amqp | http | file | demo
    received_at: Mapped[datetime] = created_column()

    unit: Mapped[Unit] = relationship()
    officers: Mapped[list[Officer]] = relationship(secondary="event_officers")
    survey: Mapped[Survey | None] = relationship(back_populates="event", uselist=False)


event_officers = sa.Table(
    "event_officers",
    Base.metadata,
    sa.Column("event_id", sa.ForeignKey("service_events.id"), primary_key=True),
    sa.Column("officer_id", sa.ForeignKey("officers.id"), primary_key=True, index=True),
)


# --- surveys -----------------------------------------------------------------------------------

SURVEY_DECISIONS = (
    "selected",
    "sensitive_category",
    "opted_out",
    "recently_surveyed",
    "not_mobile",
    "duplicate",
    "sampled_out",
    "too_old",
)
SURVEY_STATUSES = (
    "not_selected",
    "pending",
    "sent",
    "delivered",
    "undeliverable",
    "replied",
    "expired",
    "failed",
    "opted_out",  # see gateway.surveys.lifecycle.STATUS_ORDER
    "withdrawn",
)
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


class Survey(Base):
    """The one decision and, when selected, the one evaluation SMS for a service event."""

    __tablename__ = "surveys"
    __table_args__ = (
        sa.Index(None, "unit_id", "created_at"),
        sa.Index(None, "phone", "sent_at"),
        # Closing reply windows (status sent/delivered, expires_at passed) and finding expired
        # surveys for non-responder callbacks read a status and a range of expires_at.
        sa.Index(None, "status", "expires_at"),
        # Reports count surveys by when their event occurred, per unit and rating: the
        # ranking reads only this index (index-only on PostgreSQL, with the INCLUDE columns).
        sa.Index(
            None,
            "occurred_at",
            "unit_id",
            "rating",
            postgresql_include=["id", "sent_at", "delivered_at", "replied_at"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("service_events.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    category: Mapped[str] = mapped_column(sa.String(16))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    decision: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(16))
    # The per-survey sub-number replies are sent to; reused over time, so not unique. Not
    # indexed: a reply is matched among its phone's surveys (gateway/surveys/matching.py),
    # never looked up by address, and every survey write would write the entry (0013).
    reply_address: Mapped[str | None] = mapped_column(sa.String(32))
    #: the event's ``occurred_at``, copied at intake so reports read surveys alone
    occurred_at: Mapped[datetime | None]
    # The short code in the SMS (gateway/surveys/codes.py); reused over time, so not unique.
    code: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    scheduled_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    rating: Mapped[str | None] = mapped_column(sa.String(24))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    clarification_sent: Mapped[bool] = mapped_column(default=False)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(128))
    # How the rating that counts arrived: sms | phone | callback (gateway/surveys/lifecycle.py)
    rated_via: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[ServiceEvent] = relationship(back_populates="survey")
    unit: Mapped[Unit] = relationship()


# --- SMS ---------------------------------------------------------------------------------------

OUTBOUND_KINDS = ("survey", "thank_you", "opt_out_confirm", "clarify", "operator", "case_outcome")
OUTBOUND_STATUSES = (
    "queued",
    "submitting",
    "submitted",
    "delivered",
    "undeliverable",
    "failed",
    "unknown",
)


class OutboundMessage(Base):
    """One logical SMS to a citizen; the outbox the sender drains."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        sa.Index(None, "status", "next_attempt_at", "id"),  # the claim's order
        sa.Index(None, "destination", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    destination: Mapped[str] = mapped_column(sa.String(20))
    source_addr: Mapped[str | None] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    parts_count: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.String(128))
    # the gateway process (instance) that claimed it; when its first submit_sm was about to be
    # written to the SMSC link (committed before the bytes go): start-up recovery tells an SMS
    # never written (queued again) from one that may have gone (unknown)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    wire_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parts: Mapped[list[SmsPart]] = relationship(back_populates="outbound")


class SmsPart(Base):
    """One submit_sm: a single part of an outbound message, and what the SMSC said of it."""

    __tablename__ = "sms_parts"
    __table_args__ = (sa.UniqueConstraint("outbound_id", "part_number", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbound_id: Mapped[int] = mapped_column(sa.ForeignKey("outbound_messages.id"))
    part_number: Mapped[int]
    parts_total: Mapped[int]
    attempt: Mapped[int] = mapped_column(default=1)
    sequence_number: Mapped[int | None]
    message_id: Mapped[str | None] = mapped_column(sa.String(64))  # as the SMSC wrote it
    # message_id normalised by the carrier's message_id_format: what receipts are matched on
    message_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))  # submitting|submitted|delivered|...
    command_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.String(128))
    receipt_state: Mapped[str | None] = mapped_column(sa.String(16))
    submitted_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    final_at: Mapped[datetime | None]

    outbound: Mapped[OutboundMessage] = relationship(back_populates="parts")


REPLY_HELD = "held"  # match_status of a long reply's part waiting for its siblings


class InboundMessage(Base):
    """A deliver_sm that is not a receipt: a citizen's reply, raw and decoded."""

    __tablename__ = "inbound_messages"
    # Only held parts are looked up by source (storage/inbound_replies.py): a reply enters no
    # index but its id's until matched, and its verdict's update writes no source entry (0013).
    __table_args__ = (
        sa.Index(
            "ix_inbound_messages_held_source_addr",
            "source_addr",
            postgresql_where=sa.text(f"match_status = '{REPLY_HELD}'"),
            sqlite_where=sa.text(f"match_status = '{REPLY_HELD}'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_addr: Mapped[str] = mapped_column(sa.String(32))
    destination_addr: Mapped[str] = mapped_column(sa.String(32))
    data_coding: Mapped[int]
    esm_class: Mapped[int] = mapped_column(default=0)
    raw_hex: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    parts_total: Mapped[int] = mapped_column(default=1)
    incomplete: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = created_column()
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id"), index=True)
    match_status: Mapped[str] = mapped_column(sa.String(16), default="new")
    rating: Mapped[str | None] = mapped_column(sa.String(24))  # classifier's reading
    comment: Mapped[str | None] = mapped_column(sa.Text)


INBOUND_DELIVERY_FILLFACTOR = 45


class InboundDelivery(Base):
    """One reply ``deliver_sm`` as it came (a whole reply or one part), kept for
    ``smpp.redelivery_window`` to tell an SMSC redelivery from a citizen's repeat
    (gateway/smpp/redelivery.py). ``inbound_id`` has no foreign key: a held part's row is
    replaced by the assembled reply, and the delivery then names the reply."""

    __tablename__ = "inbound_deliveries"
    __table_args__ = (
        sa.Index(None, "source_addr", "fingerprint"),
        sa.Index(None, "received_at"),
        # Room in each page for the one update a row gets (acked_at, in no index), so that it
        # stays heap-only and writes no index entry: proofs stamp thousands of rows in one
        # statement, whose old versions cannot be pruned before it commits, so a page is left
        # more than half empty for a new version of every row in it (0013). The table holds
        # one redelivery window of replies: the space is small.
        {"postgresql_with": {"fillfactor": INBOUND_DELIVERY_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int | None]
    source_addr: Mapped[str] = mapped_column(sa.String(32))
    fingerprint: Mapped[str] = mapped_column(sa.String(32))
    link: Mapped[str | None] = mapped_column(sa.String(160))  # instance/boot/label#n
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acked_at: Mapped[datetime | None]  # the SMSC was proven to have read our deliver_sm_resp


class DeliveryReceipt(Base):
    """A delivery receipt as received, kept raw; ``sms_part_id`` is filled when it matched."""

    __tablename__ = "delivery_receipts"
    __table_args__ = (
        # looked up by key only while unmatched (a receipt ahead of its submit_sm_resp)
        sa.Index(
            "ix_delivery_receipts_unmatched_key",
            "message_key",
            postgresql_where=sa.text("sms_part_id IS NULL"),
            sqlite_where=sa.text("sms_part_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(64))  # as written in the receipt
    message_key: Mapped[str | None] = mapped_column(sa.String(64))
    sms_part_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sms_parts.id"), index=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    error_code: Mapped[str | None] = mapped_column(sa.String(16))
    submit_date: Mapped[datetime | None]
    done_date: Mapped[datetime | None]
    source_addr: Mapped[str | None] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = created_column()


class OptOut(Base):
    """A number that asked for no more messages or calls (回复TD退订)."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # sms | operator | ivr
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = created_column()


# --- voice callbacks ---------------------------------------------------------------------------

CALLBACK_STATUSES = (
    "pending",
    "in_progress",
    "completed",
    "wrong_person",
    "no_input",
    "manual",
    "opted_out",
)


class CallbackTask(Base):
    """A citizen to be phoned back (every unsatisfied reply, and a sample of non-responders)."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        sa.Index(None, "status", "next_attempt_at"),
        sa.Index(None, "unit_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    phone: Mapped[str] = mapped_column(sa.String(20))
    trigger: Mapped[str] = mapped_column(sa.String(16))  # unsatisfied | non_response
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    due_by: Mapped[datetime | None]  # first attempt must happen before this
    overdue: Mapped[bool] = mapped_column(default=False)
    rating: Mapped[str | None] = mapped_column(sa.String(24))  # asked by the IVR (non_response)
    reason_key: Mapped[str | None] = mapped_column(sa.String(4))
    consent: Mapped[bool | None]
    completed_at: Mapped[datetime | None]
    # The scheduler process holding an in_progress task, and until when: an expired claim
    # belongs to a crashed process and is recovered (gateway/callbacks/scheduler.py).
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    claim_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    survey: Mapped[Survey] = relationship()
    unit: Mapped[Unit] = relationship()
    attempts_made: Mapped[list[CallAttempt]] = relationship(
        back_populates="callback", order_by="CallAttempt.attempt_number"
    )


class CallAttempt(Base):
    """One Originate and, when answered, what the IVR collected."""

    __tablename__ = "call_attempts"
    __table_args__ = (sa.UniqueConstraint("callback_id", "attempt_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(sa.ForeignKey("callback_tasks.id"))
    attempt_number: Mapped[int]
    channel_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    dial_string: Mapped[str | None] = mapped_column(sa.String(128))
    started_at: Mapped[datetime] = created_column()
    ended_at: Mapped[datetime | None]
    # answered | busy | no_answer | congestion | failed | unknown
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    originate_reason: Mapped[int | None]
    hangup_cause: Mapped[int | None]
    # What the IVR collected (filled by the AGI script, or from its spool file)
    confirmed: Mapped[bool | None]
    rating: Mapped[str | None] = mapped_column(sa.String(24))
    reason_key: Mapped[str | None] = mapped_column(sa.String(4))
    consent: Mapped[bool | None]
    # completed | wrong_person | no_input | hangup | error
    ended_how: Mapped[str | None] = mapped_column(sa.String(16))
    result_at: Mapped[datetime | None]

    callback: Mapped[CallbackTask] = relationship(back_populates="attempts_made")
    recording: Mapped[Recording | None] = relationship(back_populates="attempt", uselist=False)


class Recording(Base):
    """The citizen's voice message, as a file Asterisk wrote, with its fingerprint."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("call_attempts.id"), unique=True)
    path: Mapped[str] = mapped_column(sa.String(512))
    duration_seconds: Mapped[float | None]
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    partial: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_column()

    attempt: Mapped[CallAttempt] = relationship(back_populates="recording")


# --- reports -----------------------------------------------------------------------------------


class Interview(Base):
    """A 约谈 proposed from a monthly ranking (last place, or three months running), confirmed
    or dismissed by a supervisor."""

    __tablename__ = "interviews"
    __table_args__ = (sa.UniqueConstraint("unit_code", "month", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(sa.String(32))
    month: Mapped[str] = mapped_column(sa.String(7), index=True)  # 2018-05
    kind: Mapped[str] = mapped_column(sa.String(24))  # monthly_last | three_months_last
    interviewees: Mapped[list[Any]] = mapped_column(default=list)
    deduction: Mapped[float] = mapped_column(sa.Float, default=0.0)
    status: Mapped[str] = mapped_column(sa.String(16), default="proposed")
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()


class AssessmentAdjustment(Base):
    """Points added to or taken from a unit's annual assessment (a confirmed deduction)."""

    __tablename__ = "assessment_adjustments"
    __table_args__ = (sa.Index(None, "year", "unit_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(sa.String(32))
    year: Mapped[int]
    points: Mapped[float] = mapped_column(sa.Float)
    reason: Mapped[str] = mapped_column(sa.String(128))
    interview_id: Mapped[int | None] = mapped_column(sa.ForeignKey("interviews.id"))
    created_at: Mapped[datetime] = created_column()


class ReportFile(Base):
    """One produced report file in the archive (text, JSON, CSV, XLSX, chart)."""

    __tablename__ = "report_archive"
    __table_args__ = (sa.Index(None, "kind", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    period_key: Mapped[str] = mapped_column(sa.String(32))
    unit_code: Mapped[str] = mapped_column(sa.String(32), default="")
    fmt: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(512))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    delivered_to: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_column()


# --- the evaluation line (inbound calls) -------------------------------------------------------


class PhoneCall(Base):
    """One call to the evaluation line and what it did (ivr/inbound_flow.py).

    ``counted``: its rating is the survey's rating (the first to arrive); a rating that came
    after an SMS reply or another call is kept here and shown, never counted.
    """

    __tablename__ = "phone_calls"
    __table_args__ = (sa.Index(None, "survey_id"), sa.Index(None, "caller", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    caller: Mapped[str | None] = mapped_column(sa.String(20))  # normalised; None: withheld
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id"))
    found_by: Mapped[str | None] = mapped_column(sa.String(12))  # phone | choice | code
    rating: Mapped[str | None] = mapped_column(sa.String(24))
    counted: Mapped[bool] = mapped_column(default=False)
    reason_key: Mapped[str | None] = mapped_column(sa.String(4))
    consent: Mapped[bool | None]
    # The unsatisfied path: the callback task it completed and the attempt holding the message.
    call_attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("call_attempts.id"))
    ended_how: Mapped[str] = mapped_column(sa.String(16))
    busy: Mapped[bool] = mapped_column(default=False)  # turned away: every line taken
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()


COMPLAINT_STATUSES = ("open", "case_opened")


class Complaint(Base):
    """A complaint left on the evaluation line by a caller with no survey to rate; it opens a
    supervision case (origin ``complaint``) at the root of the unit tree, for the inspectorate
    to assign by hand."""

    __tablename__ = "complaints"
    __table_args__ = (sa.Index(None, "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_call_id: Mapped[int] = mapped_column(sa.ForeignKey("phone_calls.id"), unique=True)
    caller: Mapped[str | None] = mapped_column(sa.String(20))
    category_key: Mapped[str] = mapped_column(sa.String(4))
    category: Mapped[str] = mapped_column(sa.String(24))
    recording_path: Mapped[str | None] = mapped_column(sa.String(512))
    recording_seconds: Mapped[float | None]
    recording_bytes: Mapped[int | None]
    recording_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    recording_partial: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    # The supervision case it opened (storage/case_models.py), in the call's transaction.
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    created_at: Mapped[datetime] = created_column()


# --- audit -------------------------------------------------------------------------------------


class AuditEntry(Base):
    """Who did what to which record: recordings fetched, imports, supervisor actions."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = created_column()
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- people and supervision (own modules; imported here so Base.metadata holds every table) -

from storage import account_models, case_models  # noqa: E402, F401
