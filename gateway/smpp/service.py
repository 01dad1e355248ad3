"""The SMPP client service: binds kept up with backoff, a rate-capped send queue, receipts and
replies stored before they are acknowledged.

One :class:`SmppService` per SMSC account. It binds as a transceiver or as a transmitter +
receiver pair (``bind_mode``), each bind kept up by Twisted's ``ClientService`` with exponential
backoff, so a refused password backs off instead of looping. Sending is a queue of parts drained
into the bound transmitter's window through a token bucket that counts PDUs; throttling answers
pause the bind with a growing backoff. Every :meth:`SmppService.submit` ends in exactly one
:class:`SubmitOutcome`, released after the store committed it.
"""

from __future__ import annotations

import collections
import itertools
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.errors import ErrorKind, classify, status_name
from gateway.linkstate import LinkState, ObservedEndpoint
from gateway.masking import mask_phone
from gateway.smpp import codec, encoding, stopping
from gateway.smpp.api import InboundSms, OutboundSms, ReceiptUpdate, SubmitOutcome
from gateway.smpp.attempts import AttemptLog
from gateway.smpp.outcome import message_outcome
from gateway.smpp.protocol import SmppClientFactory
from gateway.smpp.ratelimit import TokenBucket
from gateway.smpp.receipts import (
    ReceiptError,
    id_format,
    in_zone,
    is_receipt,
    parse_receipt,
)
from gateway.smpp.redelivery import link_name
from gateway.smpp.replies import ReplyIntake
from gateway.smpp.session import (
    BindRefused,
    LinkLost,
    NotBound,
    ResponseTimeout,
    SmppSession,
    State,
    WindowFull,
)
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import PartResult, ReceiptRecord, SmsStore
from gateway.smpp.wire_marks import WireMarks

log = Logger(namespace="pingjing.smpp")

STORE_RETRY_MAX = 30.0  # seconds between tries to store a submit outcome
STORE_RETRY_TRIES = 20  # 1 + 2 + 4 + 8 + 16 + 15 × 30 s: about 8 minutes

Observer = Callable[[Any], Any]


def _tell_answered(on_answered: Callable[[SubmitOutcome], object], outcome: SubmitOutcome) -> None:
    try:
        on_answered(outcome)
    except Exception:
        log.failure("on_answered for outbound {oid} raised", oid=outcome.outbound_id)


def reason_label(error: str) -> str:
    """A short, bounded label for an error: the ESME status name, else the text before its
    first colon (``not sent``), never a number or an address."""
    head = error.split()[0] if error.startswith("ESME_") else error.split(":")[0]
    return "".join(ch for ch in head if not ch.isdigit())[:40].strip() or "other"


def _address_problem(sms: OutboundSms) -> str | None:
    """Why the addresses cannot go into a submit_sm (C-strings of at most 20 octets), if so."""
    if not sms.destination or not sms.destination.lstrip("+").isdigit():
        return f"destination {mask_phone(sms.destination)!r} is not a phone number"
    if len(sms.destination) > 20:
        return f"destination has {len(sms.destination)} characters, at most 20 allowed"
    if sms.source_addr is not None and (len(sms.source_addr) > 20 or not sms.source_addr.isascii()):
        return f"source_addr {sms.source_addr!r} must be at most 20 ASCII characters"
    return None


def relative_validity(seconds: float) -> str | None:
    """SMPP relative time ``YYMMDDhhmmss000R`` for a validity period; ``None`` = SMSC default."""
    total = int(seconds)
    if total <= 0:
        return None
    days, rest = divmod(total, 86400)
    days = min(days, 99)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def utcnow_from(clock: IReactorTime) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


