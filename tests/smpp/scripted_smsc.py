"""An in-memory SMSC for service tests driven by a Clock: speaks SMPP bytes through our codec's
framing, answers by a scripted policy, and records what it received with timestamps.

(The third-party peer in tests/smpp_peer is the independent check; this one exists so rate,
backoff and timeout behaviour can be tested in simulated time.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from gateway.smpp import codec


class FakeTransport:
    def __init__(self, smsc: ScriptedSmsc, protocol) -> None:
        self.smsc = smsc
        self.protocol = protocol
        self.framer = codec.Framer()
        self.connected = True

    def write(self, data: bytes) -> None:
        if self.connected:
            for frame in self.framer.feed(data):
                self.smsc.received(self, codec.decode(frame))

    def writeSequence(self, chunks) -> None:
        self.write(b"".join(chunks))

    def loseConnection(self) -> None:
        if self.connected:
            self.connected = False
            reason = Failure(error.ConnectionDone())
            self.smsc.clock.callLater(0, self.protocol.connectionLost, reason)

    abortConnection = loseConnection

    def getPeer(self):
        return None

    def getHost(self):
        return None


@dataclass
class ScriptedSmsc:
    clock: Clock
    password: str = "secret"
    latency: float = 0.01
    # status for the n-th submit_sm (1-based); None = never answer it
    status_for: Callable[[int, codec.Pdu], int | None] = lambda n, pdu: 0
    answer_enquire: bool = True
    submits: list[tuple[float, codec.Pdu]] = field(default_factory=list)
    deliver_resps: list[codec.Pdu] = field(default_factory=list)
    connections: int = 0
    transports: list[FakeTransport] = field(default_factory=list)
    unbinds: int = 0

    def endpoint(self):
        smsc = self

        class Endpoint:
            def connect(self, factory):
                smsc.connections += 1
                protocol = factory.buildProtocol(None)
                transport = FakeTransport(smsc, protocol)
                smsc.transports.append(transport)
                protocol.makeConnection(transport)
                return defer.succeed(protocol)

        return Endpoint()

    def later(self, transport: FakeTransport, data: bytes) -> None:
        def send() -> None:
            if transport.connected:
                transport.protocol.dataReceived(data)

        self.clock.callLater(self.latency, send)

    def received(self, transport: FakeTransport, pdu: codec.Pdu) -> None:
        if pdu.command.startswith("bind_"):
            ok = pdu.text_field("password") == self.password
            self.later(
                transport,
                codec.encode(
                    pdu.command + "_resp",
                    pdu.sequence,
                    status=0 if ok else 0x0E,
                    system_id="fake",
                ),
            )
        elif pdu.command == "submit_sm":
            self.submits.append((self.clock.seconds(), pdu))
            status = self.status_for(len(self.submits), pdu)
            if status is None:
                return
            mid = f"{len(self.submits):X}" if status == 0 else ""
            resp = codec.encode("submit_sm_resp", pdu.sequence, status=status, message_id=mid)
            self.later(transport, resp)
        elif pdu.command == "enquire_link" and self.answer_enquire:
            self.later(transport, codec.encode_header_only(0x80000015, pdu.sequence))
        elif pdu.command == "unbind":
            self.unbinds += 1
            self.later(transport, codec.encode_header_only(0x80000006, pdu.sequence))
        elif pdu.command == "deliver_sm_resp":
            self.deliver_resps.append(pdu)

    def deliver(self, data: bytes) -> None:
        """Send a PDU to the client on the newest live connection."""
        live = [t for t in self.transports if t.connected]
        live[-1].protocol.dataReceived(data)

    def drop(self) -> None:
        for t in self.transports:
            t.loseConnection()
