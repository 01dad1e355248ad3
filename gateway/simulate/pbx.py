"""A simulated Asterisk: the AMI server pingjing originates through, and AGI for answered calls.

For integrators who want to see callbacks work before they have a PBX. Over TCP it speaks the
Asterisk Manager Interface as Asterisk 22 does (asterisk-facts.md): the banner, ``Login`` with a
secret (a wrong one is refused and the connection closed), ``Ping``, ``Logoff``, and
``Originate``: with ``Async: true`` the reply is always ``Originate successfully queued``; the
outcome follows as an ``OriginateResponse`` event (Reason 4 answered, 5 busy, 8 congestion, 3 no
answer, 0 anything else) together with ``Hangup`` events, all carrying the ``ChannelId`` as
``Uniqueid``. Without ``Async`` the reply waits for the outcome and is ``Originate failed`` unless
the call was answered.

For an answered call the simulator does what ``AGI(pingjing-agi)`` in the dialplan does: it
starts the real AGI program as a subprocess (``reactor.spawnProcess``), writes the ``agi_*``
headers and answers its commands through :class:`~gateway.simulate.agi.AgiChannel`, with the
Originate's ``Variable`` headers readable by ``GET VARIABLE``. A callee who hangs up gets the
script a ``result=-1`` reply and, ``sighup_delay`` later, a SIGHUP, as Asterisk does. When the
script exits, the channel's ``Hangup`` event goes out.

What the called citizens do comes from a :class:`~gateway.simulate.callees.CalleeModel`; ringing
and talking times go through the injected clock, so a demo can compress them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error as internet_error
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorProcess, IReactorTime
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.masking import mask_phone
from gateway.simulate.agi import AgiChannel
from gateway.simulate.audio import write_voice_wav
from gateway.simulate.callees import CalleeModel, CallScript, DialOutcome, SeededCallees
from gateway.simulate.clock import PendingCalls
from ivr.ami.message import AmiFramingError, AmiMessage, AmiParser

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_NUMBER = re.compile(r"^[A-Za-z0-9_-]+/\+?(\d+)")


def packet(pairs: Sequence[tuple[str, object]]) -> bytes:
    """One AMI packet; line breaks inside values are flattened so a value cannot forge headers."""
    out = []
    for key, value in pairs:
        text = str(value).replace("\r", " ").replace("\n", " ")
        out.append(f"{key}: {text}\r\n")
    return ("".join(out) + "\r\n").encode("utf-8")


@dataclass(frozen=True)
class PbxSettings:
    """What an integrator sets (see ``pingjing simulate pbx --help``)."""

    username: str = "pingjing"
    secret: str = field(default="", repr=False)
    agi_command: tuple[str, ...] = ("pingjing-agi",)
    agi_env: dict[str, str] = field(default_factory=dict)
    sounds_dir: str = "."  # where relative RECORD FILE paths land (Asterisk: its sounds dir)
    sighup_delay: float = 1.4  # measured on Asterisk 22: SIGHUP about 1.4 s after the hangup
    agi_max_seconds: float = 600.0  # a script still running after this is killed
    seed: int | str = 1
    asterisk_version: str = "22.10.1"

    def __post_init__(self) -> None:
        if not self.username:
            raise ValueError("pbx username must not be empty")
        if not self.agi_command:
            raise ValueError("pbx agi_command must name a program")
        if self.sighup_delay < 0 or self.agi_max_seconds <= 0:
            raise ValueError("pbx sighup_delay must be >= 0 and agi_max_seconds > 0")


@dataclass
class Call:
    """One Originate and what became of it, kept for summaries and checks."""

    channel_id: str
    dial: str
    number: str
    context: str
    exten: str
    priority: str
    variables: dict[str, str]
    action_id: str | None
    attempt: int
    outcome: DialOutcome | None = None
    channel_name: str = ""
    state: str = "dialling"  # dialling | up | ended
    agi: AgiChannel | None = None
    agi_exit_code: int | None = None
    agi_stderr_tail: list[str] = field(default_factory=list)
    hangup_cause: int | None = None
    started_at: float | None = None  # wire (real) time of the Originate
    ended_at: float | None = None  # wire time of the Hangup
    inbound: bool = False  # a citizen calling the evaluation line (``incoming_call``)
    callingpres: int = 0  # the caller's presentation (0x20: withheld)

    @property
    def result(self) -> str | None:
        return self.outcome.result if self.outcome else None


class PbxSimulator:
    """Calls, AMI sessions and AGI subprocesses of the simulated Asterisk."""

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        settings: PbxSettings,
        callees: CalleeModel | None = None,
        process_reactor: IReactorProcess | None = None,
        wire_clock: IReactorTime | None = None,
    ) -> None:
        """``clock`` runs ringing and the SIGHUP delay (a demo may compress it); ``wire_clock``
        the ``agi_max_seconds`` limit, since the AGI program runs in real time. Default:
        ``clock``."""
        self.clock = clock
        self.wire_clock = wire_clock or clock
        self.settings = settings
        self.callees: CalleeModel = callees or SeededCallees(seed=settings.seed)
        if process_reactor is None:
            from twisted.internet import reactor

            process_reactor = reactor  # type: ignore[assignment]
        self.process_reactor = process_reactor
        self.calls: list[Call] = []
        self.on_call_started: list[Callable[[Call], None]] = []
        self.on_call_ended: list[Callable[[Call], None]] = []
        self._sessions: list[AmiServerProtocol] = []
        self._attempts: dict[str, int] = {}
        self._channel_numbers = itertools.count(1)
        self._uniqueids = itertools.count(1)
        self._timers = PendingCalls(self.clock)
        self._processes: dict[str, AgiProcess] = {}

    def factory(self) -> Factory:
        return Factory.forProtocol(lambda: AmiServerProtocol(self))

    def stop(self) -> None:
        """Cancel pending call events, kill running AGI scripts, drop AMI connections."""
        self._timers.cancel_all()
        for proc in list(self._processes.values()):
            proc.kill()
        for session in list(self._sessions):
            session.transport.loseConnection()

    def later(self, delay: float, fn: Callable[..., None], *args: Any) -> IDelayedCall:
        return self._timers.later(delay, fn, *args)

    # -- sessions --------------------------------------------------------------------------

    def authenticate(self, username: str, secret: str) -> bool:
        return username == self.settings.username and secret == self.settings.secret

    def attach(self, session: AmiServerProtocol) -> None:
        self._sessions.append(session)

    def detach(self, session: AmiServerProtocol) -> None:
        if session in self._sessions:
            self._sessions.remove(session)

    def emit(self, name: str, pairs: Sequence[tuple[str, object]]) -> None:
        data = packet([("Event", name), ("Privilege", "call,all"), *pairs])
        for session in list(self._sessions):
            session.send_event(data)

    # -- originate -------------------------------------------------------------------------

    def originate(self, action: AmiMessage) -> list[tuple[str, object]] | Deferred:
        """Start a call; return the reply headers (Async) or a Deferred firing with them."""
        dial = action.get("Channel") or ""
        if not dial:
            return [("Response", "Error"), ("Message", "Channel not specified")]
        if not (action.get("Exten") or action.get("Application")):
            return [("Response", "Error"), ("Message", "Exten not specified")]
        variables: dict[str, str] = {}
        for header in action.get_all("Variable"):
            for assignment in header.split(","):
                name, sep, value = assignment.partition("=")
                if sep and name.strip():
                    variables[name.strip()] = value
        match = _NUMBER.match(dial)
        number = match.group(1) if match else ""
        attempt = self._attempts.get(number, 0)
        self._attempts[number] = attempt + 1
        channel_id = (
            action.get("ChannelId") or f"{int(self.clock.seconds())}.{next(self._uniqueids)}"
        )
        call = Call(
            channel_id=channel_id,
            dial=dial,
            number=number,
            context=action.get("Context") or "default",
            exten=action.get("Exten") or "s",
            priority=action.get("Priority") or "1",
            variables=variables,
            action_id=action.action_id,
            attempt=attempt,
        )
        try:
            timeout_ms = int(action.get("Timeout") or 30000)
        except ValueError:
            timeout_ms = 30000
        call.started_at = self.wire_clock.seconds()
        self.calls.append(call)
        if number:
            outcome = self.callees.dial(number, attempt, variables)
        else:
            outcome = DialOutcome(
                "failed", 0.0, hangup_cause=66, hangup_cause_txt="Channel unacceptable"
            )
        if outcome.result == "answered" and outcome.ring_seconds * 1000 >= timeout_ms:
            outcome = DialOutcome("no_answer", 0.0, hangup_cause=0, hangup_cause_txt="Unknown")
        call.outcome = outcome
        tech, _, rest = dial.partition("/")
        endpoint = rest.split("@", 1)[1] if "@" in rest else rest
        call.channel_name = f"{tech}/{endpoint}-{next(self._channel_numbers):08x}"
        self.log.info(
            "originate {channel_id} to {number}: attempt {attempt}, will be {result}",
            channel_id=channel_id,
            number=mask_phone(number),
            attempt=attempt,
            result=outcome.result,
        )
        self.emit(
            "Newchannel",
            [
                ("Channel", call.channel_name),
                ("ChannelState", 0),
                ("ChannelStateDesc", "Down"),
                ("CallerIDNum", number),
                ("CallerIDName", "<unknown>"),
                ("Context", call.context),
                ("Exten", call.exten),
                ("Priority", call.priority),
                ("Uniqueid", channel_id),
                ("Linkedid", channel_id),
            ],
        )
        is_async = (action.get("Async") or "").lower() in ("true", "yes", "1", "on")
        delay = timeout_ms / 1000.0 if outcome.result == "no_answer" else outcome.ring_seconds
        done: Deferred | None = None if is_async else Deferred()
        self.later(delay, self._dialled, call, is_async, done)
        for observer in self.on_call_started:
            observer(call)
        if done is not None:
            return done
        return [("Response", "Success"), ("Message", "Originate successfully queued")]

    def incoming_call(self, number: str, script: CallScript, *, callingpres: int = 0) -> Call:
        """A citizen calls the evaluation line: answered at once, the AGI program run in
        inbound mode (context ``pingjing-inbound``, as dialplans/ routes the DID)."""
        channel_id = f"{int(self.clock.seconds())}.{next(self._uniqueids)}"
        call = Call(channel_id, "", number, "pingjing-inbound", "s", "1", {}, None, 0)
        call.outcome = DialOutcome("answered", 0.0, script)
        call.channel_name = f"PJSIP/carrier-{next(self._channel_numbers):08x}"
        call.state, call.inbound, call.callingpres = "up", True, callingpres
        self.calls.append(call)
        self.log.info("incoming call {channel_id} from {number}", channel_id=channel_id,
                      number=mask_phone(number) if number else "(no number)")  # fmt: skip
        self._start_agi(call)
        return call

    def _dialled(self, call: Call, is_async: bool, done: Deferred | None) -> None:
        outcome = call.outcome
        assert outcome is not None
        if outcome.result == "answered":
            call.state = "up"
            self.emit(
                "Newstate",
                [
                    ("Channel", call.channel_name),
                    ("ChannelState", 6),
                    ("ChannelStateDesc", "Up"),
                    ("Uniqueid", call.channel_id),
                    ("Linkedid", call.channel_id),
                ],
            )
            if is_async:
                self._originate_response(call, "Success", call.channel_name)
            elif done is not None:
                done.callback(
                    [("Response", "Success"), ("Message", "Originate successfully queued")]
                )
            self._start_agi(call)
            return
        # busy and congestion: both legs are gone before the OriginateResponse
        if outcome.result in ("busy", "congestion", "no_answer"):
            self._hangup(call, outcome.hangup_cause, outcome.hangup_cause_txt)
        if is_async:
            self._originate_response(call, "Failure", call.dial)
        elif done is not None:
            done.callback([("Response", "Error"), ("Message", "Originate failed")])
        if outcome.result == "failed":
            self._hangup(call, outcome.hangup_cause, outcome.hangup_cause_txt)

    def _originate_response(self, call: Call, response: str, channel: str) -> None:
        assert call.outcome is not None
        pairs: list[tuple[str, object]] = []
        if call.action_id is not None:
            pairs.append(("ActionID", call.action_id))
        pairs += [
            ("Response", response),
            ("Channel", channel),
            ("Context", call.context),
            ("Exten", call.exten),
            ("Application", ""),
            ("Data", ""),
            ("Reason", call.outcome.reason),
            ("Uniqueid", call.channel_id),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        ]
        self.emit("OriginateResponse", pairs)

    def _hangup(self, call: Call, cause: int, cause_txt: str) -> None:
        if call.state == "ended":
            return
        state = call.state
        call.state = "ended"
        call.ended_at = self.wire_clock.seconds()
        call.hangup_cause = cause
        self.emit(
            "Hangup",
            [
                ("Channel", call.channel_name),
                ("ChannelState", 6 if state == "up" else 0),
                ("ChannelStateDesc", "Up" if state == "up" else "Down"),
                ("CallerIDNum", call.number),
                ("CallerIDName", "<unknown>"),
                ("ConnectedLineNum", "<unknown>"),
                ("ConnectedLineName", "<unknown>"),
                ("Language", "en"),
                ("AccountCode", ""),
                ("Context", call.context),
                ("Exten", call.exten),
                ("Priority", call.priority),
                ("Uniqueid", call.channel_id),
                ("Linkedid", call.channel_id),
                ("Cause", cause),
                ("Cause-txt", cause_txt),
            ],
        )
        for observer in self.on_call_ended:
            observer(call)

    def live_channels(self) -> list[list[tuple[str, object]]]:
        """What ``CoreShowChannels`` lists: one event body per channel not yet hung up."""
        out = []
        for call in self.calls:
            if call.state == "ended" or not call.channel_name:
                continue
            up = call.state == "up"
            started = call.started_at if call.started_at is not None else 0.0
            seconds = int(max(0.0, self.wire_clock.seconds() - started))
            out.append(
                [
                    ("Channel", call.channel_name),
                    ("ChannelState", 6 if up else 5),
                    ("ChannelStateDesc", "Up" if up else "Ringing"),
                    ("CallerIDNum", call.number),
                    ("CallerIDName", "<unknown>"),
                    ("ConnectedLineNum", "<unknown>"),
                    ("ConnectedLineName", "<unknown>"),
                    ("Language", "en"),
                    ("AccountCode", ""),
                    ("Context", call.context),
                    ("Exten", call.exten),
                    ("Priority", call.priority),
                    ("Uniqueid", call.channel_id),
                    ("Linkedid", call.channel_id),
                    ("Application", "AGI" if up else "AppDial2"),
                    ("ApplicationData", "pingjing-agi" if up else "(Outgoing Line)"),
                    (
                        "Duration",
                        f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                    ),
                    ("BridgeId", ""),
                ]
            )
        return out

    # -- AGI -------------------------------------------------------------------------------

    def agi_environment(self, call: Call) -> dict[str, str]:
        command = self.settings.agi_command
        return {
            "agi_request": os.path.basename(command[0]),
            "agi_channel": call.channel_name,
            "agi_language": "en",
            "agi_type": call.channel_name.split("/", 1)[0],
            "agi_uniqueid": call.channel_id,
            "agi_version": self.settings.asterisk_version,
            "agi_callerid": call.number or "unknown",
            "agi_calleridname": "unknown",
            "agi_callingpres": str(call.callingpres),
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": "unknown",
            "agi_rdnis": "unknown",
            "agi_context": call.context,
            "agi_extension": call.exten,
            "agi_priority": call.priority,
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": str(140000000000000 + len(self.calls)),
            **{f"agi_arg_{i}": arg for i, arg in enumerate(self._agi_args(call), start=1)},
        }

    def _agi_args(self, call: Call) -> list[str]:
        return [*self.settings.agi_command[1:], *(["inbound"] if call.inbound else [])]

    def resolve_command(self) -> str | None:
        """The AGI program's path: as given, on PATH, or next to this Python (a venv's bin)."""
        program = self.settings.agi_command[0]
        if os.path.isabs(program) or os.sep in program:
            return program if os.access(program, os.X_OK) else None
        found = shutil.which(program)
        if found:
            return found
        beside = os.path.join(os.path.dirname(sys.executable), program)
        return beside if os.access(beside, os.X_OK) else None

    def _start_agi(self, call: Call) -> None:
        assert call.outcome is not None
        channel = AgiChannel(
            env=self.agi_environment(call),
            variables=dict(call.variables),
            script=call.outcome.script,
            recorder=write_voice_wav,
            sounds_dir=self.settings.sounds_dir,
        )
        call.agi = channel
        executable = self.resolve_command()
        if executable is None:
            self.log.error(
                "AGI program {program!r} not found (PATH, or next to {python}); "
                "call {channel_id} hangs up as AGI() would fail",
                program=self.settings.agi_command[0],
                python=sys.executable,
                channel_id=call.channel_id,
            )
            call.agi_exit_code = -1
            self._hangup(call, 16, "Normal Clearing")
            return
        env = dict(os.environ)
        env.update(
            {
                "AST_AGI_DIR": os.path.dirname(executable),
                "AST_SOUNDS_DIR": os.path.abspath(self.settings.sounds_dir),
                "AST_VERSION": self.settings.asterisk_version,
            }
        )
        env.update(self.settings.agi_env)
        proc = AgiProcess(self, call, channel)
        self._processes[call.channel_id] = proc
        args = [executable, *self._agi_args(call)]
        if executable.endswith(".py") and not os.access(executable, os.X_OK):
            args = [sys.executable, *args]
        self.process_reactor.spawnProcess(proc, args[0], args, env=env)
        proc.deadline = self.wire_clock.callLater(self.settings.agi_max_seconds, proc.overran)

    def agi_finished(self, call: Call, exit_code: int | None) -> None:
        self._processes.pop(call.channel_id, None)
        call.agi_exit_code = exit_code
        if exit_code not in (0, None):
            self.log.warn(
                "AGI for {channel_id} exited with {code}; its last stderr lines: {tail}",
                channel_id=call.channel_id,
                code=exit_code,
                tail=" | ".join(call.agi_stderr_tail[-5:]),
            )
        self._hangup(call, 16, "Normal Clearing")

    # -- reporting -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        by_result: dict[str, int] = {}
        for call in self.calls:
            key = call.result or "?"
            by_result[key] = by_result.get(key, 0) + 1
        recordings = [
            r.path
            for call in self.calls
            if call.agi
            for r in call.agi.recordings
            if r.ended_by != "writefile"
        ]
        return {
            "originates": len(self.calls),
            "by_result": by_result,
            "agi_runs": sum(1 for c in self.calls if c.agi is not None),
            "agi_failures": sum(1 for c in self.calls if c.agi_exit_code not in (0, None)),
            "callee_hangups": sum(
                1 for c in self.calls if c.agi is not None and c.agi.hung_up_by == "callee"
            ),
            "recordings": len(recordings),
            "in_progress": sum(1 for c in self.calls if c.state != "ended"),
        }


class AgiProcess(ProcessProtocol):
    """Pipes between one AGI subprocess and its :class:`AgiChannel`."""

    log = Logger()

    def __init__(self, pbx: PbxSimulator, call: Call, channel: AgiChannel) -> None:
        self.pbx = pbx
        self.call = call
        self.channel = channel
        self.deadline: IDelayedCall | None = None
        self._stderr: deque[str] = deque(maxlen=50)
        self._partial_err = b""
        self._sighup: IDelayedCall | None = None
        self.ended = False

    def connectionMade(self) -> None:
        self.transport.write(self.channel.greeting())

    def outReceived(self, data: bytes) -> None:
        reply = self.channel.feed(data)
        if reply and not self.ended:
            self.transport.write(reply)
        if self.channel.hangup_pending:
            self.channel.hangup_pending = False
            if self.pbx.settings.sighup_delay == 0:
                self._signal("HUP")
            else:
                self._sighup = self.pbx.later(self.pbx.settings.sighup_delay, self._signal, "HUP")

    def errReceived(self, data: bytes) -> None:
        lines = (self._partial_err + data).split(b"\n")
        self._partial_err = lines.pop()
        for line in lines:
            self._stderr.append(line.decode("utf-8", errors="replace"))

    def _signal(self, name: str) -> None:
        if self.ended:
            return
        with contextlib.suppress(internet_error.ProcessExitedAlready):
            self.transport.signalProcess(name)

    def kill(self) -> None:
        self._signal("KILL")

    def overran(self) -> None:
        self.log.warn(
            "AGI for {channel_id} still running after {seconds} s: killed",
            channel_id=self.call.channel_id,
            seconds=self.pbx.settings.agi_max_seconds,
        )
        self.kill()

    def processEnded(self, reason: Failure) -> None:
        self.ended = True
        for timer in (self.deadline, self._sighup):
            self.pbx._timers.cancel(timer)
        if self._partial_err:
            self._stderr.append(self._partial_err.decode("utf-8", errors="replace"))
        self.call.agi_stderr_tail = list(self._stderr)
        exit_code = getattr(reason.value, "exitCode", None)
        if exit_code is None and getattr(reason.value, "signal", None) is not None:
            exit_code = -int(reason.value.signal)
        self.pbx.agi_finished(self.call, exit_code)


class AmiServerProtocol(Protocol):
    """One manager connection: banner, login, actions, and the events of every call."""

    log = Logger()

    def __init__(self, pbx: PbxSimulator) -> None:
        self.pbx = pbx
        self.parser = AmiParser(expect_banner=False)
        self.authenticated = False
        self.events = True
        self.closed = False

    def connectionMade(self) -> None:
        self.transport.write(BANNER)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed = True
        self.pbx.detach(self)

    def send_event(self, data: bytes) -> None:
        if self.authenticated and self.events and not self.closed:
            self.transport.write(data)

    def _reply(self, action: AmiMessage, pairs: Sequence[tuple[str, object]]) -> None:
        headers = list(pairs)
        if action.action_id is not None:
            headers.insert(1, ("ActionID", action.action_id))
        if not self.closed:
            self.transport.write(packet(headers))

    def dataReceived(self, data: bytes) -> None:
        try:
            messages = self.parser.feed(data)
        except AmiFramingError as exc:
            self.log.warn("closing AMI connection: {why}", why=str(exc))
            self.transport.loseConnection()
            return
        for message in messages:
            if isinstance(message, AmiMessage):
                self._action(message)

    def _action(self, action: AmiMessage) -> None:
        name = (action.get("Action") or "").strip()
        lower = name.lower()
        if not name:
            self._reply(action, [("Response", "Error"), ("Message", "Missing action in request")])
            return
        if lower == "login":
            self._login(action)
            return
        if lower == "logoff":
            self._reply(action, [("Response", "Goodbye"), ("Message", "Thanks for all the fish.")])
            self.transport.loseConnection()
            return
        if not self.authenticated:
            self._reply(action, [("Response", "Error"), ("Message", "Permission denied")])
            return
        if lower == "ping":
            self._reply(
                action,
                [
                    ("Response", "Success"),
                    ("Ping", "Pong"),
                    ("Timestamp", f"{self.pbx.clock.seconds():.6f}"),
                ],
            )
        elif lower == "coreshowchannels":
            self._core_show_channels(action)
        elif lower == "originate":
            result = self.pbx.originate(action)
            if isinstance(result, Deferred):
                result.addCallback(lambda pairs: self._reply(action, pairs))
            else:
                self._reply(action, result)
        else:
            self._reply(
                action,
                [
                    ("Response", "Error"),
                    (
                        "Message",
                        f"Invalid/unknown command: {name}. "
                        "Use Action: ListCommands to show available commands.",
                    ),
                ],
            )

    def _core_show_channels(self, action: AmiMessage) -> None:
        """As Asterisk 22: Success opening an event list, a CoreShowChannel event per channel
        with the action's ActionID, then CoreShowChannelsComplete with the count."""
        self._reply(
            action,
            [("Response", "Success"), ("EventList", "start"), ("Message", "Channels will follow")],
        )
        channels = self.pbx.live_channels()
        tag = [("ActionID", action.action_id)] if action.action_id is not None else []
        for pairs in channels:
            if not self.closed:
                self.transport.write(packet([("Event", "CoreShowChannel"), *tag, *pairs]))
        if not self.closed:
            self.transport.write(
                packet(
                    [
                        ("Event", "CoreShowChannelsComplete"),
                        *tag,
                        ("EventList", "Complete"),
                        ("ListItems", len(channels)),
                    ]
                )
            )

    def _login(self, action: AmiMessage) -> None:
        username = action.get("Username") or ""
        if not self.pbx.authenticate(username, action.get("Secret") or ""):
            self.log.warn("AMI login refused for user {user!r}", user=username)
            self._reply(action, [("Response", "Error"), ("Message", "Authentication failed")])
            self.transport.loseConnection()
            return
        again = self.authenticated
        self.authenticated = True
        self.events = (action.get("Events") or "on").lower() not in ("off", "no", "0")
        self._reply(action, [("Response", "Success"), ("Message", "Authentication accepted")])
        if again:
            return
        self.pbx.attach(self)
        self.send_event(
            packet(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", int(self.pbx.clock.seconds())),
                    ("LastReload", int(self.pbx.clock.seconds())),
                    ("Status", "Fully Booted"),
                ]
            )
        )
