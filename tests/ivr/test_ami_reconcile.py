"""After the AMI link returns, tracked calls are settled from Asterisk's channel list
(``CoreShowChannels``) before anything is dialled; events lost meanwhile are not guessed at."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.task import Clock

from ivr.ami.api import CallOutcome
from ivr.ami.client import AmiClient, attempt_of, default_channel_id
from tests.fakes.ami_server import Answer, FakeAmiFactory, LoopbackEndpoint, NoAnswer
from tests.ivr.test_ami_client import NUMBER, SETTINGS, Env, request, result


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


def cut(env: Env) -> None:
    """The link drops and stays down (reconnects refused) until :func:`restore`."""
    env.wire.refuse = True
    env.server.disconnect_all()
    env.wire.flush()
    assert not env.client.connected


def restore(env: Env) -> None:
    env.wire.refuse = False
    for _ in range(120):  # the backoff's next try reconnects and reconciles
        env.wire.run(1, step=1)
        if env.client.connected:
            return


def actions(env: Env) -> list[str]:
    return [dict(h).get("Action", "") for h in env.server.actions]


def test_a_call_answered_while_the_link_was_down_is_answered_not_failed(env: Env) -> None:
    env.server.script[NUMBER] = [Answer(ring_seconds=5, talk_seconds=10_000)]
    handle = env.client.originate_call(request())
    env.wire.flush()
    cut(env)
    env.wire.run(90, step=1)  # answered at 5 s; the outcome deadline (60 s) passes unlinked
    assert not handle.outcome.called
    restore(env)
    assert env.client.connected
    outcome: CallOutcome = result(handle.outcome)
    assert (outcome.result, outcome.reason_code) == ("answered", 4)
    assert not handle.ended.called  # still talking: its Hangup will come
    assert env.client.reconciliations == 2  # at the first login and after the outage
    assert "CoreShowChannels" in actions(env)


def test_a_call_that_ended_while_the_link_was_down_is_unknown(env: Env) -> None:
    env.server.script[NUMBER] = [NoAnswer()]
    handle = env.client.originate_call(request())
    env.wire.flush()
    cut(env)
    env.wire.run(40, step=1)  # rang out (30 s) unseen
    restore(env)
    outcome: CallOutcome = result(handle.outcome)
    assert outcome.result == "unknown"
    assert "AMI link was down" in (outcome.hangup_cause_txt or "")
    assert handle.ended.called
    assert env.client.active_calls == 0


def test_a_call_still_ringing_keeps_waiting_for_its_events(env: Env) -> None:
    env.server.script[NUMBER] = [Answer(ring_seconds=100, talk_seconds=5)]
    handle = env.client.originate_call(request())
    env.wire.flush()
    cut(env)
    env.wire.run(70, step=1)
    restore(env)
    assert env.client.connected
    assert not handle.outcome.called  # Asterisk still lists it, ringing
    env.wire.run(100 - env.clock.seconds() + 1, step=1)
    assert result(handle.outcome).result == "answered"
    env.wire.run(6, step=1)
    assert handle.ended.called and not result(handle.ended).timed_out


def test_a_call_that_hung_up_while_the_link_was_down_ends(env: Env) -> None:
    env.server.script[NUMBER] = [Answer(ring_seconds=1, talk_seconds=20)]
    handle = env.client.originate_call(request())
    env.wire.run(2, step=1)
    assert result(handle.outcome).result == "answered"
    cut(env)
    env.wire.run(30, step=1)  # the Hangup at 21 s reaches nobody
    assert not handle.ended.called
    restore(env)
    assert handle.ended.called
    assert env.client.active_calls == 0


def test_nothing_is_dialled_before_the_reconciliation_answers(env: Env) -> None:
    env.server.script[NUMBER] = [Answer(ring_seconds=1, talk_seconds=1000)]
    env.client.originate_call(request())
    env.wire.flush()
    cut(env)
    env.wire.refuse = False
    env.server.answer_list = False  # the fake will not answer CoreShowChannels
    env.wire.run(120, step=1)
    assert env.wire.connects >= 2
    assert not env.client.connected  # logged in, but not usable until reconciled


def test_every_login_lists_the_channels_before_the_link_is_usable(env: Env) -> None:
    assert actions(env)[:2] == ["Login", "CoreShowChannels"]
    cut(env)
    restore(env)
    assert env.client.connected
    assert actions(env).count("CoreShowChannels") == 2


def test_ready_observers_hear_when_the_link_is_usable_again(env: Env) -> None:
    heard: list[bool] = []
    env.client.add_ready_observer(lambda: heard.append(env.client.connected))
    env.server.script[NUMBER] = [Answer(ring_seconds=100, talk_seconds=5)]
    env.client.originate_call(request())
    env.wire.flush()
    cut(env)
    restore(env)
    assert heard == [True]  # once, after the reconciliation


def test_a_restarted_client_counts_the_calls_its_predecessor_left_up(env: Env) -> None:
    """A crashed process's calls are still on the trunk: a new client learns them from
    CoreShowChannels at login and follows their Hangups."""
    env.server.script[NUMBER] = [Answer(ring_seconds=1, talk_seconds=30)]
    env.client.originate_call(request())
    env.wire.run(2, step=1)
    assert env.client.lines_in_use == 1
    successor = AmiClient(SETTINGS, reactor, clock=env.clock, endpoint=env.wire)
    successor.startService()
    env.wire.flush()
    assert successor.connected and successor.lines_in_use == 1
    # and which attempt it is, so the trunk counts it once with the database's claims
    assert successor.live_attempts() == (frozenset({request().attempt_id}), 0)
    env.wire.run(30, step=1)  # the call hangs up
    assert successor.lines_in_use == 0 and env.client.lines_in_use == 0
    successor.stopService()
    env.wire.flush()


def test_channel_ids_name_their_attempt() -> None:
    assert attempt_of(default_channel_id("pj", 42), "pj") == 42
    for other in ("pj-x-1", "pj-42", "ab-42-ff", "SIP/trunk-0001", ""):
        assert attempt_of(other, "pj") is None
