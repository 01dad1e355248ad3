"""The event consumer across a real broker restart: nothing lost, nothing doubled, consuming again.

Issue 4: "the broker restarted mid-stream with nothing lost or doubled". The broker is a private
RabbitMQ node (``tests/surveys/rabbit_node.py``; the shared one on 5672 is never touched),
stopped and started the way an operator does, so the consumer sees what it sees in production:
the broker closing the connection, refused connections while it is down, then a broker that
recovered its durable queue from disk. Also: the broker process killed outright, and a restart
while the consumer is paused. Events go through the real intake into PostgreSQL, and nothing
may be logged as an error or with a traceback: these disconnects are expected.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, reactor, task, threads
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from gateway.amqp import compat
from gateway.amqp.consumer import EVENT_ID_HEADER, REASON_HEADER, EventConsumer
from gateway.events.results import ACCEPTED, DUPLICATE, REJECTED
from gateway.surveys.intake import EventIntake
from gateway.surveys.settings import SurveySettings
from storage import models as m
from storage.events_store import SqlEventStore
from tests.conftest import unavailable
from tests.surveys.amqp_support import Broker, unique_settings, wait_until
from tests.surveys.rabbit_node import PrivateNode, find_sbin
from tests.surveys.support import event_data, make_db

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

BEFORE = 300  # valid events published before the consumer starts
PASSED = 120  # deliveries the intake takes before it stalls
PREFETCH = 25  # so exactly this many are delivered, unacked, when the broker goes down
AFTER = 100  # valid events published once the broker is back
RESTART_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNode]:
    """A RabbitMQ node of this module's own, so restarting it disturbs no one else's tests."""
    sbin = find_sbin()
    if sbin is None:
        unavailable(
            "rabbitmq-server (for a private RabbitMQ node)",
            "apt-get install rabbitmq-server (or set PINGJING_RABBITMQ_SBIN to its directory)",
        )
    private = PrivateNode(sbin, tmp_path_factory.mktemp("rabbit"))
    try:
        private.start()
        yield private
    finally:
        private.close()


class StallingIntake:
    """The real intake, stalling after ``passed`` deliveries as if the database hung.

    Stalled deliveries stay unacked on the broker until ``release`` hands them to the intake.
    Every result is recorded per event_id, so a test can tell a redelivery from a new event.
    """

    def __init__(self, intake: EventIntake, passed: int | None = None) -> None:
        self._intake = intake
        self._passed = passed
        self.calls = 0
        self.held: list[tuple[bytes, defer.Deferred[Any]]] = []
        self.results: dict[str, list[str]] = {}

    def __call__(self, body: bytes) -> defer.Deferred[Any]:
        self.calls += 1
        if self._passed is not None and self.calls > self._passed:
            d: defer.Deferred[Any] = defer.Deferred()
            self.held.append((body, d))
            return d
        return self._ingest(body)

    def _ingest(self, body: bytes) -> defer.Deferred[Any]:
        def record(result: Any) -> Any:
            self.results.setdefault(result.event_id, []).append(result.status)
            return result

        return self._intake.ingest_body(body, "amqp").addCallback(record)

    def release(self) -> list[str]:
        """Let the held deliveries through, and from now on every one; their event ids."""
        self._passed = None
        held, self.held = self.held, []
        for body, d in held:
            self._ingest(body).chainDeferred(d)
        return [json.loads(body)["event_id"] for body, _ in held]


class LogProblems:
    """Collects log events that carry a traceback or are errors: an expected restart has none."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        if "log_failure" in event or event.get("log_level") in (LogLevel.error, LogLevel.critical):
            self.events.append(event)

    def describe(self) -> list[str]:
        return [
            formatEvent(e) + ("\n" + e["log_failure"].getTraceback() if "log_failure" in e else "")
            for e in self.events
        ]


def event_body(event_id: str) -> str:
    return json.dumps(event_data(event_id=event_id), ensure_ascii=False)


def malformed_body(event_id: str) -> str:
    return json.dumps({"event_id": event_id, "business": "户籍办理"}, ensure_ascii=False)


def stored_counts(db: Any) -> defer.Deferred[Counter[str]]:
    def query(session: Any) -> Counter[str]:
        rows = session.execute(
            sa.select(m.ServiceEvent.event_id, sa.func.count()).group_by(m.ServiceEvent.event_id)
        )
        return Counter(dict(rows.all()))

    return db.run(query)


