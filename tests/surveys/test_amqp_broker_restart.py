"""The event consumer across a real broker restart: nothing lost, nothing doubled, consuming again.

Issue 4: "the broker restarted mid-stream with nothing lost or doubled". The broker is a private
RabbitMQ node (``tests/surveys/rabbit_node.py``), stopped and started the way an operator does,
so the consumer sees what it sees in production: the broker closing the connection, refused
connections while it is down, then a broker that recovered its durable queue from disk. The
events go through the real intake into PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, reactor, threads
from twisted.logger import LogLevel, globalLogPublisher

from gateway.amqp import compat
from gateway.amqp.consumer import EVENT_ID_HEADER, REASON_HEADER, EventConsumer
from gateway.events.intake import EventIntake
from gateway.events.results import ACCEPTED, DUPLICATE, REJECTED
from gateway.surveys.settings import SurveySettings
from storage import models as m
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

    def __init__(self, intake: EventIntake, passed: int) -> None:
        self._intake = intake
        self._passed = passed
        self.calls = 0
        self.held: list[tuple[bytes, defer.Deferred[Any]]] = []
        self.results: dict[str, list[str]] = {}

    def __call__(self, body: bytes) -> defer.Deferred[Any]:
        self.calls += 1
        if self.calls > self._passed and self._passed >= 0:
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
        self._passed = -1
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
        from twisted.logger import formatEvent

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


@pytest_twisted.inlineCallbacks
def test_broker_restart_with_deliveries_in_flight_stores_every_event_once(node, pg_url):
    """Restart the broker while prefetched deliveries are unacked and the intake is stalled.

    The stalled deliveries are stored while the broker is down (their acks cannot be sent);
    the restarted broker redelivers them and the intake's duplicate path acks them without a
    second row. The consumer reconnects by itself, consumes what was left and what is published
    after the restart; the queue ends empty and only the malformed events are dead-lettered.
    """
    db = make_db(pg_url)
    intake = StallingIntake(EventIntake(db, SurveySettings()), passed=PASSED)
    settings = unique_settings(node.amqp_params, prefetch=PREFETCH)
    problems = LogProblems()
    globalLogPublisher.addObserver(problems)
    consumer = EventConsumer(settings, intake, reactor=reactor)
    broker = None
    first = [event_body(f"RS-{i:03d}") for i in range(BEFORE)]
    first.insert(10, malformed_body("RS-BAD-1"))
    second = [event_body(f"RS-{i:03d}") for i in range(BEFORE, BEFORE + AFTER)]
    second.insert(50, malformed_body("RS-BAD-2"))
    valid = {f"RS-{i:03d}" for i in range(BEFORE + AFTER)}
    try:
        broker = yield Broker.connect(node.amqp_params)
        yield broker.declare(settings)
        yield broker.publish_committed(settings.queue, first)
        yield broker.client.close(within=1)  # the inspector must not hold a dying connection
        broker = None

        consumer.startService()
        yield consumer.when_consuming()
        yield wait_until(lambda: len(intake.held) == PREFETCH)
        yield wait_until(lambda: len(consumer._in_flight) == PREFETCH)  # the rest is settled
        ready, unacked = yield threads.deferToThread(node.queue_counts, settings.queue)
        assert (ready, unacked) == (len(first) - PASSED - PREFETCH, PREFETCH)
        assert sum((yield stored_counts(db)).values()) == PASSED - 1  # one was malformed

        yield threads.deferToThread(node.stop)
        yield wait_until(lambda: not consumer.consuming and consumer._client is None)
        in_flight = intake.release()
        yield wait_until(lambda: not consumer._in_flight)
        assert sum((yield stored_counts(db)).values()) == PASSED - 1 + PREFETCH

        yield threads.deferToThread(node.start)
        yield wait_until(lambda: consumer.connections == 2, timeout=RESTART_TIMEOUT)
        yield consumer.when_consuming().addTimeout(RESTART_TIMEOUT, reactor)
        broker = yield Broker.connect(node.amqp_params)
        yield broker.publish_committed(settings.queue, second)

        def settled() -> bool:
            return (
                set(intake.results) == valid | {"RS-BAD-1", "RS-BAD-2"}
                and all(intake.results[e][-1] == DUPLICATE for e in in_flight)
                and not consumer._in_flight
            )

        yield wait_until(settled, timeout=RESTART_TIMEOUT)
        counts = yield stored_counts(db)
        assert set(counts) == valid
        assert set(counts.values()) == {1}
        for event_id in valid:
            expected = [ACCEPTED, DUPLICATE] if event_id in in_flight else [ACCEPTED]
            assert intake.results[event_id] == expected, event_id
        assert intake.results["RS-BAD-1"] == intake.results["RS-BAD-2"] == [REJECTED]
        assert consumer.consuming and consumer.connections == 2

        queue = yield threads.deferToThread(node.queue_counts, settings.queue)
        dead = yield threads.deferToThread(node.queue_counts, settings.dead_letter_queue)
        assert (queue, dead) == ((0, 0), (2, 0))
        dead_ids = []
        for _ in range(2):
            message = yield broker.get(settings.dead_letter_queue)
            headers = message.content.properties["headers"]
            assert "required" in headers[REASON_HEADER]
            assert json.loads(compat.body_bytes(message.content))["business"] == "户籍办理"
            dead_ids.append(headers[EVENT_ID_HEADER])
        assert sorted(dead_ids) == ["RS-BAD-1", "RS-BAD-2"]
        assert problems.describe() == []
    finally:
        globalLogPublisher.removeObserver(problems)
        yield consumer.stopService()
        if broker is not None and node.running:
            yield broker.cleanup(settings)
        db.stop()
