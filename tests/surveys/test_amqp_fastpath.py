"""txamqp's receive path without per-frame locks and generators: same frames in, same messages out.

Byte vectors made with txamqp's own frame encoder are fed to a client on a StringTransport, in
one piece and split at every byte; the consumer tests run the same code on a real broker.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from txamqp.client import TwistedDelegate
from txamqp.connection import Body, Frame, Header, Heartbeat, Method
from txamqp.protocol import AMQClient

from gateway.amqp import compat, fastpath

compat.install()
fastpath.install()

CHANNEL = 1
TAG = "pingjing-1"
check = SynchronousTestCase()


def connected() -> AMQClient:
    client = AMQClient(TwistedDelegate(), "/", compat.load_spec(), heartbeat=0, clock=Clock())
    client.makeConnection(StringTransport())
    return client


def packed(client: AMQClient, payload) -> bytes:
    return client._pack_frame(Frame(CHANNEL, payload))


def delivery(client: AMQClient, delivery_tag: int, chunks: list[bytes], **properties) -> bytes:
    basic = client.spec.classes.byname["basic"]
    deliver = basic.methods.byname["deliver"]
    size = sum(len(c) for c in chunks)
    data = packed(client, Method(deliver, TAG, delivery_tag, False, "", "pingjing.events"))
    data += packed(client, Header(basic, 0, size, **properties))
    for chunk in chunks:
        data += packed(client, Body(chunk))
    return data


def received(client: AMQClient, n: int) -> list:
    queue = check.successResultOf(client.queue(TAG))
    return [check.successResultOf(queue.get()) for _ in range(n)]


def test_installed_once():
    assert fastpath.installed()
    fastpath.install()
    assert AMQClient.process_frame is fastpath._process_frame


@pytest.mark.parametrize("split", [None, 1, 7])
def test_deliveries_arrive_whole_in_order_however_the_bytes_are_split(split):
    """Two deliveries (one of them a body in two frames, with Chinese headers) come out as two
    messages with their tags, bodies and properties, whether the bytes arrive at once, one at
    a time or in 7-byte pieces."""
    client = connected()
    first = "户籍办理".encode()
    data = delivery(client, 1, [first], headers={"单位": "城关派出所"}, **{"delivery-mode": 2})
    data += delivery(client, 2, [b'{"event_id": ', b'"E-2"}'])
    if split is None:
        client.dataReceived(data)
    else:
        for i in range(0, len(data), split):
            client.dataReceived(data[i : i + split])

    one, two = received(client, 2)
    assert (one.delivery_tag, one.consumer_tag, one.routing_key) == (1, TAG, "pingjing.events")
    assert one.content.body == first
    assert one.content.properties["headers"] == {"单位": "城关派出所"}
    assert one.content.properties["delivery-mode"] == 2
    assert (two.delivery_tag, two.content.body) == (2, b'{"event_id": "E-2"}')


def test_empty_body_is_empty_text_as_txamqp_gave_it():
    client = connected()
    client.dataReceived(delivery(client, 1, []))
    [message] = received(client, 1)
    assert message.content.body == ""
    assert compat.body_bytes(message.content) == b""


def test_channel_and_queue_are_created_once_and_returned_at_once():
    client = connected()
    channel = check.successResultOf(client.channel(3))
    assert check.successResultOf(client.channel(3)) is channel is client.channels[3]
    queue = check.successResultOf(client.queue("q"))
    assert check.successResultOf(client.queue("q")) is queue is client.queues["q"]


def test_heartbeat_frame_is_noted_not_dispatched():
    client = connected()
    client.dataReceived(client._pack_frame(Frame(0, Heartbeat())))
    assert client.last_heartbeat_received > 0
    assert client.queues == {}


def test_error_while_processing_a_frame_is_the_returned_deferred_not_raised():
    """As with txamqp's generator: the failure goes to the Deferred, the connection stays."""
    client = connected()
    frame = Frame(CHANNEL, object())  # a payload without a type
    failure = check.failureResultOf(client.process_frame(frame), AttributeError)
    assert failure.check(AttributeError)
    assert not client.transport.disconnecting


def test_ack_writes_one_frame_with_the_same_bytes_and_fires_at_once():
    client = connected()
    channel = check.successResultOf(client.channel(CHANNEL))
    ack = client.spec.classes.byname["basic"].methods.byname["ack"]
    client.transport.clear()
    check.successResultOf(channel.basic_ack(delivery_tag=7, multiple=False))
    check.successResultOf(channel.basic_reject(delivery_tag=8, requeue=True))
    reject = client.spec.classes.byname["basic"].methods.byname["reject"]
    assert client.transport.value() == packed(client, Method(ack, 7, False)) + packed(
        client, Method(reject, 8, True)
    )


