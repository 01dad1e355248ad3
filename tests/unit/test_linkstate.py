"""Each link to a peer logs once per state change, at warning level, with peer, address and why."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent

from gateway.amqp.consumer import EventConsumer
from gateway.amqp.settings import AmqpSettings
from gateway.events.results import ACCEPTED, IngestResult
from gateway.linkstate import LinkState, endpoint_address
from gateway.smpp.service import SmppService
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import MemorySmsStore
from ivr.ami.api import AmiSettings
from ivr.ami.client import AmiClient
from tests.smpp.scripted_smsc import ScriptedSmsc


def lines(events: list[dict[str, Any]], level: LogLevel = LogLevel.warn) -> list[str]:
    return [formatEvent(e) for e in events if e["log_level"] >= level]


def link_lines(events: list[dict[str, Any]]) -> list[str]:
    """What the links said, at any level (ClientService's own lines are not theirs)."""
    return [
        formatEvent(e)
        for e in events
        if str(e.get("log_namespace", "")).startswith("gateway.linkstate")
    ]


class FlakyEndpoint:
    """Refuses connections while ``down``; otherwise hands over to ``inner``."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.down = True
        self.attempts = 0

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        self.attempts += 1
        if self.down or self.inner is None:
            return defer.fail(ConnectionRefusedError("111: Connection refused"))
        return self.inner.connect(factory)


# --- the state machine itself ----------------------------------------------------------------


def test_repeated_failures_for_the_same_reason_are_logged_once() -> None:
    clock = Clock()
    link = LinkState("smpp-trx", "the SMSC", "10.0.0.5:2775", clock)
    with capturedLogs() as events:
        for _ in range(20):
            link.failed("Connection refused")
            clock.advance(30)
    assert lines(events) == [
        "smpp-trx: cannot reach the SMSC at 10.0.0.5:2775: Connection refused; retrying with "
        "backoff (logged again when this changes)"
    ]


def test_a_new_reason_while_down_is_a_change_worth_a_line() -> None:
    clock = Clock()
    link = LinkState("ami", "Asterisk (AMI)", "pbx:5038", clock)
    with capturedLogs() as events:
        link.failed("Connection refused")
        link.failed("Connection refused")
        link.failed("login as 'pj' refused: Authentication failed")
        link.failed("login as 'pj' refused: Authentication failed")
    assert len(lines(events)) == 2
    assert "now because: login as 'pj' refused" in lines(events)[1]


def test_coming_back_says_after_how_long_and_how_many_attempts() -> None:
    clock = Clock()
    link = LinkState("amqp", "RabbitMQ", "mq:5672", clock)
    link.up()
    with capturedLogs() as events:
        link.lost("connection closed")
        for _ in range(3):
            clock.advance(30)
            link.failed("Connection refused")
        clock.advance(5)
        link.up()
    assert lines(events) == [
        "amqp: lost the link to RabbitMQ at mq:5672: connection closed; reconnecting with backoff",
        "amqp: RabbitMQ at mq:5672 still unreachable, now because: Connection refused; "
        "retrying with backoff",
        "amqp: RabbitMQ at mq:5672 is back after 1m35s (3 failed attempts; last: Connection "
        "refused)",
    ]


def test_the_first_connection_is_info_and_a_loss_while_down_is_silent() -> None:
    link = LinkState("ami", "Asterisk (AMI)", "pbx:5038", Clock())
    with capturedLogs() as events:
        link.up()
        link.lost("closed")
        link.lost("closed again")
    assert [e["log_level"] for e in events] == [LogLevel.info, LogLevel.warn]


def test_addresses_never_carry_secrets() -> None:
    """``host:port`` of an endpoint string; anything else redacted."""
    assert endpoint_address("tcp:host=mq.example:port=5672") == "mq.example:5672"
    assert endpoint_address("tls:mq:5671:password=x") == "mq:5671"
    assert endpoint_address("amqp://u:pw@mq:5672/") == "amqp://u:********@mq:5672/"


# --- the three links --------------------------------------------------------------------------

SMPP = SmppSettings(
    system_id="pingjing",
    password="secret",
    host="10.0.0.5",
    port=2775,
    bind_mode="transceiver",
    reconnect_initial=1,
    reconnect_max=60,
)


def test_smpp_down_for_ten_minutes_then_back_logs_three_lines() -> None:
    """SMSC refusing for 10 minutes (many retries): one warning; back: one; dropped: one."""
    clock = Clock()
    smsc = ScriptedSmsc(clock)
    endpoint = FlakyEndpoint(smsc.endpoint())
    service = SmppService(SMPP, MemorySmsStore(), clock=clock, endpoint_factory=lambda: endpoint)
    with capturedLogs() as events:
        service.startService()
        for _ in range(600):
            clock.advance(1)
        assert endpoint.attempts > 5
        endpoint.down = False
        for _ in range(120):
            clock.advance(1)
        assert service.available
        smsc.drop()
        clock.advance(0.1)
    said = lines(events)
    assert "Scheduling retry" not in " ".join(said)
    assert len(said) == 3, said
    assert said[0].startswith("smpp-trx: cannot reach the SMSC at 10.0.0.5:2775: ")
    assert "Connection refused" in said[0]
    assert said[1].startswith("smpp-trx: the SMSC at 10.0.0.5:2775 is back after 10m")
    assert said[2].startswith("smpp-trx: lost the link to the SMSC at 10.0.0.5:2775")
    service.stopService()


def test_smpp_bind_refused_on_every_retry_is_one_line_naming_the_status() -> None:
    clock = Clock()
    smsc = ScriptedSmsc(clock, password="other")
    service = SmppService(SMPP, MemorySmsStore(), clock=clock, endpoint_factory=smsc.endpoint)
    with capturedLogs() as events:
        service.startService()
        for _ in range(300):
            clock.advance(1)
    assert smsc.connections > 3
    [said] = lines(events)
    assert "bind refused: ESME_RINVPASWD (system_id 'pingjing')" in said
    assert "secret" not in said
    service.stopService()


def test_ami_unreachable_is_one_warning_over_many_retries() -> None:
    clock = Clock()
    endpoint = FlakyEndpoint()
    client = AmiClient(AmiSettings(host="pbx.local", port=5038), clock, endpoint=endpoint)
    with capturedLogs() as events:
        client.startService()
        for _ in range(600):
            clock.advance(1)
    assert endpoint.attempts > 5
    assert link_lines(events) == [
        "ami: cannot reach Asterisk (AMI) at pbx.local:5038: Connection was refused by other "
        "side: 111: Connection refused; retrying with backoff (logged again when this changes)"
    ]
    assert not [line for line in lines(events) if line not in link_lines(events)]
    client.stopService()


def consumer(endpoint: Any, clock: Clock) -> EventConsumer:
    settings = AmqpSettings(endpoint="tcp:host=mq.local:port=5672")
    return EventConsumer(
        settings,
        lambda body: defer.succeed(IngestResult("E-1", ACCEPTED)),
        reactor=clock,
        endpoint=endpoint,
    )


def test_amqp_unreachable_is_one_warning_over_many_retries() -> None:
    clock = Clock()
    endpoint = FlakyEndpoint()
    amqp = consumer(endpoint, clock)
    with capturedLogs() as events:
        amqp.startService()
        for _ in range(600):
            clock.advance(1)
    assert endpoint.attempts > 5
    [said] = lines(events)
    assert said.startswith("amqp: cannot reach RabbitMQ at mq.local:5672: ")


class _Channel:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: defer.succeed(None)


class _Client:
    """Enough of txamqp's AMQClient for the consumer to set a connection up."""

    def __init__(self) -> None:
        self.disconnected = type("W", (), {"wait": staticmethod(defer.Deferred)})()
        self.consumed = False

    def authenticate(self, user: str, password: str) -> defer.Deferred[None]:
        return defer.succeed(None)

    def channel(self, number: int) -> defer.Deferred[_Channel]:
        return defer.succeed(_Channel())


def test_amqp_pause_and_resume_are_logged_as_such() -> None:
    """Paused because the SMPP link is down: said so; resumed: said so."""
    amqp = consumer(FlakyEndpoint(), Clock())
    with capturedLogs() as events:
        amqp.set_available(False)
        amqp.set_available(False)
        amqp.set_available(True)
    assert lines(events) == [
        "amqp: consumption of pingjing.events paused: the SMPP link to the SMSC is unavailable; "
        "events wait in the queue",
        "amqp: consumption of pingjing.events resumed (was paused: the SMPP link to the SMSC is "
        "unavailable)",
    ]


def test_amqp_connecting_while_paused_does_not_claim_to_consume() -> None:
    """A (re)connection during a pause says consumption stays paused, and does not consume."""
    amqp = consumer(FlakyEndpoint(), Clock())
    amqp.set_available(False)
    with capturedLogs() as events:
        amqp._prepare(_Client())  # type: ignore[arg-type]
    text = [formatEvent(e) for e in events]
    assert not [t for t in text if "consuming" in t]
    assert (
        "amqp: connected; consumption of pingjing.events stays paused: the SMPP link to the "
        "SMSC is unavailable" in text
    )
    assert not amqp.consuming
