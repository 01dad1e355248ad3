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
from gateway.surveys.batching import GroupCommit
from gateway.surveys.settings import SurveySettings
from gateway.surveys.store import EventStore, Runner

log = Logger()


class BatchRejectedError(Exception):
    """An all-or-nothing batch had rejected events: nothing was stored."""

    def __init__(self, results: list[IngestResult]) -> None:
        self.results = results
        super().__init__(f"{sum(r.status == REJECTED for r in results)} event(s) rejected")


class EventIntake:
    """Turns raw events into stored events and survey decisions; shared by every door."""

    def __init__(
        self,
        db: Runner,
        settings: SurveySettings,
        *,
        store: EventStore,
        clock: Any = None,
        on_queued: Callable[[], None] | None = None,
        max_batch: int = 500,
        max_concurrent_batches: int = 2,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self._db = db
        self._store = store
        self._settings = settings
        self._clock = clock
        self._on_queued = on_queued
        self._max_batch = max_batch
        self._max_batches = max_concurrent_batches
        self._groups: dict[str, GroupCommit[ServiceEvent, IngestResult]] = {}

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
        d = self._group(source).submit(event)
        d.addErrback(self._race_to_duplicate, event)
        d.addCallback(lambda result: self._notify([result])[0])
        return d

    def _group(self, source: str) -> GroupCommit[ServiceEvent, IngestResult]:
        group = self._groups.get(source)
        if group is None:

            def work(session: Any, events: list[ServiceEvent]) -> list[IngestResult]:
                return self._store.store_events(
                    session, events, source=source, settings=self._settings, now=self.now()
                )

            group = GroupCommit(
                self._db,
                work,
                max_batch=self._max_batch,
                max_concurrent=self._max_batches,
                name=f"intake-{source}",
            )
            self._groups[source] = group
        return group

    def _race_to_duplicate(self, failure: Any, event: ServiceEvent) -> Any:
        """Two doors stored the same event_id at once: the loser sees a duplicate."""
        failure.trap(self._store.conflict_error)

        def check(session: Any) -> IngestResult:
            if self._store.event_exists(session, event.event_id):
                return IngestResult(event.event_id, DUPLICATE)
            failure.raiseException()
            raise AssertionError("unreachable")

        return self._db.run(check)

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
        now = self.now()

        def work(session: Any) -> list[IngestResult]:
            results = self._store.store_events(
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
        now = self.now()
        return self._notify(
            self._db.run_sync(
                self._store.store_events, events, source=source, settings=self._settings, now=now
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
        failure.trap(self._store.conflict_error)
        log.info("intake: integrity conflict, retrying {n} event(s) one by one", n=len(events))
        if len(events) == 1:
            event = events[0]

            def check(session: Any) -> list[IngestResult]:
                if self._store.event_exists(session, event.event_id):
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
