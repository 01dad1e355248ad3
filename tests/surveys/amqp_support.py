"""A plain txAMQP client for tests: publish to and inspect the queues the consumer uses."""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.protocol import ClientCreator
from txamqp.client import TwistedDelegate
from txamqp.protocol import AMQClient

from gateway.amqp import compat
from gateway.amqp.settings import AmqpSettings


def unique_settings(amqp_params: dict[str, Any], **changes: Any) -> AmqpSettings:
    name = f"pingjing.t.{uuid.uuid4().hex[:10]}"
    values: dict[str, Any] = {
        "endpoint": f"tcp:host={amqp_params['host']}:port={amqp_params['port']}",
        "user": amqp_params["user"],
        "password": amqp_params["password"],
        "vhost": amqp_params["vhost"],
        "queue": name,
        "dead_letter_exchange": name + ".dead",
        "dead_letter_queue": name + ".dead",
        "reconnect_initial_seconds": 0.05,
        "reconnect_max_seconds": 0.5,
        "retry_initial_seconds": 0.02,
        "retry_max_seconds": 0.1,
        "heartbeat_seconds": 0,
    }
    values.update(changes)
    return AmqpSettings(**values)


class Broker:
    """A second connection used by a test as the business system and the inspector."""

    def __init__(self, client: AMQClient, channel: Any) -> None:
        self.client = client
        self.channel = channel
        self._tx_channel: Any = None

    @classmethod
    @defer.inlineCallbacks
    def connect(cls, amqp_params: dict[str, Any]) -> Any:
        compat.install()
        creator = ClientCreator(
            reactor, AMQClient, TwistedDelegate(), amqp_params["vhost"], compat.load_spec()
        )
        client = yield creator.connectTCP(amqp_params["host"], amqp_params["port"])
        yield client.authenticate(amqp_params["user"], amqp_params["password"])
        channel = yield client.channel(1)
        yield channel.channel_open()
        return cls(client, channel)

    @defer.inlineCallbacks
    def declare(self, settings: AmqpSettings) -> Any:
        yield self.channel.queue_declare(queue=settings.queue, durable=True)

    def publish(self, queue: str, body: bytes | str, headers: dict[str, Any] | None = None) -> None:
        self.channel.basic_publish(
            exchange="", routing_key=queue, content=compat.make_content(body, headers=headers)
        )

    @defer.inlineCallbacks
    def publish_committed(self, queue: str, bodies: list[bytes | str]) -> Any:
        """Publish persistent messages in one AMQP transaction, on a channel of its own.

        When this fires the broker has taken every message (and written the persistent ones to
        disk), so a test can restart it without wondering what was still in a socket buffer.
        """
        if self._tx_channel is None:
            channel = yield self.client.channel(2)
            yield channel.channel_open()
            yield channel.tx_select()
            self._tx_channel = channel
        for body in bodies:
            self._tx_channel.basic_publish(
                exchange="", routing_key=queue, content=compat.make_content(body)
            )
        yield self._tx_channel.tx_commit()

    @defer.inlineCallbacks
    def count(self, queue: str) -> Any:
        reply = yield self.channel.queue_declare(queue=queue, passive=True)
        return reply.message_count

    @defer.inlineCallbacks
    def get(self, queue: str) -> Any:
        """One message from ``queue`` (basic.get, acked), or None when empty."""
        reply = yield self.channel.basic_get(queue=queue, no_ack=True)
        if reply.method.name == "get-empty":
            return None
        return reply

    @defer.inlineCallbacks
    def cleanup(self, settings: AmqpSettings) -> Any:
        for queue in (settings.queue, settings.dead_letter_queue):
            yield self.channel.queue_delete(queue=queue)
        yield self.channel.exchange_delete(exchange=settings.dead_letter_exchange)
        yield self.client.close(within=1)


def wait_until(predicate: Any, timeout: float = 10.0, step: float = 0.01) -> defer.Deferred[None]:
    """Poll ``predicate`` on the reactor until true: for real-broker tests only."""
    from twisted.internet.task import deferLater

    @defer.inlineCallbacks
    def loop() -> Any:
        waited = 0.0
        while not predicate():
            if waited > timeout:
                raise AssertionError(f"condition not met within {timeout}s")
            yield deferLater(reactor, step, lambda: None)
            waited += step

    return loop()
