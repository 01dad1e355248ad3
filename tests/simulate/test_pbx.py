"""The PBX simulator over real 127.0.0.1 sockets: AMI as Asterisk 22 speaks it, Originate
outcomes on a Clock, and real AGI subprocesses for answered calls."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock

from gateway.simulate.callees import (
    CallScript,
    DialOutcome,
    HangUp,
    Keys,
    ScriptedCallees,
    SeededCallees,
    Speak,
)
from gateway.simulate.pbx import PbxSettings, PbxSimulator
from ivr.ami.message import AmiMessage, AmiParser, Banner, encode_action

NUMBER = "13812345678"


class RawAmi(Protocol):
    """A minimal AMI client: sends actions, collects every packet, waits for a matching one."""

    def __init__(self) -> None:
        self.parser = AmiParser()
        self.banner: Banner | None = None
        self.messages: list[AmiMessage] = []
        self.waiters: list[tuple[object, defer.Deferred]] = []
        self.lost = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        for item in self.parser.feed(data):
            if isinstance(item, Banner):
                self.banner = item
                continue
            self.messages.append(item)
            for waiter in list(self.waiters):
                if waiter[0](item):
                    self.waiters.remove(waiter)
                    waiter[1].callback(item)

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)

    def send(self, action: str, pairs: list[tuple[str, object]] = (), **headers: object) -> None:
        self.transport.write(encode_action(action, [*headers.items(), *pairs]))

    def wait(self, predicate) -> defer.Deferred:
        for m in self.messages:
            if predicate(m):
                return defer.succeed(m)
        d: defer.Deferred = defer.Deferred()
        self.waiters.append((predicate, d))
        return d.addTimeout(10, reactor)

    def wait_event(self, name: str, uniqueid: str | None = None) -> defer.Deferred:
        return self.wait(
            lambda m: m.event == name and (uniqueid is None or m.get("Uniqueid") == uniqueid)
        )

    def wait_reply(self, action_id: str) -> defer.Deferred:
        return self.wait(lambda m: m.response is not None and m.action_id == action_id)


@dataclass
class Rig:
    pbx: PbxSimulator
    clock: Clock
    port: int


@pytest.fixture
def rig_factory():
    ports = []
    sims = []

    def make(callees=None, **settings) -> Rig:
        clock = Clock()
        settings.setdefault("secret", "s3cret")
        pbx = PbxSimulator(clock, PbxSettings(**settings), callees)
        port = reactor.listenTCP(0, pbx.factory(), interface="127.0.0.1")
        ports.append(port)
        sims.append(pbx)
        return Rig(pbx, clock, port.getHost().port)

    yield make
    for pbx in sims:
        pbx.stop()
    for port in ports:
        port.stopListening()


async def connect(rig: Rig, login: bool = True) -> RawAmi:
    proto = RawAmi()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", rig.port), proto)
    if login:
        proto.send("Login", Username="pingjing", Secret="s3cret", ActionID="login")
        reply = await proto.wait_reply("login")
        assert reply.response == "Success"
    return proto


def originate(
    ami: RawAmi,
    channel_id: str,
    number: str = NUMBER,
    variables: tuple[str, ...] = (),
    **extra: object,
) -> None:
    headers = {
        "ActionID": channel_id,
        "Channel": f"PJSIP/{number}@carrier",
        "Context": "pingjing-callback",
        "Exten": "s",
        "Priority": 1,
        "Timeout": 30000,
        "Async": "true",
        "ChannelId": channel_id,
    }
    headers.update(extra)
    ami.send("Originate", [("Variable", v) for v in variables], **headers)


def scripted(*outcomes: DialOutcome) -> ScriptedCallees:
    return ScriptedCallees({NUMBER: list(outcomes)})


@pytest_twisted.ensureDeferred
async def test_banner_then_login_with_the_secret_is_accepted(rig_factory):
    """The manager greets with `Asterisk Call Manager/11.0.0`; Login with the secret succeeds."""
    rig = rig_factory()
    ami = await connect(rig)
    assert ami.banner is not None and ami.banner.version == "11.0.0"
    assert ami.messages[0].get("Message") == "Authentication accepted"
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_login_with_a_wrong_secret_is_refused_and_the_connection_closed(rig_factory):
    """A wrong secret gets `Authentication failed`, then Asterisk hangs up the connection."""
    rig = rig_factory()
    ami = await connect(rig, login=False)
    ami.send("Login", Username="pingjing", Secret="wrong", ActionID="l1")
    reply = await ami.wait_reply("l1")
    assert (reply.response, reply.get("Message")) == ("Error", "Authentication failed")
    await ami.lost


@pytest_twisted.ensureDeferred
async def test_actions_before_login_get_permission_denied(rig_factory):
    """Originate on a connection that has not logged in is refused with `Permission denied`."""
    rig = rig_factory()
    ami = await connect(rig, login=False)
    originate(ami, "pj-0")
    reply = await ami.wait_reply("pj-0")
    assert (reply.response, reply.get("Message")) == ("Error", "Permission denied")
    assert rig.pbx.calls == []
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_ping_is_answered_with_pong(rig_factory):
    """Ping gets `Response: Success` and `Ping: Pong`."""
    rig = rig_factory()
    ami = await connect(rig)
    ami.send("Ping", ActionID="p")
    reply = await ami.wait_reply("p")
    assert (reply.response, reply.get("Ping")) == ("Success", "Pong")
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_unknown_action_is_an_error_naming_it(rig_factory):
    """An action the simulator does not implement is `Invalid/unknown command: <name>`."""
    rig = rig_factory()
    ami = await connect(rig)
    ami.send("Frobnicate", ActionID="f")
    reply = await ami.wait_reply("f")
    assert reply.response == "Error" and "Invalid/unknown command: Frobnicate" in reply["Message"]
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_async_originate_is_queued_at_once_and_busy_is_reason_5_later(rig_factory):
    """Async Originate replies `Originate successfully queued` at once; after the ring time a
    Hangup and an OriginateResponse with Reason 5, the dial string as Channel, come for the
    ChannelId."""
    rig = rig_factory(
        scripted(DialOutcome("busy", 4.0, hangup_cause=0, hangup_cause_txt="Unknown"))
    )
    ami = await connect(rig)
    originate(ami, "pj-1-abc")
    reply = await ami.wait_reply("pj-1-abc")
    assert reply.get("Message") == "Originate successfully queued"
    assert [m for m in ami.messages if m.event == "OriginateResponse"] == []
    rig.clock.advance(4.0)
    response = await ami.wait_event("OriginateResponse", "pj-1-abc")
    hangup = await ami.wait_event("Hangup", "pj-1-abc")
    assert (response["Response"], response["Reason"]) == ("Failure", "5")
    assert response["Channel"] == f"PJSIP/{NUMBER}@carrier"
    assert response.action_id == "pj-1-abc"
    assert ami.messages.index(hangup) < ami.messages.index(response)
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_no_answer_rings_until_the_originate_timeout_then_reason_3(rig_factory):
    """A callee who does not pick up rings for the Originate's Timeout, then Reason 3."""
    rig = rig_factory(scripted(DialOutcome("no_answer", 0.0)))
    ami = await connect(rig)
    originate(ami, "pj-2", Timeout=20000)
    await ami.wait_reply("pj-2")
    rig.clock.advance(19.9)
    assert not [m for m in ami.messages if m.event == "OriginateResponse"]
    rig.clock.advance(0.1)
    response = await ami.wait_event("OriginateResponse", "pj-2")
    assert response["Reason"] == "3"
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_rejected_number_is_reason_0_followed_by_a_hangup_with_the_cause(rig_factory):
    """Reason 0 hides the cause; the Hangup event of the same Uniqueid carries it."""
    rig = rig_factory(
        scripted(DialOutcome("failed", 1.0, hangup_cause=1, hangup_cause_txt="Unallocated"))
    )
    ami = await connect(rig)
    originate(ami, "pj-3")
    await ami.wait_reply("pj-3")
    rig.clock.advance(1.0)
    response = await ami.wait_event("OriginateResponse", "pj-3")
    hangup = await ami.wait_event("Hangup", "pj-3")
    assert response["Reason"] == "0" and hangup["Cause"] == "1"
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_sync_originate_that_fails_replies_originate_failed(rig_factory):
    """Without Async the only reply, once the call has failed, is `Originate failed`."""
    rig = rig_factory(scripted(DialOutcome("busy", 2.0)))
    ami = await connect(rig)
    originate(ami, "pj-4", Async="false")
    await ami.wait_event("Newchannel", "pj-4")  # the call exists; no reply yet
    assert not [m for m in ami.messages if m.action_id == "pj-4"]
    rig.clock.advance(2.0)
    reply = await ami.wait_reply("pj-4")
    assert (reply.response, reply.get("Message")) == ("Error", "Originate failed")
    ami.transport.loseConnection()


