"""One SMPP bind as an explicit state machine: open → binding → bound → unbinding → closed.

The session owns what belongs to one TCP connection: sequence numbers, the bounded window of
unacknowledged requests with a deadline each (watched by one timer, not one per request: the
window turns over thousands of times a second), ``enquire_link`` keep-alive, and answering the
SMSC's own requests. It takes a clock and two callables (write bytes, drop the link), so it is
driven in tests by feeding bytes and advancing a :class:`~twisted.internet.task.Clock`.

What to send and when (queues, rate, retries) is the service's business, not the session's.

The session also knows when the SMSC has *read* a ``deliver_sm_resp`` we wrote: TCP is ordered,
so once a response arrives to any request written after that resp, the SMSC read the resp
before it. A handler that returns ``(status, token)`` gets ``token`` back through
``on_proven`` at that moment; a resp that is never proven (the link went first) may have been
lost, and the SMSC may deliver that message again.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.errors import (
    ESME_RINVCMDID,
    ESME_RSYSERR,
    ESME_RX_T_APPN,
    status_name,
)
from gateway.smpp import codec
from gateway.smpp.settings import SmppSettings

log = Logger(namespace="pingjing.smpp.session")

ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
DELIVER_SM = 0x00000005
DATA_SM = 0x00000103


class State(enum.Enum):
    OPEN = "open"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"
    CLOSED = "closed"


class SessionError(Exception):
    """Base of the reasons a request on this session did not get a response."""


class BindRefused(SessionError):  # noqa: N818 - reads as an event, like ConnectionLost
    def __init__(self, status: int) -> None:
        self.status = status
        self.status_name = status_name(status)
        super().__init__(f"bind refused by the SMSC: {self.status_name} (0x{status:08X})")


class ResponseTimeout(SessionError):  # noqa: N818
    """No response before the request's deadline; the SMSC may or may not have acted on it."""


class LinkLost(SessionError):  # noqa: N818
    """The link closed while the request was in the window; the outcome is unknown."""


class WindowFull(SessionError):  # noqa: N818
    """A caller ignored :attr:`SmppSession.capacity`."""


class NotBound(SessionError):  # noqa: N818
    pass


class _Pending:
    __slots__ = ("command", "deferred", "expires_at", "order", "sent_at")

    def __init__(
        self, command: str, deferred: defer.Deferred, at: float, expires_at: float, order: int
    ):
        self.command = command
        self.deferred = deferred
        self.sent_at = at
        self.expires_at = expires_at
        self.order = order  # how many requests were written before this one


# A deadline timer that fires this much early (float rounding of ``now + (t - now)``) still
# expires the request due at ``t``.
_DEADLINE_SLACK = 1e-6


# A deliver_sm handler returns the command_status for deliver_sm_resp, or (status, token) to be
# told through ``on_proven`` once the SMSC has read that resp (or a Deferred of either): the
# response is written only when the handler is done, i.e. after the store committed.
DeliverHandler = Callable[[codec.Pdu], "defer.Deferred[int | tuple[int, object]] | int"]


