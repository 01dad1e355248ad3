"""Wire marks: no SMS's first submit_sm is written before the store committed its mark.

After a crash an SMS without a mark never reached the wire and is queued again; one with a mark
may have gone and ends ``unknown``. So marks are committed ahead of the writes, never more than
the *reach* marked and not yet written (what a crash can leave ``unknown``, plus the window),
and only while a bind can transmit.

The reach is ``wire_mark_ahead``, and grows only when that is too short for the link: sending
runs at most a reach per mark commit, so when the writes wait for a mark while more SMS wait
than the reach lets be marked, it doubles (up to ``wire_mark_ahead_max``); after eight
reaches written without that, it halves (never below ``wire_mark_ahead``). At a carrier's
rate cap it stays at ``wire_mark_ahead``; a link faster than the database's commits gets the
reach it needs instead of waiting for a commit every reach (``docs/benchmarks.md``, eleventh
round).

Cheap by batching: the service asks for marks in batches (one store call, one transaction, one
Deferred for the batch; all the SMS of one reactor turn together), refilled once a quarter of
the allowance is free, not for every SMS written: the rest keeps the writes going while a batch
commits on a slow database (``docs/faults.md``, finding 4).
And most SMS need no mark transaction of their own: the outbox claim marks what it claims, in
slots reserved here first (``reserve``), and hands them over already marked
(``OutboundSms.wired``).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.smpp.store import utcnow

log = Logger()

RETRY_SECONDS = 1.0
# A grown reach halves after this many reaches are written with no wait it was too short for.
SHRINK_AFTER_REACHES = 8


class WireMarks:
    """The marks of one SMPP service's messages (``_Message``: ``sms``, ``wired``,
    ``marking``, ``written``, ``finished``, ``failed_error``)."""

    def __init__(
        self,
        allowance: int,
        store: Any,
        clock: IReactorTime,
        now: Callable[[], Any],
        pump: Callable[[], None],
        ready: Callable[[], bool] = lambda: True,
        most: int | None = None,
    ) -> None:
        """``allowance``: the reach normally (``wire_mark_ahead``); ``most``: the reach it may
        grow to (``wire_mark_ahead_max``; none by default). ``ready()``: a bind can transmit
        (marks are asked only then)."""
        self.base = allowance
        self.most = max(allowance, most or allowance)
        self.allowance = allowance  # the reach now
        self.enabled = getattr(store, "mark_wired", None) is not None
        self._store = store
        self._clock = clock
        self._now = now or utcnow
        self._pump = pump
        self._ready = ready
        self.unmarked: collections.deque[Any] = collections.deque()  # in queue order
        self.ahead = 0  # marked (or being marked, or reserved) and not written yet
        self.reserved = 0  # slots given to a claim that marks in its own transaction
        self._retry: IDelayedCall | None = None
        self._call: IDelayedCall | None = None  # the batch being gathered (this reactor turn)
        self._blocked = False
        self._may_grow = False  # a batch committed since the last growth (or the start)
        self._easy_writes = 0  # written since the reach was last too short
        self.stopping = False
        self.counts = collections.Counter()  # batches, marked (here), by_claim, grown, shrunk

    # --- claims that mark -----------------------------------------------------------------

    def reserve(self, n: int) -> int:
        """Up to ``n`` slots for SMS a claim marks itself; how many were given (0 while
        messages wait for a mark: those come first)."""
        if not self.enabled or self.stopping or self.unmarked or self._retry is not None:
            return 0
        k = max(0, min(n, self.allowance - self.ahead))
        self.ahead += k
        self.reserved += k
        return k

    def release(self, n: int) -> None:
        """Slots reserved and not used (the claim found fewer SMS, or failed)."""
        n = max(0, min(n, self.reserved))
        self.reserved -= n
        self.ahead -= n
        if n:
            self._pump()

    def take_reserved(self) -> None:
        """A marked SMS arrives: its reserved slot becomes its message's (``add``), or free
        when it finishes without being queued."""
        if self.reserved > 0:
            self.reserved -= 1
            self.ahead -= 1

    # --- messages -------------------------------------------------------------------------

    def add(self, msg: Any) -> None:
        if not self.enabled:
            msg.wired = True
        elif msg.sms.wired:
            msg.wired = True
            self.ahead += 1
            self.counts["by_claim"] += 1
        else:
            self.unmarked.append(msg)

    def written(self, msg: Any) -> None:
        """``msg`` no longer counts as marked ahead: written, or finished without that."""
        if (msg.wired or msg.marking) and not msg.written:
            msg.written = True
            self.ahead -= 1
            if self.allowance > self.base:
                self._easy_writes += 1
                if self._easy_writes >= SHRINK_AFTER_REACHES * self.allowance:
                    self._easy_writes = 0
                    self._set_reach(max(self.base, self.allowance // 2))
                    self.counts["shrunk"] += 1

    def waiting(self) -> None:
        """The next SMS to write waits for its mark while the window has room. If a batch
        committed since the reach last grew and more SMS wait than the reach lets be marked,
        the writes used the reach up within a commit: it doubles (up to ``most``)."""
        if self.ahead + len(self.unmarked) <= self.allowance:
            return  # all of them fit: waiting for the commit's latency, not for room
        self._easy_writes = 0
        if not self._may_grow or self.allowance >= self.most:
            return
        self._may_grow = False
        self._set_reach(min(self.most, self.allowance * 2))
        self.counts["grown"] += 1

    @property
    def _refill(self) -> int:
        """A batch is asked once this much of the reach is free (three quarters keep the
        writes going meanwhile)."""
        return max(1, self.allowance // 4)

    def _set_reach(self, n: int) -> None:
        self.allowance = n
        log.debug("wire marks: reach now {n} SMS", n=n)

    def mark_ahead(self, blocked: bool = False) -> None:
        """Ask the store to mark the next messages, in order, up to ``allowance`` ahead: once
        a quarter of it is free, or when the next message to write waits for its mark
        (``blocked``). At the end of this reactor turn, so that the SMS submitted in it (a
        claim's) are marked in one batch."""
        if self._retry is not None or not self.unmarked:
            return
        free = self.allowance - self.ahead
        if free <= 0 or (free < self._refill and not blocked):
            return
        self._blocked = self._blocked or blocked
        if self._call is None:
            self._call = self._clock.callLater(0, self._mark_now)

    def _mark_now(self) -> None:
        self._call = None
        blocked, self._blocked = self._blocked, False
        if self._retry is not None or not self._ready():  # unbound meanwhile: the bind pumps
            return
        free = self.allowance - self.ahead
        if free <= 0 or (free < self._refill and not blocked):
            return
        batch = []
        while self.unmarked and len(batch) < free:
            msg = self.unmarked.popleft()
            if not msg.finished and msg.failed_error is None:
                batch.append(msg)
        if batch:
            self._mark(batch)

    def _mark(self, batch: list[Any]) -> None:
        for msg in batch:
            msg.marking = True
        self.ahead += len(batch)
        self.counts["batches"] += 1
        self.counts["marked"] += len(batch)
        d = defer.maybeDeferred(
            self._store.mark_wired, [msg.sms.outbound_id for msg in batch], self._now()
        )

        def marked(_: object) -> None:
            for msg in batch:
                msg.marking = False
                msg.wired = True
            self._may_grow = True
            self._pump()

        def failed(f: Failure) -> None:
            again = []
            for msg in batch:
                msg.marking = False
                if not msg.written:  # finished meanwhile: its slot was given back then
                    self.ahead -= 1
                    if not msg.finished:
                        again.append(msg)
            self.unmarked.extendleft(reversed(again))
            if self._retry is None and not self.stopping:
                log.warn(
                    "storing the wire marks of {n} SMS failed ({why}); they wait and are "
                    "marked again in a second",
                    n=len(batch),
                    why=f.getErrorMessage()[:200],
                )
                self._retry = self._clock.callLater(RETRY_SECONDS, self._retried)

        d.addCallbacks(marked, failed)

    def _retried(self) -> None:
        self._retry = None
        self._pump()

    def stop(self) -> None:
        """No more retries (what is queued is still marked and written until the stop's
        deadline, as the service decides)."""
        self.stopping = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
