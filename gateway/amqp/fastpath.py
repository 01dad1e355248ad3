"""txamqp 0.8.2's per-frame path without locks, generators and deprecations, and cheap timers.

With prefetch in the hundreds the reactor thread is what limits event intake, and a profile of
the event benchmark (py-spy, GIL holder) put about half of its time in txamqp's machinery for
each frame (three per delivery: method, header, body):

* ``process_frame`` is an ``inlineCallbacks`` generator that asks ``channel()`` for the frame's
  channel; ``channel()`` is another generator that takes a ``DeferredLock`` around a dict lookup
  and ends in ``defer.returnValue``, deprecated in Twisted 24.7, whose wrapper runs the warnings
  machinery on every call (9% of the reactor's time on its own, though the warning is filtered);
* ``queue()`` (once per delivery) is the same shape, and so is ``read_content``;
* every ack goes through ``AMQChannel.invoke``, a generator that looks up a ``nowait`` field
  basic.ack does not have (a ``KeyError`` raised and caught per ack) before finding there is no
  response to wait for;
* with heartbeats on (the daemon's default, 30 s) every frame received cancels and re-creates
  the "heartbeat missed" timer, and every frame sent stops and restarts the heartbeat
  ``LoopingCall`` (a Deferred and a timer each time).

The lock guards code with no ``yield`` inside: it is always free when taken, so every one of
these already completed synchronously. The replacements below do the same steps, in the same
order, without the lock, the generators around lookups, or ``returnValue``; they return the
same (already fired) Deferreds, and write the same bytes. The timers are moved
(``DelayedCall.reset``, ``LoopingCall.reset``) instead of being replaced, to the same deadlines.
``tests/surveys/test_amqp_fastpath.py`` checks this with byte vectors and a ``Clock`` (its
behaviour tests pass against txamqp's originals too), and the consumer tests run on a real
broker with the fast path installed.

Below the dispatch, the bytes themselves: ``dataReceived`` reads frames at an offset into its
buffer instead of cutting each one off the front (one read carries hundreds of frames, and
txamqp copied the rest of the buffer for every one); basic.deliver methods and content headers
whose properties are short strings, octets and timestamps are read with ``struct`` at offsets
into the frame instead of through a ``Codec`` over a ``BytesIO`` (any other frame still goes to
txamqp's decoder); and ``consume_directly`` lets a consumer take its deliveries as calls, made
by the call that completed each one, instead of from a queue through a generator resumed per
delivery. The tests compare these decoders with txamqp's over generated frames, and this
``dataReceived`` with txamqp's over a stream cut at every offset.
"""

from __future__ import annotations

import struct
from time import time
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure
from txamqp import client as tx_client
from txamqp import protocol as tx_protocol
from txamqp.connection import Body, Frame, Header, Method
from txamqp.content import Content
from txamqp.message import Message
from txamqp.queue import TimeoutDeferredQueue

from gateway.amqp import compat

_PATCHED = "_pingjing_fastpath"


def _channel_now(client: Any, id: int) -> Any:
    channel = client.channels.get(id)
    if channel is None:
        channel = client.channelFactory(id, client.outgoing, client)
        client.channels[id] = channel
    return channel


def _queue_now(client: Any, key: str) -> TimeoutDeferredQueue:
    queue = client.queues.get(key)
    if queue is None:
        queue = TimeoutDeferredQueue(clock=client.clock)
        client.queues[key] = queue
    return queue


def _channel(self: Any, id: int) -> defer.Deferred[Any]:
    return defer.succeed(_channel_now(self, id))


def _queue(self: Any, key: str) -> defer.Deferred[Any]:
    return defer.succeed(_queue_now(self, key))


class _Assembly:
    """One content-bearing incoming method (basic.deliver, basic.return) being assembled."""

    __slots__ = ("chunks", "frame", "header", "read")

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.header: Any = None
        self.chunks: list[Any] = []
        self.read = 0


_ASSEMBLY = "_pingjing_assembly"