def test_seeded_callees_busy_at_first_answer_a_later_attempt():
    """A number whose profile is busy-first is busy on attempt 0 and answers attempt 1."""
    model = SeededCallees(
        seed=4,
        busy_first_rate=1.0,
        no_answer_first_rate=0.0,
        unreachable_rate=0.0,
        invalid_rate=0.0,
    )
    assert model.dial(NUMBER, 0).result == "busy"
    assert model.dial(NUMBER, 1).result == "answered"


def test_seeded_callees_are_deterministic_and_mostly_complete_the_menu():
    """Same seed, number and attempt give the same outcome; most answered calls go through
    confirm, reason, message and consent."""
    model = SeededCallees(seed=9)
    assert model.dial(NUMBER, 0) == SeededCallees(seed=9).dial(NUMBER, 0)
    answered = [model.dial(f"139{i:08d}", 3) for i in range(500)]
    scripts = [o.script for o in answered if o.result == "answered"]
    complete = [s for s in scripts if s.label.startswith("complete")]
    assert len(complete) > len(scripts) * 0.7
    assert any(isinstance(s.inputs[-1], HangUp) for s in scripts)


# --- answered calls: the AGI program runs as a subprocess -----------------------------------

AGI_PROGRAM = textwrap.dedent(
    """
    import json, signal, sys
    got = []
    signal.signal(signal.SIGHUP, lambda *_: got.append("SIGHUP"))
    env = {}
    for line in sys.stdin:
        line = line.rstrip("\\n")
        if not line:
            break
        key, _, value = line.partition(": ")
        env[key] = value
    def cmd(text):
        sys.stdout.write(text + "\\n")
        sys.stdout.flush()
        return sys.stdin.readline().rstrip("\\n")
    log = {"env": env, "replies": []}
    for text in sys.argv[2:]:
        log["replies"].append(cmd(text.replace("@REC@", sys.argv[1])))
    log["signals"] = got
    print(json.dumps(log), file=sys.stderr)
    with open(sys.argv[1] + ".json", "w") as out:
        json.dump(log, out)
    """
)


