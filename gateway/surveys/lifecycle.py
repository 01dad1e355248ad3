"""The survey lifecycle: one pure function from (record, event) to (record, outputs).

A survey learns about its SMS from several streams that race each other: the SMSC's answer to
``submit_sm`` (and the commit of that answer), delivery receipts, the citizen's replies, the
reply window's end, an opt-out sent in answer to another SMS. The record must say the same
whatever order they arrive in, so every field is a merge that does not depend on order:

- the status is the furthest along :data:`STATUS_ORDER` that any event implies;
- a timestamp, once known, stays (the earliest when two events give one);
- ``failure_reason`` belongs to the event that set the status (the smallest text on a tie).

Replies of one citizen are read in the order they arrived (the first rating wins, later texts
are comments), which is the order the reply lane hands them over in; between the streams any
interleaving gives the same record (``tests/surveys/test_lifecycle.py``).

No SQL, no Twisted: ``storage/`` loads records, calls :func:`advance`, writes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from gateway.surveys.classifier import Reading
from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import reply_text

#: Furthest along last. A DELIVRD receipt, a window that closed, an undeliverable verdict, a
#: rating and an opt-out each say more about the SMS than the statuses before them.
STATUS_ORDER = (
    "pending",  # selected, SMS queued or with the SMSC and not answered yet
    "withdrawn",  # the service event was withdrawn before the SMS went out
    "failed",  # the SMSC refused the SMS
    "sent",  # the SMSC accepted it (or its answer was lost: ``failure_reason`` says so)
    "delivered",  # a receipt says the phone got it
    "expired",  # the reply window closed without a rating
    "undeliverable",  # a receipt says the phone never got it (even after the window closed)
    "replied",  # the citizen rated it
    "opted_out",  # the citizen asked for no more messages (this reply or another one)
)
RANK = {status: rank for rank, status in enumerate(STATUS_ORDER)}
#: Statuses in which a survey may still be rated or opted out of by a reply.
OPEN = frozenset({"pending", "sent", "delivered", "undeliverable", "replied", "expired"})
#: A receipt's done date further than this from its arrival is not believed.
DONE_DATE_AHEAD = timedelta(minutes=10)
# A receipt is sent when its message is done: a done date hours before it arrived is read in
# the wrong zone more likely than late (``smpp.receipt_timezone``).
DONE_DATE_BEHIND = timedelta(hours=2)


class SurveyRecord(NamedTuple):
    """The survey as the lifecycle sees it (the ``surveys`` row minus bookkeeping).

    A named tuple rather than a frozen dataclass: immutable all the same, and a reply batch
    makes several changed copies of each record, which ``_replace`` makes five times faster
    than ``dataclasses.replace`` (the reply path's A/B in ``docs/benchmarks.md``)."""

    id: int
    phone: str | None
    unit_id: int
    status: str = "pending"
    reply_address: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    replied_at: datetime | None = None
    expires_at: datetime | None = None
    rating: str | None = None
    comment: str | None = None
    clarification_sent: bool = False
    failure_reason: str | None = None
    rated_via: str | None = None  # how the rating that counts arrived (:data:`VIAS`)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Queued:
    """The survey was selected and its SMS queued."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Accepted:
    """The SMSC accepted the SMS: ``read_at`` is when its ``submit_sm_resp`` was read.

    ``uncertain``: no answer came (the link dropped, the gateway stopped); the SMS may have
    gone out and is never resent, so the survey counts as sent with ``error`` as the reason.
    """

    read_at: datetime
    uncertain: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The SMSC refused the SMS (or it could not be submitted at all)."""

    error: str


ReceiptVerdict = Literal["delivered", "undeliverable"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """A final delivery receipt for the survey's SMS.

    ``state`` as the SMSC wrote it (DELIVRD, UNDELIV, EXPIRED, REJECTD, ...); ``done_at`` its
    done date already read in the SMSC's time zone (None when absent or unreadable);
    ``arrived_at`` when the receipt reached the gateway.
    """

    verdict: ReceiptVerdict
    state: str
    done_at: datetime | None
    arrived_at: datetime


#: How a rating can arrive: an SMS reply, a call to the evaluation line, a callback's IVR.
VIAS = ("sms", "phone", "callback")


@dataclass(frozen=True, slots=True)
class ReplyRead:
    """A reply matched to this survey, as the classifier read it.

    ``via``: an SMS reply (``inbound_id`` is its inbound row) or a rating keyed on the
    evaluation line (``phone``; ``inbound_id`` is the call's row). The first rating counts,
    whichever way it came; a caller was thanked by voice, so no thank-you SMS follows.
    """

    inbound_id: int
    received_at: datetime
    reading: Reading
    via: str = "sms"


@dataclass(frozen=True, slots=True)
class WindowClosed:
    """The reply window closed (``expires_at`` passed)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class OptedOutElsewhere:
    """The citizen opted out in answer to another message (or an operator recorded it)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """The service event was withdrawn by the business system."""

    at: datetime


Event = (
    Queued | Accepted | Refused | Receipt | ReplyRead | WindowClosed | OptedOutElsewhere | Withdrawn
)


# --- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendSms:
    """Queue a follow-up SMS (``thank_you``, ``clarify``, ``opt_out_confirm``)."""

    kind: str
    destination: str
    text: str
    source_addr: str | None
    survey_id: int | None


@dataclass(frozen=True, slots=True)
class CallbackTaskDue:
    """The survey became unsatisfied: the citizen is to be phoned back.

    This is the one place an unsatisfied rating produces work; what else an unsatisfied
    survey opens (a supervision case) is added as an output beside it, in ``_rate``.
    """

    survey_id: int
    unit_id: int
    phone: str
    trigger: str = "unsatisfied"


@dataclass(frozen=True, slots=True)
class OpenCase:
    """The survey was rated unsatisfied: a supervision case opens (``gateway.cases``), in the
    same transaction as the rating, whether or not the citizen can be called back."""

    survey_id: int
    unit_id: int
    origin: str = "sms_unsatisfied"


@dataclass(frozen=True, slots=True)
class OptOutRequested:
    """The citizen asked for no more messages: stop everything for the number, confirm once
    (decided per phone by :mod:`gateway.surveys.replies`)."""

    phone: str
    inbound_id: int
    source_addr: str | None


@dataclass(frozen=True, slots=True)
class ReplyMarked:
    """How the reply's inbound row is to be marked: ``matched``, ``comment``, ``duplicate``
    (the same rating again) or ``opt_out``; a phone rating after the one that counts:
    ``later``."""

    inbound_id: int
    match_status: str


Output = SendSms | CallbackTaskDue | OpenCase | OptOutRequested | ReplyMarked


@dataclass(frozen=True, slots=True)
class Step:
    record: SurveyRecord
    outputs: tuple[Output, ...] = ()


# --- the function --------------------------------------------------------------------------


def advance(record: SurveyRecord, event: Event, settings: SurveySettings) -> Step:
    """The record after ``event`` and what it asks to be done."""
    match event:
        case Queued():
            return Step(_raise(record, "pending", None))
        case Accepted(read_at=read_at, uncertain=uncertain, error=error):
            reason = f"submit outcome unknown: {error or '-'}"[:128] if uncertain else None
            return Step(
                _raise(
                    record,
                    "sent",
                    reason,
                    sent_at=_earliest(record.sent_at, read_at),
                    expires_at=_earliest(record.expires_at, read_at + settings.reply_window),
                )
            )
        case Refused(error=error):
            return Step(_raise(record, "failed", (error or "submit failed")[:128]))
        case Receipt(verdict="delivered", done_at=done_at, arrived_at=arrived_at):
            delivered = _earliest(record.delivered_at, delivery_time(done_at, arrived_at))
            return Step(_raise(record, "delivered", None, delivered_at=delivered))
        case Receipt(state=state):
            return Step(_raise(record, "undeliverable", f"receipt {state}"[:128]))
        case WindowClosed():
            return Step(_raise(record, "expired", None))
        case OptedOutElsewhere():
            return Step(_raise(record, "opted_out", "opted out by another message"))
        case Withdrawn():
            return Step(_raise(record, "withdrawn", "event withdrawn"))
        case ReplyRead():
            return _reply(record, event, settings)
    raise TypeError(f"not a survey event: {event!r}")


def delivery_time(done_at: datetime | None, arrived_at: datetime) -> datetime:
    """The receipt's done date when it is believable, else when the receipt arrived."""
    if done_at is None:
        return arrived_at
    if arrived_at - DONE_DATE_BEHIND <= done_at <= arrived_at + DONE_DATE_AHEAD:
        return done_at
    return arrived_at


def shown_delivery(sent_at: datetime | None, delivered_at: datetime | None) -> datetime | None:
    """The delivery time to show: never before the acceptance. A receipt's done date is cut
    to the minute and ``sent_at`` is when the answer was read, so a delivery in the same
    minute can be stored a few seconds before it; the stored fields stay as the traffic gave
    them (each an order-independent merge), and this is applied where they are shown."""
    if sent_at is None or delivered_at is None:
        return delivered_at
    return max(sent_at, delivered_at)


def answerable(record: SurveyRecord, in_flight: bool, received_at: datetime) -> bool:
    """Whether a reply that arrived at ``received_at`` can answer this survey: inside its reply
    window, or its SMS handed to the SMSC and the answer not yet recorded (a receipt, and even
    a reply, can overtake the ``submit_sm_resp`` and its commit)."""
    if record.status not in OPEN and record.status != "opted_out":
        return False
    if record.expires_at is not None:
        return record.expires_at > received_at
    return in_flight


def _raise(record: SurveyRecord, status: str, reason: str | None, **also: object) -> SurveyRecord:
    """``status`` if it is further along; the reason goes with the status that holds.
    ``also``: other fields to set in the same copy (one copy a step: a batch applies tens of
    thousands of these)."""
    current, new = RANK[record.status], RANK[status]
    if new > current:
        return record._replace(status=status, failure_reason=reason, **also)
    if (
        new == current
        and reason is not None
        and (record.failure_reason is None or reason < record.failure_reason)
    ):
        return record._replace(failure_reason=reason, **also)
    if also and any(getattr(record, name) != value for name, value in also.items()):
        return record._replace(**also)
    return record


def _earliest(known: datetime | None, new: datetime | None) -> datetime | None:
    if known is None:
        return new
    if new is None:
        return known
    return min(known, new)


def _reply(record: SurveyRecord, event: ReplyRead, settings: SurveySettings) -> Step:
    reading = event.reading
    replied_at = _earliest(record.replied_at, event.received_at)
    reply_from = record.reply_address or settings.source_addr or None
    if reading.opt_out:
        record = _raise(record, "opted_out", None, replied_at=replied_at)
        outputs: tuple[Output, ...] = (ReplyMarked(event.inbound_id, "opt_out"),)
        if record.phone:
            outputs += (OptOutRequested(record.phone, event.inbound_id, reply_from),)
        return Step(record, outputs)
    record = _raise(record, "sent", None, replied_at=replied_at)  # a reply proves it went out
    if record.rating is not None:
        return _after_rating(record, event)
    if reading.is_rating:
        return _rate(record, event, settings, reply_from)
    outputs = (ReplyMarked(event.inbound_id, "matched"),)
    if record.clarification_sent or record.status == "opted_out" or not record.phone:
        return Step(record, outputs)
    clarify = _sms(settings, "clarify", "clarify", record, reply_from)
    return Step(record._replace(clarification_sent=True), (*outputs, clarify))


def _rate(
    record: SurveyRecord, event: ReplyRead, settings: SurveySettings, reply_from: str | None
) -> Step:
    """The survey's first rating: thank the citizen; an unsatisfied one opens a case and asks
    for a callback."""
    rating = event.reading.rating
    record = _raise(
        record, "replied", None, rating=rating, comment=event.reading.comment, rated_via=event.via
    )
    outputs: tuple[Output, ...] = (ReplyMarked(event.inbound_id, "matched"),)
    if rating == "unsatisfied":
        origin = "sms_unsatisfied" if event.via == "sms" else "ivr_unsatisfied"
        outputs += (OpenCase(record.id, record.unit_id, origin),)
    if record.status == "opted_out" or not record.phone:
        return Step(record, outputs)
    if event.via == "sms":
        outputs += (_sms(settings, "thank_you", rating, record, reply_from),)
    if rating == "unsatisfied":
        outputs += (CallbackTaskDue(record.id, record.unit_id, record.phone),)
    return Step(record, outputs)


def _after_rating(record: SurveyRecord, event: ReplyRead) -> Step:
    """A reply to a survey already rated: the same rating again is a duplicate; anything
    else is kept as a comment (a different rating does not replace the first)."""
    reading = event.reading
    if event.via != "sms":  # kept on the call's own row (phone_calls), shown beside the survey
        return Step(record, (ReplyMarked(event.inbound_id, "later"),))
    if reading.rating == record.rating and reading.comment is None:
        return Step(record, (ReplyMarked(event.inbound_id, "duplicate"),))
    added = reading.comment if reading.rating == record.rating else reading.text.strip()
    comment = "\n".join(filter(None, [record.comment, added]))
    return Step(
        record._replace(comment=comment or None), (ReplyMarked(event.inbound_id, "comment"),)
    )


def _sms(
    settings: SurveySettings,
    kind: str,
    template: str,
    record: SurveyRecord,
    source_addr: str | None,
) -> SendSms:
    assert record.phone is not None
    text = reply_text(settings, template)
    return SendSms(kind, record.phone, text, source_addr, record.id)
