"""What a batch of replies does: which survey each answers and what follows, decided in memory.

Pure: the store loads what the batch needs (:class:`ReplyContext`), :func:`decide_replies`
decides in arrival order (a later reply sees what an earlier one did: the first rating wins, one
clarification per survey, one opt-out confirmation per number), and the store writes the
:class:`ReplyDecisions` with a few bulk statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.events.phones import normalise_mobile
from gateway.smpp.api import InboundSms
from gateway.surveys import lifecycle as lc
from gateway.surveys.classifier import Reading
from gateway.surveys.matching import ReplyCandidate, choose_survey
from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import render_reply


@dataclass
class ReplyOutcome:
    """What a reply did: how it matched and which follow-up SMS it queued."""

    inbound_id: int
    match_status: str  # matched | comment | unmatched | opt_out | duplicate
    survey_id: int | None = None
    rating: str | None = None
    queued: list[str] = field(default_factory=list)
    callback_task_id: int | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """An inbound row's verdict when the batch read it (``new``: not acted on yet)."""

    match_status: str
    survey_id: int | None
    rating: str | None


@dataclass
class Candidate:
    """A survey to a replying phone that the batch may change."""

    record: lc.SurveyRecord
    in_flight: bool  # its SMS is with the SMSC (or was), though no outcome is recorded


@dataclass
class ReplyContext:
    """What the store read for a batch."""

    seen: dict[int, Seen]  # inbound id → its row's verdict
    candidates: dict[str, list[Candidate]]  # phone → its open surveys, by id
    opted: set[str]  # phones already opted out


@dataclass(frozen=True, slots=True)
class InboundVerdict:
    inbound_id: int
    survey_id: int | None
    match_status: str
    rating: str
    comment: str | None


@dataclass
class TaskDecision:
    """A callback task to create; ``status`` is ``opted_out`` when the number opted out in the
    same batch (the task is kept, so that the unsatisfied rating shows it was not called)."""

    task: lc.CallbackTaskDue
    outcome: ReplyOutcome
    status: str = "pending"


@dataclass
class ReplyDecisions:
    outcomes: list[ReplyOutcome]
    surveys: dict[int, lc.SurveyRecord]  # changed records by id
    sms: list[lc.SendSms]
    callbacks: list[TaskDecision]
    opt_outs: list[lc.OptOutRequested]  # new opt-outs, one per phone
    inbound: list[InboundVerdict]
    cases: list[lc.OpenCase] = field(default_factory=list)  # supervision cases to open


def phone_of(inbound: InboundSms) -> str | None:
    return normalise_mobile(inbound.source_addr).mobile


def decide_replies(
    replies: list[tuple[InboundSms, Reading]],
    context: ReplyContext,
    settings: SurveySettings,
) -> ReplyDecisions:
    """Decide a batch of stored replies, in arrival order."""
    decisions = ReplyDecisions([], {}, [], [], [], [])
    opted = set(context.opted)
    verdicts: dict[int, InboundVerdict] = {}
    seen = dict(context.seen)
    for inbound, reading in replies:
        before = seen.get(inbound.inbound_id)
        if before is not None and before.match_status != "new":
            decisions.outcomes.append(
                ReplyOutcome(inbound.inbound_id, "duplicate", before.survey_id, before.rating)
            )
            continue
        phone = phone_of(inbound)
        candidates = [
            c
            for c in (context.candidates.get(phone, []) if phone else [])
            if lc.answerable(c.record, c.in_flight, inbound.received_at)
        ]
        survey_id = choose_survey(
            [
                ReplyCandidate(c.record.id, c.record.reply_address, c.record.sent_at)
                for c in candidates
            ],
            inbound.destination_addr,
            settings,
        )
        chosen = next((c for c in candidates if c.record.id == survey_id), None)
        outcome = ReplyOutcome(inbound.inbound_id, "unmatched", survey_id, reading.rating)
        if chosen is not None:
            step = lc.advance(
                chosen.record,
                lc.ReplyRead(inbound.inbound_id, inbound.received_at, reading),
                settings,
            )
            _keep(chosen, step.record, decisions)
            for output in step.outputs:
                _collect(output, outcome, decisions)
        elif reading.opt_out and phone:
            outcome.match_status = "opt_out"
            reply_from = settings.source_addr or None
            _collect(lc.OptOutRequested(phone, inbound.inbound_id, reply_from), outcome, decisions)
        for request in [o for o in decisions.opt_outs if o.inbound_id == inbound.inbound_id]:
            if request.phone in opted:
                decisions.opt_outs.remove(request)
                continue
            opted.add(request.phone)
            _opt_out(request, inbound.received_at, survey_id, context, decisions, settings)
            outcome.queued.append("opt_out_confirm")
        if before is not None:
            seen[inbound.inbound_id] = Seen(
                outcome.match_status, outcome.survey_id if chosen else None, reading.rating
            )
            verdicts[inbound.inbound_id] = InboundVerdict(
                inbound.inbound_id,
                chosen.record.id if chosen else None,
                outcome.match_status,
                reading.rating,
                reading.comment,
            )
        decisions.outcomes.append(outcome)
    decisions.inbound = list(verdicts.values())
    return decisions


def _keep(candidate: Candidate, record: lc.SurveyRecord, decisions: ReplyDecisions) -> None:
    if record != candidate.record:
        candidate.record = record
        decisions.surveys[record.id] = record


def _collect(output: lc.Output, outcome: ReplyOutcome, decisions: ReplyDecisions) -> None:
    match output:
        case lc.ReplyMarked(match_status=status):
            outcome.match_status = status
        case lc.SendSms(kind=kind):
            decisions.sms.append(output)
            outcome.queued.append(kind)
        case lc.CallbackTaskDue():
            decisions.callbacks.append(TaskDecision(output, outcome))
        case lc.OpenCase():
            decisions.cases.append(output)
        case lc.OptOutRequested():
            decisions.opt_outs.append(output)


def _opt_out(
    request: lc.OptOutRequested,
    at: datetime,
    matched: int | None,
    context: ReplyContext,
    decisions: ReplyDecisions,
    settings: SurveySettings,
) -> None:
    """A new opt-out: the number's other open surveys stop, what this batch queued or asked
    for the number stops (what was stored before stops in the store's bulk statements), and
    one confirmation goes out."""
    phone = request.phone
    for candidate in context.candidates.get(phone, []):
        record = candidate.record
        if record.id == matched:
            continue
        if record.status == "pending" or lc.answerable(record, candidate.in_flight, at):
            _keep(
                candidate, lc.advance(record, lc.OptedOutElsewhere(at), settings).record, decisions
            )
    decisions.sms[:] = [
        s for s in decisions.sms if s.destination != phone or s.kind == "opt_out_confirm"
    ]
    for decision in decisions.callbacks:
        if decision.task.phone == phone:
            decision.status = "opted_out"
    text = render_reply(settings, "opt_out_confirm").text
    decisions.sms.append(lc.SendSms("opt_out_confirm", phone, text, request.source_addr, None))
