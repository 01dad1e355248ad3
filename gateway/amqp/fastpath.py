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
"""

from __future__ import annotations

from time import time
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure
from txamqp import client as tx_client
from txamqp import protocol as tx_protocol
from txamqp.connection import Body, Frame, Method
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
_BODY_TYPE = "_pingjing_body_frame_type"


def _unpack_frame_fast(self: Any, data: bytes) -> Frame:
    """A body frame (one in three of a delivery) is sliced, not read through a Codec.

    With compat's ``Body.decode`` a body payload is the frame's bytes between the 7-byte frame
    header and the frame-end octet: the same ``Body`` comes out, and a wrong frame end is the
    same ``GarbageException``. Method, header and heartbeat frames take txamqp's own decoder.
    """
    spec = self.spec
    body_type = getattr(spec, _BODY_TYPE, None)
    if body_type is None:
        body_type = spec.constants.bypyname["frame_body"].id
        setattr(spec, _BODY_TYPE, body_type)
    if data[0] != body_type or not compat.installed():
        return _unpack_frame(self, data)
    end = data[-1]
    if end != self.FRAME_END:
        raise tx_protocol.GarbageException(f"frame error: expected {self.FRAME_END!r}, got {end!r}")
    return Frame(int.from_bytes(data[1:3], "big"), Body(data[7:-1]))


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


def _basic_deliver(self: Any, ch: Any, msg: Any) -> defer.Deferred[None]:
    try:
        _queue_now(self.client, msg.consumer_tag).put(msg)
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
    client_class.dispatch = _dispatch
    client_class.reschedule_check_heartbeat = _reschedule_check_heartbeat
    client_class.reschedule_send_heartbeat = _reschedule_send_heartbeat
    tx_protocol.AMQChannel.invoke = _invoke_fast
    tx_protocol.read_content = _read_content
    tx_client.TwistedDelegate.basic_deliver = _basic_deliver
    setattr(client_class, _PATCHED, True)


def installed() -> bool:
    return bool(getattr(tx_protocol.AMQClient, _PATCHED, False))
