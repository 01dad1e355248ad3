"""What the survey pipeline needs stored, as an interface, and an in-memory version for tests.

The pipeline never writes SQL. Its store's methods are transaction functions: each takes the
transaction the pipeline's database runner opened (``Database.run`` or a group commit hands it
over) and returns plain values; ``storage.survey_store.SqlSurveyStore`` implements them in SQL.
Every rule (which status comes next, which SMS to send) is decided by ``lifecycle``,
``replies`` and ``outbox``; a store only loads records, applies them and writes the result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer

from gateway.events.results import IngestResult
from gateway.events.schema import ServiceEvent
from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.surveys import lifecycle as lc
from gateway.surveys.classifier import Reading
from gateway.surveys.outbox import (
    INTERRUPTED,
    OPTED_OUT_ERROR,
    OutboxItem,
    Recovered,
    sort_claimed,
    with_marks,
)
from gateway.surveys.replies import (
    Candidate,
    ReplyContext,
    ReplyOutcome,
    Seen,
    decide_replies,
    phone_of,
)
from gateway.surveys.schedule import next_send_time
from gateway.surveys.settings import SurveySettings
from gateway.surveys.sms_events import outcome_event, receipt_event

Tx = Any  # the transaction a runner hands to a store method (a SQLAlchemy session, or None)


class SurveyStore(Protocol):
    def claim_due(
        self,
        tx: Tx,
        now: datetime,
        limit: int,
        settings: SurveySettings,
        instance: str = "",
        mark: int = 0,
    ) -> list[OutboxItem]:
        """Claim up to ``limit`` due SMS for ``instance``; the first ``mark`` of them to send
        get their wire mark in the same transaction (``OutboxItem.wired``): the SMPP client
        reserved that many (``reserve_wire_marks``) and writes them without a mark of its own.
        """
        ...

    def release_unsent(self, outbound_ids: list[int]) -> int:
        """What the SMPP store's ``release_unsent`` writes to the outbox rows."""
        mine = [self.sms[oid] for oid in outbound_ids if self.sms[oid].status == "submitting"]
        for sms in mine:
            sms.status, sms.claimed_by, sms.wire_at = "queued", "", None
        return len(mine)

    def next_due_at(self, tx: Tx, now: datetime) -> datetime | None: ...

    def record_outcomes(
        self, tx: Tx, outcomes: list[SubmitOutcome], now: datetime, settings: SurveySettings
    ) -> list[None]: ...

    def apply_receipts(
        self, tx: Tx, updates: list[ReceiptUpdate], now: datetime, settings: SurveySettings
    ) -> list[str | None]: ...

    def settle_with_sms(
        self,
        tx: Tx,
        outcomes: list[SubmitOutcome],
        updates: list[ReceiptUpdate],
        now: datetime,
        settings: SurveySettings,
    ) -> None: ...

    def apply_replies(
        self,
        tx: Tx,
        replies: list[tuple[InboundSms, Reading]],
        settings: SurveySettings,
        now: datetime,
    ) -> list[ReplyOutcome]: ...

    def expire_surveys(self, tx: Tx, now: datetime, settings: SurveySettings) -> int: ...

    def recover_interrupted(
        self,
        tx: Tx,
        now: datetime,
        settings: SurveySettings,
        instance: str = "",
        *,
        claimed_before: datetime | None = None,
        keep: Sequence[int] = (),
    ) -> Recovered:
        """Settle this process's SMS left ``submitting`` (queued again when never written,
        else ``unknown``) and the surveys their outcomes left pending. At start-up every such
        SMS; while running (``claimed_before``, ``keep``) only those claimed before that time
        and not in flight here: their outcome was lost (a write given up on)."""

    def unprocessed_replies(self, tx: Tx, after_id: int, limit: int) -> list[InboundSms]: ...

    def longest_names(self, tx: Tx) -> tuple[str, str] | None: ...


class EventStore(Protocol):
    """What intake needs: store validated events with their survey decisions."""

    #: The error a store raises when two doors stored the same event_id at once.
    conflict_error: type[Exception]

    def store_events(
        self,
        tx: Tx,
        events: Sequence[ServiceEvent],
        *,
        source: str,
        settings: SurveySettings,
        now: datetime,
        scope: str | None = None,
    ) -> list[IngestResult]: ...

    def event_exists(self, tx: Tx, event_id: str) -> bool: ...