def test_ack_on_a_closed_channel_fails_with_closed():
    from txamqp.client import Closed

    client = connected()
    channel = check.successResultOf(client.channel(CHANNEL))
    channel.close(Exception("gone"))
    check.failureResultOf(channel.basic_ack(delivery_tag=1), Closed)


def heartbeating(interval: float = 10) -> tuple[AMQClient, Clock]:
    clock = Clock()
    client = AMQClient(TwistedDelegate(), "/", compat.load_spec(), heartbeat=interval, clock=clock)
    client.makeConnection(StringTransport())
    client.started.fire()
    return client, clock


def test_missed_heartbeats_are_counted_from_the_last_frame_received():
    """Three intervals without a frame abort the connection; each frame restarts the count."""
    client, clock = heartbeating(10)
    clock.advance(25)
    client.dataReceived(client._pack_frame(Frame(0, Heartbeat())))
    clock.advance(29)
    assert not client.transport.disconnecting
    clock.advance(1)
    assert client.transport.disconnecting


def test_a_heartbeat_is_sent_one_interval_after_the_last_frame_sent():
    client, clock = heartbeating(10)
    channel = check.successResultOf(client.channel(CHANNEL))
    heartbeat = client._pack_frame(Frame(0, Heartbeat()))
    clock.advance(6)
    client.transport.clear()
    channel.basic_ack(delivery_tag=1)
    clock.advance(9)
    assert heartbeat not in client.transport.value()
    clock.advance(1)
    assert client.transport.value().endswith(heartbeat)
    client.transport.clear()
    clock.advance(10)
    assert client.transport.value() == heartbeat


def test_a_delivery_is_dispatched_by_the_call_that_brings_its_last_frame():
    """No work queue in between: the message is on the consumer's queue before the call returns,
    and a delivery interleaved on another channel does not disturb one being assembled."""
    client = connected()
    basic = client.spec.classes.byname["basic"]
    deliver = basic.methods.byname["deliver"]
    queue = check.successResultOf(client.queue(TAG))
    other = Frame(2, Method(deliver, TAG, 1, False, "", "pingjing.events"))
    client.dataReceived(packed(client, Method(deliver, TAG, 5, False, "", "pingjing.events")))
    client.dataReceived(packed(client, Header(basic, 0, 4)))
    client.dataReceived(client._pack_frame(other))
    client.dataReceived(client._pack_frame(Frame(2, Header(basic, 0, 1))))
    client.dataReceived(client._pack_frame(Frame(2, Body(b"x"))))
    assert [m.delivery_tag for m in queue.pending] == [1]
    client.dataReceived(packed(client, Body(b"ab")))
    assert len(queue.pending) == 1
    client.dataReceived(packed(client, Body(b"cd")))
    assert [(m.delivery_tag, m.content.body) for m in queue.pending] == [(1, b"x"), (5, b"abcd")]


def test_a_method_without_content_reaches_the_delegate_at_once():
    """channel.close from the broker closes the channel and answers close-ok, as before."""
    client = connected()
    channel = check.successResultOf(client.channel(CHANNEL))
    close = client.spec.classes.byname["channel"].methods.byname["close"]
    close_ok = client.spec.classes.byname["channel"].methods.byname["close-ok"]
    client.transport.clear()
    client.dataReceived(packed(client, Method(close, 404, "NOT_FOUND", 60, 20)))
    assert channel.closed
    assert client.transport.value() == packed(client, Method(close_ok))


def test_an_error_in_the_delegate_closes_the_client_as_txamqps_worker_did():
    client = connected()
    channel = check.successResultOf(client.channel(CHANNEL))

    def broken(channel, message):
        raise RuntimeError("delegate bug")

    client.delegate.basic_deliver = broken
    client.delegate.handlers.clear()
    client.dataReceived(delivery(client, 1, [b"x"]))
    assert client.closed
    assert channel.closed


@pytest.mark.parametrize("content", [b"", "户籍办理".encode(), bytes(range(256))])
def test_a_body_frame_unpacks_as_txamqps_decoder_unpacks_it(content):
    client = connected()
    data = client._pack_frame(Frame(513, Body(content)))
    fast = client._unpack_frame(data)
    slow = fastpath._unpack_frame(client, data)
    assert (fast.channel, fast.payload.type, fast.payload.content) == (513, Frame.BODY, content)
    assert (slow.channel, slow.payload.type, slow.payload.content) == (513, Frame.BODY, content)


def test_a_body_frame_with_a_wrong_frame_end_is_garbage():
    from txamqp.protocol import GarbageException

    client = connected()
    data = client._pack_frame(Frame(CHANNEL, Body(b"x")))
    with pytest.raises(GarbageException):
        client._unpack_frame(data[:-1] + b"\x00")
