"""The AMI client against the fake AMI server: the outcome of every kind of Originate.

Most tests wire client and fake in memory (``LoopbackEndpoint``) so that fake time and bytes
move in lock-step; one test goes over a real socket on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from ivr.ami.api import (
    AmiNotConnectedError,
    AmiSettings,
    CallOutcome,
    OriginateRequest,
    result_for_reason,
)
from ivr.ami.client import AmiClient
from tests.fakes.ami_server import (
    Answer,
    Busy,
    Congestion,
    Failed,
    FakeAmiFactory,
    LoopbackEndpoint,
    NoAnswer,
    NoResponse,
    Unreachable,
)

NUMBER = "13812345678"
SETTINGS = AmiSettings(
    secret="s3cret",
    originate_timeout_ms=30_000,
    outcome_timeout=60.0,
    call_max_seconds=600.0,
    hangup_grace=2.0,
)


@dataclass
class Env:
    clock: Clock
    server: FakeAmiFactory
    wire: LoopbackEndpoint
    client: AmiClient


@pytest.fixture
def env():
    clock = Clock()
    server = FakeAmiFactory(clock=clock)
    wire = LoopbackEndpoint(server, clock)
    client = AmiClient(SETTINGS, reactor, clock=clock, endpoint=wire)
    client.startService()
    wire.flush()
    assert client.connected
    yield Env(clock, server, wire, client)
    client.stopService()
    wire.flush()


def request(attempt: int = 9) -> OriginateRequest:
    return OriginateRequest(callback_id=7, attempt_id=attempt, number=NUMBER)


def result(d: Deferred) -> object:
    """The result of a fired Deferred (fails the test if it has not fired)."""
    out: list[object] = []

    def keep(value: object) -> object:
        out.append(value)
        return value

    d.addBoth(keep)
    assert out, "Deferred has not fired"
    if isinstance(out[0], Failure):
        d.addErrback(lambda _: None)
        out[0].raiseException()
    return out[0]


def test_originate_sends_async_channelid_and_both_variables(env: Env) -> None:
    """The Originate carries Async, our ChannelId (also its ActionID) and the two variables."""
    handle = env.client.originate_call(request())
    env.wire.flush()
    seen = env.server.originates[0]
    assert seen.get("Channel") == f"PJSIP/{NUMBER}@carrier"
    assert seen.get("Async") == "true"
    assert seen.get("Timeout") == "30000"
    assert seen.get("ChannelId") == handle.channel_id == seen.get("ActionID")
    assert (seen.get("Context"), seen.get("Exten"), seen.get("Priority")) == (
        "pingjing-callback",
        "s",
        "1",
    )
    assert seen.variables == {"PINGJING_CALLBACK_ID": "7", "PINGJING_ATTEMPT_ID": "9"}


def test_non_responders_get_the_ask_rating_variable(env: Env) -> None:
    """ask_rating adds PINGJING_ASK_RATING=1 so the IVR asks for the rating first."""
    env.client.originate_call(OriginateRequest(7, 9, NUMBER, ask_rating=True))
    env.wire.flush()
    assert env.server.originates[0].variables["PINGJING_ASK_RATING"] == "1"


def test_each_attempt_gets_its_own_channel_id(env: Env) -> None:
    """Two attempts never share a ChannelId, so their events cannot be confused."""
    a = env.client.originate_call(request(1))
    b = env.client.originate_call(request(2))
    assert a.channel_id != b.channel_id


def test_answered_call_reports_answered_then_its_hangup(env: Env) -> None:
    """Reason 4 gives 'answered'; ``ended`` fires later, on the Hangup of that channel."""
    env.server.script[NUMBER] = [Answer(ring_seconds=2, talk_seconds=30)]
    handle = env.client.originate_call(request())
    env.wire.run(2)
    outcome = result(handle.outcome)
    assert (outcome.result, outcome.reason_code) == ("answered", 4)
    assert not handle.ended.called
    env.wire.run(30)
    ended = result(handle.ended)
    assert (ended.hangup_cause, ended.timed_out) == (16, False)
    assert env.client.active_calls == 0


def test_busy_is_busy_even_though_the_leg_hung_up_first(env: Env) -> None:
    """Hangups before the OriginateResponse do not end tracking; Reason 5 decides."""
    env.server.script[NUMBER] = [Busy()]
    d = env.client.originate(request())
    env.wire.run(1)
    assert (result(d).result, result(d).reason_code) == ("busy", 5)


def test_busy_then_answered_on_the_retry(env: Env) -> None:
    """Two attempts to the same number: busy first, answered second."""
    env.server.script[NUMBER] = [Busy(), Answer(talk_seconds=5)]
    first = env.client.originate(request(1))
    env.wire.run(5)
    second = env.client.originate(request(2))
    env.wire.run(5)
    assert (result(first).result, result(second).result) == ("busy", "answered")


def test_no_answer_three_times_gives_three_no_answer_outcomes(env: Env) -> None:
    """Reason 3 each time, after the ring timeout; deciding 'manual' is the scheduler's job."""
    env.server.script[NUMBER] = [NoAnswer()]
    outcomes = []
    for attempt in (1, 2, 3):
        d = env.client.originate(request(attempt))
        env.wire.run(29.5)
        assert not d.called
        env.wire.run(0.5)
        outcomes.append((result(d).result, result(d).reason_code))
    assert outcomes == [("no_answer", 3)] * 3


