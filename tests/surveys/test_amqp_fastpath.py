"""txamqp's receive path without per-frame locks and generators: same frames in, same messages out.

Byte vectors made with txamqp's own frame encoder are fed to a client on a StringTransport, in
one piece and split at every byte; the consumer tests run the same code on a real broker.
"""

from __future__ import annotations

import functools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from txamqp import protocol as tx_protocol
from txamqp.client import TwistedDelegate
from txamqp.connection import Body, Frame, Header, Heartbeat, Method
from txamqp.protocol import AMQClient, GarbageException

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


# --- frame decoders: the same objects as txamqp's own decoder ---------------------------------

SPEC = compat.load_spec()
BASIC = SPEC.classes.byname["basic"]
DELIVER = BASIC.methods.byname["deliver"]
FRAME_END = bytes([SPEC.constants.bypyname["frame_end"].id])
WIRE = fastpath._wire(SPEC)

shortstrs = st.one_of(
    st.binary(max_size=255),  # any bytes, non-UTF-8 included
    st.text(max_size=40).map(lambda s: s.encode()[:255]),
    st.sampled_from([b"", b"\xff", "城关派出所".encode(), b"x" * 255]),
)
longlongs = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**63, 2**64 - 1]))


def shortstr(raw: bytes) -> bytes:
    return bytes([len(raw)]) + raw


def raw_frame(kind: int, channel: int, payload: bytes, end: bytes = FRAME_END) -> bytes:
    return struct.pack("!BHI", kind, channel, len(payload)) + payload + end


def deliver_frame(tag: bytes, delivery_tag: int, bits: int, exchange: bytes, key: bytes) -> bytes:
    payload = struct.pack("!HH", BASIC.id, DELIVER.id) + shortstr(tag)
    payload += struct.pack("!QB", delivery_tag, bits) + shortstr(exchange) + shortstr(key)
    return raw_frame(WIRE.method, CHANNEL, payload)


def header_frame(weight: int, size: int, properties: dict[str, bytes | int], extra=b"") -> bytes:
    """A content header of class basic, its properties encoded by hand (bytes as shortstr)."""
    flags = 0
    encoded = b""
    for index, field in enumerate(BASIC.fields.items):
        if field.name not in properties:
            continue
        flags |= 1 << (15 - index)
        value = properties[field.name]
        if field.type == "shortstr":
            encoded += shortstr(value)
        elif field.type == "octet":
            encoded += bytes([value])
        else:
            encoded += struct.pack("!Q", value)
    payload = struct.pack("!HHQH", BASIC.id, weight, size, flags) + encoded + extra
    return raw_frame(WIRE.header, CHANNEL, payload)


def typed(value):
    """A value with its type, so ``"a" == b"a"``-like near misses and bool/int differ."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [typed(v) for v in value]
    return (type(value), value)


def described(frame: Frame) -> tuple:
    payload = frame.payload
    if payload.type == Frame.METHOD:
        return (frame.channel, payload.type, payload.method, typed(payload.args))
    if payload.type == Frame.HEADER:
        return (
            frame.channel,
            payload.type,
            payload.klass,
            typed((payload.weight, payload.size)),
            typed(payload.properties),
        )
    if payload.type == Frame.BODY:
        return (frame.channel, payload.type, typed(payload.content))
    return (frame.channel, payload.type)


def both_ways(data: bytes) -> tuple[Frame, Frame]:
    client = connected()
    return client._unpack_frame(data), fastpath._unpack_frame(client, data)


@given(shortstrs, longlongs, st.integers(0, 255), shortstrs, shortstrs)
def test_a_deliver_frame_decodes_as_txamqp_decodes_it(tag, delivery_tag, bits, exchange, key):
    """Short strings come out as text when UTF-8, else bytes; the redelivered bit as a bool
    from the octet's lowest bit, whatever the other bits say."""
    data = deliver_frame(tag, delivery_tag, bits, exchange, key)
    assert fastpath._decode_deliver(WIRE, data) is not None  # the fast path, not the fallback
    fast, slow = both_ways(data)
    assert described(fast) == described(slow)
    assert fast.payload.method is DELIVER


simple_properties = st.fixed_dictionaries(
    {},
    optional={
        field.name: {"shortstr": shortstrs, "octet": st.integers(0, 255)}.get(field.type, longlongs)
        for field in BASIC.fields.items
        if field.type != "table"
    },
)


