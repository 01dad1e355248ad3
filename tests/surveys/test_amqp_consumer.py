"""The event consumer on the real broker: ack after commit, dead letters, reconnect, pause."""

import json
from decimal import Decimal

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from gateway.amqp import compat
from gateway.amqp.consumer import EVENT_ID_HEADER, REASON_HEADER, EventConsumer
from gateway.events.results import IngestResult
from tests.surveys.amqp_support import Broker, unique_settings, wait_until

pytestmark = pytest.mark.rabbitmq


class Store:
    """Stands in for the intake: remembers event ids, rejects bodies without one."""

    def __init__(self, fail_times=0):
        self.stored = []
        self.calls = 0
        self.fail_times = fail_times

    def __call__(self, body):
        self.calls += 1
        if self.fail_times:
            self.fail_times -= 1
            return defer.fail(RuntimeError("database is down"))
        data = json.loads(body)
        if "event_id" not in data:
            return defer.succeed(
                IngestResult(None, "rejected", reason="event_id: 缺少 is required")
            )
        if data["event_id"] in self.stored:
            return defer.succeed(IngestResult(data["event_id"], "duplicate"))
        self.stored.append(data["event_id"])
        return defer.succeed(IngestResult(data["event_id"], "accepted", decision="selected"))


@defer.inlineCallbacks
def started(amqp_params, handler, **changes):
    settings = unique_settings(amqp_params, **changes)
    broker = yield Broker.connect(amqp_params)
    consumer = EventConsumer(settings, handler, reactor=reactor)
    consumer.startService()
    yield consumer.when_consuming()
    return settings, broker, consumer


@defer.inlineCallbacks
def finish(settings, broker, consumer):
    yield consumer.stopService()
    yield broker.cleanup(settings)


def body(event_id, **extra):
    return json.dumps({"event_id": event_id, "business": "户籍办理", **extra}, ensure_ascii=False)