@dataclass
class _Message:
    sms: OutboundSms
    parts: list[encoding.Part]
    deferred: defer.Deferred[SubmitOutcome]
    attempts: AttemptLog = field(default_factory=AttemptLog)  # what the part rows will be
    jobs: list[_PartJob] = field(default_factory=list)
    done: dict[int, PartResult] = field(default_factory=dict)  # part_number -> final attempt
    in_flight: int = 0
    failed_error: str | None = None
    finished: bool = False
    on_answered: Callable[[SubmitOutcome], object] | None = None
    # the store committed that its first submit_sm is about to be written (``mark_wired``);
    # no part is written before
    wired: bool = False
    marking: bool = False
    written: bool = False  # a part of it went out (it no longer counts as marked ahead)


@dataclass
class _PartJob:
    message: _Message
    part: encoding.Part
    attempt: int = 0
    resent_unacked: bool = False


class SmppService(MultiService):
    """See the module docstring. ``endpoint_factory`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        settings: SmppSettings,
        store: SmsStore,
        clock: IReactorTime | None = None,
        endpoint_factory: Callable[[], IStreamClientEndpoint] | None = None,
        name: str = "smpp",
        business_clock: IReactorTime | None = None,
        instance: str = "",
    ) -> None:
        """``clock`` runs the wire (deadlines, enquire_link, reconnects); ``business_clock``
        stamps what is stored (sent, answered, received), so that stored times agree with the
        survey's own when business time is compressed (the demo). Default: ``clock``.
        ``instance`` names this process among those sharing the database (``service.instance``):
        replies' links are named after it to tell redeliveries (gateway/smpp/redelivery.py)."""
        super().__init__()
        self.settings = settings.validate()
        self._validity = relative_validity(self.settings.validity_period)
        self.store = store
        if clock is None:
            from twisted.internet import reactor as clock  # type: ignore[assignment]
        self.clock: IReactorTime = clock  # type: ignore[assignment]
        self.business_clock: IReactorTime = business_clock or self.clock
        self.setName(name)
        self._endpoint_factory = endpoint_factory or self._tcp_endpoint
        self._ids = id_format(settings.message_id_format)
        self._receipt_zone = ZoneInfo(settings.receipt_timezone)
        self._queue: collections.deque[_PartJob] = collections.deque()
        self._messages: set[int] = set()  # id() of unfinished _Message, for stop accounting
        self._open: dict[int, _Message] = {}
        self._tx: SmppSession | None = None
        self._sessions: set[SmppSession] = set()
        self._bucket = TokenBucket(settings.rate_limit, self.clock) if settings.rate_limit else None
        self._pump_call: IDelayedCall | None = None
        self.marks = WireMarks(
            self.settings.wire_mark_ahead,
            store,
            self.clock,
            lambda: utcnow_from(self.business_clock),
            self._pump,
            lambda: self._tx is not None,
            most=self.settings.wire_mark_ahead_max,
        )
        self._pumping = False
        self._pump_again = False
        self._paused_until = 0.0
        self._throttle_level = 0
        self._resume_call: IDelayedCall | None = None
        self._stopping = False
        self._available: bool | None = None
        self._bound_waiters: list[defer.Deferred[None]] = []
        self._reply_observers: list[Observer] = []
        self._receipt_observers: list[Observer] = []
        self._availability_observers: list[Callable[[bool], Any]] = []
        self._links = itertools.count(1)
        self._process = (instance or name, uuid.uuid4().hex[:8])
        self.replies = ReplyIntake(
            self.settings,
            store,
            self.clock,
            self.business_clock,
            self._live_links,
            lambda reply: self._notify(self._reply_observers, reply),
        )
        self.last_bind_error: str | None = None
        self.stats = collections.Counter()
        modes = (
            [("trx", "bind_transceiver")]
            if settings.bind_mode == "transceiver"
            else [("tx", "bind_transmitter"), ("rx", "bind_receiver")]
        )
        backoff = backoffPolicy(
            initialDelay=settings.reconnect_initial,
            maxDelay=settings.reconnect_max,
            factor=settings.reconnect_factor,
        )
        self._bind_failures = 0

        def policy(attempts: int) -> float:
            # ClientService counts failed TCP connects only and resets on every accepted
            # connection; a refused bind is a failure too, or a bad password would reconnect
            # every reconnect_initial seconds forever.
            return backoff(max(attempts, self._bind_failures))

        self.links: dict[str, LinkState] = {}
        for label, bind in modes:
            link = self.links[f"{name}-{label}"] = LinkState(
                f"{name}-{label}", "the SMSC", f"{settings.host}:{settings.port}", self.clock
            )
            factory = SmppClientFactory(self._session_maker(label, bind))
            client = ClientService(
                ObservedEndpoint(self._endpoint_factory(), link),
                factory,
                retryPolicy=policy,
                clock=self.clock,
            )
            client.setName(f"{name}-{label}")
            client.setServiceParent(self)

    # --- public API ---------------------------------------------------------------------

    def submit(
        self, sms: OutboundSms, on_answered: Callable[[SubmitOutcome], object] | None = None
    ) -> defer.Deferred[SubmitOutcome]:
        """Queue one SMS; the Deferred fires exactly once, after the outcome is stored.

        ``on_answered(outcome)``, if given, is called once as soon as the outcome is known (the
        SMSC answered every part, or it will not be sent), before the store has committed it:
        from then on the SMS no longer waits for the link, only for the database."""
        d: defer.Deferred[SubmitOutcome] = defer.Deferred()
        if sms.wired:
            self.marks.take_reserved()
        if self._stopping:  # claimed just before the stop: back to the outbox too
            if getattr(self.store, "release_unsent", None) is not None:
                msg = _Message(sms, [], d, on_answered=on_answered)
                at = utcnow_from(self.business_clock)
                stopping.release(self.store, [msg], at, self._tell_released)
                return d
            self._finish_early(sms, d, "not sent: the SMPP service is stopping", on_answered)
            return d
        problem = _address_problem(sms)
        if problem is not None:
            self._finish_early(sms, d, f"not sent: {problem}", on_answered)
            return d
        try:
            parts = encoding.make_parts(
                sms.text, self.settings.concatenation, reference=sms.outbound_id
            )
        except encoding.EncodingError as exc:
            self._finish_early(sms, d, f"not sent: {exc}", on_answered)
            return d
        msg = _Message(sms, parts, d, on_answered=on_answered)
        self.marks.add(msg)
        self._open[id(msg)] = msg
        msg.jobs = [_PartJob(msg, part) for part in parts]
        if msg.wired and self.marks.unmarked:
            self._queue_before_unmarked(msg.jobs)
        else:
            self._queue.extend(msg.jobs)
        self.stats["messages"] += 1
        self._pump()
        return d

    def reserve_wire_marks(self, n: int) -> int:
        """Up to ``n`` wire marks a claim may commit itself, for SMS it then submits with
        ``wired``; how many (none while unbound). Unused ones: ``release_wire_marks``."""
        return self.marks.reserve(n) if self._tx is not None else 0

    def release_wire_marks(self, n: int) -> None:
        self.marks.release(n)

    def _queue_before_unmarked(self, jobs: list[_PartJob]) -> None:
        """Rare (another submitter between a reservation and its SMS): a marked message goes
        before those still waiting for a mark, whose marks may wait for its slot."""
        i = next(
            (i for i, j in enumerate(self._queue) if not (j.message.wired or j.message.marking)),
            len(self._queue),
        )
        self._queue.rotate(-i)
        self._queue.extendleft(reversed(jobs))
        self._queue.rotate(i)

    def whenBound(self) -> defer.Deferred[None]:
        """Fires when a bind that can transmit is up (now, or when it comes)."""
        if self._tx is not None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._bound_waiters.append(d)
        return d

    def add_reply_observer(self, fn: Callable[[InboundSms], Any]) -> None:
        self._reply_observers.append(fn)

    def add_receipt_observer(self, fn: Callable[[ReceiptUpdate], Any]) -> None:
        self._receipt_observers.append(fn)

    def add_availability_observer(self, fn: Callable[[bool], Any]) -> None:
        """``fn(True)`` when the service takes work, ``fn(False)`` while unbound, throttled,
        backlogged or stopping: the AMQP consumer pauses on False."""
        self._availability_observers.append(fn)
        if self._available is None:
            self._available = self.available
        fn(self.available)

    @property
    def available(self) -> bool:
        return (
            self._tx is not None
            and not self._stopping
            and self.clock.seconds() >= self._paused_until
            and len(self._queue) < 4 * self.settings.window
        )

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def outstanding(self) -> int:
        return len(self._open)

    # --- service lifecycle --------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        d = self.store.held_inbound_parts()
        d.addCallback(self.replies.restore)
        d.addErrback(lambda f: log.failure("restoring held reply parts failed", f))
        if hasattr(self.store, "unsure_replies"):
            u = self.store.unsure_replies()
            u.addCallback(self.replies.restore_unsure)
            u.addErrback(lambda f: log.failure("restoring replies kept aside failed", f))

    @defer.inlineCallbacks
    def stopService(self):  # type: ignore[override]
        """Take no new work, wait (bounded) for what is outstanding, unbind, stop the clients."""
        self._stopping = True
        self.marks.stop()
        self._notify_availability()
        deadline = self.clock.seconds() + self.settings.stop_timeout
        while (self._open or self._deliveries_in_progress()) and self.clock.seconds() < deadline:
            wait: defer.Deferred[None] = defer.Deferred()
            self.clock.callLater(0.05, wait.callback, None)
            yield wait
        # what could not be sent in time: back to the outbox when none of it went out,
        # else resolved; never left hanging
        unsent, rest = stopping.split_queue(self._queue)
        self._queue.clear()
        for job in rest:
            self._resolve_part(job, *stopping.resolution(job))
        released = self._release(unsent)
        for session in list(self._sessions):
            yield session.unbind()
        self.replies.stop()
        yield super().stopService()
        for msg in list(self._open.values()):
            # in flight when the link went: unknown by definition
            for job in msg.jobs:
                if job.part.part_number not in msg.done:
                    self._resolve_part(job, "unknown", "gateway stopped before the response")
            self._maybe_finish(msg)
        yield released

    def _release(self, messages: list[_Message]) -> defer.Deferred[int]:
        """Stop: give SMS none of whose parts was written back to the outbox (``stopping``)."""
        if not messages:
            return defer.succeed(0)
        if getattr(self.store, "release_unsent", None) is None:  # a store without an outbox
            for msg in messages:
                for job in msg.jobs:
                    self._resolve_part(job, "failed", stopping.NOT_SENT)
            return defer.succeed(0)
        for msg in messages:
            msg.finished = True
            self.marks.written(msg)
            self._open.pop(id(msg), None)
        self.stats[f"outcome_{stopping.RELEASED}"] += len(messages)
        at = utcnow_from(self.business_clock)
        return stopping.release(self.store, messages, at, self._tell_released)

    def _tell_released(self, msg: _Message, outcome: SubmitOutcome) -> None:
        if msg.on_answered is not None:
            _tell_answered(msg.on_answered, outcome)
        msg.deferred.callback(outcome)

    def _deliveries_in_progress(self) -> bool:
        return any(s.deliver_in_progress for s in self._sessions)

    # --- binds --------------------------------------------------------------------------

    def _tcp_endpoint(self) -> IStreamClientEndpoint:
        return TCP4ClientEndpoint(
            self.clock,  # type: ignore[arg-type]
            self.settings.host,
            self.settings.port,
            timeout=self.settings.bind_timeout,
        )

    def _live_links(self) -> frozenset[str]:
        live = (State.BOUND, State.UNBINDING)
        return frozenset(s.link for s in self._sessions if s.state in live)

    def _session_maker(self, label: str, bind: str):
        def make(write: Callable[[bytes], None], disconnect: Callable[[str], None]) -> SmppSession:
            session = SmppSession(
                self.settings,
                bind,
                self.clock,
                write,
                disconnect,
                on_deliver=lambda pdu: self._deliver_received(pdu, session),
                on_state=self._session_state,
                name=f"{self.name}-{label}",
                on_proven=self.replies.acks.proven,
            )
            session.link = link_name(*self._process, label, next(self._links))
            session.capacity_observers.append(self._pump)
            session.when_bound().addErrback(self._bind_failed, session)
            self._sessions.add(session)
            return session

        return make

    def _bind_failed(self, f: Failure, session: SmppSession) -> None:
        """Remembered; the link's log says it once, when the session closes (``_link_closed``)."""
        if f.check(BindRefused):
            self.last_bind_error = f.value.status_name
            session.bind_refusal = (
                f"bind refused: {f.value.status_name} (system_id {self.settings.system_id!r})"
            )
        log.debug("{session}: bind failed: {why}", session=session.name, why=f.getErrorMessage())

    def _link_closed(self, session: SmppSession) -> None:
        link = self.links.get(session.name)
        if link is None or self._stopping:
            return
        if getattr(session, "was_bound", False):
            link.lost(session.close_reason or "connection closed")
        else:
            why = getattr(session, "bind_refusal", None) or session.close_reason
            link.failed(why or "connection closed before the bind completed")

    def _session_state(self, session: SmppSession, state: State) -> None:
        if state is State.BOUND:
            link = self.links.get(session.name)
            if link is not None:
                link.up()
            log.debug("{session}: bound ({bind})", session=session.name, bind=session.bind_command)
            self.last_bind_error = None
            self._bind_failures = 0
            session.was_bound = True
            if session.can_transmit:
                self._tx = session
                waiters, self._bound_waiters = self._bound_waiters, []
                for d in waiters:
                    d.callback(None)
                self._pump()
        elif state in (State.UNBINDING, State.CLOSED):
            if self._tx is session:
                self._tx = None
            if state is State.CLOSED:
                self._sessions.discard(session)
                if not getattr(session, "was_bound", False) and not self._stopping:
                    self._bind_failures += 1
                self._link_closed(session)
        self._notify_availability()

    def _notify_availability(self) -> None:
        now = self.available
        if now == self._available:
            return
        self._available = now
        for fn in list(self._availability_observers):
            try:
                fn(now)
            except Exception:
                log.failure("availability observer failed")

    # --- sending ------------------------------------------------------------------------

    def _pump(self) -> None:
        if self._pumping:
            self._pump_again = True  # a response arrived while sending: loop once more
            return
        self._pumping = True
        try:
            self._pump_again = True
            while self._pump_again:
                self._pump_again = False
                self._pump_once()
        finally:
            self._pumping = False
        self._notify_availability()

    def _pump_once(self) -> None:
        if self._pump_call is not None:
            return  # a timed pump is already scheduled
        tx = self._tx
        now = self.clock.seconds()
        if now < self._paused_until:
            return
        if tx is not None and self.marks.unmarked:
            self.marks.mark_ahead()  # keep marks committed ahead of the writes, not on demand
        while self._queue and tx is not None and tx.capacity > 0:
            job = self._queue[0]
            if job.message.finished or job.message.failed_error is not None:
                self._queue.popleft()
                self._maybe_finish(job.message)
                continue
            if not job.message.wired:
                self.marks.waiting()
                if not job.message.marking:
                    self.marks.mark_ahead(blocked=True)
                break  # its mark is asked or being committed: the commit pumps again
            if self._bucket is not None and not self._bucket.take():
                self._pump_call = self.clock.callLater(self._bucket.wait(), self._timed_pump)
                break
            self._queue.popleft()
            self._send(tx, job)

    def _timed_pump(self) -> None:
        self._pump_call = None
        self._pump()

    def _submit_fields(self, job: _PartJob) -> dict[str, Any]:
        s = self.settings
        sms, part = job.message.sms, job.part
        fields: dict[str, Any] = {
            "source_addr_ton": s.source_ton,
            "source_addr_npi": s.source_npi,
            "source_addr": sms.source_addr or s.source_addr,
            "dest_addr_ton": s.dest_ton,
            "dest_addr_npi": s.dest_npi,
            "destination_addr": sms.destination,
            "esm_class": part.esm_class,
            "registered_delivery": 1 if s.registered_delivery else 0,
            "data_coding": part.data_coding,
            "validity_period": self._validity,
            "short_message": part.short_message,
        }
        if part.sar:
            fields.update(
                sar_msg_ref_num=part.reference,
                sar_total_segments=part.total,
                sar_segment_seqnum=part.part_number,
            )
        return fields

    def _send(self, tx: SmppSession, job: _PartJob) -> None:
        if not job.message.written:
            self.marks.written(job.message)
        job.attempt += 1
        job.message.in_flight += 1
        seq = tx.next_sequence()
        sent_at = utcnow_from(self.business_clock)
        started = self.clock.seconds()
        self.stats["submit_sm"] += 1
        try:
            d = tx.send_request("submit_sm", sequence=seq, **self._submit_fields(job))
        except ValueError as exc:  # a field the PDU cannot carry: never resendable
            job.message.in_flight -= 1
            self._resolve_part(job, "failed", error=f"not sent: {exc}")
            return
        d.addCallbacks(
            self._submit_answered,
            self._submit_unanswered,
            callbackArgs=(job, seq, sent_at, started),
            errbackArgs=(job, seq, sent_at),
        )
        d.addErrback(lambda f: log.failure("internal error handling a submit_sm response", f))

    def _result(
        self,
        job: _PartJob,
        status: str,
        seq: int | None = None,
        message_id: str | None = None,
        command_status: int | None = None,
        error: str | None = None,
        sent_at: datetime | None = None,
        responded: bool = False,
    ) -> PartResult:
        return PartResult(
            outbound_id=job.message.sms.outbound_id,
            part_number=job.part.part_number,
            parts_total=job.part.total,
            attempt=max(job.attempt, 1),
            sequence_number=seq,
            message_id=message_id,
            message_key=self._ids.response_key(message_id) if message_id else None,
            status=status,
            command_status=command_status,
            error=error,
            submitted_at=sent_at,
            responded_at=utcnow_from(self.business_clock) if responded else None,
        )

    def _submit_answered(
        self, pdu: codec.Pdu, job: _PartJob, seq: int, sent_at: datetime, started: float
    ) -> None:
        msg = job.message
        msg.in_flight -= 1
        self.latency(self.clock.seconds() - started)
        status = pdu.status if pdu.command == "submit_sm_resp" else (pdu.status or 0x08)
        if status == 0:
            self._throttle_level = 0
            mid = pdu.text_field("message_id")
            result = self._result(job, "submitted", seq, mid, 0, None, sent_at, True)
            msg.attempts.add(result)
            msg.done[job.part.part_number] = result
            self._maybe_finish(msg)
            return
        name = status_name(status)
        kind = classify(status)
        if kind is ErrorKind.PERMANENT:
            result = self._result(job, "failed", seq, None, status, name, sent_at, True)
            msg.attempts.add(result)
            msg.done[job.part.part_number] = result
            msg.failed_error = msg.failed_error or name
            log.warn(
                "submit_sm for outbound {oid} to {to} failed: {status}",
                oid=msg.sms.outbound_id,
                to=mask_phone(msg.sms.destination),
                status=name,
            )
            self._maybe_finish(msg)
            return
        msg.attempts.add(self._result(job, "retry", seq, None, status, name, sent_at, True))
        if kind is ErrorKind.THROTTLED:
            self._throttled(name)
        if job.attempt >= self.settings.max_submit_tries:
            self._resolve_part(job, "failed", error=name)
            return
        if kind is ErrorKind.THROTTLED:
            self._queue.appendleft(job)  # keep order; the pause does the waiting
            self._pump()
        else:
            delay = min(
                self.settings.throttle_backoff * 2 ** (job.attempt - 1),
                self.settings.throttle_backoff_max,
            )
            self.clock.callLater(delay, self._requeue, job)

    def latency(self, seconds: float) -> None:
        """Hook for the benchmark (and metrics later): one submit→response latency."""

    def _requeue(self, job: _PartJob) -> None:
        if self._stopping:
            self._resolve_part(job, *stopping.resolution(job))
            return
        self._queue.appendleft(job)
        self._pump()

    def _throttled(self, name: str) -> None:
        now = self.clock.seconds()
        if now < self._paused_until:
            return  # the responses of a whole window arrive together: one step per pause
        self._throttle_level += 1
        pause = min(
            self.settings.throttle_backoff * 2 ** (self._throttle_level - 1),
            self.settings.throttle_backoff_max,
        )
        self._paused_until = now + pause
        self.stats["throttled"] += 1
        log.warn("SMSC says {status}: pausing submits for {pause}s", status=name, pause=pause)
        if self._resume_call is not None and self._resume_call.active():
            self._resume_call.cancel()
        self._resume_call = self.clock.callLater(pause, self._resume)
        self._notify_availability()

    def _resume(self) -> None:
        self._resume_call = None
        self._pump()

    def _submit_unanswered(
        self, failure: Failure, job: _PartJob, seq: int, sent_at: datetime
    ) -> None:
        msg = job.message
        msg.in_flight -= 1
        if failure.check(NotBound, WindowFull):
            job.attempt -= 1  # never went out
            self._queue.appendleft(job)
            return
        failure.trap(ResponseTimeout, LinkLost)
        why = failure.getErrorMessage()
        msg.attempts.add(self._result(job, "unacked", seq, None, None, why[:128], sent_at))
        if (
            self.settings.unacked_policy == "resend_once"
            and not job.resent_unacked
            and not self._stopping
        ):
            job.resent_unacked = True
            log.info(
                "no response for outbound {oid} part {n}: resending once ({why})",
                oid=msg.sms.outbound_id,
                n=job.part.part_number,
                why=why,
            )
            self._queue.appendleft(job)
            self._pump()
            return
        self._resolve_part(job, "unknown", error="no response from the SMSC")

    def _resolve_part(self, job: _PartJob, status: str, error: str) -> None:
        msg = job.message
        result = msg.attempts.settle(self._result(job, status, error=error))
        msg.done[job.part.part_number] = result
        if status == "failed":
            msg.failed_error = msg.failed_error or error
        self._maybe_finish(msg)

    def _maybe_finish(self, msg: _Message) -> None:
        if msg.finished or msg.in_flight:
            return
        if len(msg.done) < len(msg.parts) and msg.failed_error is None:
            return
        msg.finished = True
        # Each job points back at its message: without the list that cycle would keep the
        # message, its Deferred, parts and results until the collector's next sweep, where
        # refcounting frees them now (docs/benchmarks.md, tenth round).
        msg.jobs = []
        self.marks.written(msg)
        self._open.pop(id(msg), None)
        outcome = message_outcome(msg.sms.outbound_id, len(msg.parts), msg.done, msg.failed_error)
        status, error = outcome.status, outcome.error
        self.stats[f"outcome_{status}"] += 1
        if error is not None:  # by reason, for /metrics: a status name or the error's kind
            self.stats[f"reason_{status}:{reason_label(error)}"] += 1
        records = msg.attempts.records()
        if msg.on_answered is not None:
            _tell_answered(msg.on_answered, outcome)
        self._store_outcome(msg.deferred, outcome, records)

    def _finish_early(
        self,
        sms: OutboundSms,
        d: defer.Deferred,
        error: str,
        on_answered: Callable[[SubmitOutcome], object] | None = None,
    ) -> None:
        outcome = SubmitOutcome(sms.outbound_id, "failed", (), 0, error)
        if on_answered is not None:
            _tell_answered(on_answered, outcome)
        self._store_outcome(d, outcome, [])

    def _store_outcome(
        self, d: defer.Deferred, outcome: SubmitOutcome, records: list[PartResult], tries: int = 0
    ) -> None:
        stored = self.store.record_submission(outcome, records)

        def committed(updates: list[ReceiptUpdate]) -> None:
            d.callback(outcome)
            for update in updates:
                self._notify(self._receipt_observers, update)

        def failed(f: Failure) -> None:
            # The SMSC's answer is known; giving up would leave the SMS ``submitting`` until a
            # restart settles it as unknown. Retry while the database is away (a restart: up
            # to ~8 minutes, capped backoff), logging the first failure and every tenth; a
            # write that keeps failing after that is given up, as before.
            if tries >= STORE_RETRY_TRIES:
                log.failure(
                    "storing the outcome of outbound {oid} failed for good",
                    f,
                    oid=outcome.outbound_id,
                )
                d.callback(outcome)
                return
            if tries == 0 or tries % 10 == 0:
                log.failure(
                    "storing the outcome of outbound {oid} failed (try {n}); retrying",
                    f,
                    oid=outcome.outbound_id,
                    n=tries + 1,
                )
            self.clock.callLater(
                min(2**tries, STORE_RETRY_MAX), self._store_outcome, d, outcome, records, tries + 1
            )

        stored.addCallbacks(committed, failed)

    def _notify(self, observers: list[Observer], value: Any) -> None:
        """Call each observer; a raise or a failing Deferred is logged, never propagated.
        Called directly rather than through ``maybeDeferred``: one fewer Deferred for every
        receipt and outcome, and most observers return nothing."""
        for fn in list(observers):
            try:
                result = fn(value)
            except Exception:
                log.failure("observer {fn!r} failed", Failure(), fn=fn)
                continue
            if isinstance(result, Coroutine):
                result = defer.Deferred.fromCoroutine(result)
            if isinstance(result, defer.Deferred):
                result.addErrback(lambda f, fn=fn: log.failure("observer {fn!r} failed", f, fn=fn))

    # --- receiving ----------------------------------------------------------------------

    def _deliver_received(self, pdu: codec.Pdu, session: SmppSession) -> defer.Deferred:
        esm = pdu.get("esm_class", 0)
        if is_receipt(esm):
            self.stats["receipts"] += 1
            payload = pdu.get("short_message", b"") or pdu.tlvs.get(codec.TAG_MESSAGE_PAYLOAD, b"")
            return self._receipt_received(pdu, payload)
        self.stats["replies"] += 1
        return self.replies.received(pdu, session.link)

    def _receipt_received(self, pdu: codec.Pdu, payload: bytes) -> defer.Deferred[int]:
        text = payload.decode("latin-1")
        state_tlv = pdu.tlvs.get(codec.TAG_MESSAGE_STATE)
        now = utcnow_from(self.business_clock)
        try:
            receipt = parse_receipt(
                text,
                pdu.tlvs.get(codec.TAG_RECEIPTED_MESSAGE_ID),
                state_tlv[0] if state_tlv else None,
            )
            key = (
                self._ids.response_key(receipt.message_id)
                if receipt.id_source == "tlv"
                else self._ids.receipt_key(receipt.message_id, receipt.id_source)
            )
            record = ReceiptRecord(
                receipt.message_id[:64],
                key[:64],
                receipt.state[:16],
                (receipt.error or None) and receipt.error[:16],
                in_zone(receipt.submit_date, self._receipt_zone),
                in_zone(receipt.done_date, self._receipt_zone),
                pdu.text_field("source_addr"),
                text,
                now,
            )
        except ReceiptError as exc:
            log.warn("unreadable delivery receipt kept for review: {error}", error=str(exc))
            record = ReceiptRecord(
                "", "", "UNPARSED", None, None, None, pdu.text_field("source_addr"), text, now
            )
        d = self.store.record_receipt(record)

        def stored(update: ReceiptUpdate) -> int:
            if update.outbound_id is None and record.state != "UNPARSED":
                log.info(
                    "receipt for unknown message id {mid}: kept for matching", mid=record.message_id
                )
            self._notify(self._receipt_observers, update)
            return 0

        return d.addCallback(stored)