@given(st.integers(0, 2**16 - 1), longlongs, simple_properties, st.binary(max_size=3))
def test_a_simple_header_frame_decodes_as_txamqp_decodes_it(weight, size, properties, extra):
    """Any set of short-string, octet and timestamp properties, and bytes past them (which
    txamqp ignores)."""
    data = header_frame(weight, size, properties, extra)
    assert fastpath._decode_header(WIRE, data) is not None
    fast, slow = both_ways(data)
    assert described(fast) == described(slow)
    assert fast.payload.klass is BASIC


def test_a_header_as_the_client_writes_it_decodes_as_txamqp_decodes_it():
    client = connected()
    properties = {"content-type": "application/json", "delivery-mode": 2, "timestamp": 2**40}
    data = packed(client, Header(BASIC, 0, 17, **properties))
    assert fastpath._decode_header(WIRE, data) is not None
    fast, slow = both_ways(data)
    assert described(fast) == described(slow)
    assert fast.payload.properties == properties


def test_a_header_with_a_headers_table_takes_txamqps_decoder():
    client = connected()
    data = packed(client, Header(BASIC, 0, 3, headers={"单位": "城关派出所"}, priority=1))
    assert fastpath._decode_header(WIRE, data) is None
    fast, slow = both_ways(data)
    assert described(fast) == described(slow)
    assert fast.payload.properties == {"headers": {"单位": "城关派出所"}, "priority": 1}


def test_a_header_with_a_second_flag_word_takes_txamqps_decoder():
    payload = struct.pack("!HHQHH", BASIC.id, 0, 0, 0x0001, 0) + b"\x00"
    data = raw_frame(WIRE.header, CHANNEL, payload)
    assert fastpath._decode_header(WIRE, data) is None
    fast, slow = both_ways(data)
    assert described(fast) == described(slow)


def test_a_header_of_an_unknown_class_fails_as_in_txamqp():
    data = raw_frame(WIRE.header, CHANNEL, struct.pack("!HHQH", 999, 0, 0, 0))
    assert fastpath._decode_header(WIRE, data) is None
    with pytest.raises(KeyError):
        connected()._unpack_frame(data)


@pytest.mark.parametrize(
    "method, args",
    [
        ("ack", (7, True)),
        ("cancel-ok", ("pingjing-1",)),
        ("get-ok", (3, False, "", "pingjing.events", 0)),
    ],
)
def test_other_methods_take_txamqps_decoder(method, args):
    client = connected()
    data = packed(client, Method(BASIC.methods.byname[method], *args))
    assert fastpath._decode_deliver(WIRE, data) is None
    fast, slow = both_ways(data)
    assert described(fast) == described(slow)


def failure_of(unpack, data):
    try:
        unpack(data)
    except Exception as e:
        return type(e), str(e)
    raise AssertionError("no error")


@pytest.mark.parametrize(
    "data",
    [
        deliver_frame(b"pingjing-1", 5, 0, b"", b"pingjing.events")[:-1] + b"\x00",
        header_frame(0, 3, {"delivery-mode": 2})[:-1] + b"\xcd",
        raw_frame(3, CHANNEL, b"abc", end=b"\x00"),
    ],
    ids=["deliver", "header", "body"],
)
def test_a_wrong_frame_end_is_the_same_garbage_error(data):
    client = connected()
    fast = failure_of(client._unpack_frame, data)
    assert fast == failure_of(lambda d: fastpath._unpack_frame(client, d), data)
    assert fast[0] is GarbageException


def outcome(unpack, data):
    try:
        return described(unpack(data))
    except Exception as e:
        return type(e), str(e)


@pytest.mark.parametrize("cut", range(1, 30))
@pytest.mark.parametrize(
    "frame",
    [
        deliver_frame(b"pingjing-1", 5, 1, b"ex", b"pingjing.events"),
        header_frame(0, 3, {"content-type": b"text/plain", "timestamp": 9}),
    ],
    ids=["deliver", "header"],
)
def test_a_payload_cut_short_gives_what_txamqps_decoder_gives(frame, cut):
    """The frame's size says fewer bytes than the method or header needs: txamqp's error, or
    (a short read at the end of a string) its truncated value."""
    payload = frame[7:-1]
    if cut >= len(payload):
        return
    data = raw_frame(frame[0], CHANNEL, payload[:-cut])
    client = connected()
    assert outcome(client._unpack_frame, data) == outcome(
        functools.partial(fastpath._unpack_frame, client), data
    )


# --- dataReceived: the same frames out however the stream is cut -------------------------------

