"""The report schedule as a daemon service: produce each report on time, archive, deliver.

One timer per kind (``schedule.next_run``) on the injected business clock. At start-up a run
due within the last ``reports.catch_up_hours`` whose period is not in the archive (the daemon
was down at 08:00) is produced at once. A failed run is logged and retried at the kind's next
time; it never stops the other kinds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from gateway.reports import compute, schedule
from gateway.reports.produce import Produced, produce_and_archive
from gateway.reports.render_text import as_text
from gateway.reports.settings import ReportSettings
from gateway.reports.store import ReportStore

log = Logger()


class DatabaseRunner(Protocol):
    def run(self, fn: Any, *args: Any, **kwargs: Any) -> defer.Deferred[Any]: ...


class Deliver(Protocol):
    def deliver(
        self, kind: str, subject: str, text: str, attachments: list[Path]
    ) -> defer.Deferred[list[str]]: ...


class ReportScheduler(Service):
    name = "reports"

    def __init__(
        self,
        db: DatabaseRunner,
        store: ReportStore,
        settings: ReportSettings,
        clock: Any,
        directory: Path,
        deliverer: Deliver,
        kinds: tuple[str, ...] = schedule.SCHEDULED,
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.clock = clock
        self.directory = directory
        self.deliverer = deliverer
        self.kinds = kinds
        self._timers: dict[str, Any] = {}
        self._running: set[defer.Deferred[Any]] = set()
        #: (kind, period key, what it was delivered to) of every run, for the log and tests
        self.runs: list[tuple[str, str, list[str]]] = []

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def startService(self) -> None:
        super().startService()
        now = self.now()
        for kind in self.kinds:
            self._catch_up(kind, now)
            self._arm(kind, now)

    def stopService(self) -> defer.Deferred[Any]:
        super().stopService()
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        return defer.DeferredList(list(self._running), consumeErrors=True)

    def _arm(self, kind: str, after: datetime) -> None:
        at = schedule.next_run(kind, after, self.settings)
        delay = max(0.0, at.timestamp() - self.clock.seconds())
        self._timers[kind] = self.clock.callLater(delay, self._fire, kind, at)

    def _catch_up(self, kind: str, now: datetime) -> None:
        due = schedule.last_run(kind, now, self.settings)
        if (now - due).total_seconds() > self.settings.catch_up_hours * 3600:
            return
        period = schedule.period_for(kind, due, self.settings)

        def missing(tx: Any) -> bool:
            return not any(r.period_key == period.key for r in self.store.archived(tx, kind))

        d = self.db.run(missing)
        d.addCallback(lambda yes: self.run_once(kind, due) if yes else None)
        d.addErrback(lambda f: log.failure("reports: catching up {kind} failed", f, kind=kind))
        self._track(d)

    def _fire(self, kind: str, at: datetime) -> None:
        self._timers.pop(kind, None)
        if not self.running:
            return
        self._track(self.run_once(kind, at))
        self._arm(kind, at)

    def _track(self, d: defer.Deferred[Any]) -> None:
        self._running.add(d)
        d.addBoth(lambda result: (self._running.discard(d), result)[1])

    def run_once(self, kind: str, at: datetime) -> defer.Deferred[Any]:
        """Produce, archive and deliver the report of ``kind`` due at ``at``."""
        period = schedule.period_for(kind, at, self.settings)
        formats = ("text", "json", "xlsx")

        def produce(tx: Any) -> list[Produced]:
            units: list[str | None] = [None]
            if kind == "week":  # each unit of the ranking group gets its own weekly notice
                group = compute.ranking_group(self.store.units(tx), self.settings.ranking_group)
                units += [u.code for u in group]
            return [
                produce_and_archive(
                    kind,
                    self.store,
                    tx,
                    period,
                    self.settings,
                    at,
                    self.directory,
                    formats,
                    unit_code=code,
                )
                for code in units
            ]

        d = self.db.run(produce)

        def deliver(produced: list[Produced]) -> Any:
            report = produced[0].report
            text = as_text(report, tables=False)
            files = [Path(f.path) for p in produced for f in p.files if f.fmt in ("xlsx", "png")]
            log.info(
                "reports: {kind} {key} produced, {n} files",
                kind=kind,
                key=period.key,
                n=sum(len(p.files) for p in produced),
            )
            return self.deliverer.deliver(kind, report.title, text, files)

        def record(delivered: list[str]) -> None:
            self.runs.append((kind, period.key, delivered))

        d.addCallback(deliver)
        d.addCallback(record)
        d.addErrback(
            lambda f: log.failure("reports: {kind} {key} failed", f, kind=kind, key=period.key)
        )
        return d
