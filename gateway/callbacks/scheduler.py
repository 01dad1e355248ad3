"""The callback scheduler: claims due tasks, places calls through AMI, and records what happened.

One Twisted service, woken only by timers on the injected clock (the next due task, the next
calling window, the spool interval, a poll interval as a safety net for tasks other processes
create) and by :meth:`CallbackScheduler.wake`. Every database access goes through
``Database.run`` (a pool thread); the rules come from :mod:`gateway.callbacks.policy` and the
SQL from the injected :class:`~gateway.callbacks.store.CallbackStore`.

Each placed call is tracked as an explicit state (:class:`CallState`) and holds one of
``max_concurrent`` slots from the claim until the line is free again: at the outcome for an
unanswered call, at the channel's hangup for an answered one. If the AMI client only offers
``originate`` (no ``ended`` signal), an answered call holds its slot until its IVR result is
applied or its claim expires.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.callbacks import policy
from gateway.callbacks.settings import CallbackSettings
from gateway.callbacks.store import CallbackStore, Change, Claim, LinesAtAsterisk
from gateway.masking import mask_phone
from ivr.ami.api import (
    AmiConnectionLostError,
    AmiError,
    AmiNotConnectedError,
    AmiTimeoutError,
    CallEnded,
    CallOutcome,
    OriginateRequest,
)


class Originator(Protocol):
    """What the scheduler needs of the AMI client (``ivr.ami.client.AmiClient`` fits).

    ``originate_call`` (returning a handle with ``channel_id``, ``outcome`` and ``ended``) is
    used when present; a ``connected`` attribute, when present, pauses claiming while false;
    ``live_attempts()``, when present, says which callback channels Asterisk has up (attempt
    ids, and a count of channels not tied to one), so that the trunk is counted whole.
    """

    def originate(self, request: OriginateRequest) -> Deferred[CallOutcome]: ...


class DatabaseRunner(Protocol):
    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]: ...


class CallState(enum.Enum):
    DIALLING = "dialling"  # originate sent, outcome not known yet
    IN_CALL = "in_call"  # answered; waiting for the hangup (``ended``)
    AWAITING_RESULT = "awaiting_result"  # answered, no ``ended`` signal: wait for the result


@dataclass
class _Call:
    claim: Claim
    state: CallState = CallState.DIALLING
    ended: Deferred[CallEnded] | None = None
    line: Any = None  # the trunk line it holds (``take_line``), released when it is free


class Line(Protocol):
    def release(self) -> None: ...


#: Takes one of the trunk's lines shared with the evaluation line (``ivr.lines``), or None
#: when every line is in use (by the callbacks or by citizens calling in).
TakeLine = Callable[[], Line | None]


def default_worker_name() -> str:
    """The host name: stable across restarts, so a restarted daemon recovers its own claims at
    once. Two schedulers on one host need distinct names (configure ``worker``)."""
    return socket.gethostname()[:64]


class CallbackScheduler(Service):
    """Claims due callback tasks within the calling window and phones them, ``max_concurrent``
    calls at a time."""

    log = Logger()

    def __init__(
        self,
        db: DatabaseRunner,
        ami: Originator,
        settings: CallbackSettings,
        clock: IReactorTime,
        *,
        store: CallbackStore,
        worker: str | None = None,
        ingest_spool: Callable[[], Any] | None = None,
        take_line: TakeLine | None = None,
    ) -> None:
        self.db = db
        self._take_line = take_line
        self.store = store
        self.ami = ami
        self.settings = settings
        self.clock = clock
        self.worker = worker or settings.worker or default_worker_name()
        self._ingest_spool = ingest_spool
        self._calls: dict[int, _Call] = {}  # attempt id → call
        self._timer: IDelayedCall | None = None
        self._ticking: Deferred[None] | None = None
        self._again = False
        self._ingest_now = True
        self._next_ingest: datetime | None = None
        self._stopping = False
        # a tick that found the AMI link down waits for it, not for the next poll
        add_ready_observer = getattr(ami, "add_ready_observer", None)
        if add_ready_observer is not None:
            add_ready_observer(self.wake)

    # -- service -------------------------------------------------------------------------------

    def startService(self) -> None:
        """Recover this worker's claims from before a crash, then run the first tick."""
        super().startService()
        self._stopping = False
        self._ticking = self._start()
        self._ticking.addBoth(self._started)

    def _started(self, _: object) -> None:
        self._ticking = None
        self._schedule(0)

    @inlineCallbacks
    def _start(self) -> Any:
        try:
            changes = yield self.db.run(
                self.store.recover_claims, self.now(), self.settings, worker=self.worker
            )
            for change in changes:
                self.log.warn(
                    "recovered callback {task_id} from an interrupted run: {status} ({why})",
                    task_id=change.task_id,
                    status=change.status,
                    why=change.why,
                )
        except Exception:
            self.log.failure(
                "recovering interrupted callbacks failed; they are recovered when their "
                "claims expire"
            )

    def stopService(self) -> Deferred[None]:
        """Stop waking; calls in progress keep their claims and are recovered at next start."""
        super().stopService()
        self._stopping = True
        self._cancel_timer()
        running = self._ticking
        if running is None:
            return succeed(None)
        done: Deferred[None] = Deferred()
        running.addBoth(lambda _: done.callback(None))
        return done

    # -- time and wake-ups -----------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def wake(self) -> None:
        """Look for work now (new tasks created, a line freed); cheap to call often."""
        if self._stopping or not self.running:
            return
        if self._ticking is not None:
            self._again = True
            return
        self._schedule(0)

    def _schedule(self, delay: float) -> None:
        if self._stopping:
            return
        self._cancel_timer()
        self._timer = self.clock.callLater(max(delay, 0.0), self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self._ticking is not None:
            self._again = True
            return
        self._ticking = self.tick()
        self._ticking.addBoth(self._ticked)

    def _ticked(self, result: object) -> None:
        self._ticking = None
        if isinstance(result, Failure):
            self.log.failure("callback scheduler tick failed", result)
            self._schedule(self.settings.poll_interval.total_seconds())
        elif self._again:
            self._again = False
            self._schedule(0)

    # -- one round -------------------------------------------------------------------------------

    @inlineCallbacks
    def tick(self) -> Any:
        """Ingest the spool, apply results, recover stale claims, housekeep, then claim and
        dial as many due tasks as free lines allow, and set the timer for the next round."""
        s = self.settings
        now = self.now()
        if self._ingest_spool is not None and (
            self._ingest_now or self._next_ingest is None or now >= self._next_ingest
        ):
            self._ingest_now = False
            self._next_ingest = now + s.spool_interval
            try:
                yield maybeDeferred(self._ingest_spool)
            except Exception:
                self.log.failure("ingesting the AGI spool failed; the files stay for next time")
        busy = self._busy_tasks()
        changes = yield self.db.run(self.store.settle_results, now, s, exclude=busy)
        changes += yield self.db.run(self.store.recover_claims, now, s, exclude=busy)
        self._release_settled(changes)
        changes += yield self.db.run(self.store.sweep, now, s)
        if s.non_response_share > 0:
            created = yield self.db.run(self.store.create_non_response_tasks, now, s)
            if created:
                self.log.info("{count} non-response callbacks created", count=len(created))
        for change in changes:
            self._log_change(change)
        # Lines in use: this process's calls, or what Asterisk says our channels are (a call a
        # crashed predecessor left up is still on the trunk), whichever is more, for a first
        # look; claim_due counts exactly: the union of every process's calls in the database
        # and the channels at Asterisk.
        at_asterisk = self._lines_at_asterisk()
        busy = max(len(self._calls), len(at_asterisk))
        free = s.max_concurrent - busy
        if free > 0 and policy.in_window(now, s) and self._ami_ready():
            lines = self._take_lines(free)
            free = len(lines) if self._take_line is not None else free
            claims: list[Claim] = []
            try:
                if free > 0:
                    claims, closed = yield self.db.run(
                        self.store.claim_due, now, free, self.worker, s, at_asterisk
                    )
                    for change in closed:
                        self._log_change(change)
            finally:
                for line in lines[len(claims) :]:
                    line.release()
            for claim, line in zip(claims, lines or [None] * len(claims), strict=False):
                self._place(claim, line)
        yield self._plan_next()

    def _lines_at_asterisk(self) -> LinesAtAsterisk:
        live = getattr(self.ami, "live_attempts", None)
        if live is None:
            return LinesAtAsterisk()
        attempt_ids, untied = live()
        return LinesAtAsterisk(attempt_ids, untied)

    def _take_lines(self, wanted: int) -> list[Line]:
        """Up to ``wanted`` trunk lines (the evaluation line's callers may hold the others)."""
        lines: list[Line] = []
        if self._take_line is None:
            return lines
        try:
            while len(lines) < wanted and (line := self._take_line()) is not None:
                lines.append(line)
        except OSError:
            self.log.failure("taking a trunk line failed; calling without counting it")
            return lines
        return lines

    @inlineCallbacks
    def _plan_next(self) -> Any:
        s = self.settings
        now = self.now()  # the round took time on the database threads
        wake_at = now + s.poll_interval
        if self._next_ingest is not None:
            wake_at = min(wake_at, self._next_ingest)
        if len(self._calls) < s.max_concurrent and self._ami_ready():
            due = yield self.db.run(self.store.next_due_at, now)
            if due is not None:
                slot = policy.next_slot(due, s)
                if slot > now:
                    wake_at = min(wake_at, slot)
                else:
                    # Due now and inside the window yet not claimed: another process's claim
                    # transaction still holds the row; look again after a short pause.
                    wake_at = min(wake_at, now + timedelta(seconds=1))
        self._schedule((wake_at - now).total_seconds())

    def _ami_ready(self) -> bool:
        return bool(getattr(self.ami, "connected", True))

    def _busy_tasks(self) -> set[int]:
        """Tasks whose calls this process still follows itself (not to be settled by others)."""
        return {
            call.claim.task_id
            for call in self._calls.values()
            if call.state is not CallState.AWAITING_RESULT
        }

    def _release_settled(self, changes: list[Change]) -> None:
        settled = {c.task_id for c in changes}
        for attempt_id, call in list(self._calls.items()):
            if call.state is CallState.AWAITING_RESULT and call.claim.task_id in settled:
                del self._calls[attempt_id]
                if call.line is not None:
                    line, call.line = call.line, None
                    line.release()

    def _log_change(self, change: Change) -> None:
        self.log.info(
            "callback {task_id}: {status} {when}({why})",
            task_id=change.task_id,
            status=change.status,
            when=f"at {change.next_attempt_at:%Y-%m-%d %H:%M}Z " if change.next_attempt_at else "",
            why=change.why,
        )

    # -- one call --------------------------------------------------------------------------------

    def _place(self, claim: Claim, line: Line | None = None) -> None:
        call = _Call(claim, line=line)
        self._calls[claim.attempt_id] = call
        request = OriginateRequest(
            callback_id=claim.task_id,
            attempt_id=claim.attempt_id,
            number=claim.phone,
            # A citizen who never replied is asked for the rating before the reason.
            ask_rating=claim.trigger == "non_response",
        )
        self.log.info(
            "calling back {phone} for callback {task_id}, attempt {number}",
            phone=mask_phone(claim.phone),
            task_id=claim.task_id,
            number=claim.attempt_number,
        )
        originate_call = getattr(self.ami, "originate_call", None)
        if originate_call is not None:
            d = maybeDeferred(originate_call, request)

            def unwrap(handle: Any) -> Deferred[CallOutcome]:
                call.ended = handle.ended
                return handle.outcome

            d.addCallback(unwrap)
        else:
            d = maybeDeferred(self.ami.originate, request)
        d.addCallbacks(self._on_outcome, self._on_originate_error, (call,), None, (call,), None)
        d.addErrback(self._unexpected, call)

    @inlineCallbacks
    def _on_outcome(self, outcome: CallOutcome, call: _Call) -> Any:
        claim = call.claim
        if outcome.result == "unknown":
            # The channel ended while the AMI link was down and its outcome was lost with the
            # link: not a failure to retry at once. Treated as a call that ended: its IVR
            # result (stored or spooled) decides, else the claim runs out and the attempt is
            # retried as unknown (``recover_claims``).
            self.log.warn(
                "attempt {attempt_id} of callback {task_id} ended while the AMI link was down; "
                "its IVR result decides",
                attempt_id=claim.attempt_id,
                task_id=claim.task_id,
            )
            self._free(call)
            yield self._on_ended(
                CallEnded(claim.attempt_id, outcome.channel_id, outcome.hangup_cause, None), call
            )
            return
        answered = outcome.result == "answered"
        if answered:
            call.state = CallState.IN_CALL if call.ended is not None else CallState.AWAITING_RESULT
        else:
            self._free(call)
        try:
            change = yield self.db.run(
                self.store.record_outcome,
                claim.attempt_id,
                channel_id=outcome.channel_id,
                outcome=outcome.result,
                reason_code=outcome.reason_code,
                hangup_cause=outcome.hangup_cause,
                now=self.now(),
                settings=self.settings,
            )
            if change is not None:
                self._log_change(change)
        finally:
            # Follow the hangup only once the outcome is stored (or failed to be): the line
            # must be freed even when the database is down.
            if answered and call.ended is not None:
                call.ended.addCallback(self._on_ended, call).addErrback(self._unexpected, call)

    @inlineCallbacks
    def _on_ended(self, ended: CallEnded, call: _Call) -> Any:
        self._free(call)
        change = yield self.db.run(
            self.store.record_call_ended,
            call.claim.attempt_id,
            hangup_cause=ended.hangup_cause,
            now=self.now(),
            settings=self.settings,
        )
        if change is not None:
            self._log_change(change)
        else:
            # The script may have spooled its result: ingest before settling.
            self._ingest_now = True
            self.wake()

    @inlineCallbacks
    def _on_originate_error(self, failure: Failure, call: _Call) -> Any:
        claim = call.claim
        self._free(call)
        now = self.now()
        error = failure.value
        why = f"{type(error).__name__}: {failure.getErrorMessage()}"
        if isinstance(error, AmiNotConnectedError):
            retry_at = policy.next_slot(now + self.settings.not_connected_backoff, self.settings)
            change = yield self.db.run(
                self.store.record_not_placed, claim.attempt_id, now, retry_at, why
            )
        elif isinstance(error, ValueError):
            change = yield self.db.run(
                self.store.record_refused,
                claim.attempt_id,
                now,
                f"number refused by the dialler: {error}",
            )
        else:
            unknown = isinstance(error, AmiTimeoutError | AmiConnectionLostError) or not isinstance(
                error, AmiError
            )
            if not isinstance(error, AmiError):
                self.log.failure(
                    "originate for callback {task_id} raised unexpectedly",
                    failure,
                    task_id=claim.task_id,
                )
            change = yield self.db.run(
                self.store.record_outcome,
                claim.attempt_id,
                channel_id=None,
                outcome="unknown" if unknown else "failed",
                reason_code=None,
                hangup_cause=None,
                now=now,
                settings=self.settings,
            )
        if change is not None:
            self._log_change(change)

    def _free(self, call: _Call) -> None:
        if call.line is not None:
            line, call.line = call.line, None
            line.release()
        if self._calls.pop(call.claim.attempt_id, None) is not None:
            self.wake()

    def _unexpected(self, failure: Failure, call: _Call) -> None:
        """Storing what happened failed (database down): the claim expires and the task is
        recovered, so the failure is logged, not lost."""
        self.log.failure(
            "recording attempt {attempt_id} of callback {task_id} failed; "
            "the task is recovered when its claim expires",
            failure,
            attempt_id=call.claim.attempt_id,
            task_id=call.claim.task_id,
        )