def agi_rig(rig_factory, tmp_path, script: CallScript, commands: list[str]) -> Rig:
    program = tmp_path / "agi_prog.py"
    program.write_text(AGI_PROGRAM)
    base = str(tmp_path / "out")
    return rig_factory(
        scripted(DialOutcome("answered", 3.0, script)),
        agi_command=(sys.executable, str(program), base, *commands),
        sighup_delay=0.0,
    )


def ended(pbx: PbxSimulator) -> defer.Deferred:
    d: defer.Deferred = defer.Deferred()
    pbx.on_call_ended.append(lambda call: d.called or d.callback(call))
    return d.addTimeout(20, reactor)


@pytest_twisted.ensureDeferred
async def test_answered_call_runs_the_agi_program_with_headers_and_variables(rig_factory, tmp_path):
    """For Reason 4 the AGI program starts, gets agi_* headers, reads the Originate's Variable
    headers with GET VARIABLE, and its exit ends the call with a Hangup event."""
    rig = agi_rig(
        rig_factory,
        tmp_path,
        CallScript((Keys("1"), Keys("3"), Speak(1200))),
        [
            "ANSWER",
            "GET VARIABLE PJ_CALLBACK_ID",
            "GET VARIABLE PJ_ATTEMPT_ID",
            "GET DATA pj-confirm 5000 1",
            "WAIT FOR DIGIT 5000",
            'RECORD FILE "@REC@" wav "#" 60000 0 beep s=3',
            "HANGUP",
        ],
    )
    ami = await connect(rig)
    done = ended(rig.pbx)
    originate(ami, "pj-5", variables=("PJ_CALLBACK_ID=17", "PJ_ATTEMPT_ID=99"))
    await ami.wait_reply("pj-5")
    rig.clock.advance(3.0)
    response = await ami.wait_event("OriginateResponse", "pj-5")
    assert (response["Response"], response["Reason"]) == ("Success", "4")
    call = await done
    hangup = await ami.wait_event("Hangup", "pj-5")
    assert hangup["Cause"] == "16"
    log = json.loads((tmp_path / "out.json").read_text())
    assert log["env"]["agi_uniqueid"] == "pj-5"
    assert log["replies"] == [
        "200 result=0",
        "200 result=1 (17)",
        "200 result=1 (99)",
        "200 result=1",
        "200 result=51",
        "200 result=35 (dtmf) endpos=8000",
        "200 result=1",
    ]
    assert call.agi_exit_code == 0
    assert (tmp_path / "out.wav").stat().st_size > 44
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_callee_hanging_up_mid_menu_gets_the_script_minus_one_then_sighup(
    rig_factory, tmp_path
):
    """The callee hangs up at the second question: GET DATA answers result=-1, the script is
    sent SIGHUP, ANSWER afterwards is refused with 511 and VERBOSE still works."""
    rig = agi_rig(
        rig_factory,
        tmp_path,
        CallScript((Keys("1"), HangUp())),
        [
            "GET DATA pj-confirm 5000 1",
            "GET DATA pj-reasons 5000 1",
            "NOOP",
            "ANSWER",
            'VERBOSE "after hangup" 1',
        ],
    )
    ami = await connect(rig)
    done = ended(rig.pbx)
    originate(ami, "pj-7")
    await ami.wait_reply("pj-7")
    rig.clock.advance(3.0)
    call = await done
    log = json.loads((tmp_path / "out.json").read_text())
    assert log["replies"][:2] == ["200 result=1", "200 result=-1"]
    assert log["replies"][3].startswith("511 ")
    assert log["replies"][4] == "200 result=1"
    assert log["signals"] == ["SIGHUP"]
    assert call.agi.hung_up_by == "callee"
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_missing_agi_program_hangs_the_answered_call_up(rig_factory, tmp_path):
    """When the AGI program cannot be found the answered call ends with a Hangup at once, as
    a failing AGI() in the dialplan would, and the failure is counted."""
    rig = rig_factory(
        scripted(DialOutcome("answered", 1.0)),
        agi_command=(str(tmp_path / "no-such-agi"),),
    )
    ami = await connect(rig)
    originate(ami, "pj-8")
    await ami.wait_reply("pj-8")
    rig.clock.advance(1.0)
    hangup = await ami.wait_event("Hangup", "pj-8")
    assert hangup["Cause"] == "16"
    assert rig.pbx.stats()["agi_failures"] == 1
    ami.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_the_project_ami_client_sees_busy_then_answered(rig_factory, tmp_path):
    """pingjing's own AmiClient, pointed at the simulator, gets a busy outcome for the first
    attempt and an answered one for the second."""
    from ivr.ami.api import AmiSettings, OriginateRequest
    from ivr.ami.client import AmiClient

    program = tmp_path / "quiet_agi.py"
    program.write_text("import sys\nfor line in sys.stdin:\n    if not line.strip(): break\n")
    rig = rig_factory(
        scripted(DialOutcome("busy", 2.0, hangup_cause=0), DialOutcome("answered", 2.0)),
        agi_command=(sys.executable, str(program)),
    )
    settings = AmiSettings(port=rig.port, secret="s3cret", hangup_grace=0.5)
    client = AmiClient(settings, reactor)
    client.startService()
    try:
        await client.when_ready()
        started = next_call(rig.pbx)
        first = client.originate(OriginateRequest(callback_id=1, attempt_id=1, number=NUMBER))
        await started
        rig.clock.advance(2.0)
        outcome = await first
        assert outcome.result == "busy", outcome
        started = next_call(rig.pbx)
        handle = client.originate_call(OriginateRequest(callback_id=1, attempt_id=2, number=NUMBER))
        await started
        rig.clock.advance(2.0)
        assert (await handle.outcome).result == "answered"
        ended_ = await handle.ended.addTimeout(20, reactor)
        assert ended_.hangup_cause == 16
    finally:
        await client.stopService()