@defer.inlineCallbacks
def broker_counts(node: PrivateNode, queue: str, ready: int | None, unacked: int) -> Any:
    """(ready, unacked) of ``queue`` once the broker shows these (None: any), or the last seen.

    The broker settles acks asynchronously; a few reads (each a rabbitmqctl run) give it time.
    """
    counts = (-1, -1)
    for _ in range(10):
        counts = yield threads.deferToThread(node.queue_counts, queue)
        if ready in (None, counts[0]) and counts[1] == unacked:
            break
        yield task.deferLater(reactor, 0.2, lambda: None)
    return counts


class Scenario:
    """One test's queue, database, stalling intake, consumer and log watch on the private node."""

    def __init__(self, node: PrivateNode, pg_url: str, **intake: Any) -> None:
        self.node = node
        self.db = make_db(pg_url)
        self.intake = StallingIntake(
            EventIntake(self.db, SurveySettings(), store=SqlEventStore()), **intake
        )
        self.settings = unique_settings(node.amqp_params, prefetch=PREFETCH)
        self.consumer = EventConsumer(self.settings, self.intake, reactor=reactor)
        self.problems = LogProblems()
        globalLogPublisher.addObserver(self.problems)

    @defer.inlineCallbacks
    def publish(self, bodies: list[str]) -> Any:
        """Publish (committed) from a short-lived connection, so none is open across a restart."""
        broker = yield Broker.connect(self.node.amqp_params)
        yield broker.declare(self.settings)
        yield broker.publish_committed(self.settings.queue, bodies)
        yield broker.client.close(within=1)

    @defer.inlineCallbacks
    def stall_with_deliveries_in_flight(self) -> Any:
        """Wait until PREFETCH deliveries are held by the intake and unacked on the broker."""
        yield wait_until(lambda: len(self.intake.held) == PREFETCH)
        yield wait_until(lambda: len(self.consumer._in_flight) == PREFETCH)  # the rest settled
        _, unacked = yield broker_counts(self.node, self.settings.queue, None, PREFETCH)
        assert unacked == PREFETCH

    def reconnected(self) -> defer.Deferred[None]:
        """Fires once the consumer prepared its second connection (the first after a restart)."""
        return wait_until(lambda: self.consumer.connections == 2, timeout=RESTART_TIMEOUT)

    @defer.inlineCallbacks
    def finish(self) -> Any:
        globalLogPublisher.removeObserver(self.problems)
        self.intake.release()  # stopService waits for every delivery in flight
        yield self.consumer.stopService()
        if self.node.running:
            broker = yield Broker.connect(self.node.amqp_params)
            yield broker.cleanup(self.settings)
        self.db.stop()


@pytest_twisted.inlineCallbacks
def test_broker_restart_with_deliveries_in_flight_stores_every_event_once(node, pg_url):
    """Restart the broker while prefetched deliveries are unacked and the intake is stalled.

    The stalled deliveries are stored while the broker is down (their acks cannot be sent);
    the restarted broker redelivers them and the intake's duplicate path acks them without a
    second row. The consumer reconnects by itself, consumes what was left and what is published
    after the restart; the queue ends empty and only the malformed events are dead-lettered.
    """
    run = Scenario(node, pg_url, passed=PASSED)
    first = [event_body(f"RS-{i:03d}") for i in range(BEFORE)]
    first.insert(10, malformed_body("RS-BAD-1"))
    second = [event_body(f"RS-{i:03d}") for i in range(BEFORE, BEFORE + AFTER)]
    second.insert(50, malformed_body("RS-BAD-2"))
    valid = {f"RS-{i:03d}" for i in range(BEFORE + AFTER)}
    intake, consumer, queue = run.intake, run.consumer, run.settings.queue
    try:
        yield run.publish(first)
        consumer.startService()
        yield consumer.when_consuming()
        yield run.stall_with_deliveries_in_flight()
        ready, _ = yield threads.deferToThread(node.queue_counts, queue)
        assert ready == len(first) - PASSED - PREFETCH
        assert sum((yield stored_counts(run.db)).values()) == PASSED - 1  # one was malformed

        yield threads.deferToThread(node.stop)
        yield wait_until(lambda: not consumer.consuming and consumer._client is None)
        in_flight = intake.release()
        yield wait_until(lambda: not consumer._in_flight)
        assert sum((yield stored_counts(run.db)).values()) == PASSED - 1 + PREFETCH

        yield threads.deferToThread(node.start)
        yield run.reconnected()
        yield consumer.when_consuming().addTimeout(RESTART_TIMEOUT, reactor)
        yield run.publish(second)

        def settled() -> bool:
            return (
                set(intake.results) == valid | {"RS-BAD-1", "RS-BAD-2"}
                and all(intake.results[e][-1] == DUPLICATE for e in in_flight)
                and not consumer._in_flight
            )

        yield wait_until(settled, timeout=RESTART_TIMEOUT)
        counts = yield stored_counts(run.db)
        assert set(counts) == valid
        assert set(counts.values()) == {1}
        for event_id in valid:
            expected = [ACCEPTED, DUPLICATE] if event_id in in_flight else [ACCEPTED]
            assert intake.results[event_id] == expected, event_id
        assert intake.results["RS-BAD-1"] == intake.results["RS-BAD-2"] == [REJECTED]
        assert consumer.consuming and consumer.connections == 2

        assert (yield broker_counts(node, queue, 0, 0)) == (0, 0)
        dead_queue = run.settings.dead_letter_queue
        assert (yield broker_counts(node, dead_queue, 2, 0)) == (2, 0)
        broker = yield Broker.connect(node.amqp_params)
        dead_ids = []
        for _ in range(2):
            message = yield broker.get(dead_queue)
            headers = message.content.properties["headers"]
            assert "required" in headers[REASON_HEADER]
            assert json.loads(compat.body_bytes(message.content))["business"] == "户籍办理"
            dead_ids.append(headers[EVENT_ID_HEADER])
        yield broker.client.close(within=1)
        assert sorted(dead_ids) == ["RS-BAD-1", "RS-BAD-2"]
        assert run.problems.describe() == []
    finally:
        yield run.finish()


