"""The event consumer's delivery handling without a broker: a fake channel and its receiver."""

from types import SimpleNamespace

from twisted.internet import defer, task
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure

from gateway.amqp import compat
from gateway.amqp.consumer import EventConsumer
from gateway.amqp.settings import AmqpSettings
from gateway.events.results import ACCEPTED, IngestResult


class BrokenChannel:
    """A channel whose ack fails with something other than txamqp's ``Closed``."""

    def __init__(self) -> None:
        self.acks: list[int] = []

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> defer.Deferred[None]:
        self.acks.append(delivery_tag)
        return defer.fail(RuntimeError("the frame could not be written"))


class RecordingChannel:
    """A channel that records every ack and reject it is asked to send, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bool]] = []

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> defer.Deferred[None]:
        self.sent.append(("ack", delivery_tag, multiple))
        return defer.succeed(None)

    def basic_reject(self, delivery_tag: int, requeue: bool) -> defer.Deferred[None]:
        self.sent.append(("reject", delivery_tag, requeue))
        return defer.succeed(None)


def offline_consumer() -> EventConsumer:
    """A consumer never connected: the test drives its delivery loop or connection events."""
    return EventConsumer(
        AmqpSettings(),
        lambda body: defer.succeed(IngestResult("E-1", ACCEPTED)),
        reactor=task.Clock(),
        endpoint=object(),
    )


def delivery(tag: int, body: bytes) -> SimpleNamespace:
    return SimpleNamespace(delivery_tag=tag, content=compat.make_content(body))


def test_a_failure_while_handling_a_delivery_is_logged_not_swallowed():
    """An unexpected error after the handler (here: the ack) is logged with its traceback."""
    consumer = offline_consumer()
    channel = BrokenChannel()
    with capturedLogs() as events:
        receive = consumer._receiver(channel)
        receive(delivery(7, b'{"event_id": "E-1"}'))
        consumer._reactor.advance(0)  # acks go out once per reactor turn
    assert channel.acks == [7]
    assert not consumer._in_flight
    [failed] = [e for e in events if "log_failure" in e]
    assert failed["log_level"] == LogLevel.critical
    assert failed["tag"] == 7
    assert failed["log_failure"].check(RuntimeError)


def test_closing_the_connection_on_stop_is_not_reported_as_a_loss():
    """Stopping closes the connection: an info line, not the reconnect warning of a real loss."""
    consumer = offline_consumer()
    client = object()
    consumer._client = client
    with capturedLogs() as events:
        consumer._lost(None, client)
    assert consumer._client is None
    assert [(e["log_level"], e["log_format"]) for e in events] == [
        (LogLevel.info, "amqp: connection closed")
    ]


def gated_consumer() -> tuple[EventConsumer, dict[bytes, defer.Deferred[IngestResult]]]:
    """A consumer whose handler returns a Deferred per body that the test fires (the commit)."""
    pending: dict[bytes, defer.Deferred[IngestResult]] = {}

    def handler(body: bytes) -> defer.Deferred[IngestResult]:
        d: defer.Deferred[IngestResult] = defer.Deferred()
        pending[body] = d
        return d

    consumer = EventConsumer(AmqpSettings(), handler, reactor=task.Clock(), endpoint=object())
    return consumer, pending


def commit(pending: dict[bytes, defer.Deferred[IngestResult]], body: bytes) -> None:
    pending.pop(body).callback(IngestResult(body.decode(), ACCEPTED))


def test_committed_tags_are_acked_as_one_run_once_per_turn():
    consumer, pending = gated_consumer()
    channel = RecordingChannel()
    receive = consumer._receiver(channel)
    bodies = [f"E-{tag}".encode() for tag in range(1, 6)]
    for tag, body in enumerate(bodies, 1):
        receive(delivery(tag, body))
    for body in bodies[:3]:
        commit(pending, body)
    assert channel.sent == []  # nothing before the end of the turn
    consumer._reactor.advance(0)
    assert channel.sent == [("ack", 3, True)]
    for body in bodies[3:]:
        commit(pending, body)
    consumer._reactor.advance(0)
    assert channel.sent == [("ack", 3, True), ("ack", 5, True)]
    assert not consumer._in_flight


def test_a_tag_still_in_the_database_ends_the_run():
    """Tags after an uncommitted one wait for it: a multiple ack would cover it."""
    consumer, pending = gated_consumer()
    channel = RecordingChannel()
    receive = consumer._receiver(channel)
    for tag in (1, 2, 3, 4):
        receive(delivery(tag, f"E-{tag}".encode()))
    for body in (b"E-1", b"E-3", b"E-4"):
        commit(pending, body)
    consumer._reactor.advance(0)
    assert channel.sent == [("ack", 1, True)]
    commit(pending, b"E-2")
    consumer._reactor.advance(0)
    assert channel.sent == [("ack", 1, True), ("ack", 4, True)]


def test_a_tag_waiting_for_its_requeue_ends_the_run_until_it_is_rejected():
    consumer, pending = gated_consumer()
    channel = RecordingChannel()
    receive = consumer._receiver(channel)
    for tag in (1, 2, 3):
        receive(delivery(tag, f"E-{tag}".encode()))
    pending.pop(b"E-1").errback(RuntimeError("database unavailable"))
    commit(pending, b"E-2")
    commit(pending, b"E-3")
    consumer._reactor.advance(0)
    assert channel.sent == []  # tag 1 waits out its backoff; 2 and 3 wait for it
    consumer._reactor.advance(consumer._settings.retry_initial_seconds)
    consumer._reactor.advance(0)
    assert channel.sent == [("reject", 1, True), ("ack", 3, True)]
    assert not consumer._in_flight


def test_past_a_tag_whose_handling_failed_acks_go_one_by_one():
    """A stuck tag stays unacked (as before): later tags cannot be acked with multiple."""
    consumer, pending = gated_consumer()
    channel = RecordingChannel()
    receive = consumer._receiver(channel)
    for tag in (1, 2, 3, 4):
        receive(delivery(tag, f"E-{tag}".encode()))
    commit(pending, b"E-1")
    with capturedLogs():
        # what the delivery loop's errback does when handling tag 2 failed outright
        consumer._handle_failed(Failure(RuntimeError("a bug")), 2, channel)
    commit(pending, b"E-3")
    consumer._reactor.advance(0)
    commit(pending, b"E-4")
    consumer._reactor.advance(0)
    assert channel.sent == [("ack", 1, True), ("ack", 3, False), ("ack", 4, False)]


def test_acks_still_due_are_sent_before_stopping():
    consumer, pending = gated_consumer()
    channel = RecordingChannel()
    receive = consumer._receiver(channel)
    receive(delivery(1, b"E-1"))
    commit(pending, b"E-1")
    consumer.startService = lambda: None
    consumer._client_service.stopService = lambda: defer.succeed(None)
    consumer.running = True
    consumer.stopService()
    assert channel.sent == [("ack", 1, True)]


def test_a_delivery_that_breaks_before_the_handler_is_logged_and_stuck():
    """An error on the way to the handler is the delivery's failure, not the caller's: it is
    logged, its tag stays unacked, and later deliveries are still handled and acked."""
    consumer, pending = gated_consumer()
    channel = RecordingChannel()
    receive = consumer._receiver(channel)
    with capturedLogs() as events:
        receive(SimpleNamespace(delivery_tag=1, content=None))  # no body to read
    [failed] = [e for e in events if "log_failure" in e]
    assert failed["tag"] == 1
    receive(delivery(2, b"E-2"))
    commit(pending, b"E-2")
    consumer._reactor.advance(0)
    assert channel.sent == [("ack", 2, False)]
    assert not consumer._in_flight
