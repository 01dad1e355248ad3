"""A thin Twisted protocol over :mod:`ivr.ami.message`: actions with deadlines, event fan-out.

State is explicit (:class:`AmiState`) rather than hidden in Deferreds: a connection first waits
for the banner, then logs in, then is ready. Each action gets an ``ActionID`` and a deadline
scheduled on the injected clock; a reply completes it, the deadline fails it, a lost connection
fails every one still outstanding.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ivr.ami.api import (
    AmiActionError,
    AmiConnectionLostError,
    AmiLoginError,
    AmiTimeoutError,
)
from ivr.ami.message import AmiFramingError, AmiMessage, AmiParser, Banner, encode_action

EventObserver = Callable[[AmiMessage], object]


class AmiState(enum.Enum):
    AWAITING_BANNER = "awaiting_banner"
    CONNECTED = "connected"
    LOGGING_IN = "logging_in"
    READY = "ready"
    CLOSED = "closed"


@dataclass
class _Pending:
    action: str
    deferred: Deferred[AmiMessage]
    timer: IDelayedCall | None


class AmiProtocol(Protocol):
    """Speaks AMI on one connection. Create it with the clock that schedules its deadlines."""

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        action_timeout: float = 10.0,
        action_id_prefix: str = "pj",
    ) -> None:
        self.clock = clock
        self.action_timeout = action_timeout
        self.state = AmiState.AWAITING_BANNER
        self.banner: Banner | None = None
        self._parser = AmiParser()
        self._ids = itertools.count(1)
        self._prefix = action_id_prefix
        self._pending: dict[str, _Pending] = {}
        self._observers: list[EventObserver] = []
        self._banner_waiters: list[Deferred[Banner]] = []
        self._lost_waiters: list[Deferred[None]] = []

    # -- observers -----------------------------------------------------------------------------

    def add_event_observer(self, observer: EventObserver) -> None:
        """Call ``observer(event)`` for every event; an observer that raises is logged only."""
        self._observers.append(observer)

    def remove_event_observer(self, observer: EventObserver) -> None:
        self._observers.remove(observer)

    def when_banner(self) -> Deferred[Banner]:
        if self.banner is not None:
            return succeed(self.banner)
        d: Deferred[Banner] = Deferred()
        self._banner_waiters.append(d)
        return d

    def when_lost(self) -> Deferred[None]:
        """Fires once the connection is gone (used by the client to log and forget it)."""
        d: Deferred[None] = Deferred()
        if self.state is AmiState.CLOSED:
            d.callback(None)
        else:
            self._lost_waiters.append(d)
        return d

    # -- actions -------------------------------------------------------------------------------

    def send_action(
        self,
        action: str,
        headers: list[tuple[str, object]] | None = None,
        timeout: float | None = None,
        action_id: str | None = None,
    ) -> Deferred[AmiMessage]:
        """Send one action; the Deferred fires with the reply or fails with an AmiError."""
        if self.state is AmiState.CLOSED or self.transport is None:
            return fail(AmiConnectionLostError(f"cannot send {action}: not connected"))
        action_id = action_id or self.next_action_id()
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already waiting for a reply")
        data = encode_action(action, [("ActionID", action_id), *(headers or [])])
        d: Deferred[AmiMessage] = Deferred()
        deadline = self.action_timeout if timeout is None else timeout
        timer = self.clock.callLater(deadline, self._expire, action_id) if deadline > 0 else None
        self._pending[action_id] = _Pending(action, d, timer)
        self.transport.write(data)
        return d

    def next_action_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    def login(self, username: str, secret: str) -> Deferred[AmiMessage]:
        """Wait for the banner, then log in with a plain ``Secret`` (no MD5 challenge)."""

        def send(_: Banner) -> Deferred[AmiMessage]:
            self.state = AmiState.LOGGING_IN
            d = self.send_action(
                "Login", [("Username", username), ("Secret", secret), ("Events", "on")]
            )
            d.addCallbacks(logged_in, refused)
            return d

        def logged_in(reply: AmiMessage) -> AmiMessage:
            self.state = AmiState.READY
            self.log.info("AMI login as {username} accepted", username=username)
            return reply

        def refused(failure: Failure) -> Failure:
            if failure.check(AmiActionError):
                message = failure.value.response.get("Message", "refused")
                return Failure(AmiLoginError(f"AMI login as {username!r} refused: {message}"))
            return failure

        return self.when_banner().addCallback(send)

    def _expire(self, action_id: str) -> None:
        pending = self._pending.pop(action_id, None)
        if pending is None:
            return
        pending.timer = None
        pending.deferred.errback(
            AmiTimeoutError(f"no reply to AMI action {pending.action} ({action_id}) in time")
        )

    # -- Protocol ------------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        try:
            items = self._parser.feed(data)
        except AmiFramingError as exc:
            self._framing_error(str(exc))
            return
        for item in items:
            if isinstance(item, Banner):
                self._on_banner(item)
            else:
                self._on_message(item)
        if self._parser.broken is not None:
            # the packets before the bad bytes were delivered first: nothing good is lost
            self._framing_error(self._parser.broken)

    def _framing_error(self, error: str) -> None:
        self.log.error("AMI framing error, dropping the connection: {error}", error=error)
        if self.transport is not None:
            self.transport.loseConnection()

    def _on_banner(self, banner: Banner) -> None:
        self.banner = banner
        self.state = AmiState.CONNECTED
        waiters, self._banner_waiters = self._banner_waiters, []
        for d in waiters:
            d.callback(banner)

    def _on_message(self, message: AmiMessage) -> None:
        if message.event is not None:
            self._dispatch_event(message)
            return
        if message.response is None:
            self.log.warn(
                "AMI packet neither response nor event: {packet}", packet=message.redacted()
            )
            return
        action_id = message.action_id
        pending = self._pending.pop(action_id, None) if action_id else None
        if pending is None:
            self.log.warn(
                "AMI response for no waiting action ({action_id}): {packet}",
                action_id=action_id,
                packet=message.redacted(),
            )
            return
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        if message.response.lower() == "error":
            pending.deferred.errback(AmiActionError(pending.action, message))
        else:
            pending.deferred.callback(message)

    def _dispatch_event(self, event: AmiMessage) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                self.log.failure("AMI event observer failed on {event}", event=event.event)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.state = AmiState.CLOSED
        pending, self._pending = self._pending, {}
        for action_id, p in pending.items():
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
            p.deferred.errback(
                AmiConnectionLostError(
                    f"connection lost before the reply to {p.action} ({action_id})"
                )
            )
        banner_waiters, self._banner_waiters = self._banner_waiters, []
        for d in banner_waiters:
            d.errback(AmiConnectionLostError("connection lost before the AMI banner"))
        lost, self._lost_waiters = self._lost_waiters, []
        for d in lost:
            d.callback(None)
