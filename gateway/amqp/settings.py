"""Settings of the AMQP event consumer, with the defaults issue 4 sets."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AmqpSettings:
    """Where the service events come from and what happens to the ones we cannot accept."""

    enabled: bool = True
    #: A Twisted client endpoint string.
    endpoint: str = "tcp:host=127.0.0.1:port=5672"
    vhost: str = "/"
    user: str = "guest"
    password: str = field(default="guest", repr=False, metadata={"secret": True})
    queue: str = "pingjing.events"
    #: Malformed events are published here with the reason in the ``x-pingjing-reason`` header.
    dead_letter_exchange: str = "pingjing.events.dead"
    #: A durable queue bound to the dead-letter exchange so nothing published there is lost.
    dead_letter_queue: str = "pingjing.events.dead"
    #: Unacked deliveries the broker may send ahead. Events are acked after their batch commits,
    #: so this bounds the batches: at 200 they held ~40 events and intake ran at ~1,400/s; at
    #: 1000 (two batches of up to 500 in flight) ~2,100/s (benchmarks/survey_pipeline.py).
    prefetch: int = 1000
    heartbeat_seconds: int = 30
    reconnect_initial_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    #: After a storage failure the delivery is requeued after this delay, doubling to the max.
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> AmqpSettings:
        problems = []
        if not self.queue:
            problems.append("queue must not be empty")
        if not 1 <= self.prefetch <= 65535:
            problems.append("prefetch must be 1..65535")
        if self.heartbeat_seconds < 0:
            problems.append("heartbeat_seconds must not be negative")
        if not 0 < self.reconnect_initial_seconds <= self.reconnect_max_seconds:
            problems.append("reconnect_initial_seconds must be > 0 and <= reconnect_max_seconds")
        if not 0 < self.retry_initial_seconds <= self.retry_max_seconds:
            problems.append("retry_initial_seconds must be > 0 and <= retry_max_seconds")
        if problems:
            raise ValueError("amqp: " + "; ".join(problems))
        return self