def test_congestion_is_reported(env: Env) -> None:
    """Reason 8 gives 'congestion'."""
    env.server.script[NUMBER] = [Congestion()]
    d = env.client.originate(request())
    env.wire.run(1)
    assert result(d).result == "congestion"


def test_reason_0_waits_for_the_hangup_cause(env: Env) -> None:
    """A failure's real cause comes from the Hangup that follows the OriginateResponse."""
    env.server.script[NUMBER] = [Failed(cause=21, cause_txt="Call Rejected")]
    d = env.client.originate(request())
    env.wire.run(1)
    outcome = result(d)
    assert (outcome.result, outcome.reason_code) == ("failed", 0)
    assert (outcome.hangup_cause, outcome.hangup_cause_txt) == (21, "Call Rejected")


def test_reason_0_without_any_hangup_settles_after_the_grace(env: Env) -> None:
    """No channel, no Hangup: the outcome arrives once hangup_grace has passed, cause unknown."""
    env.server.script[NUMBER] = [Unreachable(after_seconds=0.5)]
    d = env.client.originate(request())
    env.wire.run(2.0)
    assert not d.called
    env.wire.run(0.5)
    assert (result(d).result, result(d).hangup_cause) == ("failed", None)


def test_no_originate_response_fails_after_the_outcome_timeout(env: Env) -> None:
    """A lost OriginateResponse ends as failed with reason -1, never a hanging Deferred."""
    env.server.script[NUMBER] = [NoResponse()]
    handle = env.client.originate_call(request())
    env.wire.run(59.5)
    assert not handle.outcome.called
    env.wire.run(0.5)
    outcome: CallOutcome = result(handle.outcome)
    assert (outcome.result, outcome.reason_code) == ("failed", -1)
    assert "timeout" in (outcome.hangup_cause_txt or "")
    assert handle.ended.called
    assert env.client.active_calls == 0


def test_an_answered_call_without_hangup_ends_at_call_max(env: Env) -> None:
    """If the Hangup is never seen, ``ended`` fires with timed_out after call_max_seconds."""
    env.server.script[NUMBER] = [Answer(ring_seconds=1, talk_seconds=100_000)]
    handle = env.client.originate_call(request())
    env.wire.run(1)
    assert result(handle.outcome).result == "answered"
    env.wire.run(600, step=10)
    assert result(handle.ended).timed_out
    assert env.client.active_calls == 0
    assert env.clock.getDelayedCalls() != []  # only the fake's own pending hangup remains


def test_events_of_other_channels_are_ignored(env: Env) -> None:
    """A Hangup of an unrelated Uniqueid does not touch our call."""
    env.server.script[NUMBER] = [Answer(ring_seconds=1, talk_seconds=50)]
    handle = env.client.originate_call(request())
    env.wire.run(1)
    env.server.broadcast("Hangup", [("Uniqueid", "someone-else"), ("Cause", "16")])
    env.wire.flush()
    assert not handle.ended.called


