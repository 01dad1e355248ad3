"""The event consumer's delivery loop without a broker: a fake channel and delivery queue."""

from types import SimpleNamespace

from twisted.internet import defer, task
from twisted.logger import LogLevel, capturedLogs

from gateway.amqp import compat
from gateway.amqp.consumer import EventConsumer
from gateway.amqp.settings import AmqpSettings
from gateway.events.results import ACCEPTED, IngestResult


class BrokenChannel:
    """A channel whose ack fails with something other than txamqp's ``Closed``."""

    def __init__(self) -> None:
        self.acks: list[int] = []

    def basic_ack(self, delivery_tag: int) -> defer.Deferred[None]:
        self.acks.append(delivery_tag)
        return defer.fail(RuntimeError("the frame could not be written"))


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
    deliveries: defer.DeferredQueue[SimpleNamespace] = defer.DeferredQueue()
    channel = BrokenChannel()
    with capturedLogs() as events:
        consumer._read(deliveries, channel)
        deliveries.put(delivery(7, b'{"event_id": "E-1"}'))
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
