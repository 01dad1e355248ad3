"""The AMQP door: consume service events from a durable queue, ack only after the commit.

* One reconnect mechanism: ``ClientService`` with a backoff policy; every new connection is
  prepared the same way (declare, qos, consume), so the consumer resumes after a broker
  restart instead of staying dead, which is the failure other gateways are known for.
* At-least-once, never doubled: a message is acked after the handler's transaction committed;
  one redelivered after a reconnect is seen as a duplicate ``event_id`` and acked.
* Malformed events are published to the dead-letter exchange with the reason in the
  ``x-pingjing-reason`` header (in a transaction on a separate channel, so the publish is
  confirmed before the original is acked), never silently dropped and never requeued forever.
* A storage failure requeues the delivery after a backoff; after ``MAX_ATTEMPTS`` failures of
  the same body it is dead-lettered with the last error, so a poison message cannot loop.
* Acks go out as ``multiple=True`` over the contiguous run of settled delivery tags, once per
  reactor turn (``_AckRun``): a tag still waiting (in the database, for its requeue backoff, for
  its dead-letter publish) ends the run, so no tag is acked before its event committed.
* Backpressure: ``pause()`` cancels the consumer (what is already delivered is still handled),
  ``resume()`` consumes again; wired to the SMPP link's availability.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from txamqp.client import Closed, TwistedDelegate
from txamqp.protocol import AMQClient

from gateway.amqp import compat, fastpath
from gateway.amqp.settings import AmqpSettings
from gateway.events.results import REJECTED, IngestResult
from gateway.linkstate import LinkState, ObservedEndpoint, endpoint_address
from gateway.masking import mask_phones_in_text

log = Logger()

REASON_HEADER = "x-pingjing-reason"
EVENT_ID_HEADER = "x-pingjing-event-id"
QUEUE_HEADER = "x-pingjing-queue"
MAX_ATTEMPTS = 5
CONSUME_CHANNEL = 1
PUBLISH_CHANNEL = 2

Handler = Callable[[bytes], "defer.Deferred[IngestResult]"]


class _AmqpFactory(protocol.Factory):
    noisy = False  # ClientService logs each attempt; "Starting factory" twice per retry is noise

    def __init__(self, settings: AmqpSettings, clock: Any) -> None:
        self._settings = settings
        self._clock = clock

    def buildProtocol(self, addr: Any) -> AMQClient:
        client = AMQClient(
            TwistedDelegate(),
            self._settings.vhost,
            compat.load_spec(),
            heartbeat=self._settings.heartbeat_seconds,
            clock=self._clock,
        )
        client.factory = self
        return client


_WAITING, _ACK, _SENT, _STUCK = 0, 1, 2, 3


class _AckRun:
    """The delivery tags of one channel, in delivery order, and what became of each.

    A tag is ``_WAITING`` until its handling settles it: ``_ACK`` (committed, or dead-lettered
    and confirmed: to be acked), ``_SENT`` (rejected with requeue: already told to the broker),
    or ``_STUCK`` (handling failed: it stays unacked until the channel closes, as before).
    ``take`` pops the settled prefix and says what to send: the highest tag of the run for one
    ``basic.ack`` with ``multiple=True``, then, past a stuck tag (which ``multiple`` would
    cover), each later acked tag on its own.
    """

    __slots__ = ("order", "state", "stuck")

    def __init__(self) -> None:
        self.order: deque[int] = deque()
        self.state: dict[int, int] = {}
        self.stuck = False  # a stuck tag was passed: no more multiple acks on this channel

    def delivered(self, tag: int) -> None:
        self.order.append(tag)
        self.state[tag] = _WAITING

    def settle(self, tag: int, how: int) -> None:
        if tag in self.state:
            self.state[tag] = how

    def take(self) -> tuple[int | None, list[int]]:
        """``(highest tag to ack with multiple=True or None, tags to ack one by one)``."""
        order, state = self.order, self.state
        run: int | None = None
        singles: list[int] = []
        while order:
            tag = order[0]
            how = state[tag]
            if how == _WAITING:
                break
            order.popleft()
            del state[tag]
            if how == _STUCK:
                self.stuck = True
            elif how == _ACK:
                if self.stuck:
                    singles.append(tag)
                else:
                    run = tag
        return run, singles


class EventConsumer(service.Service):
    """Consumes ``settings.queue`` and hands each body to ``handler`` (the event intake)."""

    name = "amqp-events"

    def __init__(
        self,
        settings: AmqpSettings,
        handler: Handler,
        *,
        reactor: Any = None,
        endpoint: Any = None,
    ) -> None:
        compat.install()
        fastpath.install()
        if reactor is None:
            from twisted.internet import reactor
        self._settings = settings
        self._handler = handler
        self._reactor = reactor
        if endpoint is None:
            from twisted.internet.endpoints import clientFromString

            endpoint = clientFromString(reactor, settings.endpoint)
        self.link = LinkState("amqp", "RabbitMQ", endpoint_address(settings.endpoint), reactor)
        self._client_service = ClientService(
            ObservedEndpoint(endpoint, self.link),
            _AmqpFactory(settings, reactor),
            retryPolicy=backoffPolicy(
                initialDelay=settings.reconnect_initial_seconds,
                maxDelay=settings.reconnect_max_seconds,
            ),
            clock=reactor,
            prepareConnection=self._prepare,
        )
        self._client: AMQClient | None = None
        self._channel: Any = None
        self._publisher: Any = None
        self._consumer_tag: str | None = None
        self._paused = False
        self._pause_reason = ""
        self._tags = itertools.count(1)
        self._in_flight: set[defer.Deferred[None]] = set()
        self._runs: dict[Any, _AckRun] = {}  # per channel
        self._flush_call: Any = None
        self._failures: dict[str, int] = {}
        self._retry_delay = settings.retry_initial_seconds
        self._consuming_waiters: list[defer.Deferred[None]] = []
        # txamqp does not serialise synchronous methods on a channel: two at once get each
        # other's replies. One lock per channel keeps one request outstanding.
        self._sync_lock = defer.DeferredLock()
        self._publish_lock = defer.DeferredLock()
        self.connections = 0  # how many times a connection was prepared (observability, tests)

    # --- service ---------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._client_service.startService()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self._paused = True
        if self._in_flight:
            yield defer.DeferredList(list(self._in_flight))
        self._flush_acks()
        client = self._client
        if client is not None and not client.closed:
            try:
                yield client.close(within=2)
            except Exception:  # closing a dead connection is not an error
                log.debug("amqp: close on stop failed; the connection is going away anyway")
        yield self._client_service.stopService()

    def when_consuming(self) -> defer.Deferred[None]:
        """Fires when the consumer is (again) registered with the broker."""
        if self._consumer_tag is not None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._consuming_waiters.append(d)
        return d

    @property
    def consuming(self) -> bool:
        return self._consumer_tag is not None

    # --- backpressure ----------------------------------------------------------------------

    def set_available(self, available: bool) -> None:
        """The SMPP availability observer: pause while the link is down, resume when up."""
        if available:
            self.resume()
        else:
            self.pause("the SMPP link to the SMSC is unavailable")

    def pause(self, reason: str = "asked to") -> defer.Deferred[None]:
        """Stop taking new events; fires once the broker confirmed the cancel."""
        if self._paused:
            return defer.succeed(None)
        self._paused = True
        self._pause_reason = reason
        log.warn(
            "amqp: consumption of {queue} paused: {reason}; events wait in the queue",
            queue=self._settings.queue,
            reason=reason,
        )
        tag, self._consumer_tag = self._consumer_tag, None
        channel = self._channel
        if tag is None or channel is None:
            return defer.succeed(None)
        d = self._sync_lock.run(channel.basic_cancel, consumer_tag=tag)
        d.addErrback(self._sync_failed, "basic.cancel")
        return d

    def resume(self) -> defer.Deferred[None]:
        """Take events again; fires once the consumer is registered (or at the next connect)."""
        if not self._paused:
            return defer.succeed(None)
        self._paused = False
        log.warn(
            "amqp: consumption of {queue} resumed (was paused: {reason})",
            queue=self._settings.queue,
            reason=self._pause_reason,
        )
        if self._channel is not None and self._consumer_tag is None:
            return self._consume().addErrback(self._sync_failed, "basic.consume")
        return defer.succeed(None)

    def _sync_failed(self, failure: Any, what: str) -> None:
        """A synchronous method failed: drop the connection, the reconnect restores the state."""
        log.failure("amqp: {what} failed; reconnecting", failure, what=what)
        if self._client is not None and self._client.transport is not None:
            self._client.transport.loseConnection()

    # --- connection ------------------------------------------------------------------------

    def _prepare(self, client: AMQClient) -> defer.Deferred[Any]:
        """Set the connection up; a failure (refused login, a declare refused) is the link's."""
        d = self._set_up(client)

        def failed(failure: Failure) -> Failure:
            self.link.failed(failure)
            return failure

        return d.addErrback(failed)

    @defer.inlineCallbacks
    def _set_up(self, client: AMQClient) -> Any:
        s = self._settings
        yield client.authenticate(s.user, s.password)
        channel = yield client.channel(CONSUME_CHANNEL)
        yield channel.channel_open()
        yield channel.exchange_declare(exchange=s.dead_letter_exchange, type="fanout", durable=True)
        yield channel.queue_declare(queue=s.dead_letter_queue, durable=True)
        yield channel.queue_bind(queue=s.dead_letter_queue, exchange=s.dead_letter_exchange)
        yield channel.queue_declare(queue=s.queue, durable=True)
        yield channel.basic_qos(prefetch_count=s.prefetch)
        publisher = yield client.channel(PUBLISH_CHANNEL)
        yield publisher.channel_open()
        yield publisher.tx_select()
        self._client, self._channel, self._publisher = client, channel, publisher
        self._sync_lock = defer.DeferredLock()
        self._publish_lock = defer.DeferredLock()
        self._consumer_tag = None
        self.connections += 1
        client.disconnected.wait().addBoth(self._lost, client)
        self.link.up()
        if self._paused:
            log.warn(
                "amqp: connected; consumption of {queue} stays paused: {reason}",
                queue=s.queue,
                reason=self._pause_reason,
            )
        else:
            log.info("amqp: consuming {queue}", queue=s.queue)
            yield self._consume()

    def _lost(self, _: object, client: AMQClient) -> None:
        if self._client is client:
            if self.running:
                self.link.lost("connection closed")
            else:  # stopService closed it: nothing is lost and nothing reconnects
                log.info("amqp: connection closed")
            self._client = self._channel = self._publisher = None
            self._consumer_tag = None
            self._runs.clear()  # its tags are the broker's to redeliver now

    @defer.inlineCallbacks
    def _consume(self) -> Any:
        client, channel = self._client, self._channel
        tag = f"pingjing-{next(self._tags)}"
        self._consumer_tag = tag
        fastpath.consume_directly(client, tag, self._receiver(channel))
        yield self._sync_lock.run(
            channel.basic_consume, queue=self._settings.queue, consumer_tag=tag
        )
        waiters, self._consuming_waiters = self._consuming_waiters, []
        for d in waiters:
            d.callback(None)

    def _receiver(self, channel: Any) -> Callable[[Any], None]:
        """What takes this channel's deliveries, each on the call that completed it.

        The fast path calls it directly instead of putting the delivery on a txamqp queue for a
        reading generator; once the connection is closed (where that reader ended on txamqp's
        ``Closed``) it is not called any more. A cancelled consumer tag keeps its receiver, as
        the reader of its queue kept reading: what the broker sent before the cancel-ok is
        handled.
        """
        run = self._runs.get(channel)
        if run is None:
            run = self._runs[channel] = _AckRun()
        return functools.partial(self._received, channel, run)

    def _received(self, channel: Any, run: _AckRun, message: Any) -> None:
        tag = message.delivery_tag
        run.delivered(tag)
        try:
            d = self._handle(message, channel)
        except Exception:  # a bug before the handler ran: logged, the tag stuck, as below
            d = defer.fail()
        self._in_flight.add(d)
        d.addErrback(self._handle_failed, tag, channel)
        d.addBoth(self._landed, d)

    def _landed(self, _: object, d: defer.Deferred[None]) -> None:
        self._in_flight.discard(d)

    def _handle_failed(self, failure: Any, tag: int, channel: Any = None) -> None:
        """A delivery's handling failed outside the cases it settles itself: a bug, so say so.

        Without this the in-flight bookkeeping would swallow the failure, and the delivery
        would sit unacked with no trace while it holds one of the prefetch slots.
        """
        log.failure(
            "amqp: handling delivery {tag} failed; it stays unacked until the connection closes",
            failure,
            tag=tag,
        )
        if channel is not None:
            self._settled(channel, tag, _STUCK)

    # --- acks ------------------------------------------------------------------------------

    def _settled(self, channel: Any, tag: int, how: int) -> None:
        run = self._runs.get(channel)
        if run is None:
            return  # the channel is gone: nothing of it can be acked any more
        run.settle(tag, how)
        if self._flush_call is None:
            self._flush_call = self._reactor.callLater(0, self._flush_acks)

    def _ack(self, channel: Any, tag: int) -> None:
        """Ack ``tag`` (its event committed) with the run it completes, at the end of this turn."""
        self._settled(channel, tag, _ACK)

    def _flush_acks(self) -> None:
        """Send one ``basic.ack multiple=True`` per channel for its settled run of tags."""
        call, self._flush_call = self._flush_call, None
        if call is not None and call.active():
            call.cancel()
        for channel, run in list(self._runs.items()):
            highest, singles = run.take()
            if highest is not None:
                self._send_ack(channel, highest, multiple=True)
            for tag in singles:
                self._send_ack(channel, tag, multiple=False)

    def _send_ack(self, channel: Any, tag: int, *, multiple: bool) -> None:
        d = self._settle(channel.basic_ack, delivery_tag=tag, multiple=multiple)
        d.addErrback(self._handle_failed, tag)

    # --- one delivery ----------------------------------------------------------------------

    def _handle(self, message: Any, channel: Any) -> defer.Deferred[Any]:
        """Store one delivery; then ack it, dead-letter it, or requeue it after a backoff.

        The path every stored event takes is plain callbacks, not a generator: it runs on the
        reactor thread for each delivery, and the reactor thread is what limits intake.
        """
        body = compat.body_bytes(message.content)
        d = defer.maybeDeferred(self._handler, body)
        d.addCallbacks(
            self._stored,
            self._store_failed,
            callbackArgs=(message, channel, body),
            errbackArgs=(message, channel, body),
        )
        return d

    def _stored(self, result: Any, message: Any, channel: Any, body: bytes) -> Any:
        if not isinstance(result, IngestResult):
            error = TypeError(f"the handler returned {result!r}, not an IngestResult")
            return self._store_failed(Failure(error), message, channel, body)
        if self._failures:
            self._failures.pop(hashlib.sha256(body).hexdigest(), None)
        self._retry_delay = self._settings.retry_initial_seconds
        if result.status == REJECTED or result.differs:
            # a different event under a used id was not stored: keep it for an operator
            return self._dead_letter(message, channel, result)
        self._ack(channel, message.delivery_tag)
        return None

    @defer.inlineCallbacks
    def _store_failed(self, failure: Failure, message: Any, channel: Any, body: bytes) -> Any:
        """Storage errors of any kind are retried, with a backoff, up to ``MAX_ATTEMPTS``."""
        failure.trap(Exception)
        exc = failure.value
        key = hashlib.sha256(body).hexdigest()
        attempts = self._failures.get(key, 0) + 1
        self._failures[key] = attempts
        if attempts >= MAX_ATTEMPTS:
            self._failures.pop(key, None)
            reason = f"storage failed {attempts} times: {exc.__class__.__name__}: {exc}"
            failed = IngestResult(None, REJECTED, reason=reason)
            yield self._dead_letter(message, channel, failed)
            return
        delay = self._retry_delay
        self._retry_delay = min(delay * 2, self._settings.retry_max_seconds)
        log.error(
            "amqp: storing an event failed ({error}); requeue in {delay}s (attempt {n})",
            error=repr(exc),
            delay=delay,
            n=attempts,
        )
        yield self._later(delay)
        yield self._settle(channel.basic_reject, delivery_tag=message.delivery_tag, requeue=True)
        self._settled(channel, message.delivery_tag, _SENT)

    def _later(self, seconds: float) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._reactor.callLater(seconds, d.callback, None)
        return d

    @defer.inlineCallbacks
    def _dead_letter(self, message: Any, channel: Any, result: IngestResult) -> Any:
        """Publish to the dead-letter exchange with the reason, confirmed, then ack the original."""
        publisher = self._publisher
        if publisher is None or channel is not self._channel:
            return  # the connection went away: the broker redelivers it to the next one
        props = dict(message.content.properties)
        headers = dict(props.get("headers") or {})
        headers[REASON_HEADER] = result.reason or "rejected"
        if result.event_id:
            headers[EVENT_ID_HEADER] = mask_phones_in_text(result.event_id)
        headers[QUEUE_HEADER] = self._settings.queue
        props["headers"] = headers
        props.setdefault("delivery-mode", 2)
        content = compat.make_content(compat.body_bytes(message.content))
        content.properties = props
        log.warn(
            "amqp: event {event_id} dead-lettered: {reason}",
            event_id=mask_phones_in_text(result.event_id or "-"),
            reason=result.reason,
        )

        def publish_and_commit() -> defer.Deferred[Any]:
            publisher.basic_publish(
                exchange=self._settings.dead_letter_exchange, routing_key="", content=content
            )
            return publisher.tx_commit()

        try:
            yield self._publish_lock.run(publish_and_commit)
        except Closed:
            return
        self._ack(channel, message.delivery_tag)

    def _settle(self, method: Callable[..., Any], **kwargs: Any) -> defer.Deferred[Any]:
        """Ack or reject; on a closed channel the broker redelivers, which intake makes harmless."""
        d = defer.maybeDeferred(method, **kwargs)
        d.addErrback(self._not_settled)
        return d

    @staticmethod
    def _not_settled(failure: Failure) -> None:
        failure.trap(Closed)
        log.info("amqp: channel closed before settling a delivery; it will be redelivered")
