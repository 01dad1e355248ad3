"""The AMI client the scheduler talks to: one reconnecting link, Originate with outcome tracking.

Reconnects through :class:`twisted.application.internet.ClientService` (the one reconnect
mechanism of the house) and logs in inside ``prepareConnection``. Each attempt is dialled with
``Async: true`` and a ``ChannelId`` of our own that doubles as the Originate's ``ActionID``, so
every later event of the call (``OriginateResponse``, ``Hangup``) is matched without guessing,
even if it arrives on a new connection after a reconnect.

A call's life is an explicit state machine (:class:`CallState`); each state has a deadline on
the injected clock, so no tracker outlives its call.

Events lost while the link is down are not guessed at: a deadline that passes without a link
waits for it, and when the link comes back, before anything new is dialled (``connected``
stays false meanwhile), the calls still tracked are reconciled from Asterisk's own list of
channels (``CoreShowChannels``): a channel that is up was answered, one still there is still
ringing or talking, one that is gone ended while we were away; an unanswered-or-answered call
that vanished is reported ``unknown`` so that its IVR result, if any, decides.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.linkstate import LinkState, ObservedEndpoint, endpoint_address
from gateway.masking import mask_phone
from ivr.ami.api import (
    AmiNotConnectedError,
    AmiSettings,
    CallEnded,
    CallOutcome,
    OriginateRequest,
    result_for_reason,
)
from ivr.ami.message import AmiMessage
from ivr.ami.protocol import AmiProtocol, AmiState

CALLBACK_ID_VARIABLE = "PINGJING_CALLBACK_ID"
ATTEMPT_ID_VARIABLE = "PINGJING_ATTEMPT_ID"
ASK_RATING_VARIABLE = "PINGJING_ASK_RATING"


class CallState(enum.Enum):
    SENDING = "sending"  # Originate written, waiting for "Originate successfully queued"
    DIALLING = "dialling"  # queued, waiting for OriginateResponse
    AWAITING_CAUSE = "awaiting_cause"  # Reason 0 without a Hangup yet: wait a little for it
    IN_CALL = "in_call"  # answered, waiting for the Hangup of the callback leg
    DONE = "done"


@dataclass
class OriginateHandle:
    """What :meth:`AmiClient.originate_call` returns.

    ``outcome`` fires with a :class:`CallOutcome` once Asterisk tells us how dialling went, or
    fails with an :class:`~ivr.ami.api.AmiError` when the call was never placed. ``ended``
    always fires (never fails) with a :class:`CallEnded` once we are done with the channel:
    for an answered call at its Hangup, otherwise together with the outcome.
    """

    request: OriginateRequest
    channel_id: str
    outcome: Deferred[CallOutcome] = field(default_factory=Deferred)
    ended: Deferred[CallEnded] = field(default_factory=Deferred)
    state: CallState = CallState.SENDING
    reason_code: int | None = None
    hangup_cause: int | None = None
    hangup_cause_txt: str | None = None
    hangup_seen: bool = False
    timer: IDelayedCall | None = None


def default_channel_id(prefix: str, attempt_id: int) -> str:
    """Unique per attempt and readable in Asterisk's logs: ``pj-<attempt>-<random>``."""
    return f"{prefix}-{attempt_id}-{uuid.uuid4().hex[:12]}"


def attempt_of(channel_id: str, prefix: str) -> int | None:
    """The attempt a channel id of :func:`default_channel_id` belongs to, else ``None``."""
    head, _, rest = channel_id.partition("-")
    number, _, tail = rest.partition("-")
    if head != prefix or not tail or not number.isdigit():
        return None
    return int(number)


class _AmiFactory(Factory):
    noisy = False  # ClientService already logs each attempt; "Starting factory" is noise

    def __init__(self, client: AmiClient) -> None:
        self.client = client

    def buildProtocol(self, addr: object) -> AmiProtocol:
        proto = AmiProtocol(
            self.client.clock,
            action_timeout=self.client.settings.action_timeout,
            action_id_prefix=self.client.settings.channel_id_prefix,
        )
        proto.factory = self
        proto.add_event_observer(self.client.on_event)
        return proto