def next_call(pbx: PbxSimulator) -> defer.Deferred:
    """Fires once the simulator has taken the next Originate and written its reply (one reactor
    turn later, so that advancing the clock then does not re-enter the simulator)."""
    d: defer.Deferred = defer.Deferred()

    def seen(call: object) -> None:
        pbx.on_call_started.remove(seen)
        reactor.callLater(0, d.callback, call)

    pbx.on_call_started.append(seen)
    return d.addTimeout(10, reactor)


@pytest_twisted.ensureDeferred
async def test_the_real_pingjing_agi_completes_a_callback(rig_factory, tmp_path):
    """The shipped `pingjing-agi` program, run by the simulator for an answered call, goes
    through confirm, reason, voice message and consent, and leaves a recording on disk."""
    rig = rig_factory(
        scripted(
            DialOutcome("answered", 2.0, CallScript((Keys("1"), Keys("2"), Speak(2500), Keys("1"))))
        ),
        agi_command=("pingjing-agi",),
        agi_env={"PINGJING_SERVICE_DATA_DIR": str(tmp_path), "PINGJING_CONFIG": ""},
        sighup_delay=0.0,
    )
    if rig.pbx.resolve_command() is None:
        pytest.skip("pingjing-agi is not installed in this environment")
    ami = await connect(rig)
    done = ended(rig.pbx)
    originate(ami, "pj-9", variables=("PINGJING_CALLBACK_ID=5", "PINGJING_ATTEMPT_ID=8"))
    await ami.wait_reply("pj-9")
    rig.clock.advance(2.0)
    call = await done
    assert call.agi_exit_code == 0, call.agi_stderr_tail
    assert call.agi.keys_taken == ["1", "2", "1"]
    assert any("ended completed" in line for line in call.agi_stderr_tail)
    [recording] = call.agi.recordings
    assert recording.ended_by == "dtmf"
    wavs = list((tmp_path / "recordings").glob("*.wav"))
    assert len(wavs) == 1 and wavs[0].stat().st_size > 44
    ami.transport.loseConnection()