def _process_frame(self: Any, frame: Frame) -> defer.Deferred[None]:
    """Dispatch each incoming method as soon as its last frame arrives, on this call.

    txamqp put every frame of an incoming method on the channel's queue and the channel on the
    client's ``work`` queue, and a worker generator (``dispatch`` and ``read_content``) took them
    off again, a Deferred per ``get``. Here the method, header and body frames are assembled on
    the channel and the ``Message`` (same method, args and ``Content``) goes to the delegate
    directly, in the same order. Responses to synchronous methods (``*-ok``, ``basic.get-ok``
    with its content) still go to ``channel.responses`` as before; an error in the delegate
    closes the client, as txamqp's worker did.
    """
    try:
        channel = _channel_now(self, frame.channel)
        payload = frame.payload
        kind = payload.type
        if kind == Frame.HEARTBEAT:
            self.last_heartbeat_received = time()
        else:
            assembly = getattr(channel, _ASSEMBLY, None)
            if assembly is not None and kind != Frame.METHOD:
                _assemble(self, channel, assembly, frame)
            elif kind == Frame.METHOD and not payload.method.response:
                channel.queue = channel.incoming
                if payload.method.content:
                    setattr(channel, _ASSEMBLY, _Assembly(frame))
                else:
                    _deliver(self, channel, Message(payload.method, payload.args, None))
            else:
                channel.dispatch(frame, self.work)  # a response: txamqp's own path
        if self.heartbeatInterval > 0 and not self.closed:
            self.reschedule_check_heartbeat()
    except Exception:
        return defer.fail()  # as the generator did: the error is the Deferred's
    return defer.succeed(None)


def _assemble(client: Any, channel: Any, assembly: _Assembly, frame: Frame) -> None:
    payload = frame.payload
    if assembly.header is None:
        if payload.type != Frame.HEADER:
            raise ValueError(f"expected a content header, got frame type {payload.type}")
        if payload.weight:
            raise ValueError("AMQP 0-9-1 content has no child contents (weight 0)")
        assembly.header = payload
    else:
        content = payload.content
        assembly.chunks.append(content)
        assembly.read += len(content)
    header = assembly.header
    if assembly.read < header.size:
        return
    setattr(channel, _ASSEMBLY, None)
    chunks = assembly.chunks
    if not chunks:
        data: Any = ""  # what txamqp's StringIO gave for an empty body
    elif len(chunks) == 1:
        data = chunks[0]
    elif isinstance(chunks[0], bytes):
        data = b"".join(chunks)
    else:
        data = "".join(chunks)
    method = assembly.frame.payload
    content = Content(data, [], header.properties.copy())
    _deliver(client, channel, Message(method.method, method.args, content))


def _deliver(client: Any, channel: Any, message: Message) -> None:
    try:
        client.delegate.dispatch(channel, message)
    except Exception:
        client.close(Failure())  # txamqp's worker: ``d.addErrback(self.close)``


@defer.inlineCallbacks
def _read_content(queue: Any) -> Any:
    frame = yield queue.get()
    header = frame.payload
    children = []
    for _ in range(header.weight):
        children.append((yield _read_content(queue)))
    size = header.size
    read = 0
    chunks: list[Any] = []
    while read < size:
        body = yield queue.get()
        content = body.payload.content
        chunks.append(content)
        read += len(content)
    if not chunks:
        data: Any = ""  # what txamqp's StringIO gave for an empty body
    elif isinstance(chunks[0], bytes):
        data = b"".join(chunks)
    else:
        data = "".join(chunks)
    return Content(data, children, header.properties.copy())


@defer.inlineCallbacks
def _dispatch(self: Any, queue: Any) -> Any:
    frame = yield queue.get()
    channel = _channel_now(self, frame.channel)
    payload = frame.payload
    if payload.method.content:
        content = yield _read_content(queue)
    else:
        content = None
    # Let the caller deal with exceptions thrown here.
    message = Message(payload.method, payload.args, content)
    self.delegate.dispatch(channel, message)


_unpack_frame = tx_protocol.FrameReceiver._unpack_frame
_WIRE = "_pingjing_wire"