class AmiClient(Service):
    """A service: start it in the application's tree, then call :meth:`originate`."""

    log = Logger()

    def __init__(
        self,
        settings: AmiSettings,
        reactor: object,
        *,
        clock: IReactorTime | None = None,
        endpoint: IStreamClientEndpoint | None = None,
        channel_id_factory: Callable[[str, int], str] = default_channel_id,
        retry_policy: Callable[[int], float] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: IReactorTime = clock if clock is not None else reactor  # type: ignore[assignment]
        self.link = LinkState(
            "ami", "Asterisk (AMI)", endpoint_address(settings.client_endpoint()), self.clock
        )
        self._endpoint = ObservedEndpoint(
            endpoint or clientFromString(reactor, settings.client_endpoint()), self.link
        )
        self._channel_id_factory = channel_id_factory
        self._ours = f"{settings.channel_id_prefix}-"
        self._protocol: AmiProtocol | None = None
        self._calls: dict[str, OriginateHandle] = {}
        # CoreShowChannels lists being collected: ActionID -> (channels so far, done)
        self._lists: dict[str, tuple[dict[str, AmiMessage], Deferred[dict[str, AmiMessage]]]] = {}
        self.reconciliations = 0
        # our callback channels Asterisk has now (Uniqueid = our ChannelId), whoever placed
        # them: a process restarted after a crash still sees the calls its predecessor left up
        self.live_channels: set[str] = set()
        self._ready_observers: list[Callable[[], object]] = []
        self._ready_waiters: list[Deferred[AmiProtocol]] = []
        self._login_failures = 0
        self._ping_timer: IDelayedCall | None = None
        self._retry_policy = retry_policy or backoffPolicy(initialDelay=1.0, maxDelay=60.0)
        self._service = ClientService(
            self._endpoint,
            _AmiFactory(self),
            retryPolicy=self._retry_delay,
            clock=self.clock,
            prepareConnection=self._prepare,
        )

    # -- service -------------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._service.startService()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        self._cancel_ping()
        return self._service.stopService()

    def _prepare(self, proto: AmiProtocol) -> Deferred[None]:
        """Log in on every new connection.

        A refused or unanswered login must not fail ``prepareConnection``: Twisted 26's
        ClientService then keeps the socket open and crashes (NoTransition) when the peer closes
        it, which Asterisk does after "Authentication failed". So a failed login closes the
        connection itself and lets ClientService see an ordinary disconnect; the backoff still
        grows because :meth:`_retry_delay` counts consecutive login failures.
        """

        def ready(_: AmiMessage) -> None:
            self.link.up()
            self._login_failures = 0
            proto.when_lost().addCallback(lost)
            # Learn which of our calls Asterisk has (and what became of those we track)
            # before dialling. Not part of prepareConnection (which would then outlive a
            # stopService).
            d = self._reconcile(proto)
            d.addCallback(lambda ok: usable(None) if ok else None)
            d.addErrback(lambda f: self.log.failure("AMI: reconciling calls failed", f))

        def usable(_: object) -> None:
            if proto.state is not AmiState.READY:
                return  # lost during reconciliation: the next login tries again
            self._protocol = proto
            self._schedule_ping(proto)
            waiters, self._ready_waiters = self._ready_waiters, []
            for d in waiters:
                d.callback(proto)
            for observer in list(self._ready_observers):
                try:
                    observer()
                except Exception:
                    self.log.failure("AMI ready observer failed")

        def refused(failure: Failure) -> None:
            self._login_failures += 1
            self.link.failed(f"login as {self.settings.username!r} refused: {failure.value}")
            if proto.transport is not None:
                proto.transport.loseConnection()

        def lost(_: None) -> None:
            if self._protocol is proto:
                self._protocol = None
                self._cancel_ping()
            if self.running:
                self.link.lost(
                    f"connection closed; {len(self._calls)} calls keep being tracked by ChannelId"
                )

        return proto.login(self.settings.username, self.settings.secret).addCallbacks(
            ready, refused
        )

    def _schedule_ping(self, proto: AmiProtocol) -> None:
        self._cancel_ping()
        if self.settings.ping_interval > 0:
            self._ping_timer = self.clock.callLater(self.settings.ping_interval, self._ping, proto)

    def _cancel_ping(self) -> None:
        if self._ping_timer is not None and self._ping_timer.active():
            self._ping_timer.cancel()
        self._ping_timer = None

    def _ping(self, proto: AmiProtocol) -> None:
        """Keepalive: an unanswered Ping means a dead link; drop it so ClientService reconnects."""
        self._ping_timer = None
        if self._protocol is not proto:
            return

        def dead(failure: Failure) -> None:
            self.link.lost(f"keepalive Ping unanswered ({failure.getErrorMessage()})")
            if proto.transport is not None:
                proto.transport.loseConnection()

        d = proto.send_action("Ping")
        d.addCallbacks(lambda _: self._schedule_ping(proto), dead)

    def _retry_delay(self, failed_attempts: int) -> float:
        return self._retry_policy(max(failed_attempts, self._login_failures))

    @property
    def connected(self) -> bool:
        """True while logged in: only then does :meth:`originate` dial."""
        return self._protocol is not None and self._protocol.state is AmiState.READY

    def when_ready(self) -> Deferred[AmiProtocol]:
        """The logged-in protocol, now or once the next login succeeds."""
        if self.connected:
            return succeed(self._protocol)
        d: Deferred[AmiProtocol] = Deferred()
        self._ready_waiters.append(d)
        return d

    @property
    def lines_in_use(self) -> int:
        """Our callback channels up at Asterisk now (from its events and its channel list)."""
        return len(self.live_channels)

    def live_attempts(self) -> tuple[frozenset[int], int]:
        """The attempts whose channels Asterisk has up, and how many channels of ours could
        not be tied to an attempt (a channel id from another scheme)."""
        prefix = self.settings.channel_id_prefix
        ids = [attempt_of(c, prefix) for c in self.live_channels]
        return frozenset(i for i in ids if i is not None), sum(1 for i in ids if i is None)

    def add_ready_observer(self, fn: Callable[[], object]) -> None:
        """``fn()`` each time the link becomes usable (logged in, calls reconciled)."""
        self._ready_observers.append(fn)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # -- originate -----------------------------------------------------------------------------

    def originate(self, request: OriginateRequest) -> Deferred[CallOutcome]:
        """Place one attempt; see :class:`OriginateHandle` for what the Deferred means."""
        return self.originate_call(request).outcome

    def originate_call(self, request: OriginateRequest) -> OriginateHandle:
        s = self.settings
        channel_id = self._channel_id_factory(s.channel_id_prefix, request.attempt_id)
        handle = OriginateHandle(request=request, channel_id=channel_id)
        try:
            dial = s.dial_string(request.number)
        except ValueError as exc:
            handle.outcome.errback(exc)
            self._end(handle)
            return handle
        proto = self._protocol
        if proto is None or proto.state is not AmiState.READY:
            handle.outcome.errback(
                AmiNotConnectedError(
                    f"AMI is not connected; attempt {request.attempt_id} was not dialled"
                )
            )
            self._end(handle)
            return handle
        headers: list[tuple[str, object]] = [
            ("Channel", dial),
            ("Context", s.context),
            ("Exten", s.extension),
            ("Priority", s.priority),
            ("Timeout", s.originate_timeout_ms),
            ("Async", "true"),
            ("ChannelId", channel_id),
        ]
        if s.caller_id:
            headers.append(("CallerID", s.caller_id))
        headers += [
            ("Variable", f"{CALLBACK_ID_VARIABLE}={request.callback_id}"),
            ("Variable", f"{ATTEMPT_ID_VARIABLE}={request.attempt_id}"),
        ]
        if request.ask_rating:
            headers.append(("Variable", f"{ASK_RATING_VARIABLE}=1"))
        self._calls[channel_id] = handle
        handle.timer = self.clock.callLater(s.outcome_timeout, self._outcome_timed_out, handle)
        self.log.info(
            "originate attempt {attempt_id} (callback {callback_id}) to {number} as {channel_id}",
            attempt_id=request.attempt_id,
            callback_id=request.callback_id,
            number=mask_phone(request.number),
            channel_id=channel_id,
        )
        d = proto.send_action("Originate", headers, action_id=channel_id)
        d.addCallbacks(lambda _: self._queued(handle), lambda f: self._not_queued(handle, f))
        return handle

    def _queued(self, handle: OriginateHandle) -> None:
        if handle.state is CallState.SENDING:
            handle.state = CallState.DIALLING

    def _not_queued(self, handle: OriginateHandle, failure: Failure) -> None:
        if handle.state is not CallState.SENDING:
            return  # an OriginateResponse overtook the reply; that decides
        self.log.warn(
            "Originate for attempt {attempt_id} not queued: {error}",
            attempt_id=handle.request.attempt_id,
            error=failure.getErrorMessage(),
        )
        self._finish(handle)
        handle.outcome.errback(failure)
        self._end(handle)

    # -- events --------------------------------------------------------------------------------

    def on_event(self, event: AmiMessage) -> None:
        name = (event.event or "").lower()
        uniqueid = event.get("Uniqueid") or ""
        if uniqueid.startswith(self._ours):
            if name == "newchannel":
                self.live_channels.add(uniqueid)
            elif name == "hangup":
                self.live_channels.discard(uniqueid)
        if name in ("coreshowchannel", "coreshowchannelscomplete"):
            listing = self._lists.get(event.action_id or "")
            if listing is None:
                return
            channels, done = listing
            if name == "coreshowchannel":
                channels[event.get("Uniqueid") or ""] = event
            else:
                del self._lists[event.action_id or ""]
                done.callback(channels)
            return
        if name == "originateresponse":
            handle = self._calls.get(event.action_id or "") or self._calls.get(
                event.get("Uniqueid") or ""
            )
            if handle is not None:
                self._on_originate_response(handle, event)
        elif name == "hangup":
            handle = self._calls.get(event.get("Uniqueid") or "")
            if handle is not None:
                self._on_hangup(handle, event)

    def _on_originate_response(self, handle: OriginateHandle, event: AmiMessage) -> None:
        if handle.state not in (CallState.SENDING, CallState.DIALLING):
            return
        raw = event.get("Reason", "")
        try:
            reason = int(raw or "")
        except ValueError:
            self.log.warn(
                "OriginateResponse for {channel_id} has Reason {raw!r}; treating it as 0",
                channel_id=handle.channel_id,
                raw=raw,
            )
            reason = 0
        handle.reason_code = reason
        self._cancel_timer(handle)
        result = result_for_reason(reason)
        if result == "answered":
            handle.state = CallState.IN_CALL
            self._resolve(handle)
            if handle.hangup_seen:  # a very short call: its Hangup overtook the response
                self._finish(handle)
                self._end(handle)
            elif handle.state is CallState.IN_CALL:
                handle.timer = self.clock.callLater(
                    self.settings.call_max_seconds, self._call_timed_out, handle
                )
        elif reason == 0 and not handle.hangup_seen:
            handle.state = CallState.AWAITING_CAUSE
            handle.timer = self.clock.callLater(self.settings.hangup_grace, self._settle, handle)
        else:
            self._settle(handle)

    def _on_hangup(self, handle: OriginateHandle, event: AmiMessage) -> None:
        handle.hangup_seen = True
        cause = event.get("Cause")
        try:
            handle.hangup_cause = int(cause) if cause not in (None, "") else None
        except ValueError:
            handle.hangup_cause = None
        handle.hangup_cause_txt = event.get("Cause-txt")
        if handle.state is CallState.AWAITING_CAUSE:
            self._cancel_timer(handle)
            self._settle(handle)
        elif handle.state is CallState.IN_CALL:
            self._cancel_timer(handle)
            self._finish(handle)
            self._end(handle)
        # SENDING / DIALLING: keep listening, the OriginateResponse decides (busy and
        # congestion hang up both legs before it arrives).

    # -- after an outage ------------------------------------------------------------------------

    @inlineCallbacks
    def _reconcile(self, proto: AmiProtocol) -> Any:
        """Ask Asterisk which channels exist and settle every tracked call from that."""
        action_id = proto.next_action_id()
        channels: dict[str, AmiMessage] = {}
        done: Deferred[dict[str, AmiMessage]] = Deferred()
        self._lists[action_id] = (channels, done)
        timeout = self.clock.callLater(
            self.settings.action_timeout,
            lambda: done.called or done.errback(TimeoutError("CoreShowChannels list unfinished")),
        )
        try:
            yield proto.send_action("CoreShowChannels", action_id=action_id)
            live = yield done
        except Exception as exc:
            self._lists.pop(action_id, None)
            done.addErrback(lambda _: None)
            self.log.warn(
                "AMI: could not list Asterisk's channels after reconnecting ({error}); "
                "reconnecting to try again before dialling",
                error=str(exc),
            )
            if proto.transport is not None:
                proto.transport.loseConnection()
            return False
        finally:
            if timeout.active():
                timeout.cancel()
        self.reconciliations += 1
        self.live_channels = {uid for uid in live if uid.startswith(self._ours)}
        if not self._calls:
            return True
        counts = {"answered": 0, "ringing": 0, "talking": 0, "ended": 0}
        for handle in list(self._calls.values()):
            counts[self._reconcile_call(handle, live.get(handle.channel_id))] += 1
        self.log.warn(
            "AMI: reconciled {n} calls from Asterisk's channel list: {answered} answered while "
            "the link was down, {ringing} still ringing, {talking} still talking, {ended} ended",
            n=sum(counts.values()),
            **counts,
        )
        return True

    def _reconcile_call(self, handle: OriginateHandle, channel: AmiMessage | None) -> str:
        dialling = handle.state in (CallState.SENDING, CallState.DIALLING)
        if channel is not None:
            up = channel.get("ChannelState") == "6"
            if dialling and up:
                handle.reason_code = 4
                self._cancel_timer(handle)
                handle.state = CallState.IN_CALL
                self._resolve(handle)
                handle.timer = self.clock.callLater(
                    self.settings.call_max_seconds, self._call_timed_out, handle
                )
                return "answered"
            if handle.timer is None:  # its deadline passed while the link was down
                if dialling:
                    handle.timer = self.clock.callLater(
                        self.settings.outcome_timeout, self._outcome_timed_out, handle
                    )
                elif handle.state is CallState.IN_CALL:
                    handle.timer = self.clock.callLater(
                        self.settings.call_max_seconds, self._call_timed_out, handle
                    )
            return "talking" if handle.state is CallState.IN_CALL else "ringing"
        # gone: it ended while the link was down
        if handle.state is CallState.IN_CALL:
            self._finish(handle)
            self._end(handle)
        elif handle.state is CallState.AWAITING_CAUSE:
            self._settle(handle)  # its OriginateResponse came: the Reason decides
        else:
            self._finish(handle)
            handle.outcome.callback(
                CallOutcome(
                    attempt_id=handle.request.attempt_id,
                    channel_id=handle.channel_id,
                    result="unknown",
                    reason_code=-1,
                    hangup_cause=handle.hangup_cause,
                    hangup_cause_txt="the call ended while the AMI link was down",
                )
            )
            self._end(handle)
        return "ended"

    # -- endings -------------------------------------------------------------------------------

    def _outcome(
        self, handle: OriginateHandle, reason: int, note: str | None = None
    ) -> CallOutcome:
        return CallOutcome(
            attempt_id=handle.request.attempt_id,
            channel_id=handle.channel_id,
            result=result_for_reason(reason) if reason >= 0 else "failed",
            reason_code=reason,
            hangup_cause=handle.hangup_cause,
            hangup_cause_txt=handle.hangup_cause_txt or note,
        )

    def _resolve(self, handle: OriginateHandle) -> None:
        outcome = self._outcome(
            handle, handle.reason_code if handle.reason_code is not None else -1
        )
        self.log.info(
            "attempt {attempt_id} ({channel_id}): {result} (reason {reason}, cause {cause})",
            attempt_id=outcome.attempt_id,
            channel_id=outcome.channel_id,
            result=outcome.result,
            reason=outcome.reason_code,
            cause=outcome.hangup_cause,
        )
        handle.outcome.callback(outcome)

    def _settle(self, handle: OriginateHandle) -> None:
        """A call that was not answered: report it and forget it."""
        handle.timer = None
        self._finish(handle)
        self._resolve(handle)
        self._end(handle)

    def _outcome_timed_out(self, handle: OriginateHandle) -> None:
        handle.timer = None
        if handle.state not in (CallState.SENDING, CallState.DIALLING):
            return
        if not self.connected:
            return  # its events may be lost with the link: reconciliation decides
        self.log.warn(
            "no OriginateResponse for attempt {attempt_id} ({channel_id}) in {seconds} s",
            attempt_id=handle.request.attempt_id,
            channel_id=handle.channel_id,
            seconds=self.settings.outcome_timeout,
        )
        self._finish(handle)
        handle.outcome.callback(
            self._outcome(handle, -1, note="no OriginateResponse before the outcome timeout")
        )
        self._end(handle)

    def _call_timed_out(self, handle: OriginateHandle) -> None:
        handle.timer = None
        if not self.connected:
            return  # its Hangup may be lost with the link: reconciliation decides
        self.log.warn(
            "no Hangup for answered attempt {attempt_id} ({channel_id}) in {seconds} s",
            attempt_id=handle.request.attempt_id,
            channel_id=handle.channel_id,
            seconds=self.settings.call_max_seconds,
        )
        self._finish(handle)
        self._end(handle, timed_out=True)

    def _finish(self, handle: OriginateHandle) -> None:
        self._cancel_timer(handle)
        handle.state = CallState.DONE
        self._calls.pop(handle.channel_id, None)

    def _end(self, handle: OriginateHandle, timed_out: bool = False) -> None:
        handle.state = CallState.DONE
        self._calls.pop(handle.channel_id, None)
        if not handle.ended.called:
            handle.ended.callback(
                CallEnded(
                    attempt_id=handle.request.attempt_id,
                    channel_id=handle.channel_id,
                    hangup_cause=handle.hangup_cause,
                    hangup_cause_txt=handle.hangup_cause_txt,
                    timed_out=timed_out,
                )
            )

    @staticmethod
    def _cancel_timer(handle: OriginateHandle) -> None:
        if handle.timer is not None and handle.timer.active():
            handle.timer.cancel()
        handle.timer = None
