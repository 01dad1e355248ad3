"""The survey pipeline as a service: drain the outbox through SMPP, act on replies and receipts.

Event-driven, not a polling loop: the outbox is drained when something is queued (``kick``),
when a submit finishes, when the SMPP link comes back, and at the time the earliest queued SMS
becomes due (one timer, re-armed after every drain, at most a minute ahead so that reply
windows are closed on time). At most ``outbox_in_flight`` SMS are handed to the SMPP client at
once; its own window and rate cap do the rest.

The budget bounds the SMS that may still be waiting for the link: what a crash would leave
``submitting`` without having written it. An SMS leaves it when the SMSC has answered for it,
not when that answer or its survey's new state is committed (otherwise every claim waits for
database round trips and the outbox crawls at ``outbox_in_flight`` per commit latency). When
the SMPP store settles surveys in its own batches (``settle_in_sms_store``, the daemon's
wiring) that is the SMPP client's ``on_answered``, before the store's commit; otherwise it is
once the store has committed the SMS's outcome, the survey update being group-committed behind
it. Answered SMS waiting for those commits are bounded too (``OUTCOME_BACKLOG_FACTOR`` times
the budget), and a survey whose outcome a crash kept from being recorded is settled at start-up
(``recover_interrupted``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from gateway.masking import mask_phone
from gateway.smpp.api import RELEASED, InboundSms, OutboundSms, ReceiptUpdate, SubmitOutcome
from gateway.surveys.batching import GroupCommit
from gateway.surveys.classifier import Reading, classify
from gateway.surveys.outbox import Recovered
from gateway.surveys.settings import SurveySettings
from gateway.surveys.store import Runner, SurveyStore

log = Logger()

MAX_TIMER_SECONDS = 60.0
OUTCOME_BACKLOG_FACTOR = 4
# With SMS in flight, claim again once this share of the budget is free, not for every answered
# SMS: a claim is a transaction (and a drain two more), and the SMPP client still has the rest
# of the budget queued, far more than its window.
CLAIM_SHARE = 4
# Reply batches deciding at once. A batch that opens supervision cases spends about half its
# time waiting on the server (each case row is checked against four foreign keys and enters
# eight indexes); with four in flight that wait overlaps the others' Python: 45 % more replies
# a second than with two (docs/benchmarks.md, eighth round). They stay safe together: each
# locks its inbound rows, then its surveys, in id order.
REPLY_BATCHES_IN_FLIGHT = 4
REPLY_RETRY_SECONDS = 30.0  # after a reply batch failed, look for unprocessed replies again
SWEEP_BATCH = 500
# Closing reply windows is a sweep over the open surveys, not the outbox's business: under load
# the outbox drains many times a second, and a window closed a few seconds late is still closed.
EXPIRE_EVERY_SECONDS = 10.0
# An SMS claimed this long ago, still ``submitting`` and no longer in flight here, lost its
# outcome: the SMPP store retries a failed write for about 8 minutes, then gives up (the
# database stayed away). Looked for this often, and settled as a restart would settle it.
LOST_CLAIM_SECONDS = 15 * 60.0
LOST_SWEEP_EVERY_SECONDS = 5 * 60.0
# A reply that rates the survey it matched satisfied or basically satisfied (97 % of them in
# the bureau's year) is counted, and the count logged every so many; every other reply (an
# unsatisfied rating, an opt-out, an unreadable or unmatched text, a late comment) is logged.
ROUTINE_RATINGS = frozenset({"satisfied", "basically_satisfied"})
ROUTINE_REPLIES_PER_LOG = 1000


class SurveyPipeline(service.Service):
    """Owns the outbox sender and the reply/receipt handlers."""

    name = "surveys"

    def __init__(
        self,
        db: Runner,
        smpp: Any,
        settings: SurveySettings,
        *,
        store: SurveyStore,
        clock: Any = None,
        instance: str = "",
    ) -> None:
        """``db`` runs ``store``'s transaction functions (``Database``, or ``MemoryRunner``
        with ``MemorySurveyStore``). ``instance`` names this process among those sharing the
        database: its claims carry it, and at start-up it settles only its own."""
        if clock is None:
            from twisted.internet import reactor as clock
        self._db = db
        self._instance = instance
        self._smpp = smpp
        self._settings = settings
        self._clock = clock
        self._available = False
        self._draining = False
        self._again = False
        self._in_flight: set[int] = set()  # handed to the SMPP client, not answered yet
        # answered, a commit still to come: the SMPP store's batch (settle_in_sms_store) or
        # the pipeline's own outcome transaction
        self._committing: set[int] = set()
        self._timer: Any = None
        self._expired_at = float("-inf")  # clock time of the last expire_surveys
        self._lost_swept_at = 0.0  # clock time of the last sweep for lost outcomes
        self._sweep_timer: Any = None
        self._pending: set[defer.Deferred[Any]] = set()  # database work
        self._submits: set[defer.Deferred[Any]] = set()  # SMS handed to the SMPP client
        self._store = store
        self._outcomes: GroupCommit[SubmitOutcome, None] = GroupCommit(
            db,
            lambda session, items: store.record_outcomes(session, items, self.now(), settings),
            name="submit-outcomes",
        )
        self._routine_replies = 0
        #: Called when a reply created a callback task (the daemon wakes its scheduler, so an
        #: unsatisfied citizen is called as soon as a line is free, not at its next poll).
        self.callback_observers: list[Any] = []
        self._settled_by_sms_store = False
        self._replies: GroupCommit[tuple[InboundSms, Reading], Any] = GroupCommit(
            db,
            lambda session, items: store.apply_replies(session, items, settings, self.now()),
            name="replies",
            max_batch=500,  # one set-based transaction per batch: bigger batches cost little
            max_concurrent=REPLY_BATCHES_IN_FLIGHT,
        )
        self._receipts: GroupCommit[ReceiptUpdate, Any] = GroupCommit(
            db,
            lambda session, items: store.apply_receipts(session, items, self.now(), settings),
            name="receipts",
        )
        smpp.add_reply_observer(self.on_reply)
        smpp.add_receipt_observer(self.on_receipt)
        smpp.add_availability_observer(self.on_availability)

    def settle_in_sms_store(self, store: Any) -> None:
        """Let the SMPP store move surveys on in its own batch transactions (``SqlSmsStore``):
        an SMS's outcome and receipts then commit with their survey's state, instead of in the
        outcome and receipt transactions this pipeline runs otherwise."""
        settings, surveys = self._settings, self._store
        store.add_batch_hook(
            lambda session, outcomes, updates: surveys.settle_with_sms(
                session, outcomes, updates, self.now(), settings
            ),
            failed=self._settle_unsettled,
        )
        self._settled_by_sms_store = True

    def _settle_unsettled(
        self, outcomes: list[SubmitOutcome], updates: list[ReceiptUpdate], _: Any
    ) -> None:
        """The SMPP store committed a batch without its survey states (the store logged why):
        move those surveys on in this pipeline's own outcome and receipt transactions. What
        fails there too stays as it is until start-up recovery settles it."""
        for outcome in outcomes:
            self._track(self._outcomes.submit(outcome))
        settled = {outcome.outbound_id for outcome in outcomes}
        for update in updates:
            if update.final_status is None or update.outbound_id is None:
                continue
            if update.outbound_id not in settled:
                self._track(self._receipts.submit(update))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    # --- service -------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._lost_swept_at = self._clock.seconds()  # the start-up recovery below is one
        self._track(self._db.run(self._store.longest_names)).addCallback(self._check_templates)
        d = self._db.run(
            self._store.recover_interrupted, self.now(), self._settings, self._instance
        )
        d.addCallback(self._recovered)
        self._track(d)

    def _check_templates(self, longest: tuple[str, str] | None) -> list[str]:
        """Warn at start-up about any text that needs more than one SMS part."""
        from gateway.surveys.templates import check_templates

        if longest is None:
            return []
        unit, business = longest
        warnings = check_templates(self._settings, longest_unit=unit, longest_business=business)
        for warning in warnings:
            log.warn("surveys: {warning}", warning=warning)
        return warnings

    @defer.inlineCallbacks
    def _settle_lost_outcomes(self) -> Any:
        """SMS of this process left ``submitting`` although nothing here waits for them any
        more: their outcome write was given up on. Settled as at a restart (queued again when
        never written, else unknown), so that none stays ``submitting`` until the next one."""
        now = self.now()
        lost = yield self._db.run(
            self._store.recover_interrupted,
            now,
            self._settings,
            self._instance,
            claimed_before=now - timedelta(seconds=LOST_CLAIM_SECONDS),
            keep=sorted(self._in_flight | self._committing),
        )
        if lost.requeued or lost.unknown:
            log.warn(
                "surveys: {n} SMS claimed over {minutes:.0f} minutes ago lost their outcome "
                "(its write was given up on): {requeued} never written, queued again; "
                "{unknown} written, marked unknown",
                n=lost.requeued + lost.unknown,
                minutes=LOST_CLAIM_SECONDS / 60,
                requeued=lost.requeued,
                unknown=lost.unknown,
            )

    def _recovered(self, recovered: Recovered) -> None:
        if recovered.requeued:
            log.warn(
                "surveys: {n} SMS claimed before a stop were never written to the SMSC; "
                "queued again",
                n=recovered.requeued,
            )
        if recovered.unknown:
            log.warn(
                "surveys: {n} SMS were interrupted after their submit_sm was written; "
                "marked unknown (they may have reached the SMSC)",
                n=recovered.unknown,
            )
        self.kick()
        self._track(self._sweep_replies())

    @defer.inlineCallbacks
    def _sweep_replies(self) -> Any:
        """Act on stored replies still ``new``: left by a stop or a failed batch. A reply
        that is being handled live at the same moment is read as done (the batch locks it)."""
        self._sweep_timer = None
        after, found = 0, 0
        while self.running:
            batch = yield self._db.run(self._store.unprocessed_replies, after, SWEEP_BATCH)
            for inbound in batch:
                self.on_reply(inbound)
            found += len(batch)
            if len(batch) < SWEEP_BATCH:
                break
            after = batch[-1].inbound_id
        if found:
            log.warn("surveys: {n} stored replies were not yet processed; processing them", n=found)

    def _retry_replies_later(self) -> None:
        if self.running and self._sweep_timer is None:
            self._sweep_timer = self._clock.callLater(
                REPLY_RETRY_SECONDS, lambda: self._track(self._sweep_replies())
            )

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        for timer in (self._timer, self._sweep_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._sweep_timer = None
        while self._pending or self._submits:
            yield defer.DeferredList(list(self._pending | self._submits))

    def _track(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        self._pending.add(d)

        def done(result: Any) -> Any:
            self._pending.discard(d)
            return result

        d.addBoth(done)
        d.addErrback(lambda f: log.failure("surveys: unexpected error", f))
        return d

    def idle(self) -> defer.Deferred[None]:
        """Fires when no database work is outstanding (submits may still wait for the SMSC)."""

        @defer.inlineCallbacks
        def wait() -> Any:
            while self._pending:
                yield defer.DeferredList(list(self._pending))

        return wait()

    # --- the outbox ----------------------------------------------------------------------

    def on_availability(self, available: bool) -> None:
        self._available = available
        if available:
            self.kick()

    def kick(self) -> None:
        """Something may be due: drain now (or right after the drain in progress)."""
        if not self.running or not self._available:
            return
        if self._draining:
            self._again = True
            return
        if (self._in_flight or self._committing) and self._room() <= 0:
            return  # an answer or a commit still to come kicks again
        self._track(self._drain())

    def _room(self) -> int:
        """How many SMS to claim now: none while the budget is nearly all in flight."""
        budget = self._settings.outbox_in_flight
        waiting = len(self._in_flight)
        room = min(
            budget - waiting,
            budget * OUTCOME_BACKLOG_FACTOR - len(self._committing) - waiting,
        )
        if self._in_flight and room < budget // CLAIM_SHARE:
            return 0
        return room

    @defer.inlineCallbacks
    def _drain(self) -> Any:
        store = self._store
        self._draining = True
        try:
            while self.running and self._available:
                self._again = False
                room = self._room()
                if room <= 0:
                    break
                items = yield self._claim(room)
                for item in items:
                    self._submit(item)
                if not items and not self._again:
                    break
            if self._clock.seconds() - self._expired_at >= EXPIRE_EVERY_SECONDS:
                self._expired_at = self._clock.seconds()
                expired = yield self._db.run(store.expire_surveys, self.now(), self._settings)
                if expired:
                    log.info("surveys: {n} surveys expired without a reply", n=expired)
            if self._clock.seconds() - self._lost_swept_at >= LOST_SWEEP_EVERY_SECONDS:
                self._lost_swept_at = self._clock.seconds()
                yield self._settle_lost_outcomes()
            due = yield self._db.run(store.next_due_at, self.now())
        finally:
            self._draining = False
        self._arm(due)
        if self._again:
            self.kick()

    @defer.inlineCallbacks
    def _claim(self, room: int) -> Any:
        """Claim up to ``room`` SMS; the claim also commits the wire marks of as many as the
        SMPP client has room to mark ahead (no mark transaction of their own)."""
        reserve = getattr(self._smpp, "reserve_wire_marks", None)
        marks = reserve(room) if reserve is not None else 0
        args = (self.now(), room, self._settings, self._instance)
        try:
            items = yield self._db.run(
                self._store.claim_due, *args, **({"mark": marks} if marks else {})
            )
        except BaseException:
            if marks:
                self._smpp.release_wire_marks(marks)
            raise
        if marks:
            self._smpp.release_wire_marks(marks - sum(1 for item in items if item.wired))
        return items

    def _arm(self, due: datetime | None) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self.running:
            return
        delay = MAX_TIMER_SECONDS
        if due is not None:
            delay = min(max((due - self.now()).total_seconds(), 0.0), MAX_TIMER_SECONDS)
        self._timer = self._clock.callLater(delay, self.kick)

    def _submit(self, item: Any) -> None:
        self._in_flight.add(item.outbound_id)
        sms = OutboundSms(
            item.outbound_id, item.destination, item.text, item.source_addr, item.wired
        )
        if self._settled_by_sms_store:
            d = self._smpp.submit(sms, on_answered=self._answered)
        else:
            d = self._smpp.submit(sms)
        d.addCallbacks(
            self._outcome, self._submit_raised, callbackArgs=(item,), errbackArgs=(item,)
        )
        self._submits.add(d)
        d.addBoth(lambda result: (self._submits.discard(d), result)[1])
        d.addErrback(lambda f: log.failure("surveys: recording a submit outcome failed", f))

    def _answered(self, outcome: SubmitOutcome) -> None:
        """The SMSC answered (settle_in_sms_store): the SMS waits only for the store now."""
        if outcome.outbound_id in self._in_flight:
            self._in_flight.discard(outcome.outbound_id)
            self._committing.add(outcome.outbound_id)
            self.kick()

    def _outcome(self, outcome: SubmitOutcome, item: Any) -> Any:
        if outcome.status == RELEASED:  # back in the outbox (the SMPP service logged how many)
            self._in_flight.discard(outcome.outbound_id)
            self._committing.discard(outcome.outbound_id)
            return None
        if not self._settled_by_sms_store:
            return self._outcome_in_own_transaction(outcome, item)
        # its survey committed with the outcome
        self._in_flight.discard(outcome.outbound_id)
        self._committing.discard(outcome.outbound_id)
        if outcome.status != "submitted":
            self._log_unsent(outcome, item)
        self.kick()
        return None

    def _submit_raised(self, failure: Any, item: Any) -> Any:
        # No store saw this SMS's outcome: the pipeline records it, whoever settles the rest.
        error = f"submit raised: {failure.value}"
        return self._outcome_in_own_transaction(
            SubmitOutcome(item.outbound_id, "unknown", (), 0, error), item
        )

    @defer.inlineCallbacks
    def _outcome_in_own_transaction(self, outcome: SubmitOutcome, item: Any) -> Any:
        self._in_flight.discard(item.outbound_id)
        self._committing.add(item.outbound_id)
        stored = self._track(self._outcomes.submit(outcome))
        self.kick()  # the SMPP slot is free now
        try:
            yield stored
        finally:
            self._committing.discard(item.outbound_id)
        if outcome.status != "submitted":
            self._log_unsent(outcome, item)
        self.kick()

    def _log_unsent(self, outcome: SubmitOutcome, item: Any) -> None:
        log.warn(
            "surveys: {kind} SMS {id} to {phone}: {status} ({error})",
            kind=item.kind,
            id=item.outbound_id,
            phone=mask_phone(item.destination),
            status=outcome.status,
            error=outcome.error,
        )

    # --- replies and receipts ------------------------------------------------------------

    def on_reply(self, inbound: InboundSms) -> defer.Deferred[Any]:
        d = self._replies.submit((inbound, classify(inbound.text)))
        d.addCallbacks(self._replied, self._reply_failed, callbackArgs=(inbound,))
        return self._track(d)

    def _reply_failed(self, failure: Any) -> Any:
        # The reply is stored and stays "new": it is picked up again by the next sweep.
        self._retry_replies_later()
        return failure

    def _replied(self, outcome: Any, inbound: InboundSms) -> Any:
        if outcome.match_status == "matched" and outcome.rating in ROUTINE_RATINGS:
            # most replies: counted, not logged one by one (each is in the database)
            self._routine_replies += 1
            if self._routine_replies % ROUTINE_REPLIES_PER_LOG == 0:
                log.info(
                    "surveys: {n} replies rated satisfied or basically satisfied so far",
                    n=self._routine_replies,
                )
        else:
            log.info(
                "surveys: reply {id} from {phone}: {rating}, {status}",
                id=inbound.inbound_id,
                phone=mask_phone(inbound.source_addr),
                rating=outcome.rating,
                status=outcome.match_status,
            )
        if outcome.queued:
            self.kick()
        if outcome.callback_task_id is not None:
            for wake in self.callback_observers:
                wake()
        return outcome

    def on_receipt(self, update: ReceiptUpdate) -> defer.Deferred[Any] | None:
        """Apply a committed receipt to its survey, in whichever order it and the SMS's
        outcome commit (the lifecycle gives the same record either way); nothing to do when
        the SMPP store settled it in its own batch."""
        if self._settled_by_sms_store:
            return None
        return self._track(self._receipts.submit(update))