class Runner(Protocol):
    """Runs a transaction function and gives its result (``storage.db.Database`` fits)."""

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> defer.Deferred[Any]: ...


class MemoryRunner:
    """Runs a store method at once, with no transaction: for :class:`MemorySurveyStore`."""

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        return defer.maybeDeferred(fn, None, *args, **kwargs)


@dataclass
class MemorySms:
    id: int
    kind: str
    destination: str
    text: str
    source_addr: str | None
    survey_id: int | None
    status: str = "queued"
    due: datetime | None = None
    error: str | None = None
    claimed_by: str = ""
    wire_at: datetime | None = None
    claimed_at: datetime | None = None


@dataclass
class MemoryInbound:
    sms: InboundSms
    match_status: str = "new"
    survey_id: int | None = None
    rating: str | None = None


class MemorySurveyStore:
    """The :class:`SurveyStore` contract in dictionaries (every call commits at once)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.surveys: dict[int, lc.SurveyRecord] = {}
        self.sms: dict[int, MemorySms] = {}
        self.inbound: dict[int, MemoryInbound] = {}
        self.opted: set[str] = set()
        self.callbacks: list[lc.CallbackTaskDue] = []
        #: Cases opened, one per survey (what ``storage.case_rows.open_cases`` stores).
        self.cases: dict[int, lc.OpenCase] = {}

    # -- setting up (what intake does in production) -----------------------------------

    def add_survey(self, record: lc.SurveyRecord, text: str, due: datetime) -> MemorySms:
        self.surveys[record.id] = record
        return self.queue("survey", record.phone or "", text, record.reply_address, record.id, due)

    def queue(
        self,
        kind: str,
        destination: str,
        text: str,
        source_addr: str | None,
        survey_id: int | None,
        due: datetime | None,
    ) -> MemorySms:
        sms = MemorySms(next(self._ids), kind, destination, text, source_addr, survey_id, due=due)
        self.sms[sms.id] = sms
        return sms

    def add_inbound(self, sms: InboundSms) -> None:
        self.inbound[sms.inbound_id] = MemoryInbound(sms)

    # -- the contract --------------------------------------------------------------------

    def claim_due(
        self,
        tx: Tx,
        now: datetime,
        limit: int,
        settings: SurveySettings,
        instance: str = "",
        mark: int = 0,
    ) -> list[OutboxItem]:
        due = sorted(
            (
                s
                for s in self.sms.values()
                if s.status == "queued" and (s.due is None or s.due <= now)
            ),
            key=lambda s: (s.due is None, s.due, s.id),
        )[:limit]
        rows = [
            OutboxItem(s.id, s.destination, s.text, s.source_addr, s.kind, s.survey_id) for s in due
        ]
        claim = sort_claimed(rows, self.opted, now, settings)
        for oid in claim.opted_out:
            self.sms[oid].status, self.sms[oid].error = "failed", OPTED_OUT_ERROR
        for sid in claim.opted_out_surveys:
            self._advance(sid, lc.OptedOutElsewhere(now), settings)
        for oid in claim.waiting:
            self.sms[oid].due = next_send_time(now, settings)
        send = with_marks(claim.send, mark)
        for item in send:
            sms = self.sms[item.outbound_id]
            sms.status, sms.claimed_by, sms.claimed_at = "submitting", instance, now
            sms.wire_at = now if item.wired else None
        return send

    def mark_wired(self, outbound_id: int, at: datetime) -> None:
        """What the SMPP store's ``mark_wired`` writes to the outbox row."""
        sms = self.sms[outbound_id]
        sms.wire_at = sms.wire_at or at

    def next_due_at(self, tx: Tx, now: datetime) -> datetime | None:
        dues = [s.due or now for s in self.sms.values() if s.status == "queued"]
        return max(min(dues), now) if dues else None

    def record_outcomes(
        self, tx: Tx, outcomes: list[SubmitOutcome], now: datetime, settings: SurveySettings
    ) -> list[None]:
        for outcome in outcomes:
            sms = self.sms.get(outcome.outbound_id)
            if sms is None:
                continue
            if sms.status == "submitting":
                sms.status, sms.error = outcome.status, outcome.error
            if sms.kind == "survey" and sms.survey_id is not None:
                self._advance(sms.survey_id, outcome_event(outcome, now), settings)
        return [None] * len(outcomes)

    def apply_receipts(
        self, tx: Tx, updates: list[ReceiptUpdate], now: datetime, settings: SurveySettings
    ) -> list[str | None]:
        results: list[str | None] = []
        for update in updates:
            sms = self.sms.get(update.outbound_id) if update.outbound_id is not None else None
            event = receipt_event(update, now)
            if sms is None or sms.survey_id is None or sms.kind != "survey" or event is None:
                results.append(None)
                continue
            if update.final_status:
                sms.status = update.final_status
            results.append(self._advance(sms.survey_id, event, settings).status)
        return results

    def settle_with_sms(
        self,
        tx: Tx,
        outcomes: list[SubmitOutcome],
        updates: list[ReceiptUpdate],
        now: datetime,
        settings: SurveySettings,
    ) -> None:
        self.record_outcomes(tx, outcomes, now, settings)
        self.apply_receipts(tx, updates, now, settings)

    def apply_replies(
        self,
        tx: Tx,
        replies: list[tuple[InboundSms, Reading]],
        settings: SurveySettings,
        now: datetime,
    ) -> list[ReplyOutcome]:
        seen = {
            i: Seen(row.match_status, row.survey_id, row.rating) for i, row in self.inbound.items()
        }
        phones = {phone_of(inbound) for inbound, _ in replies}
        candidates: dict[str, list[Candidate]] = {}
        for record in sorted(self.surveys.values(), key=lambda r: r.id):
            if record.phone in phones:
                flying = any(
                    s.survey_id == record.id
                    and s.kind == "survey"
                    and s.status in ("submitting", "submitted", "delivered", "unknown")
                    for s in self.sms.values()
                )
                candidates.setdefault(record.phone, []).append(Candidate(record, flying))
        decisions = decide_replies(replies, ReplyContext(seen, candidates, self.opted), settings)
        for request in decisions.opt_outs:
            self.opted.add(request.phone)
            for sms in self.sms.values():
                if (
                    sms.destination == request.phone
                    and sms.status == "queued"
                    and sms.kind != "opt_out_confirm"
                ):
                    sms.status, sms.error = "failed", OPTED_OUT_ERROR
        self.surveys.update(decisions.surveys)
        for s in decisions.sms:
            self.queue(s.kind, s.destination, s.text, s.source_addr, s.survey_id, now)
        for decision in decisions.callbacks:
            if decision.status == "pending":
                self.callbacks.append(decision.task)
        for case in decisions.cases:
            self.cases.setdefault(case.survey_id, case)
        for verdict in decisions.inbound:
            row = self.inbound[verdict.inbound_id]
            row.match_status, row.survey_id = verdict.match_status, verdict.survey_id
            row.rating = verdict.rating
        return decisions.outcomes

    def expire_surveys(self, tx: Tx, now: datetime, settings: SurveySettings) -> int:
        changed = 0
        for sid, record in list(self.surveys.items()):
            closed = record.expires_at is not None and record.expires_at <= now
            if closed and self._advance(sid, lc.WindowClosed(now), settings) != record:
                changed += 1
        return changed

    def recover_interrupted(
        self,
        tx: Tx,
        now: datetime,
        settings: SurveySettings,
        instance: str = "",
        *,
        claimed_before: datetime | None = None,
        keep: Sequence[int] = (),
    ) -> Recovered:
        kept = set(keep)
        mine = [
            s
            for s in self.sms.values()
            if s.status == "submitting"
            and s.claimed_by in ("", instance)
            and s.id not in kept
            and (claimed_before is None or (s.claimed_at or now) < claimed_before)
        ]
        for sms in mine:
            if sms.wire_at is None:
                sms.status, sms.due, sms.claimed_by = "queued", now, ""
            else:
                sms.status, sms.error = INTERRUPTED
        unknown = sum(1 for s in mine if s.status == "unknown")
        return Recovered(len(mine) - unknown, unknown)

    def unprocessed_replies(self, tx: Tx, after_id: int, limit: int) -> list[InboundSms]:
        rows = sorted(
            i for i, r in self.inbound.items() if r.match_status == "new" and i > after_id
        )
        return [self.inbound[i].sms for i in rows[:limit]]

    def longest_names(self, tx: Tx) -> tuple[str, str] | None:
        return None

    def _advance(self, sid: int, event: lc.Event, settings: SurveySettings) -> lc.SurveyRecord:
        record = lc.advance(self.surveys[sid], event, settings).record
        self.surveys[sid] = record
        return record
