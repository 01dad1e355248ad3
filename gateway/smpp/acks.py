"""Proofs that the SMSC read our ``deliver_sm_resp``, written to the store in batches.

Sessions report proofs on the reactor thread as they happen (see
:mod:`gateway.smpp.session`); one store call at a time carries every proof gathered
meanwhile. A failed write is tried again with the next proofs, after a capped backoff: a proof
lost costs little (a later identical reply arriving after its link is gone would be taken for
a redelivery), but it is not dropped while the database is merely down for a moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger(namespace="pingjing.smpp")

RETRY_MAX = 30.0  # seconds between tries
MAX_HELD = 100_000  # proofs kept while the database is down; the oldest are dropped past it


class AckFlusher:
    def __init__(
        self,
        mark: Callable[[Sequence[int], datetime], defer.Deferred[None]],
        now: Callable[[], datetime],
        clock: IReactorTime,
    ) -> None:
        self._mark = mark
        self._now = now
        self._clock = clock
        self._ids: list[int] = []
        self._busy = False
        self._retry: IDelayedCall | None = None
        self._delay = 1.0

    @property
    def waiting(self) -> int:
        return len(self._ids)

    def proven(self, tokens: Sequence[object]) -> None:
        self._ids.extend(t for t in tokens if isinstance(t, int))
        if len(self._ids) > MAX_HELD:
            del self._ids[: len(self._ids) - MAX_HELD]
        self._flush()

    def _flush(self) -> None:
        if self._busy or self._retry is not None or not self._ids:
            return
        ids, self._ids = self._ids, []
        self._busy = True
        d = self._mark(ids, self._now())
        d.addCallbacks(self._written, self._failed, errbackArgs=(ids,))

    def _written(self, _: object) -> None:
        self._busy = False
        self._delay = 1.0
        self._flush()

    def _failed(self, f: Failure, ids: list[int]) -> None:
        self._busy = False
        log.failure("recording {n} proven deliver_sm_resp failed; trying again", f, n=len(ids))
        self._ids[:0] = ids
        self._retry = self._clock.callLater(self._delay, self._again)
        self._delay = min(RETRY_MAX, self._delay * 2)

    def _again(self) -> None:
        self._retry = None
        self._flush()

    def stop(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