_SHORTSTR, _OCTET, _LONGLONG = 0, 1, 2
#: Property types decoded here, as txamqp's Codec decodes them; any other one (a field table)
#: sends the whole header frame to txamqp's decoder.
_SIMPLE_TYPES = {"shortstr": _SHORTSTR, "octet": _OCTET, "longlong": _LONGLONG}
_SIMPLE_TYPES["timestamp"] = _LONGLONG
_UNSUPPORTED = object()

_CLASS_METHOD = struct.Struct("!HH")
_HEADER_START = struct.Struct("!HHQH")  # class id, weight, body size, first property-flags word
_LONGLONG_BIT = struct.Struct("!QB")  # basic.deliver: delivery-tag, then the octet of redelivered
_UNSIGNED_LONGLONG = struct.Struct("!Q")
_FRAME_LENGTH = struct.Struct("!I")


class _Wire:
    """What the frame decoders need from one spec, looked up once."""

    __slots__ = ("body", "classes", "deliver", "deliver_ids", "header", "method", "plans")

    def __init__(self, spec: Any) -> None:
        constants = spec.constants.bypyname
        self.method = constants["frame_method"].id
        self.header = constants["frame_header"].id
        self.body = constants["frame_body"].id
        self.deliver = spec.classes.byname["basic"].methods.byname["deliver"]
        self.deliver_ids = (self.deliver.klass.id, self.deliver.id)
        self.classes = {klass.id: klass for klass in spec.classes}
        #: (class id, property flags) -> ((name, type), ...) of the properties present, or
        #: ``_UNSUPPORTED``: bounded by the 2**15 flag words with the continuation bit clear.
        self.plans: dict[tuple[int, int], Any] = {}

    def plan(self, class_id: int, flags: int) -> Any:
        klass = self.classes.get(class_id)
        if klass is None:
            return _UNSUPPORTED
        plan = []
        # txamqp reads bit 15 down to bit 1 of the word, one per property in spec order, and
        # ignores bits past the last property (``zip``).
        for index, field in enumerate(klass.fields.items[:15]):
            if flags >> (15 - index) & 1:
                kind = _SIMPLE_TYPES.get(field.type)
                if kind is None:
                    return _UNSUPPORTED
                plan.append((str(field.name), kind))
        return tuple(plan)


def _wire(spec: Any) -> _Wire:
    wire = getattr(spec, _WIRE, None)
    if wire is None:
        wire = _Wire(spec)
        setattr(spec, _WIRE, wire)
    return wire


