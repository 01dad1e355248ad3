"""The one ingest path behind the three doors: validate, then store with its decision.

Validation is pure and runs on the caller's thread; storage runs in the database thread pool
and the result (``IngestResult``) is only given once the transaction has committed, so a door
may acknowledge its sender (AMQP ack, HTTP 202) exactly when the event is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from gateway.events.results import DUPLICATE, REJECTED, IngestResult
from gateway.events.schema import EventInvalidError, ServiceEvent, decode_json_event, validate_event
from gateway.surveys.settings import SurveySettings

log = Logger()


class BatchRejectedError(Exception):
    """An all-or-nothing batch had rejected events: nothing was stored."""

    def __init__(self, results: list[IngestResult]) -> None:
        self.results = results
        super().__init__(f"{sum(r.status == REJECTED for r in results)} event(s) rejected")


def _integrity_error() -> type[Exception]:
    from sqlalchemy.exc import IntegrityError

    return IntegrityError


class EventIntake:
    """Turns raw events into stored events and survey decisions; shared by every door."""

    def __init__(
        self,
        db: Any,  # storage.db.Database
        settings: SurveySettings,
        *,
        clock: Any = None,
        on_queued: Callable[[], None] | None = None,
        max_batch: int = 200,
        max_concurrent_batches: int = 2,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self._db = db
        self._settings = settings
        self._clock = clock
        self._on_queued = on_queued
        self._max_batch = max_batch
        self._max_batches = max_concurrent_batches
        self._waiting: list[tuple[ServiceEvent, str, defer.Deferred[IngestResult]]] = []
        self._stores = 0  # micro-batch transactions in flight

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def validate(self, data: object) -> ServiceEvent:
        return validate_event(data, zone=self._settings.zone, now=self.now())

    def ingest_body(self, body: bytes, source: str) -> defer.Deferred[IngestResult]:
        """One JSON event (an AMQP body); malformed input is a ``rejected`` result, not an error.

        Events arriving together are stored together (group commit): while
        ``max_concurrent_batches`` transactions are in flight, new events wait and go in the
        next one (up to ``max_batch``), because a commit costs a disk flush. Each caller still
        gets its own result after the commit.
        """
        try:
            event = self.validate(decode_json_event(body))
        except EventInvalidError as exc:
            return defer.succeed(IngestResult(exc.event_id, REJECTED, reason=exc.reason))
        d: defer.Deferred[IngestResult] = defer.Deferred()
        self._waiting.append((event, source, d))
        self._schedule_flush()
        return d

    def _schedule_flush(self) -> None:
        """Group commit without a timer: store at once while a transaction slot is free;
        events arriving while all slots are busy wait and go together in the next one."""
        if self._waiting and self._stores < self._max_batches:
            self._flush()

    def _flush(self) -> None:
        while self._waiting and self._stores < self._max_batches:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            groups: dict[str, list[tuple[ServiceEvent, defer.Deferred[IngestResult]]]] = {}
            for event, source, waiter in batch:
                groups.setdefault(source, []).append((event, waiter))
            for source, items in groups.items():
                self._stores += 1
                waiters = [w for _, w in items]
                d = self.store([e for e, _ in items], source)
                d.addCallbacks(
                    self._deliver, self._fail_all, callbackArgs=(waiters,), errbackArgs=(waiters,)
                )

    def _store_done(self) -> None:
        self._stores -= 1
        self._schedule_flush()

    def _deliver(
        self, results: list[IngestResult], waiters: list[defer.Deferred[IngestResult]]
    ) -> None:
        self._store_done()
        for waiter, result in zip(waiters, results, strict=True):
            waiter.callback(result)

    def _fail_all(self, failure: Any, waiters: list[defer.Deferred[IngestResult]]) -> None:
        self._store_done()
        for waiter in waiters:
            waiter.errback(failure)

    def store(
        self,
        events: Sequence[ServiceEvent],
        source: str,
        *,
        scope: str | None = None,
        all_or_nothing: bool = False,
    ) -> defer.Deferred[list[IngestResult]]:
        """Store validated events in one transaction; fires after the commit.

        ``scope``: a unit code; events for units outside its subtree are rejected (a unit's
        HTTP token). ``all_or_nothing``: any rejection rolls the whole batch back and fails
        with ``BatchRejectedError`` carrying every result.
        """
        from storage.events_store import store_events

        now = self.now()

        def work(session: Any) -> list[IngestResult]:
            results = store_events(
                session, events, source=source, settings=self._settings, now=now, scope=scope
            )
            if all_or_nothing and any(r.status == REJECTED for r in results):
                raise BatchRejectedError(results)
            return results

        d = self._db.run(work)
        d.addErrback(self._retry_on_race, events, source, scope, all_or_nothing)
        d.addCallback(self._notify)
        return d

    def store_sync(self, events: Sequence[ServiceEvent], source: str) -> list[IngestResult]:
        """The same, on the calling thread (the ``events import`` command)."""
        from storage.events_store import store_event

        now = self.now()
        return self._notify(
            self._db.run_sync(
                lambda session: [
                    store_event(session, e, source=source, settings=self._settings, now=now)
                    for e in events
                ]
            )
        )

    def _retry_on_race(
        self,
        failure: Any,
        events: Sequence[ServiceEvent],
        source: str,
        scope: str | None = None,
        all_or_nothing: bool = False,
    ) -> defer.Deferred[list[IngestResult]]:
        """Two doors stored the same event_id at once: the loser retries and sees a duplicate."""
        failure.trap(_integrity_error())
        log.info("intake: integrity conflict, retrying {n} event(s) one by one", n=len(events))
        if len(events) == 1:
            from storage.events_store import event_exists

            event = events[0]

            def check(session: Any) -> list[IngestResult]:
                if event_exists(session, event.event_id):
                    return [IngestResult(event.event_id, DUPLICATE)]
                failure.raiseException()
                raise AssertionError("unreachable")

            return self._db.run(check)
        if all_or_nothing:
            return self.store(events, source, scope=scope, all_or_nothing=True)
        ds = [self.store([e], source, scope=scope) for e in events]
        return defer.gatherResults(ds, consumeErrors=True).addCallback(
            lambda lists: [r for rs in lists for r in rs]
        )

    def _notify(self, results: list[IngestResult]) -> list[IngestResult]:
        if self._on_queued is not None and any(r.decision == "selected" for r in results):
            self._on_queued()
        return results
