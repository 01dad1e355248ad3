"""Group commit: many small database writes share one transaction, without a timer.

A commit costs a disk flush; one per event, reply or submit outcome caps the pipeline at a few
hundred per second on PostgreSQL. ``GroupCommit`` runs at most ``max_concurrent`` transactions;
items arriving while they are busy wait and go together in the next one (up to ``max_batch``).
Under light load every item still goes alone and at once; under heavy load batches form by
themselves. If a batch fails, each of its items is retried alone so that one bad item cannot
fail the others; a single item's failure is its caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from twisted.internet import defer
from twisted.logger import Logger

T = TypeVar("T")
R = TypeVar("R")

log = Logger()


class GroupCommit(Generic[T, R]):
    """Feed items to ``work(session, items) -> results`` (same order) in shared transactions."""

    def __init__(
        self,
        db: Any,
        work: Callable[[Any, list[T]], list[R]],
        *,
        max_batch: int = 200,
        max_concurrent: int = 2,
        name: str = "batch",
        on_start: Callable[[list[T]], None] | None = None,
    ) -> None:
        """``on_start`` is told the items of each transaction as it starts (items waiting
        until then can still be affected by what commits before it)."""
        self._db = db
        self._work = work
        self._max_batch = max_batch
        self._max_concurrent = max_concurrent
        self._name = name
        self._on_start = on_start
        self._waiting: list[tuple[T, defer.Deferred[R]]] = []
        self._running = 0
        self.transactions = 0  # how many were run (observability, tests)

    def submit(self, item: T) -> defer.Deferred[R]:
        """The item's result, after the transaction that stored it committed."""
        d: defer.Deferred[R] = defer.Deferred()
        self._waiting.append((item, d))
        self._pump()
        return d

    @property
    def busy(self) -> bool:
        return bool(self._running or self._waiting)

    def _pump(self) -> None:
        while self._waiting and self._running < self._max_concurrent:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._running += 1
            if self._on_start is not None:
                self._on_start([item for item, _ in batch])
            self._run(batch).addBoth(self._done)

    def _done(self, _: object) -> None:
        self._running -= 1
        self._pump()

    def _call(self, items: list[T]) -> defer.Deferred[list[R]]:
        self.transactions += 1
        return self._db.run(self._work, items)

    @defer.inlineCallbacks
    def _run(self, batch: list[tuple[T, defer.Deferred[R]]]) -> Any:
        items = [item for item, _ in batch]
        try:
            results = yield self._call(items)
        except Exception:
            if len(batch) == 1:
                batch[0][1].errback()
                return
            log.warn(
                "{name}: a batch of {n} failed; retrying its items one by one",
                name=self._name,
                n=len(batch),
            )
            for item, waiter in batch:
                try:
                    [result] = yield self._call([item])
                except Exception:
                    waiter.errback()
                else:
                    waiter.callback(result)
            return
        for (_, waiter), result in zip(batch, results, strict=True):
            waiter.callback(result)