def test_seeded_callees_rate_first_when_the_ivr_will_ask_for_a_rating():
    """With PINGJING_ASK_RATING=1 on the Originate the script answers the rating question
    after confirming; only a 3 (不满意) goes on to the reason menu."""
    model = SeededCallees(
        seed=2,
        silent_rate=0.0,
        wrong_person_rate=0.0,
        hangup_mid_menu_rate=0.0,
        busy_first_rate=0.0,
        no_answer_first_rate=0.0,
        unreachable_rate=0.0,
        invalid_rate=0.0,
    )
    scripts = [
        model.dial(f"137{i:08d}", 0, {"PINGJING_ASK_RATING": "1"}).script for i in range(200)
    ]
    for script in scripts:
        rating = script.inputs[1]
        assert isinstance(rating, Keys) and rating.digits in "123"
        assert (len(script.inputs) > 2) == (rating.digits == "3")


@pytest_twisted.ensureDeferred
async def test_core_show_channels_lists_the_live_channels_as_asterisk_22(rig_factory):
    """CoreShowChannels: Success opening an event list, one CoreShowChannel per channel not
    hung up (Ringing, then Up), each with the ActionID, and CoreShowChannelsComplete."""
    rig = rig_factory(scripted(DialOutcome("answered", 5.0)), agi_command=("/bin/sleep", "5"))
    ami = await connect(rig)
    originate(ami, "pj-1")
    await ami.wait_reply("pj-1")
    ami.send("CoreShowChannels", ActionID="list-1")
    done = await ami.wait(
        lambda m: m.event == "CoreShowChannelsComplete" and m.action_id == "list-1"
    )
    reply = next(m for m in ami.messages if m.response and m.action_id == "list-1")
    assert (reply.get("EventList"), reply.get("Message")) == ("start", "Channels will follow")
    [channel] = [m for m in ami.messages if m.event == "CoreShowChannel"]
    assert channel.action_id == "list-1"
    assert (channel.get("Uniqueid"), channel.get("ChannelStateDesc")) == ("pj-1", "Ringing")
    assert (done.get("EventList"), done.get("ListItems")) == ("Complete", "1")
    rig.clock.advance(5)
    ami.send("CoreShowChannels", ActionID="list-2")
    await ami.wait(lambda m: m.event == "CoreShowChannelsComplete" and m.action_id == "list-2")
    [up] = [m for m in ami.messages if m.event == "CoreShowChannel" and m.action_id == "list-2"]
    assert up.get("ChannelState") == "6"
    ami.transport.loseConnection()