def _text(raw: bytes) -> str | bytes:
    """txamqp's ``dec_str``: text when the bytes are UTF-8, else the bytes."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _decode_deliver(wire: _Wire, data: bytes) -> Method | None:
    """The payload of a basic.deliver method frame, or None: not one, or not well formed."""
    if _CLASS_METHOD.unpack_from(data, 7) != wire.deliver_ids:
        return None
    size = data[11]
    consumer_tag = _text(data[12 : 12 + size])
    pos = 12 + size
    delivery_tag, bits = _LONGLONG_BIT.unpack_from(data, pos)
    size = data[pos + 9]
    pos += 10
    exchange = _text(data[pos : pos + size])
    pos += size
    size = data[pos]
    pos += 1
    routing_key = _text(data[pos : pos + size])
    pos += size
    if pos > len(data) - 1:  # read past the payload: txamqp's decoder says how it fails
        return None
    return Method(wire.deliver, consumer_tag, delivery_tag, bool(bits & 1), exchange, routing_key)


def _decode_header(wire: _Wire, data: bytes) -> Header | None:
    """The payload of a content header frame whose properties are all simple, or None."""
    class_id, weight, size, flags = _HEADER_START.unpack_from(data, 7)
    if flags & 1:  # more flag words follow
        return None
    plan = wire.plans.get((class_id, flags))
    if plan is None:
        plan = wire.plans[(class_id, flags)] = wire.plan(class_id, flags)
    if plan is _UNSUPPORTED:
        return None
    pos = 21
    properties: dict[str, Any] = {}
    for name, kind in plan:
        if kind == _SHORTSTR:
            length = data[pos]
            pos += 1
            properties[name] = _text(data[pos : pos + length])
            pos += length
        elif kind == _OCTET:
            properties[name] = data[pos]
            pos += 1
        else:
            properties[name] = _UNSIGNED_LONGLONG.unpack_from(data, pos)[0]
            pos += 8
    if pos > len(data) - 1:
        return None
    return Header(wire.classes[class_id], weight, size, **properties)


def _unpack_frame_fast(self: Any, data: bytes) -> Frame:
    """Body, basic.deliver and simple content header frames are decoded here, not by a Codec.

    With compat's ``Body.decode`` a body payload is the frame's bytes between the 7-byte frame
    header and the frame-end octet. A basic.deliver method and a header whose properties are
    short strings, octets and timestamps are read with ``struct`` at offsets into the frame,
    giving the same ``Method`` and ``Header`` txamqp's decoder gives. Anything else (another
    method, a header with a field table, an unknown class, a payload that does not parse
    cleanly) goes to txamqp's own decoder, which raises what it raised. A wrong frame end is
    the same ``GarbageException``.
    """
    wire = getattr(self.spec, _WIRE, None)
    if wire is None:
        wire = _wire(self.spec)
    kind = data[0]
    payload: Any = None
    try:
        if kind == wire.body:
            if compat.installed():
                payload = Body(data[7:-1])
        elif kind == wire.method:
            payload = _decode_deliver(wire, data)
        elif kind == wire.header:
            payload = _decode_header(wire, data)
    except (IndexError, struct.error):
        payload = None
    if payload is None:
        return _unpack_frame(self, data)
    end = data[-1]
    if end != self.FRAME_END:
        raise tx_protocol.GarbageException(f"frame error: expected {self.FRAME_END!r}, got {end!r}")
    return Frame(data[1] << 8 | data[2], payload)


_OFFSET = "_pingjing_offset"


def _data_received(self: Any, data: bytes) -> Any:
    """txamqp's ``FrameReceiver.dataReceived`` without copying the rest of the buffer per frame.

    txamqp appended each read to its buffer and cut every frame off the front of it, so a read
    carrying n frames copied the buffer n times. Here the buffer (``_FrameReceiver__buffer``,
    txamqp's own attribute) is only added to, and ``_pingjing_offset`` says where its unread
    part starts; the unread part is cut out once, when the call ends. Both are kept current
    whenever other code runs (decoding a frame, ``frame_received``), so a call made from
    there (``resumeProducing``, ``set_frame_mode``) finds the same bytes txamqp's would, and
    this call goes on after what that one consumed. The rest is txamqp's loop: frame mode,
    pausing, ``frame_received``'s return value, stopping once the transport is disconnecting,
    ``frameLengthExceeded`` and raw mode (with ``b""``, not txamqp's Python 2 ``""``).
    """
    buffer = self._FrameReceiver__buffer
    offset = self._pingjing_offset
    if data:
        if offset:
            buffer = buffer[offset:]
            offset = self._pingjing_offset = 0
        buffer = self._FrameReceiver__buffer = buffer + data if buffer else data
    header_length = self.HEADER_LENGTH
    try:
        while self.frame_mode and not self.paused:
            available = len(buffer) - offset
            if available >= header_length:
                (length,) = _FRAME_LENGTH.unpack_from(buffer, offset + 3)
                stop = offset + header_length + length
                if stop <= len(buffer):
                    packet = buffer[offset:stop]
                    self._pingjing_offset = stop  # consumed, even if it does not decode
                    frame = self._unpack_frame(packet)
                    why = self.frame_received(frame)
                    buffer = self._FrameReceiver__buffer
                    offset = self._pingjing_offset
                    if why or (self.transport and self.transport.disconnecting):
                        return why
                    continue
            if available > self.MAX_LENGTH:
                frame = buffer[offset:]
                self._FrameReceiver__buffer = b""
                self._pingjing_offset = 0
                return self.frameLengthExceeded(frame)
            break
        else:
            if not self.paused:
                rest = buffer[offset:]
                self._FrameReceiver__buffer = b""
                self._pingjing_offset = 0
                if rest:
                    return self.rawDataReceived(rest)
    finally:
        offset = self._pingjing_offset
        if offset:
            self._FrameReceiver__buffer = self._FrameReceiver__buffer[offset:]
            self._pingjing_offset = 0
    return None


def _reschedule_check_heartbeat(self: Any) -> None:
    delay = self.heartbeatInterval * self.MAX_UNSEEN_HEARTBEAT
    check = self.checkHB
    if check.active():
        check.reset(delay)  # a later deadline: O(1), no new timer
    else:
        self.checkHB = self.clock.callLater(delay, self.check_heartbeat)


def _reschedule_send_heartbeat(self: Any) -> None:
    if self.heartbeatInterval <= 0:
        return
    sender = self.sendHB
    if sender.running and sender.call is not None:
        sender.reset()  # next heartbeat one interval from now, as stop() and start() gave
        return
    if sender.running:
        sender.stop()
    sender.start(self.heartbeatInterval, now=False)


_invoke = tx_protocol.AMQChannel.invoke


def _invoke_fast(self: Any, method: Any, args: Any, content: Any = None) -> Any:
    """Methods without content and without a response (basic.ack, basic.reject) are one frame
    written; the rest go through txamqp's own ``invoke``."""
    if method.content or method.responses:
        return _invoke(self, method, args, content)
    if self.closed:
        try:
            self._raise_closed(self.reason)
        except Exception:
            return defer.fail()
    self.outgoing.put(Frame(self.id, Method(method, *args)))
    return defer.succeed(None)


_CONSUMERS = "_pingjing_consumers"
_NO_CONSUMERS: dict[str, Any] = {}


def consume_directly(client: Any, consumer_tag: str, receive: Any) -> None:
    """Hand ``client``'s deliveries for ``consumer_tag`` to ``receive(message)``, synchronously.

    Instead of the queue of ``client.queue(consumer_tag)`` and a reader waiting on it (a
    Deferred and a generator resumed per delivery), ``receive`` is called by the call that
    brings a delivery's last frame, in delivery order. Once the client is closed (when txamqp
    closes its queues, which ends a reader) no further delivery is handed over. Other consumer
    tags keep txamqp's queues.

    The registry is kept on the client's delegate, which handles basic.deliver: ``client`` may
    be the proxy ``ClientService`` hands to ``prepareConnection``, whose attributes are not the
    protocol's.
    """
    delegate = client.delegate
    consumers = delegate.__dict__.get(_CONSUMERS)
    if consumers is None:
        consumers = {}
        setattr(delegate, _CONSUMERS, consumers)
    consumers[consumer_tag] = receive


def _basic_deliver(self: Any, ch: Any, msg: Any) -> defer.Deferred[None]:
    try:
        client = self.client
        tag = msg.consumer_tag
        receive = self.__dict__.get(_CONSUMERS, _NO_CONSUMERS).get(tag)
        if receive is None:
            _queue_now(client, tag).put(msg)
        elif not client.closed:
            receive(msg)
    except Exception:
        return defer.fail()
    return defer.succeed(None)


def install() -> None:
    """Replace the per-frame receive path of txamqp's client (idempotent)."""
    client_class = tx_protocol.AMQClient
    if getattr(client_class, _PATCHED, False):
        return
    client_class.channel = _channel
    client_class.queue = _queue
    client_class.process_frame = _process_frame
    client_class._unpack_frame = _unpack_frame_fast
    client_class.dataReceived = _data_received
    setattr(client_class, _OFFSET, 0)
    client_class.dispatch = _dispatch
    client_class.reschedule_check_heartbeat = _reschedule_check_heartbeat
    client_class.reschedule_send_heartbeat = _reschedule_send_heartbeat
    tx_protocol.AMQChannel.invoke = _invoke_fast
    tx_protocol.read_content = _read_content
    tx_client.TwistedDelegate.basic_deliver = _basic_deliver
    setattr(client_class, _PATCHED, True)


def installed() -> bool:
    return bool(getattr(tx_protocol.AMQClient, _PATCHED, False))