ORIGINAL_DATA_RECEIVED = tx_protocol.FrameReceiver.dataReceived
IMPLEMENTATIONS = pytest.mark.parametrize(
    "data_received",
    [fastpath._data_received, ORIGINAL_DATA_RECEIVED],
    ids=["fastpath", "txamqp"],
)


class Recorder(AMQClient):
    """Records the frames it receives; ``on_frame(n)`` may act after the n-th (1-based)."""

    def __init__(self, data_received) -> None:
        super().__init__(TwistedDelegate(), "/", SPEC, heartbeat=0, clock=Clock())
        self._data_received = data_received
        self.frames: list[tuple] = []
        self.raw: list[bytes] = []
        self.exceeded: list[bytes] = []
        self.on_frame = lambda n: None

    def dataReceived(self, data):
        return self._data_received(self, data)

    def frame_received(self, frame):
        self.frames.append(described(frame))
        return self.on_frame(len(self.frames))

    def rawDataReceived(self, data):
        self.raw.append(data)

    def frameLengthExceeded(self, data):
        self.exceeded.append(data)
        return "exceeded"


def recorder(data_received) -> Recorder:
    client = Recorder(data_received)
    client.makeConnection(StringTransport())
    return client


def stream() -> tuple[bytes, list[tuple]]:
    """Three deliveries (one with a headers table, one of two body frames, one empty), a
    heartbeat and a method without content, and the frames they are, one by one."""
    client = connected()
    data = delivery(client, 1, [b'{"event_id": "E-1"}'], **{"delivery-mode": 2})
    data += delivery(client, 2, ["户籍".encode(), b"x" * 300], headers={"来源": "接处警系统"})
    data += client._pack_frame(Frame(0, Heartbeat()))
    data += delivery(client, 3, [])
    data += packed(client, Method(BASIC.methods.byname["cancel-ok"], "pingjing-1"))
    frames = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("!I", data, pos + 3)
        frames.append(described(fastpath._unpack_frame(client, data[pos : pos + 8 + length])))
        pos += 8 + length
    return data, frames


STREAM, STREAM_FRAMES = stream()


@IMPLEMENTATIONS
def test_one_chunk_gives_every_frame_in_order(data_received):
    client = recorder(data_received)
    assert client.dataReceived(STREAM) is None
    assert client.frames == STREAM_FRAMES
    assert client._FrameReceiver__buffer == b""


@IMPLEMENTATIONS
def test_two_chunks_split_anywhere_give_the_same_frames(data_received):
    for split in range(len(STREAM) + 1):
        client = recorder(data_received)
        client.dataReceived(STREAM[:split])
        client.dataReceived(STREAM[split:])
        assert client.frames == STREAM_FRAMES, split


@IMPLEMENTATIONS
def test_one_byte_at_a_time_gives_the_same_frames_and_keeps_only_the_unread_part(data_received):
    client = recorder(data_received)
    frame_ends = []
    for i in range(len(STREAM)):
        client.dataReceived(STREAM[i : i + 1])
        if client._FrameReceiver__buffer == b"":
            frame_ends.append(i + 1)
    assert client.frames == STREAM_FRAMES
    assert len(frame_ends) == len(STREAM_FRAMES)


@IMPLEMENTATIONS
def test_a_true_return_from_frame_received_stops_and_keeps_the_rest(data_received):
    client = recorder(data_received)
    client.on_frame = lambda n: "stop" if n == 2 else None
    assert client.dataReceived(STREAM) == "stop"
    assert client.frames == STREAM_FRAMES[:2]
    client.on_frame = lambda n: None
    assert client.dataReceived(b"") is None
    assert client.frames == STREAM_FRAMES


@IMPLEMENTATIONS
def test_a_disconnecting_transport_stops_the_loop(data_received):
    client = recorder(data_received)

    def lose(n):
        if n == 3:
            client.transport.loseConnection()

    client.on_frame = lose
    assert client.dataReceived(STREAM) is None
    assert client.frames == STREAM_FRAMES[:3]


@IMPLEMENTATIONS
def test_paused_stops_and_resume_delivers_the_rest(data_received):
    client = recorder(data_received)
    client.on_frame = lambda n: client.pauseProducing() if n == 4 else None
    client.dataReceived(STREAM[:-5])
    assert client.frames == STREAM_FRAMES[:4]
    client.dataReceived(STREAM[-5:])  # kept while paused
    assert client.frames == STREAM_FRAMES[:4]
    client.resumeProducing()
    assert client.frames == STREAM_FRAMES