def test_tracking_survives_a_reconnect(env: Env) -> None:
    """Events arriving on the new connection after a drop still match by ChannelId."""
    env.server.script[NUMBER] = [Answer(ring_seconds=10, talk_seconds=5)]
    handle = env.client.originate_call(request())
    env.wire.flush()
    env.server.disconnect_all()
    env.wire.flush()
    assert not env.client.connected
    env.wire.run(5)  # ClientService's backoff on the injected clock reconnects
    assert env.client.connected
    env.wire.run(5)
    assert result(handle.outcome).result == "answered"


def test_a_bad_number_is_refused_without_dialling() -> None:
    """A number with letters fails the outcome with a message that does not echo it whole."""
    client = AmiClient(AmiSettings(), reactor, clock=Clock())
    d = client.originate(OriginateRequest(1, 2, "1381234567x"))
    with pytest.raises(ValueError) as info:
        result(d)
    assert "1381234567x" not in str(info.value)


def test_originate_while_not_connected_fails_at_once() -> None:
    """With no AMI link the call is not placed and the caller is told so immediately."""
    client = AmiClient(AmiSettings(), reactor, clock=Clock())
    with pytest.raises(AmiNotConnectedError):
        result(client.originate(request()))


def test_login_refusal_never_connects() -> None:
    """Wrong secret: the client is never ready and originate fails fast."""
    clock = Clock()
    server = FakeAmiFactory(clock=clock, secret="other")
    wire = LoopbackEndpoint(server, clock)
    client = AmiClient(SETTINGS, reactor, clock=clock, endpoint=wire)
    client.startService()
    wire.run(10)
    assert not client.connected
    assert wire.connects >= 2  # it kept retrying with backoff
    with pytest.raises(AmiNotConnectedError):
        result(client.originate(request()))
    client.stopService()


@pytest_twisted.ensureDeferred
async def test_over_a_real_socket_on_localhost() -> None:
    """The same exchange over TCP on 127.0.0.1 (port 0): answered, then hung up."""
    clock = Clock()
    server = FakeAmiFactory(clock=clock, script={NUMBER: [Answer(ring_seconds=0, talk_seconds=0)]})
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    settings = AmiSettings(host="127.0.0.1", port=port.getHost().port, secret="s3cret")
    client = AmiClient(settings, reactor, clock=clock)
    client.startService()
    try:
        await client.when_ready()
        handle = client.originate_call(request())
        ticking = True

        def tick() -> None:  # fake time stays at 0: only zero-delay steps run
            if ticking:
                clock.advance(0)
                reactor.callLater(0, tick)

        tick()
        outcome = await handle.outcome
        ended = await handle.ended
        ticking = False
        assert (outcome.result, ended.hangup_cause) == ("answered", 16)
    finally:
        await client.stopService()
        await port.stopListening()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"dial_template": "PJSIP/carrier"}, "ami.dial_template"),
        ({"dial_template": "PJSIP/{number}@{trunk}"}, "ami.dial_template"),
        ({"priority": 0}, "ami.priority"),
        ({"outcome_timeout": 20.0}, "ami.outcome_timeout"),
        ({"caller_id": "a\r\nAction: Logoff"}, "ami.caller_id"),
    ],
)
def test_bad_ami_settings_name_the_key(change: dict, key: str) -> None:
    """validate() refuses settings that could only fail at the first call, naming the key."""
    from dataclasses import replace

    with pytest.raises(ValueError, match=key):
        replace(AmiSettings(), **change).validate()


def test_default_ami_settings_are_valid() -> None:
    """The defaults pass their own validation."""
    assert AmiSettings().validate() == AmiSettings()


def test_an_unanswered_keepalive_drops_and_reconnects_the_link(env: Env) -> None:
    """Pings go unanswered (half-open link): after action_timeout the client drops the link,
    and ClientService connects and logs in again."""
    env.wire.run(SETTINGS.ping_interval + 1)
    assert env.client.connected  # answered pings keep it up
    env.server.answer_pings = False
    before = env.wire.connects
    env.wire.run(SETTINGS.ping_interval)  # the next Ping goes out
    env.wire.run(SETTINGS.action_timeout)  # ... and is never answered
    assert not env.client.connected
    env.server.answer_pings = True
    env.wire.run(10)
    assert env.wire.connects == before + 1
    assert env.client.connected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [(4, "answered"), (5, "busy"), (8, "congestion"), (3, "no_answer"), (0, "failed")],
)
def test_originate_reasons_map_as_measured_on_asterisk_22(reason: int, expected: str) -> None:
    """OriginateResponse Reason 4/5/8/3/0 are answered/busy/congestion/no_answer/failed."""
    assert result_for_reason(reason) == expected