@pytest_twisted.inlineCallbacks
def test_chinese_event_is_handled_and_acked(amqp_params):
    """A UTF-8 body with Chinese reaches the handler intact and leaves the queue after the ack."""
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        broker.publish(settings.queue, body("E-1"), headers={"来源": "接处警系统"})
        yield wait_until(lambda: store.stored == ["E-1"])
        yield wait_until(lambda: not consumer._in_flight)
        assert (yield broker.count(settings.queue)) == 0
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_malformed_event_goes_to_dead_letter_with_reason(amqp_params):
    """A rejected event is published to the DLX with the reason (in Chinese) in a header."""
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        broker.publish(settings.queue, json.dumps({"business": "户籍"}, ensure_ascii=False))
        yield wait_until(lambda: store.calls == 1)
        yield wait_until(lambda: not consumer._in_flight)
        dead = yield broker.get(settings.dead_letter_queue)
        assert dead is not None
        headers = dead.content.properties["headers"]
        assert headers[REASON_HEADER] == "event_id: 缺少 is required"
        assert EVENT_ID_HEADER not in headers
        assert json.loads(compat.body_bytes(dead.content)) == {"business": "户籍"}
        assert (yield broker.count(settings.queue)) == 0
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_dead_letter_keeps_a_decimal_header_and_the_consumer_goes_on(amqp_params):
    """A ``D`` header is copied to the dead letter; the connection still acks what follows."""
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        broker.publish(settings.queue, json.dumps({"business": "户籍"}), {"金额": Decimal("12.50")})
        broker.publish(settings.queue, body("E-1"))
        yield wait_until(lambda: store.stored == ["E-1"])
        yield wait_until(lambda: not consumer._in_flight)
        dead = yield broker.get(settings.dead_letter_queue)
        assert dead.content.properties["headers"]["金额"] == Decimal("12.50")
        assert (yield broker.count(settings.queue)) == 0
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_duplicate_is_acked_and_changes_nothing(amqp_params):
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        broker.publish(settings.queue, body("E-1"))
        broker.publish(settings.queue, body("E-1"))
        yield wait_until(lambda: store.calls == 2)
        yield wait_until(lambda: not consumer._in_flight)
        assert store.stored == ["E-1"]
        assert (yield broker.count(settings.queue)) == 0
        assert (yield broker.count(settings.dead_letter_queue)) == 0
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_storage_failure_requeues_with_backoff_then_succeeds(amqp_params):
    """Two storage failures: the delivery is requeued, then stored once, nothing dead-lettered."""
    store = Store(fail_times=2)
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        broker.publish(settings.queue, body("E-1"))
        yield wait_until(lambda: store.stored == ["E-1"])
        assert store.calls == 3
        yield wait_until(lambda: not consumer._in_flight)
        assert (yield broker.count(settings.dead_letter_queue)) == 0
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_poison_message_is_dead_lettered_after_the_cap(amqp_params):
    """A body whose storage always fails is dead-lettered after MAX_ATTEMPTS, not looped."""
    store = Store(fail_times=100)
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        broker.publish(settings.queue, body("E-9"))
        yield wait_until(lambda: store.calls == 5)
        yield wait_until(lambda: not consumer._in_flight)
        dead = yield broker.get(settings.dead_letter_queue)
        assert "storage failed 5 times" in dead.content.properties["headers"][REASON_HEADER]
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_connection_lost_mid_stream_reconnects_nothing_lost_or_doubled(amqp_params):
    """The link drops while events flow: the consumer reconnects, resumes, stores each once."""
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store, prefetch=5)
    try:
        for i in range(50):
            broker.publish(settings.queue, body(f"E-{i}"))
        yield wait_until(lambda: len(store.stored) >= 10)
        consumer._client.transport.abortConnection()
        yield wait_until(lambda: consumer.connections == 2)
        for i in range(50, 80):
            broker.publish(settings.queue, body(f"E-{i}"))
        yield wait_until(lambda: len(store.stored) == 80)
        yield wait_until(lambda: not consumer._in_flight)
        assert sorted(store.stored) == sorted(f"E-{i}" for i in range(80))
        assert (yield broker.count(settings.queue)) == 0
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_availability_observer_pauses_and_resumes(amqp_params):
    """SMPP down → paused (not consuming); SMPP up → consuming again."""
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        consumer.set_available(False)
        assert not consumer.consuming
        consumer.set_available(True)
        yield consumer.when_consuming()
        broker.publish(settings.queue, body("E-2"))
        yield wait_until(lambda: store.stored == ["E-2"])
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_pause_stops_taking_events_and_resume_takes_them(amqp_params):
    """While paused (SMPP down) events stay in the queue; on resume they are consumed."""
    store = Store()
    settings, broker, consumer = yield started(amqp_params, store)
    try:
        yield consumer.pause()
        assert not consumer.consuming
        broker.publish(settings.queue, body("E-1"))
        count = 0
        for _ in range(200):  # the broker routes asynchronously: wait until it is counted
            count = yield broker.count(settings.queue)
            if count:
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        assert count == 1 and store.calls == 0
        yield consumer.resume()
        assert consumer.consuming
        yield wait_until(lambda: store.stored == ["E-1"])
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_handler_returning_no_result_never_leaves_a_delivery_unacked(amqp_params):
    """A handler bug (no IngestResult) is retried, then dead-lettered: the queue never stalls."""
    calls = []

    def broken(body):
        calls.append(body)
        return defer.succeed(None)

    settings, broker, consumer = yield started(amqp_params, broken)
    try:
        broker.publish(settings.queue, body("E-1"))
        yield wait_until(lambda: len(calls) == 5)
        yield wait_until(lambda: not consumer._in_flight)
        dead = yield broker.get(settings.dead_letter_queue)
        assert "not an IngestResult" in dead.content.properties["headers"][REASON_HEADER]
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_a_phone_echoed_in_a_rejection_is_masked_in_the_dead_letter_headers(amqp_params):
    """The real validation's reason and the event id go to the headers with phones masked."""
    from gateway.surveys.intake import EventIntake
    from gateway.surveys.settings import SurveySettings
    from storage.events_store import SqlEventStore

    intake = EventIntake(None, SurveySettings(), store=SqlEventStore(), clock=task.Clock())
    calls = []

    def handler(raw):
        calls.append(raw)
        return intake.ingest_body(raw, "amqp")

    settings, broker, consumer = yield started(amqp_params, handler)
    try:
        broker.publish(settings.queue, body("13900001111", closed_at="13812349876"))
        yield wait_until(lambda: len(calls) == 1)
        yield wait_until(lambda: not consumer._in_flight)
        dead = yield broker.get(settings.dead_letter_queue)
        headers = dead.content.properties["headers"]
        assert "closed_at: '138****9876' is not an ISO 8601 time" in headers[REASON_HEADER]
        assert headers[EVENT_ID_HEADER] == "139****1111"
        assert "13812349876" not in json.dumps(headers, default=str)
    finally:
        yield finish(settings, broker, consumer)


@pytest_twisted.inlineCallbacks
def test_a_duplicate_with_different_content_is_dead_lettered_with_its_reason(amqp_params):
    """The first event stays stored; the different second one is kept in the dead letters."""
    reason = "event_id 'E-1' is already used by an event with different occurred_at"

    calls = []

    def handler(raw):
        calls.append(raw)
        return defer.succeed(IngestResult("E-1", "duplicate", reason=reason, differs=("x",)))

    settings, broker, consumer = yield started(amqp_params, handler)
    try:
        broker.publish(settings.queue, body("E-1"))
        yield wait_until(lambda: len(calls) == 1)
        yield wait_until(lambda: not consumer._in_flight)
        dead = yield broker.get(settings.dead_letter_queue)
        assert dead.content.properties["headers"][REASON_HEADER] == reason
        assert (yield broker.count(settings.queue)) == 0
    finally:
        yield finish(settings, broker, consumer)