@IMPLEMENTATIONS
def test_resuming_from_inside_frame_received_delivers_each_frame_once(data_received):
    """``resumeProducing`` calls ``dataReceived(b"")`` from within the loop: the inner call
    reads the frames after the current one, and the outer call goes on after them."""
    client = recorder(data_received)

    def pause_and_resume(n):
        if n == 2:
            client.pauseProducing()
            client.resumeProducing()

    client.on_frame = pause_and_resume
    client.dataReceived(STREAM)
    assert client.frames == STREAM_FRAMES


@IMPLEMENTATIONS
def test_raw_mode_hands_the_rest_over_as_bytes(data_received):
    client = recorder(data_received)
    client.on_frame = lambda n: client.set_raw_mode() if n == 3 else None
    client.dataReceived(STREAM)
    assert client.frames == STREAM_FRAMES[:3]
    consumed = sum(
        8 + struct.unpack_from("!I", STREAM, pos + 3)[0] for pos in frame_starts(STREAM)[:3]
    )
    assert client.raw == [STREAM[consumed:]]


def frame_starts(data: bytes) -> list[int]:
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        pos += 8 + struct.unpack_from("!I", data, pos + 3)[0]
    return starts


@IMPLEMENTATIONS
def test_an_incomplete_frame_beyond_max_length_is_frame_length_exceeded(data_received):
    client = recorder(data_received)
    client.MAX_LENGTH = 100
    big = packed(connected(), Body(b"x" * 200))
    data = STREAM[: frame_starts(STREAM)[2]] + big[:150]
    assert client.dataReceived(data) == "exceeded"
    assert client.frames == STREAM_FRAMES[:2]
    assert client.exceeded == [big[:150]]


def test_a_frame_that_does_not_decode_is_consumed_before_the_error():
    """As in txamqp: the bad frame is gone from the buffer, the frames after it are kept."""
    client = recorder(fastpath._data_received)
    bad = deliver_frame(b"pingjing-1", 5, 0, b"", b"k")[:-1] + b"\x00"
    with pytest.raises(GarbageException):
        client.dataReceived(bad + STREAM)
    assert client._FrameReceiver__buffer == STREAM
    client.dataReceived(b"")
    assert client.frames == STREAM_FRAMES


def test_the_installed_client_reads_with_the_offset_loop():
    assert AMQClient.dataReceived is fastpath._data_received


# --- deliveries handed to a consumer directly -------------------------------------------------


def test_a_direct_consumer_gets_its_deliveries_on_the_call_that_completes_them():
    client = connected()
    got: list = []
    fastpath.consume_directly(client, TAG, got.append)
    data = delivery(client, 1, [b"a"]) + delivery(client, 2, [b"b"], headers={"k": "v"})
    client.dataReceived(data[:-3])
    assert [m.delivery_tag for m in got] == [1]
    client.dataReceived(data[-3:])
    assert [(m.delivery_tag, m.content.body) for m in got] == [(1, b"a"), (2, b"b")]
    assert got[1].content.properties == {"headers": {"k": "v"}}
    assert client.queues == {}  # no queue in between


def test_other_consumer_tags_keep_txamqps_queue():
    client = connected()
    got: list = []
    fastpath.consume_directly(client, "someone-else", got.append)
    client.dataReceived(delivery(client, 1, [b"a"]))
    assert got == []
    [message] = received(client, 1)
    assert message.content.body == b"a"


def test_a_closed_client_hands_nothing_over_as_its_closed_queues_did():
    client = connected()
    got: list = []
    fastpath.consume_directly(client, TAG, got.append)
    data = delivery(client, 1, [b"a"])
    client.dataReceived(data[:-3])
    client.close()
    client.dataReceived(data[-3:])
    assert got == []


def test_registering_through_a_proxy_reaches_the_protocol():
    """``ClientService`` hands ``prepareConnection`` a proxy whose attributes are its own."""

    class Proxy:
        def __init__(self, protocol):
            self._protocol = protocol

        def __getattr__(self, name):
            return getattr(self._protocol, name)

    client = connected()
    got: list = []
    fastpath.consume_directly(Proxy(client), TAG, got.append)
    client.dataReceived(delivery(client, 1, [b"a"]))
    assert [m.delivery_tag for m in got] == [1]


def test_an_error_in_a_direct_consumer_does_not_close_the_connection():
    """As with the queue's reader: its error is its own (the delegate's Deferred), the client
    goes on."""
    client = connected()

    def broken(message):
        raise RuntimeError("consumer bug")

    fastpath.consume_directly(client, TAG, broken)
    client.dataReceived(delivery(client, 1, [b"a"]))
    assert not client.closed