@pytest_twisted.inlineCallbacks
def test_broker_killed_with_deliveries_in_flight_loses_and_doubles_nothing(node, pg_url):
    """The broker process is killed (no connection.close is sent), then started again.

    A killed broker may also have lost acks it had not yet written down, so more events than
    the stalled ones can come back: each comes back as a duplicate, none is stored twice.
    """
    run = Scenario(node, pg_url, passed=60)
    valid = [f"KS-{i:03d}" for i in range(200)]
    intake, consumer = run.intake, run.consumer
    try:
        yield run.publish([event_body(e) for e in valid[:150]])
        consumer.startService()
        yield consumer.when_consuming()
        yield run.stall_with_deliveries_in_flight()

        yield threads.deferToThread(node.kill)
        yield wait_until(lambda: not consumer.consuming and consumer._client is None)
        in_flight = intake.release()
        yield wait_until(lambda: not consumer._in_flight)

        yield threads.deferToThread(node.start)
        yield run.reconnected()
        yield consumer.when_consuming().addTimeout(RESTART_TIMEOUT, reactor)
        yield run.publish([event_body(e) for e in valid[150:]])

        def settled() -> bool:
            return (
                set(intake.results) == set(valid)
                and all(len(intake.results[e]) > 1 for e in in_flight)
                and not consumer._in_flight
            )

        yield wait_until(settled, timeout=RESTART_TIMEOUT)
        counts = yield stored_counts(run.db)
        assert sorted(counts) == valid and set(counts.values()) == {1}
        for event_id in valid:
            first, *again = intake.results[event_id]
            assert first == ACCEPTED and set(again) <= {DUPLICATE}, event_id
        assert (yield broker_counts(node, run.settings.queue, 0, 0)) == (0, 0)
        assert (yield broker_counts(node, run.settings.dead_letter_queue, 0, 0)) == (0, 0)
        assert consumer.consuming
        assert run.problems.describe() == []
    finally:
        yield run.finish()


@pytest_twisted.inlineCallbacks
def test_paused_consumer_stays_paused_across_a_restart_and_resumes_after(node, pg_url):
    """Paused (SMPP down) when the broker restarts: it reconnects but takes no events until
    resumed, then takes them all (backpressure survives the reconnect)."""
    run = Scenario(node, pg_url)
    valid = [f"PS-{i:03d}" for i in range(50)]
    intake, consumer, queue = run.intake, run.consumer, run.settings.queue
    try:
        yield run.publish([event_body(e) for e in valid[:30]])
        consumer.startService()
        yield consumer.when_consuming()
        yield wait_until(lambda: len(intake.results) == 30 and not consumer._in_flight)
        yield consumer.pause()

        yield threads.deferToThread(node.stop)
        yield threads.deferToThread(node.start)
        yield run.reconnected()
        yield run.publish([event_body(e) for e in valid[30:]])
        assert (yield broker_counts(node, queue, 20, 0)) == (20, 0)
        assert not consumer.consuming and len(intake.results) == 30

        yield consumer.resume()
        assert consumer.consuming
        yield wait_until(lambda: len(intake.results) == 50 and not consumer._in_flight)
        counts = yield stored_counts(run.db)
        assert sorted(counts) == valid and set(counts.values()) == {1}
        assert all(intake.results[e] == [ACCEPTED] for e in valid)
        assert (yield broker_counts(node, queue, 0, 0)) == (0, 0)
        assert run.problems.describe() == []
    finally:
        yield run.finish()
