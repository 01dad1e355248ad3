"""A fake Asterisk manager (AMI) on 127.0.0.1 that behaves like the measured Asterisk 22.

It deliberately does not reuse ``ivr.ami.message``: it frames strictly on CRLF with Twisted's
``LineOnlyReceiver`` and writes its packets by hand, so a bug in our codec is not mirrored here.

What a call does is scripted per dialled number (:class:`Answer`, :class:`Busy`,
:class:`NoAnswer`, :class:`Congestion`, :class:`Failed`, :class:`Unreachable`,
:class:`NoResponse`); each Originate for a number consumes the next step, the last step repeats.
Timing uses the injected clock, so tests drive it with ``Clock.advance``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineOnlyReceiver

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


# -- the script ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """Picks up after ``ring_seconds``; hangs up ``talk_seconds`` after the answer, or when the
    Deferred returned by ``on_answer(variables)`` fires (to run a fake AGI conversation)."""

    ring_seconds: float = 2.0
    talk_seconds: float = 30.0
    on_answer: Callable[[dict[str, str]], Any] | None = None


@dataclass
class Busy:
    ring_seconds: float = 1.0


@dataclass
class Congestion:
    ring_seconds: float = 0.5


@dataclass
class NoAnswer:
    """Rings until the Originate ``Timeout`` runs out: Reason 3."""


@dataclass
class Failed:
    """Reason 0 with a Hangup carrying the real cause (e.g. 21 Call Rejected)."""

    cause: int = 21
    cause_txt: str = "Call Rejected"
    after_seconds: float = 0.5


@dataclass
class Unreachable:
    """Reason 0 without any channel (unknown technology, no such endpoint): no Hangup event."""

    after_seconds: float = 0.1


@dataclass
class NoResponse:
    """Queues the Originate and then says nothing at all (a lost event)."""


Step = Answer | Busy | Congestion | NoAnswer | Failed | Unreachable | NoResponse


@dataclass
class OriginateSeen:
    """What the fake received, for assertions."""

    headers: list[tuple[str, str]]
    number: str
    variables: dict[str, str]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == key.lower()), None)


@dataclass
class FakeAmiFactory(Factory):
    clock: IReactorTime
    username: str = "pingjing"
    secret: str = "s3cret"
    script: dict[str, list[Step]] = field(default_factory=dict)
    number_pattern: re.Pattern[str] = re.compile(r"^[A-Za-z0-9]+/(\+?\d+)(?:@|$)")
    require_async: bool = True
    answer_pings: bool = True  # False: a half-open link, Pings go unanswered
    answer_list: bool = True  # False: CoreShowChannels goes unanswered

    def __post_init__(self) -> None:
        self.sessions: list[FakeAmiSession] = []
        self.originates: list[OriginateSeen] = []
        self.actions: list[list[tuple[str, str]]] = []
        self._channel_seq = itertools.count(1)
        self._calls_by_number: dict[str, int] = {}
        # channels alive now, by Uniqueid: what CoreShowChannels lists
        self.live: dict[str, _FakeCall] = {}
        self.drop_events = False  # True: events happen but reach no session (a cut link)

    def buildProtocol(self, addr: object) -> FakeAmiSession:
        p = FakeAmiSession()
        p.factory = self
        return p

    def next_step(self, number: str) -> Step:
        steps = self.script.get(number) or [Answer()]
        n = self._calls_by_number.get(number, 0)
        self._calls_by_number[number] = n + 1
        return steps[min(n, len(steps) - 1)]

    def broadcast(self, event: str, headers: list[tuple[str, str]]) -> None:
        packet = _packet([("Event", event), ("Privilege", "call,all"), *headers])
        if self.drop_events:
            return
        for s in list(self.sessions):
            if s.authenticated and s.events_on:
                s.transport.write(packet)

    def channel_name(self, number: str) -> str:
        return f"PJSIP/carrier-{next(self._channel_seq):08x}"

    def disconnect_all(self) -> None:
        for s in list(self.sessions):
            s.transport.loseConnection()


def _packet(headers: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"


class FakeAmiSession(LineOnlyReceiver):
    delimiter = b"\r\n"
    factory: FakeAmiFactory

    def connectionMade(self) -> None:
        self.authenticated = False
        self.events_on = True
        self._headers: list[tuple[str, str]] = []
        self.factory.sessions.append(self)
        self.transport.write(BANNER)

    def connectionLost(self, reason: object = None) -> None:
        if self in self.factory.sessions:
            self.factory.sessions.remove(self)

    def lineReceived(self, line: bytes) -> None:
        text = line.decode("utf-8")
        if text == "":
            if self._headers:
                headers, self._headers = self._headers, []
                self._action(headers)
            return
        key, _, value = text.partition(": ")
        self._headers.append((key, value))

    def _reply(self, action_id: str | None, *headers: tuple[str, str]) -> None:
        out = [headers[0]]
        if action_id is not None:
            out.append(("ActionID", action_id))
        out += headers[1:]
        self.transport.write(_packet(out))

    def _action(self, headers: list[tuple[str, str]]) -> None:
        self.factory.actions.append(headers)
        get = {k.lower(): v for k, v in reversed(headers)}
        action = get.get("action", "").lower()
        aid = get.get("actionid")
        if action == "login":
            if get.get("username") == self.factory.username and (
                get.get("secret") == self.factory.secret
            ):
                self.authenticated = True
                self.events_on = get.get("events", "on").lower() != "off"
                self._reply(aid, ("Response", "Success"), ("Message", "Authentication accepted"))
                self.transport.write(
                    _packet(
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", "1"),
                            ("LastReload", "1"),
                            ("Status", "Fully Booted"),
                        ]
                    )
                )
            else:
                self._reply(aid, ("Response", "Error"), ("Message", "Authentication failed"))
                self.transport.loseConnection()
            return
        if not self.authenticated:
            self._reply(aid, ("Response", "Error"), ("Message", "Permission denied"))
            return
        if action == "ping":
            if not self.factory.answer_pings:
                return
            self._reply(aid, ("Response", "Success"), ("Ping", "Pong"), ("Timestamp", "1.0"))
        elif action == "logoff":
            self._reply(aid, ("Response", "Goodbye"), ("Message", "Thanks for all the fish."))
            self.transport.loseConnection()
        elif action == "originate":
            self._originate(headers, get, aid)
        elif action == "coreshowchannels":
            if self.factory.answer_list:
                self._core_show_channels(aid)
        else:
            self._reply(aid, ("Response", "Error"), ("Message", "Invalid/unknown command"))

    def _core_show_channels(self, aid: str | None) -> None:
        """As Asterisk 22 answers: a Success reply opening an event list, one CoreShowChannel
        event per live channel (with the same ActionID), then CoreShowChannelsComplete."""
        self._reply(
            aid,
            ("Response", "Success"),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        calls = list(self.factory.live.values())
        for call in calls:
            headers = [("Event", "CoreShowChannel")]
            if aid is not None:
                headers.append(("ActionID", aid))
            headers += call._chan_headers(call.state, call.state_desc, call.uniqueid, call.channel)
            headers += [
                ("Application", "AppDial2" if call.state != "6" else "AGI"),
                ("ApplicationData", "" if call.state != "6" else "pingjing-agi"),
                ("Duration", "00:00:05"),
                ("BridgeId", ""),
            ]
            self.transport.write(_packet(headers))
        done = [("Event", "CoreShowChannelsComplete")]
        if aid is not None:
            done.append(("ActionID", aid))
        done += [("EventList", "Complete"), ("ListItems", str(len(calls)))]
        self.transport.write(_packet(done))

    def _originate(
        self, headers: list[tuple[str, str]], get: dict[str, str], aid: str | None
    ) -> None:
        f = self.factory
        dial = get.get("channel", "")
        m = f.number_pattern.match(dial)
        number = m.group(1) if m else ""
        variables = dict(
            v.split("=", 1) for k, v in headers if k.lower() == "variable" and "=" in v
        )
        f.originates.append(OriginateSeen(headers, number, variables))
        if get.get("async", "").lower() not in ("true", "yes", "1"):
            # Measured: without Async the only reply is a bare error once dialling ends.
            self._reply(aid, ("Response", "Error"), ("Message", "Originate failed"))
            return
        self._reply(aid, ("Response", "Success"), ("Message", "Originate successfully queued"))
        step = f.next_step(number) if m else Unreachable()
        call = _FakeCall(f, get, aid, dial, number, variables)
        call.run(step)


class _FakeCall:
    """One originated call, emitting events in the order the real Asterisk does."""

    def __init__(
        self,
        factory: FakeAmiFactory,
        get: dict[str, str],
        action_id: str | None,
        dial: str,
        number: str,
        variables: dict[str, str],
    ) -> None:
        self.f = factory
        self.clock = factory.clock
        self.action_id = action_id
        self.dial = dial
        self.number = number
        self.variables = variables
        self.context = get.get("context", "")
        self.exten = get.get("exten", "")
        self.timeout = int(get.get("timeout", "30000")) / 1000.0
        self.uniqueid = get.get("channelid") or f"1700000000.{next(factory._channel_seq)}"
        self.channel = factory.channel_name(number)
        self.state, self.state_desc = "0", "Down"

    def run(self, step: Step) -> None:
        if isinstance(step, NoResponse):
            return
        if isinstance(step, Unreachable):
            self.clock.callLater(step.after_seconds, self._response, "Failure", 0, failed=True)
            return
        self._newchannel()
        if isinstance(step, Answer):
            self.clock.callLater(step.ring_seconds, self._answer, step)
        elif isinstance(step, Busy):
            self.clock.callLater(step.ring_seconds, self._busy_like, 5, 17, "User busy")
        elif isinstance(step, Congestion):
            self.clock.callLater(
                step.ring_seconds, self._busy_like, 8, 34, "Circuit/channel congestion"
            )
        elif isinstance(step, NoAnswer):
            self.clock.callLater(self.timeout, self._no_answer)
        elif isinstance(step, Failed):
            self.clock.callLater(step.after_seconds, self._failed, step)

    def _chan_headers(self, state: str, desc: str, uniqueid: str, channel: str) -> list:
        return [
            ("Channel", channel),
            ("ChannelState", state),
            ("ChannelStateDesc", desc),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
            ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", "1"),
            ("Uniqueid", uniqueid),
            ("Linkedid", self.uniqueid),
        ]

    def _newchannel(self) -> None:
        self.f.live[self.uniqueid] = self
        self.state, self.state_desc = "5", "Ringing"
        self.f.broadcast("Newchannel", self._chan_headers("0", "Down", self.uniqueid, self.channel))
        for k, v in self.variables.items():
            self.f.broadcast(
                "VarSet",
                [
                    *self._chan_headers("0", "Down", self.uniqueid, self.channel),
                    ("Variable", k),
                    ("Value", v),
                ],
            )

    def _hangup(self, cause: int, txt: str, uniqueid: str | None = None, state="6") -> None:
        desc = {"6": "Up", "5": "Ringing", "0": "Down"}.get(state, "Down")
        channel = self.channel if uniqueid is None else self.channel + ";2"
        if uniqueid is None:
            self.f.live.pop(self.uniqueid, None)
        self.f.broadcast(
            "Hangup",
            [
                *self._chan_headers(state, desc, uniqueid or self.uniqueid, channel),
                ("Cause", str(cause)),
                ("Cause-txt", txt),
            ],
        )

    def _response(self, response: str, reason: int, failed: bool = False) -> None:
        headers: list[tuple[str, str]] = []
        if self.action_id is not None:
            headers.append(("ActionID", self.action_id))
        headers += [
            ("Response", response),
            ("Channel", self.dial if failed else self.channel),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Reason", str(reason)),
            ("Uniqueid", self.uniqueid),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        ]
        self.f.broadcast("OriginateResponse", headers)

    def _answer(self, step: Answer) -> None:
        self.state, self.state_desc = "6", "Up"
        self.f.broadcast("Newstate", self._chan_headers("6", "Up", self.uniqueid, self.channel))
        self._response("Success", 4)
        if step.on_answer is not None:
            d: Deferred = maybeDeferred(step.on_answer, dict(self.variables))
            d.addBoth(lambda _: self._hangup(16, "Normal Clearing"))
        else:
            self.clock.callLater(step.talk_seconds, self._hangup, 16, "Normal Clearing")

    def _busy_like(self, reason: int, cause: int, txt: str) -> None:
        # Measured: both legs hang up before the OriginateResponse, and the callback leg's own
        # cause is unreliable (0); the real cause shows on the other leg.
        self._hangup(0, "Unknown", state="0")
        self._hangup(cause, txt, uniqueid=self.uniqueid + "-peer", state="0")
        self._response("Failure", reason, failed=True)

    def _no_answer(self) -> None:
        self._response("Failure", 3, failed=True)
        self._hangup(19, "No user responding", state="5")

    def _failed(self, step: Failed) -> None:
        self._response("Failure", 0, failed=True)
        self._hangup(step.cause, step.cause_txt, state="0")


class LoopbackEndpoint:
    """A client endpoint wired to a FakeAmiFactory in memory (twisted.test.iosim).

    Lets client tests advance a ``Clock`` and :meth:`flush` bytes deterministically, with no
    socket and no race between fake time and real I/O. ``refuse`` makes the next connects fail.
    """

    def __init__(self, server: FakeAmiFactory, clock: IReactorTime) -> None:
        self.server = server
        self.clock = clock
        self.pumps: list[Any] = []
        self.connects = 0
        self.refuse = False

    def connect(self, client_factory: Factory) -> Deferred:
        from twisted.internet.defer import fail, succeed
        from twisted.internet.error import ConnectionRefusedError
        from twisted.test import iosim

        self.connects += 1
        if self.refuse:
            return fail(ConnectionRefusedError("loopback refused"))
        client = client_factory.buildProtocol(None)
        server = self.server.buildProtocol(None)
        pump = iosim.connect(
            server,
            iosim.makeFakeServer(server),
            client,
            iosim.makeFakeClient(client),
            clock=self.clock,
        )
        self.pumps.append(pump)
        return succeed(client)

    def flush(self) -> None:
        for pump in list(self.pumps):
            pump.flush()

    def run(self, seconds: float, step: float = 0.5) -> None:
        """Advance fake time by ``seconds`` in ``step``s, delivering bytes after each step."""
        self.flush()
        elapsed = 0.0
        while elapsed < seconds - 1e-9:
            self.clock.advance(step)
            elapsed += step
            self.flush()