class SmppSession:
    """One bind. ``write`` sends bytes; ``disconnect`` drops the link (with a logged reason)."""

    def __init__(
        self,
        settings: SmppSettings,
        bind_command: str,
        clock: IReactorTime,
        write: Callable[[bytes], None],
        disconnect: Callable[[str], None],
        on_deliver: DeliverHandler | None = None,
        on_state: Callable[[SmppSession, State], None] | None = None,
        name: str = "smpp",
        on_proven: Callable[[list[object]], None] | None = None,
    ) -> None:
        if bind_command not in ("bind_transceiver", "bind_transmitter", "bind_receiver"):
            raise ValueError(f"unknown bind command {bind_command!r}")
        self.settings = settings
        self.bind_command = bind_command
        self.clock = clock
        self._write = write
        self._disconnect = disconnect
        self.on_deliver = on_deliver
        self._on_state = on_state
        self.name = name
        self.state = State.OPEN
        self._framer = codec.Framer(settings.max_pdu_length)
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._deadline_call: IDelayedCall | None = None
        self._bind_seq: int | None = None
        self._bind_result: SmppSession | Failure | None = None
        self._bind_waiters: list[defer.Deferred] = []
        self._close_waiters: list[defer.Deferred] = []
        self._enquire_call: IDelayedCall | None = None
        self._enquire_seq: int | None = None
        self._unbind_d: defer.Deferred[None] | None = None
        self.deliver_in_progress = 0
        self.capacity_observers: list[Callable[[], None]] = []
        self.close_reason: str | None = None
        self.link = ""  # the link's name, given by the service: redelivery tells links apart
        self.on_proven = on_proven
        self._requests_written = 0
        # tokens of resps written since the last request; then, per request that followed
        # them, (its order, the tokens), oldest first
        self._unproven: list[object] = []
        self._proof_waits: collections.deque[tuple[int, list[object]]] = collections.deque()
        self._dropping = False  # disconnect asked for; the transport closes a moment later

    # --- public surface -----------------------------------------------------------------

    @property
    def can_transmit(self) -> bool:
        return self.bind_command != "bind_receiver"

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def buffered(self) -> int:
        """Octets received that do not make a whole PDU yet."""
        return self._framer.buffered

    @property
    def capacity(self) -> int:
        """How many more requests the window takes now (0 unless bound)."""
        if self.state is not State.BOUND:
            return 0
        return max(0, self.settings.window - len(self._pending))

    def when_bound(self) -> defer.Deferred[SmppSession]:
        """Fires with the session once bound, or fails with :class:`BindRefused`/``LinkLost``."""
        if self._bind_result is not None:
            if isinstance(self._bind_result, Failure):
                return defer.fail(self._bind_result)
            return defer.succeed(self)
        d: defer.Deferred[SmppSession] = defer.Deferred()
        self._bind_waiters.append(d)
        return d

    def when_closed(self) -> defer.Deferred[None]:
        if self.state is State.CLOSED:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._close_waiters.append(d)
        return d

    def _bind_settled(self, result: SmppSession | Failure) -> None:
        if self._bind_result is not None:
            return
        self._bind_result = result
        waiters, self._bind_waiters = self._bind_waiters, []
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    def next_sequence(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0x7FFFFFFF else 1
        return self._seq

    def connection_made(self) -> None:
        """Send the bind; the link is useless until the SMSC answers it."""
        s = self.settings
        seq = self.next_sequence()
        self._bind_seq = seq
        self._set_state(State.BINDING)
        pdu = codec.encode(
            self.bind_command,
            seq,
            system_id=s.system_id,
            password=s.password,
            system_type=s.system_type or None,
            addr_ton=s.addr_ton,
            addr_npi=s.addr_npi,
            address_range=s.address_range or None,
        )
        self._track(seq, self.bind_command, s.bind_timeout)
        self._write(pdu)

    def send_request(
        self, command: str, sequence: int | None = None, **fields: Any
    ) -> defer.Deferred:
        """Send one request in the window; the Deferred fires with the response :class:`Pdu`
        (whatever its status) or fails with a :class:`SessionError`."""
        if self.state is not State.BOUND:
            return defer.fail(NotBound(f"{self.name} is {self.state.value}, not bound"))
        if len(self._pending) >= self.settings.window:
            return defer.fail(WindowFull(f"{self.name}: window of {self.settings.window} is full"))
        seq = sequence if sequence is not None else self.next_sequence()
        if command == "submit_sm":
            data = codec.encode_submit_sm(seq, **fields)
        else:
            data = codec.encode(command, seq, **fields)
        d = self._track(seq, command, self.settings.response_timeout)
        self._write(data)
        return d

    def unbind(self) -> defer.Deferred[None]:
        """Polite close: send ``unbind``, wait for its response (bounded), then drop the link."""
        if self._unbind_d is not None:
            return self._unbind_d
        if self.state is State.CLOSED:
            return defer.succeed(None)
        if self.state is not State.BOUND:
            self._disconnect("closing before the bind completed")
            return self.when_closed()
        self._set_state(State.UNBINDING)
        self._stop_enquire()
        seq = self.next_sequence()
        self._unbind_d = self.when_closed()
        d = self._track(seq, "unbind", self.settings.response_timeout)
        d.addBoth(lambda _: self._disconnect("unbound"))
        self._write(codec.encode_header_only(UNBIND, seq))
        return self._unbind_d

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._framer.feed(data)
        except codec.FramingError as exc:
            self._drop(f"framing error: {exc}")
            return
        for frame in frames:
            if self.state is State.CLOSED or self._dropping:
                # the transport closes after this read: a PDU read now would be acted on (a
                # reply stored) but never answered, so the SMSC would deliver it again
                return
            self._frame_received(frame)
        if self._framer.broken is not None and not self._dropping:
            self._drop(f"framing error: {self._framer.broken}")

    def connection_lost(self, reason: str = "connection lost") -> None:
        if self.state is State.CLOSED:
            return
        self.close_reason = self.close_reason or reason
        self._stop_enquire()
        self._set_state(State.CLOSED)
        self._stop_deadlines()
        pending, self._pending = self._pending, {}
        self._unproven, self._proof_waits = [], collections.deque()  # never proven: maybe lost
        for seq, p in pending.items():
            if seq == self._bind_seq:
                continue
            p.deferred.errback(
                LinkLost(f"{self.name}: {reason} with {p.command} seq {seq} in the window")
            )
        self._bind_settled(Failure(LinkLost(f"{self.name}: {reason} before the bind completed")))
        waiters, self._close_waiters = self._close_waiters, []
        for d in waiters:
            d.callback(None)

    # --- internals ----------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        if state is self.state:
            return
        log.debug("{name}: {old} -> {new}", name=self.name, old=self.state.value, new=state.value)
        self.state = state
        if self._on_state is not None:
            self._on_state(self, state)

    def _drop(self, reason: str) -> None:
        # the service's link state logs the reason once (a refused bind drops every retry)
        log.debug("{name}: dropping the link: {reason}", name=self.name, reason=reason)
        if self._dropping or self.state is State.CLOSED:
            return
        self._dropping = True
        self.close_reason = reason
        self._disconnect(reason)

    def _track(self, seq: int, command: str, timeout: float) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        now = self.clock.seconds()
        expires_at = now + timeout
        order = self._requests_written = self._requests_written + 1
        if self._unproven:
            self._proof_waits.append((order, self._unproven))
            self._unproven = []
        self._pending[seq] = _Pending(command, d, now, expires_at, order)
        call = self._deadline_call
        if call is None:
            self._deadline_call = self.clock.callLater(timeout, self._deadlines_due)
        elif call.getTime() > expires_at + _DEADLINE_SLACK:  # a shorter timeout than the rest
            call.reset(timeout)
        return d

    def _deadlines_due(self) -> None:
        """The one deadline timer: expire every request that is due, then wait for the next.
        A response does not touch the timer; it only removes its request from the window."""
        self._deadline_call = None
        now = self.clock.seconds() + _DEADLINE_SLACK
        for seq in [seq for seq, p in self._pending.items() if p.expires_at <= now]:
            if self.state is State.CLOSED:
                return
            self._expired(seq)
        if self._pending and self._deadline_call is None and self.state is not State.CLOSED:
            next_at = min(p.expires_at for p in self._pending.values())
            self._deadline_call = self.clock.callLater(
                max(0.0, next_at - self.clock.seconds()), self._deadlines_due
            )

    def _stop_deadlines(self) -> None:
        if self._deadline_call is not None and self._deadline_call.active():
            self._deadline_call.cancel()
        self._deadline_call = None

    def _expired(self, seq: int) -> None:
        p = self._pending.pop(seq, None)
        if p is None:
            return
        if seq == self._bind_seq:
            self._drop(f"no {p.command}_resp within {self.settings.bind_timeout}s")
            return
        if seq == self._enquire_seq:
            self._drop(f"no enquire_link_resp within {self.settings.response_timeout}s")
            return
        p.deferred.errback(
            ResponseTimeout(
                f"{self.name}: no response to {p.command} seq {seq} "
                f"within {self.settings.response_timeout}s"
            )
        )
        self._capacity_changed()

    def _capacity_changed(self) -> None:
        for fn in list(self.capacity_observers):
            fn()

    def _frame_received(self, frame: bytes) -> None:
        try:
            pdu = codec.decode(frame)
        except codec.DecodeError as exc:
            self._unreadable(exc)
            return
        if pdu.is_response:
            self._response_received(pdu)
        else:
            self._request_received(pdu)

    def _unreadable(self, exc: codec.DecodeError) -> None:
        """Answer a frame that cannot be read, and log what was wrong and where. A broken
        request gets ``generic_nack`` for a header fault, else its own response with the
        error status; a broken response fails the request it answers, never leaves it
        hanging (a response is never answered)."""
        seq = exc.sequence or 0
        cmd = exc.command_id
        if cmd is not None and cmd & 0x80000000 and not isinstance(exc, codec.UnknownCommandError):
            p = self._pending.pop(seq, None)
            if p is not None and self._proof_waits:
                self._prove_up_to(p.order)  # unreadable, but an answer: our earlier resps read
            log.warn(
                "{name}: unreadable response: {error}; {what}",
                name=self.name,
                error=str(exc),
                what=f"failing {p.command} seq {seq}" if p else "it answers nothing in the window",
            )
            if p is not None:
                if seq == self._bind_seq:
                    # the bind's outcome is unknown: drop, and the service binds again
                    self._bind_seq = None
                    self._drop(f"unreadable {p.command}_resp: {exc}")
                    return
                if seq == self._enquire_seq:
                    # the SMSC answered, so the link is alive: keep the keep-alive going
                    self._enquire_seq = None
                    p.deferred.callback(None)
                    return
                p.deferred.errback(ResponseTimeout(f"{self.name}: unreadable response: {exc}"))
                self._capacity_changed()
            return
        if cmd in (DELIVER_SM, DATA_SM) and not exc.header_fault:
            answer = codec.encode_empty_id_resp(codec.response_id(cmd), seq, exc.status)
            what = "deliver_sm_resp" if cmd == DELIVER_SM else "data_sm_resp"
        else:
            answer = codec.encode_generic_nack(seq, exc.status)
            what = "generic_nack"
        log.warn(
            "{name}: bad PDU: {error}; answering {what} {status}",
            name=self.name,
            error=str(exc),
            what=what,
            status=status_name(exc.status),
        )
        self._write(answer)

    def _response_received(self, pdu: codec.Pdu) -> None:
        p = self._pending.pop(pdu.sequence, None)
        if p is not None and self._proof_waits:
            self._prove_up_to(p.order)
        if p is None:
            log.warn(
                "{name}: {command} seq {seq} answers nothing in the window (late or duplicate)",
                name=self.name,
                command=pdu.command,
                seq=pdu.sequence,
            )
            return
        if pdu.sequence == self._bind_seq:
            self._bind_seq = None
            self._bind_answered(pdu)
            return
        if pdu.sequence == self._enquire_seq:
            self._enquire_seq = None
        p.deferred.callback(pdu)
        self._capacity_changed()

    def _prove_up_to(self, order: int) -> None:
        """A response to the request written ``order``-th: the SMSC read every resp before it
        (a request that timed out or was refused still proves what was written before it)."""
        proven: list[object] = []
        while self._proof_waits and self._proof_waits[0][0] <= order:
            proven.extend(self._proof_waits.popleft()[1])
        if proven and self.on_proven is not None:
            try:
                self.on_proven(proven)
            except Exception:
                log.failure("{name}: on_proven failed", name=self.name)

    def _bind_answered(self, pdu: codec.Pdu) -> None:
        if pdu.command == "generic_nack" or pdu.status != 0:
            status = pdu.status or ESME_RSYSERR
            err = BindRefused(status)
            self._bind_settled(Failure(err))
            self._drop(str(err))
            return
        self._set_state(State.BOUND)
        self._schedule_enquire()
        self._bind_settled(self)
        self._capacity_changed()

    def _request_received(self, pdu: codec.Pdu) -> None:
        resp_id = codec.response_id(pdu.command_id)
        if pdu.command_id == ENQUIRE_LINK:
            self._write(codec.encode_header_only(resp_id, pdu.sequence))
            return
        if pdu.command_id == UNBIND:
            self._write(codec.encode_header_only(resp_id, pdu.sequence))
            self._set_state(State.UNBINDING)
            self._stop_enquire()
            self._drop("the SMSC unbound")
            return
        if pdu.command_id in (DELIVER_SM, DATA_SM):
            if self.state is not State.BOUND or self.on_deliver is None:
                self._write(codec.encode_empty_id_resp(resp_id, pdu.sequence, 0x04))
                return
            self.deliver_in_progress += 1
            d = defer.maybeDeferred(self.on_deliver, pdu)

            def failed(f: Failure) -> int:
                log.failure(
                    "{name}: storing a deliver_sm failed; asking the SMSC to retry",
                    f,
                    name=self.name,
                )
                return ESME_RX_T_APPN

            def answer(result: int | tuple[int, object]) -> None:
                self.deliver_in_progress -= 1
                status, token = result if isinstance(result, tuple) else (result, None)
                if self.state in (State.BOUND, State.UNBINDING):
                    # deliver_sm_resp / data_sm_resp: header + an empty message_id
                    self._write(codec.encode_empty_id_resp(resp_id, pdu.sequence, status))
                    if token is not None:
                        self._unproven.append(token)

            d.addErrback(failed).addCallback(answer)
            d.addErrback(lambda f: log.failure("{name}: answering deliver_sm", f, name=self.name))
            return
        # outbind, alert_notification (no response defined) or a request a client never gets
        if pdu.command == "alert_notification":
            return
        log.warn(
            "{name}: {command} seq {seq} is not a request an ESME takes; answering generic_nack",
            name=self.name,
            command=pdu.command,
            seq=pdu.sequence,
        )
        self._write(codec.encode_generic_nack(pdu.sequence, ESME_RINVCMDID))

    def _schedule_enquire(self) -> None:
        interval = self.settings.enquire_link_interval
        self._enquire_call = self.clock.callLater(interval, self._send_enquire)

    def _send_enquire(self) -> None:
        self._enquire_call = None
        if self.state is not State.BOUND:
            return
        seq = self.next_sequence()
        self._enquire_seq = seq
        d = self._track(seq, "enquire_link", self.settings.response_timeout)
        d.addCallback(lambda _: self._schedule_enquire() if self.state is State.BOUND else None)
        d.addErrback(lambda f: f.trap(SessionError))
        self._write(codec.encode_header_only(ENQUIRE_LINK, seq))

    def _stop_enquire(self) -> None:
        if self._enquire_call is not None and self._enquire_call.active():
            self._enquire_call.cancel()
        self._enquire_call = None