@pytest.mark.parametrize("reason", [1, 2, 7, 99, -1])
def test_reasons_never_measured_are_failures_not_guesses(reason: int) -> None:
    """Any other Reason (and our -1 for none) is 'failed', which the scheduler retries."""
    assert result_for_reason(reason) == "failed"


def test_a_failure_naming_the_dial_string_is_matched_by_action_id(env: Env) -> None:
    """A failed Originate's OriginateResponse carries the dial string as ``Channel`` (not a
    channel name) and no usable Uniqueid; the ActionID alone ties it to the attempt."""
    env.server.script[NUMBER] = [NoResponse()]
    handle = env.client.originate_call(request())
    env.wire.flush()
    env.server.broadcast(
        "OriginateResponse",
        [
            ("ActionID", handle.channel_id),
            ("Response", "Failure"),
            ("Channel", f"PJSIP/{NUMBER}@carrier"),
            ("Context", "pingjing-callback"),
            ("Exten", "s"),
            ("Reason", "0"),
            ("Uniqueid", "<null>"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        ],
    )
    env.wire.run(SETTINGS.hangup_grace)
    outcome = result(handle.outcome)
    assert (outcome.result, outcome.reason_code) == ("failed", 0)
    assert outcome.channel_id == handle.channel_id
    assert env.client.active_calls == 0


def test_a_reason_and_a_cause_that_are_not_numbers_still_settle_the_call(env: Env) -> None:
    """A malformed OriginateResponse (Reason "abc") and Hangup (Cause "x"): the attempt still
    ends, as a failure the scheduler retries, instead of hanging or raising."""
    env.server.script[NUMBER] = [NoResponse()]
    handle = env.client.originate_call(request())
    env.wire.flush()
    env.server.broadcast(
        "OriginateResponse",
        [("ActionID", handle.channel_id), ("Response", "Failure"), ("Reason", "abc")],
    )
    env.server.broadcast("Hangup", [("Uniqueid", handle.channel_id), ("Cause", "x")])
    env.wire.run(SETTINGS.hangup_grace)
    outcome = result(handle.outcome)
    assert (outcome.result, outcome.reason_code, outcome.hangup_cause) == ("failed", 0, None)
    assert env.client.active_calls == 0


def test_a_hangup_for_the_dial_string_is_not_mistaken_for_our_channel(env: Env) -> None:
    """Events are matched by Uniqueid (our ChannelId), never by a Channel header that might
    equal the dial string of another attempt."""
    env.server.script[NUMBER] = [Answer(ring_seconds=1, talk_seconds=50)]
    handle = env.client.originate_call(request())
    env.wire.run(1)
    env.server.broadcast(
        "Hangup",
        [("Channel", f"PJSIP/{NUMBER}@carrier"), ("Uniqueid", "<null>"), ("Cause", "16")],
    )
    env.wire.flush()
    assert not handle.ended.called


def test_the_daemon_never_loads_pyst2_manager() -> None:
    """pyst2's ``asterisk.manager`` is thread-based and blocking: the daemon's AMI path (the
    client, the scheduler, the application tree) must not even import it."""
    import subprocess
    import sys

    code = (
        "import sys, gateway.app, gateway.callbacks.scheduler, ivr.ami.client; "
        "print(sorted(m for m in sys.modules if m == 'asterisk' or m.startswith('asterisk.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_log_lines_of_a_call_never_show_the_number(env: Env) -> None:
    """Originate, outcome and hangup are logged with the number masked (138****5678)."""
    from twisted.logger import formatEvent, globalLogPublisher

    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        env.server.script[NUMBER] = [Busy(), Answer(ring_seconds=1, talk_seconds=2)]
        env.client.originate_call(request(1))
        env.wire.run(2)
        env.client.originate_call(request(2))
        env.wire.run(4)
    finally:
        globalLogPublisher.removeObserver(events.append)
    text = "\n".join(formatEvent(e) + repr(sorted(map(str, e.values()))) for e in events)
    assert "138****5678" in text
    assert NUMBER not in text
